"""``renkei masterdata …``: the operator's commands for the integrated DB (統合DB) fed through the hub.

renkei masterdata enrol --tenant 131016 [--unit 9]   the subscriber: member, key, purpose, poll subscriptions
renkei masterdata sync --tenant 131016               one intake pass now (the app's lifespan runs them itself)
renkei masterdata rejections --tenant 131016         the events the master refused (skipped with a record)

Each prints JSON. ``sync`` exits 1 when a feed stopped early (its code is in ``failures``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from renkei.api.deps import Platform
from renkei.masterdata.intake import INTAKE_KEYS, INTAKE_UNIT, MasterDataIntake, enrol_intake
from renkei.masterdata.models import tenant_code
from renkei.registry.identifiers import MemberClass, MemberId, OrganisationId
from renkei.settings import Settings
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import SqlIntakeStore

masterdata_app = typer.Typer(
    help="統合DB (the integrated DB fed by the hub's 異動 events)", no_args_is_help=True
)

Tenant = Annotated[str, typer.Option("--tenant", help="全国地方公共団体コード of the municipality (131016)")]
Unit = Annotated[int, typer.Option("--unit", help="業務ユニット the 統合DB subscriber is registered as")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="data directory (default var/)")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="database URL (default: SQLite in data dir)")
]


@contextmanager
def _platform(data_dir: Path | None, database_url: str | None) -> Iterator[tuple[Platform, Path]]:
    from renkei.app import build_platform

    settings = Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    platform = build_platform(settings)
    try:
        yield platform, settings.data_dir / INTAKE_KEYS
    finally:
        platform.storage.close()


def _print(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _member(platform: Platform, tenant: str, unit: int) -> MemberId:
    organisation = OrganisationId.of(MemberClass.LG, tenant_code(tenant), instance=platform.registry.instance)
    return MemberId(organisation, platform.registry.check_unit(unit))


@masterdata_app.command()
def enrol(
    tenant: Tenant, unit: Unit = INTAKE_UNIT, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Enrol the tenant's 統合DB as a poll subscriber of its own 住民異動 / 住登外異動 (idempotent)."""
    with _platform(data_dir, database_url) as (platform, keys):
        done = enrol_intake(platform.registry, platform.notifications, tenant, keys, unit=unit)
    _print(
        {
            "tenant": done.tenant,
            "member": str(done.member),
            "members": done.members,
            "key_files": done.key_files,
            "purposes": done.purposes,
            "subscriptions": done.subscriptions,
        }
    )


@masterdata_app.command()
def sync(
    tenant: Tenant, unit: Unit = INTAKE_UNIT, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Run one intake pass for the tenant: every new event of its feeds, applied; the cursor advanced."""
    with _platform(data_dir, database_url) as (platform, keys):
        intake = MasterDataIntake.open(
            platform.masterdata,
            platform.notifications,
            platform.registry,
            platform.linkage,
            SqlIntakeStore(connection_source(platform.storage)),
            _member(platform, tenant, unit),
            keys,
        )
        report = intake.run_once()
    _print(report.as_json())
    if report.failures:
        raise typer.Exit(1)


@masterdata_app.command()
def rejections(
    tenant: Tenant,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The events the tenant's master refused (most recent first): event id, feed, code, item."""
    with _platform(data_dir, database_url) as (platform, _):
        found = (
            SqlIntakeStore(connection_source(platform.storage)).scoped(tenant_code(tenant)).rejections(limit)
        )
    _print(
        [
            {
                "event_id": r.event_id,
                "publisher": r.feed.publisher,
                "topic": r.feed.topic,
                "code": r.code,
                "field": r.field,
                "rejected_at": r.rejected_at.isoformat(),
            }
            for r in found
        ]
    )
