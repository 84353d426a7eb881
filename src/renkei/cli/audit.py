"""``renkei audit …``: the auditor's tools (第三者機関) and the operator's head publication.

``verify`` exits 0 when the whole log checks out, 1 naming the first bad record index (or head)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from renkei.audit.auditor import verify_log
from renkei.audit.documents import consistency_document, head_document, inclusion_document
from renkei.audit.errors import SigningKeyInvalid
from renkei.audit.heads import Ed25519HeadSigner, key_location
from renkei.audit.service import RETENTION_YEARS, AuditLog
from renkei.settings import Settings
from renkei.storage.clock import SystemClock
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source, create_storage

app = typer.Typer(help="情報提供等記録 (access records): verify, prove, publish heads", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data directory (default var/)")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="database URL (default: SQLite in data dir)")
]


def key_path(settings: Settings) -> Path:
    """Where the deployment ``settings`` describe keeps its head-signing key."""
    return key_location(settings.data_dir)


@contextmanager
def opened(
    data_dir: Path | None, database_url: str | None, *, create_key: bool = False
) -> Iterator[AuditLog]:
    settings = Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    signer = Ed25519HeadSigner.from_file(key_path(settings), create=create_key)
    with create_storage(settings.effective_database_url) as storage:
        yield AuditLog(SqlAuditStore(connection_source(storage)), signer, SystemClock())


def _print(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


@app.command()
def verify(
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="hex Ed25519 key to trust (default: this deployment's)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Recompute the whole log from the stored records and check it against every published head."""
    trusted: bytes | None = None
    if public_key is not None:
        try:
            trusted = bytes.fromhex(public_key)
        except ValueError:
            raise SigningKeyInvalid("--public-key must be 64 hex digits") from None
        if len(trusted) != 32:
            raise SigningKeyInvalid("--public-key must be 64 hex digits")
    settings = Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    # An auditor given the key out of band needs no access to the operator's private key.
    key = trusted or Ed25519HeadSigner.from_file(key_path(settings)).public_key
    with create_storage(settings.effective_database_url) as storage:
        report = verify_log(SqlAuditStore(connection_source(storage)), key)
    if report.ok:
        typer.echo(
            f"OK: {report.records} records and {report.heads} signed tree heads verified (key {key.hex()})"
        )
        return
    for finding in report.findings:
        typer.echo(f"BAD: {finding.message}")
    bad = report.first_bad_index
    if bad is not None:
        typer.echo(f"FAILED: first bad record index {bad}")
    else:
        sizes = sorted({f.head_size for f in report.findings if f.head_size is not None})
        typer.echo(f"FAILED: bad signed tree head of size {sizes[0]}")
    raise typer.Exit(1)


@app.command()
def prove(
    record_id: Annotated[str, typer.Argument(help="the record's id")],
    tree_size: Annotated[
        int | None, typer.Option("--tree-size", help="a published head (default latest)")
    ] = None,
    with_leaf: Annotated[
        bool, typer.Option("--with-leaf", help="include the leaf (the record itself)")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the record's inclusion proof as JSON (verify it with the algorithm in docs/audit.md)."""
    with opened(data_dir, database_url) as log:
        proof = log.inclusion_proof(record_id, tree_size)
        leaf = log.leaf(record_id) if with_leaf else None
    _print(inclusion_document(proof, leaf))


@app.command()
def consistency(
    first: Annotated[int, typer.Argument(help="size of the older head")],
    second: Annotated[int, typer.Argument(help="size of the newer head")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the consistency proof between two published heads as JSON."""
    with opened(data_dir, database_url) as log:
        _print(consistency_document(log.consistency_proof(first, second)))


@app.command()
def publish(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Sign and publish a tree head over every record logged so far (creates the key on first use)."""
    with opened(data_dir, database_url, create_key=True) as log:
        _print(head_document(log.publish_head(), log.public_key))


@app.command()
def retention(
    years: Annotated[int, typer.Option(help="keep bodies this many years")] = RETENTION_YEARS,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Drop the bodies of records older than the retention period (leaf hashes and proofs stay)."""
    with opened(data_dir, database_url) as log:
        typer.echo(f"{log.apply_retention(years)} record bodies dropped")
