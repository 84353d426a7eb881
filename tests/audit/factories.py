"""Builders for the audit tests: access records and a log on a fresh SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.service import AuditLog
from renkei.storage.clock import SteppingClock
from renkei.storage.ports import Clock, Storage
from renkei.storage.sql import create_storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SEED = bytes(range(32))

REQUESTER = Party("JP/LG/131016", "JP/LG/131016/u17")
PROVIDER = Party("JP/LG/131024", "JP/LG/131024/u06")


def access_record(
    n: int = 0,
    *,
    subject: str | None = None,
    side: Side = Side.REQUESTER,
    withheld: bool = False,
    outcome: Outcome = Outcome.PROVIDED,
    record_id: str | None = None,
) -> AccessRecord:
    """The ``n``-th of a family of realistic records (乳幼児医療 asks 個人住民税 for an income)."""
    at = T0 + timedelta(seconds=n)
    return AccessRecord(
        record_id=record_id or str(uuid.UUID(int=n * 2 + (side is Side.PROVIDER))),
        side=side,
        requester=REQUESTER,
        provider=PROVIDER,
        requested_at=at,
        provided_at=at + timedelta(milliseconds=120) if outcome is Outcome.PROVIDED else None,
        information="individual-resident-tax",
        items=(InformationItem("taxable_income", "課税所得額"), InformationItem("tax_year", "課税年度")),
        purpose="乳幼児医療費助成に関する事務",
        withheld=withheld,
        subject=subject or f"pk-{n % 97:04d}",
        message_id=f"msg-{n}",
        request_hash=f"sha256:{n:064x}",
        outcome=outcome,
    )


def open_log(path: Path, *, clock: Clock | None = None) -> tuple[Storage, AuditLog]:
    storage = create_storage(f"sqlite:///{path}")
    log = AuditLog(
        SqlAuditStore(connection_source(storage)),
        Ed25519HeadSigner(SEED),
        clock or SteppingClock(T0, timedelta(milliseconds=10)),
    )
    return storage, log


@contextmanager
def sqlite_log(path: Path, *, clock: Clock | None = None) -> Iterator[AuditLog]:
    storage, log = open_log(path, clock=clock)
    with storage:
        yield log
