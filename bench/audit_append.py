"""Benchmark: append 100,000 access records to the embedded SQLite log in batches (goal ≥ 20,000/s).

Prints the rate as its last line.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.service import AuditLog
from renkei.storage.clock import SystemClock
from renkei.storage.sql import create_storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source

RECORDS = 100_000
BATCH = 1_000
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
REQUESTER = Party("JP/LG/131016", "JP/LG/131016/u17")
PROVIDER = Party("JP/LG/131024", "JP/LG/131024/u06")
ITEMS = (InformationItem("taxable_income", "課税所得額"), InformationItem("tax_year", "課税年度"))


def record(n: int) -> AccessRecord:
    at = T0 + timedelta(milliseconds=n)
    return AccessRecord(
        record_id=str(uuid.UUID(int=n)),
        side=Side.PROVIDER if n % 2 else Side.REQUESTER,
        requester=REQUESTER,
        provider=PROVIDER,
        requested_at=at,
        provided_at=at,
        information="individual-resident-tax",
        items=ITEMS,
        purpose="乳幼児医療費助成に関する事務",
        withheld=False,
        subject=f"pk-{n % 50_000:08d}",
        message_id=f"msg-{n // 2}",
        request_hash=f"sha256:{n:064x}",
        outcome=Outcome.PROVIDED,
    )


def main() -> None:
    records = [record(n) for n in range(RECORDS)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        create_storage(f"sqlite:///{Path(tmp) / 'bench.db'}") as storage,
    ):
        log = AuditLog(SqlAuditStore(connection_source(storage)), Ed25519HeadSigner.generate(), SystemClock())
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, RECORDS, BATCH):
            log.append_many(records[start : start + BATCH])
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        head = log.publish_head()
        assert head.tree_size == RECORDS
    rate = RECORDS / elapsed
    print(
        f"appended {RECORDS} records in batches of {BATCH} in {elapsed:.2f} s "
        f"({cpu:.2f} s of CPU in this process: {RECORDS / cpu:,.0f} records per CPU second)",
        file=sys.stderr,
    )
    print(f"audit append: {rate:,.0f} records/s (goal >= 20,000/s)")


if __name__ == "__main__":
    main()
