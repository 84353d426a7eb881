"""``renkei registry …``: the hub's directory from the command line.

    renkei registry org add --class LG --code 131016 --name 千代田区
    renkei registry member add JP/LG/131016 --unit 6 --endpoint https://zei.example.lg.jp/api --out DIR
    renkei registry service add JP/LG/131016/u06 income-certificate
    renkei registry purpose add infant-medical-subsidy --name 乳幼児医療費助成 --legal-basis "…" \
        --use individual-resident-tax
    renkei registry list --format json
    renkei registry member revoke KID --reason key-compromise
    renkei registry member hub-key JP/LG/131024/u06 --out DIR/hub.key
    renkei registry crl > crl.pem

The database is the deployment's (``--data-dir`` / ``--database-url``, else ``RENKEI_*`` settings); the CA
lives in ``DATA_DIR/registry/ca`` (``ca.key`` 0600). ``member add --out DIR`` writes the member's key
pair, certificate, the CA certificate and its hub key (``hub.key``: what it checks the hub's signature
with, 64 hex digits; ``member hub-key`` writes it again, also for a member registered without credentials).
"""

from __future__ import annotations

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

from renkei.exchange.signing import HUB_KEY_NAME, member_hub_key
from renkei.identity.errors import KeyStoreError
from renkei.identity.keys import FileKeyStore
from renkei.registry.ca import CertificateAuthority
from renkei.registry.identifiers import DEFAULT_INSTANCE, MemberClass
from renkei.registry.keystore import CA_DIRECTORY, FileAuthorityStore, write_private
from renkei.registry.models import KeyType, MemberSystem, ServiceProtocol
from renkei.registry.service import Registry
from renkei.settings import Settings
from renkei.spec.loader import load_spec
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.registry import SqlRegistryRepository

HUB_KEY_FILE = "hub.key"

app = typer.Typer(
    help="台帳 (the hub's directory: organisations, member systems, services, purposes)", no_args_is_help=True
)
org_app = typer.Typer(help="機関 (organisations)", no_args_is_help=True)
member_app = typer.Typer(help="メンバーシステム (member systems and their credentials)", no_args_is_help=True)
service_app = typer.Typer(help="提供サービス (services member systems provide)", no_args_is_help=True)
purpose_app = typer.Typer(help="事務 (purposes and what they may use)", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(member_app, name="member")
app.add_typer(service_app, name="service")
app.add_typer(purpose_app, name="purpose")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Options:
    settings: Settings
    instance: str


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="data directory (default: RENKEI_DATA_DIR or var/)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="database URL (default: SQLite in the data dir)")
    ] = None,
    instance: Annotated[str, typer.Option(help="X-Road instance of this deployment")] = DEFAULT_INSTANCE,
) -> None:
    ctx.obj = Options(
        Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url), instance
    )


@contextmanager
def opened(ctx: typer.Context) -> Iterator[Registry]:
    """The registry on the deployment's database and CA, closed afterwards."""
    options = ctx.find_object(Options)
    assert options is not None
    settings = options.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    clock = SystemClock()
    with create_storage(settings.effective_database_url) as storage:
        authority = CertificateAuthority(FileAuthorityStore(settings.data_dir / CA_DIRECTORY), clock)
        repository = SqlRegistryRepository(connection_source(storage))
        yield Registry(load_spec(), repository, clock, authority=authority, instance=options.instance)


@org_app.command("add")
def org_add(
    ctx: typer.Context,
    member_class: Annotated[MemberClass, typer.Option("--class", help="LG, GOV or COM")],
    code: Annotated[str, typer.Option(help="団体コード (LG), 法人番号 (COM) or agency code (GOV)")],
    name: Annotated[str, typer.Option(help="名称, e.g. 千代田区")],
) -> None:
    """Register an organisation (機関)."""
    with opened(ctx) as registry:
        organisation = registry.add_organisation(member_class, code, name)
    typer.echo(f"{organisation.id}\t{organisation.name}")


