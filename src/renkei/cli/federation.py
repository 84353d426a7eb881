"""``renkei federation …``: link this deployment with others (hub-to-hub mutual TLS, trust lists).

    renkei federation init --deployment DC1 --hub-url https://127.0.0.1:8443
    renkei federation export-trust > dc1.json          # hand it to DC2's operator; read the fingerprint aloud
    renkei federation trust dc2.json --expect-fingerprint 3f1c…   # DC2's list, checked
    renkei federation peers --format json
    renkei federation forget DC2
    renkei federation acquire --org JP/LG/131024      # 符号 from the linkage base (RENKEI_LINKAGE_BASE)

The database and data directory are the deployment's (``--data-dir`` / ``--database-url``, else
``RENKEI_*``); the CA is the registry's (``DATA_DIR/registry/ca``), the hub's TLS certificate and key go to
``DATA_DIR/tenancy/tls/hub.pem`` (0600). See ``docs/federation.md``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from renkei.identity.errors import LinkageNotConfigured
from renkei.identity.federated import AcquireReport, RemoteLinkage
from renkei.identity.keys import FileKeyStore
from renkei.identity.models import PersonKey
from renkei.identity.service import LinkageBase
from renkei.net.http import HttpClient
from renkei.registry.ca import CertificateAuthority
from renkei.registry.identifiers import MemberId
from renkei.registry.keystore import CA_DIRECTORY, FileAuthorityStore
from renkei.registry.models import MemberSystem, Organisation
from renkei.settings import Settings
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.registry import SqlRegistryRepository
from renkei.storage.sql.repositories import ConnectionSource
from renkei.storage.sql.tenancy import SqlPeerDirectory
from renkei.tenancy.federation import Federation
from renkei.tenancy.link import PeerLink
from renkei.tenancy.models import Peer
from renkei.tenancy.tls import TLS_DIRECTORY, HubTls

federation_app = typer.Typer(
    help="連携 (federation): this deployment's hub among other deployments' hubs", no_args_is_help=True
)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Options:
    settings: Settings


@dataclass(frozen=True, slots=True)
class Opened:
    federation: Federation
    tls: HubTls
    source: ConnectionSource
    data_dir: Path

    def linkage(self) -> LinkageBase:
        """The deployment's linkage base (built on demand: its key store creates keys on first use)."""
        keys = FileKeyStore(self.data_dir / "keys")
        return LinkageBase(SqlIdentityRepository(self.source), keys, SystemClock())


class RegistryView:
    """What federation reads from the registry, straight from its storage: the CLI need not load the spec
    (which the full :class:`~renkei.registry.service.Registry` validates against) to export a list."""

    def __init__(self, repository: SqlRegistryRepository) -> None:
        self._repository = repository

    def organisations(self) -> list[Organisation]:
        return self._repository.organisations()

    def members(self) -> list[MemberSystem]:
        return self._repository.members()

    def find_member(self, member_id: MemberId) -> MemberSystem | None:
        return self._repository.member(member_id)


@federation_app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="data directory (default: RENKEI_DATA_DIR or var/)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="database URL (default: SQLite in the data dir)")
    ] = None,
) -> None:
    ctx.obj = Options(Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url))


@contextmanager
def opened(ctx: typer.Context) -> Iterator[Opened]:
    """Federation on the deployment's database, registry and CA, closed afterwards."""
    options = ctx.find_object(Options)
    assert options is not None
    settings = options.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    clock = SystemClock()
    with create_storage(settings.effective_database_url) as storage:
        source = connection_source(storage)
        authority = CertificateAuthority(FileAuthorityStore(settings.data_dir / CA_DIRECTORY), clock)
        registry = RegistryView(SqlRegistryRepository(source))
        federation = Federation(SqlPeerDirectory(source), registry, authority, clock)
        tls = HubTls(federation, authority, settings.data_dir / TLS_DIRECTORY, clock)
        yield Opened(federation, tls, source, settings.data_dir)


def peer_record(peer: Peer) -> dict[str, Any]:
    """A trusted peer as JSON-ready data (what ``peers --format json`` prints)."""
    return {
        "deployment": peer.deployment,
        "hub_url": peer.hub_url,
        "ca_fingerprint": peer.ca_fingerprint,
        "organisations": [str(o) for o in peer.organisations],
        "members": [str(m) for m in peer.members],
        "list_issued_at": peer.list_issued_at.isoformat(),
        "trusted_at": peer.trusted_at.isoformat(),
    }