@member_app.command("add")
def member_add(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER, e.g. JP/LG/131016")],
    unit: Annotated[int, typer.Option(help="業務ユニット number, e.g. 6 for 個人住民税")],
    out: Annotated[Path, typer.Option(help="directory for member.key, member.crt and ca.crt (0600)")],
    endpoint: Annotated[str | None, typer.Option(help="default endpoint URL of the system")] = None,
    protocol: Annotated[ServiceProtocol | None, typer.Option(help="rest, soap or file")] = None,
    name: Annotated[str | None, typer.Option(help="name (default: the unit's name)")] = None,
    key_type: Annotated[KeyType, typer.Option(help="P-256 (ES256) or Ed25519")] = KeyType.P256,
    validity_days: Annotated[int, typer.Option(min=1, help="certificate validity in days")] = 365,
) -> None:
    """Enrol a member system: register it and issue its key pair and client certificate."""
    with opened(ctx) as registry:
        enrolment = registry.enrol(
            organisation,
            unit,
            name=name,
            endpoint=endpoint,
            protocol=protocol,
            key_type=key_type,
            validity=timedelta(days=validity_days),
        )
    write_private(out / "member.key", enrolment.private_key_pem)
    write_private(out / "member.crt", enrolment.certificate_pem)
    write_private(out / "ca.crt", enrolment.ca_certificate_pem)
    names = ["member.key", "member.crt", "ca.crt"]
    hub_key = _hub_key_text(ctx, str(enrolment.member.id))
    if hub_key is not None:
        write_private(out / HUB_KEY_FILE, hub_key)
        names.append(HUB_KEY_FILE)
    typer.echo(f"{enrolment.member.id}\t{enrolment.member.name}\tkid={enrolment.credential.kid}")
    typer.echo(f"wrote {', '.join(str(out / name) for name in names)}", err=True)
    if hub_key is None:
        typer.echo(
            f"no {HUB_KEY_FILE}: this data directory holds no hub key yet (the deployment creates it when it"
            f" first starts); then: renkei registry member hub-key {enrolment.member.id} --out FILE",
            err=True,
        )


@member_app.command("hub-key")
def member_hub_key_command(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER/SUBSYSTEM, e.g. JP/LG/131024/u06")],
    out: Annotated[Path, typer.Option(help=f"file to write (0600), e.g. DIR/{HUB_KEY_FILE}")],
) -> None:
    """Write the key this member system checks the hub's signature with (X-Renkei-Hub-Signature): its own,
    64 hex digits; the hub signs what it sends this member, and only this member, with it."""
    with opened(ctx) as registry:
        found = registry.member(member)
    text = _hub_key_text(ctx, str(found.id))
    if text is None:
        raise KeyStoreError(
            "this data directory holds no hub key: give the deployment's --data-dir (it is created when the"
            " deployment first starts)",
            name=HUB_KEY_NAME,
        )
    write_private(out, text)
    typer.echo(f"wrote the hub key of {found.id} to {out}", err=True)


def _hub_key_text(ctx: typer.Context, member: str) -> bytes | None:
    """The member's hub key as written for it, from the deployment's key (never created here: a key made
    up in the wrong data directory would be handed out silently); None when there is none."""
    options = ctx.find_object(Options)
    assert options is not None
    directory = options.settings.data_dir / "keys"
    if not (directory / f"{HUB_KEY_NAME}.key").exists():
        return None
    root = FileKeyStore(directory).secret(HUB_KEY_NAME, 32)
    return (member_hub_key(root, member).hex() + "\n").encode("ascii")


@member_app.command("revoke")
def member_revoke(
    ctx: typer.Context,
    kid: Annotated[str, typer.Argument(help="the credential's kid (SHA-256 hex of its certificate)")],
    reason: Annotated[str, typer.Option(help="why, e.g. key-compromise, superseded")] = "unspecified",
) -> None:
    """Revoke a member system's credential: its signed requests are refused from now on."""
    with opened(ctx) as registry:
        credential = registry.revoke(kid, reason)
    typer.echo(f"revoked {credential.kid} of {credential.member}")


@app.command("crl")
def crl(ctx: typer.Context) -> None:
    """Print the CA's certificate revocation list (PEM)."""
    with opened(ctx) as registry:
        sys.stdout.write(registry.revocation_list().decode("ascii"))


@service_app.command("add")
def service_add(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="INSTANCE/CLASS/MEMBER/uNN, e.g. JP/LG/131016/u06")],
    service: Annotated[str, typer.Argument(help="service id of the spec, e.g. income-certificate")],
    endpoint: Annotated[str | None, typer.Option(help="endpoint URL (default: the member's)")] = None,
    protocol: Annotated[ServiceProtocol | None, typer.Option(help="rest, soap or file")] = None,
) -> None:
    """Record that a member system provides a service of the spec (its unit must send that information)."""
    with opened(ctx) as registry:
        provided = registry.provide(member, service, endpoint=endpoint, protocol=protocol)
    typer.echo(f"{provided.provider}/{provided.service}\t{provided.protocol.value}\t{provided.endpoint}")


@purpose_app.command("add")
def purpose_add(
    ctx: typer.Context,
    purpose_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. infant-medical-subsidy")],
    name: Annotated[str, typer.Option(help="事務の名称")],
    legal_basis: Annotated[str, typer.Option(help="根拠法令 (legal basis)")],
    use: Annotated[
        list[str],
        typer.Option(help="INFORMATION or INFORMATION:item,item (repeatable); alone, every carried item"),
    ],
) -> None:
    """Register a purpose (事務) and the information kinds and items it may use."""
    uses: dict[str, list[str] | None] = {}
    for each in use:
        information, sep, items = each.partition(":")
        uses[information] = [i.strip() for i in items.split(",") if i.strip()] if sep else None
    with opened(ctx) as registry:
        purpose = registry.add_purpose(purpose_id, name, legal_basis, uses)
    typer.echo(f"{purpose.id}\t{purpose.name}\t{', '.join(u.information for u in purpose.uses)}")


@app.command("list")
def list_all(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json")] = Format.TABLE,
) -> None:
    """Every organisation, member system (with credentials and services) and purpose."""
    with opened(ctx) as registry:
        listing = directory_listing(registry)
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        return
    console = Console()
    table = Table(title="メンバーシステム (member systems)")
    for column in ("member", "name", "endpoint", "services", "credentials"):
        table.add_column(column)
    for organisation in listing["organisations"]:
        table.add_row(organisation["id"], organisation["name"], "", "", "")
        for member in organisation["members"]:
            services = ", ".join(f"{s['service']} ({s['protocol']})" for s in member["services"])
            live = sum(1 for c in member["credentials"] if c["revoked_at"] is None)
            table.add_row(f"  {member['id']}", member["name"], member["endpoint"] or "", services, str(live))
    console.print(table)
    purposes = Table(title="事務 (purposes)")
    for column in ("id", "name", "legal basis", "information"):
        purposes.add_column(column)
    for purpose in listing["purposes"]:
        purposes.add_row(
            purpose["id"],
            purpose["name"],
            purpose["legal_basis"],
            ", ".join(u["information"] for u in purpose["uses"]),
        )
    console.print(purposes)


def directory_listing(registry: Registry) -> dict[str, Any]:
    """The whole directory as JSON-ready data (what ``list --format json`` prints)."""
    services = registry.provided_services()
    credentials = registry.credentials()
    members = registry.members()

    def member_record(member: MemberSystem) -> dict[str, Any]:
        return {
            "id": str(member.id),
            "unit": member.id.unit,
            "name": member.name,
            "endpoint": member.endpoint,
            "protocol": None if member.protocol is None else member.protocol.value,
            "services": [
                {
                    "service": s.service,
                    "information": s.information,
                    "endpoint": s.endpoint,
                    "protocol": s.protocol.value,
                }
                for s in services
                if s.provider == member.id
            ],
            "credentials": [
                {
                    "kid": c.kid,
                    "key_type": c.key_type.value,
                    "not_before": c.not_before.isoformat(),
                    "not_after": c.not_after.isoformat(),
                    "revoked_at": None if c.revoked_at is None else c.revoked_at.isoformat(),
                }
                for c in credentials
                if c.member == member.id
            ],
        }

    return {
        "instance": registry.instance,
        "organisations": [
            {
                "id": str(o.id),
                "class": o.id.member_class.value,
                "code": o.id.code,
                "name": o.name,
                "members": [member_record(m) for m in members if m.id.organisation == o.id],
            }
            for o in registry.organisations()
        ],
        "purposes": [
            {
                "id": p.id,
                "name": p.name,
                "legal_basis": p.legal_basis,
                "uses": [{"information": u.information, "items": list(u.items)} for u in p.uses],
            }
            for p in registry.purposes()
        ],
    }