@federation_app.command("init")
def init(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Option(help="this deployment's id, e.g. DC1 (fixed once set)")],
    hub_url: Annotated[str, typer.Option(help="where peers reach this hub, e.g. https://127.0.0.1:8443")],
) -> None:
    """Name this deployment, record its hub URL, and issue the hub's TLS certificate from its CA."""
    with opened(ctx) as o:
        configured = o.federation.configure(deployment, hub_url)
        credentials = o.tls.credentials()
        fingerprint = o.federation.ca_fingerprint()
    typer.echo(f"{configured.id}\t{configured.hub_url}")
    typer.echo(f"CA fingerprint (SHA-256): {fingerprint}")
    typer.echo(f"hub certificate and key: {credentials.path}", err=True)


@federation_app.command("export-trust")
def export_trust(
    ctx: typer.Context,
    valid_days: Annotated[int, typer.Option(min=1, max=366, help="days the list may be imported")] = 30,
) -> None:
    """Print this deployment's trust list (JSON, signed by its CA) for the peers' operators."""
    with opened(ctx) as o:
        document = o.federation.export_trust_list(validity=timedelta(days=valid_days))
        fingerprint = o.federation.ca_fingerprint()
    sys.stdout.write(document.decode("utf-8"))
    typer.echo(f"CA fingerprint (SHA-256), to confirm out of band: {fingerprint}", err=True)


@federation_app.command("trust")
def trust(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the peer's trust list", exists=True, dir_okay=False)],
    expect_fingerprint: Annotated[
        str | None,
        typer.Option(help="the peer CA's SHA-256 fingerprint as its operator told you (recommended)"),
    ] = None,
) -> None:
    """Verify a peer's trust list and trust the peer (restart the hub listener to accept its hub)."""
    with opened(ctx) as o:
        peer = o.federation.trust(file.read_bytes(), expect_fingerprint=expect_fingerprint)
    typer.echo(f"{peer.deployment}\t{peer.hub_url}\tCA {peer.ca_fingerprint}")
    typer.echo(f"{len(peer.organisations)} organisations, {len(peer.members)} member systems", err=True)


@federation_app.command("peers")
def peers(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json")] = Format.TABLE,
) -> None:
    """The peers this deployment trusts."""
    with opened(ctx) as o:
        records = [peer_record(p) for p in o.federation.peers()]
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="連携先 (trusted peers)")
    for column in ("deployment", "hub", "CA fingerprint", "organisations", "members"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r["deployment"],
            r["hub_url"],
            r["ca_fingerprint"][:16] + "…",
            ", ".join(r["organisations"]),
            str(len(r["members"])),
        )
    Console().print(table)


@federation_app.command("forget")
def forget(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="the peer's id, e.g. DC2")],
) -> None:
    """Stop trusting a peer."""
    with opened(ctx) as o:
        o.federation.forget(deployment)
    typer.echo(f"forgot {deployment}")


#: Batch answers carry up to 1,000 符号 (≈ 35 KiB); leave room.
ANSWER_LIMIT = 1 << 20


async def acquire_from_base(
    tls: HubTls,
    base: Peer,
    linkage: LinkageBase,
    org: str,
    persons: list[tuple[PersonKey, str]],
    *,
    timeout: float,
) -> AcquireReport:
    """Acquire ``org``'s 符号 for ``persons`` from ``base`` over mutual TLS and adopt them locally."""
    async with HttpClient(ssl_context_for=tls.context_for, max_body=ANSWER_LIMIT) as client:
        remote = RemoteLinkage(PeerLink(client, timeout=timeout), lambda: base, local=linkage)
        return await remote.acquire_for(org, persons)


@federation_app.command("acquire")
def acquire(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="the organisation whose 符号 to acquire, e.g. JP/LG/131024")],
    base: Annotated[
        str | None, typer.Option(help="the linkage base peer (default: RENKEI_LINKAGE_BASE)")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, max=600, help="seconds per request to the base")] = 60.0,
) -> None:
    """符号取得: for every person of ORG here with a 住民票コード and a 宛名番号, acquire ORG's 符号 from the
    linkage base and adopt it; prints the counts."""
    options = ctx.find_object(Options)
    assert options is not None
    base_id = base or options.settings.linkage_base
    if base_id is None:
        raise LinkageNotConfigured(
            "この環境自身が情報連携基盤です (this deployment is its own linkage base: set"
            " RENKEI_LINKAGE_BASE or --base to the peer that issues 符号)"
        )
    with opened(ctx) as o:
        peer = o.federation.peer(base_id)
        linkage = o.linkage()
        persons = list(linkage.resident_codes_at(org))
        report = asyncio.run(acquire_from_base(o.tls, peer, linkage, org, persons, timeout=timeout))
    typer.echo(f"acquired\t{report.acquired}")
    typer.echo(f"already held\t{report.already_held}")
    typer.echo(f"unknown at base\t{report.unknown_at_base}")
    typer.echo(f"conflicts\t{report.conflicts}")
    typer.echo(f"{report.total} persons of {org}, linkage base {peer.deployment}", err=True)
