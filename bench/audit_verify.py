"""Benchmark: ``renkei audit verify`` over a 1,000,000-record log on SQLite (goal ≤ 10 s).

The log is built directly at the storage level (rows, subtree hashes) and its heads published through the
service; only the verification is timed. Prints the time as its last line. ``build_log`` is shared with
``audit_proof.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from renkei.audit import merkle
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.leaf import encode_body, leaf_bytes
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.service import AuditLog
from renkei.storage.clock import SystemClock
from renkei.storage.sql import create_storage
from renkei.storage.sql.audit import SqlAuditStore, audit_node, audit_record
from renkei.storage.sql.engine import connection_source

RECORDS = 1_000_000
CHUNK = 50_000
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def template() -> str:
    record = AccessRecord(
        record_id="@RID@",
        side=Side.PROVIDER,
        requester=Party("JP/LG/131016", "JP/LG/131016/u17"),
        provider=Party("JP/LG/131024", "JP/LG/131024/u06"),
        requested_at=T0,
        provided_at=T0,
        information="individual-resident-tax",
        items=(InformationItem("taxable_income", "課税所得額"), InformationItem("tax_year", "課税年度")),
        purpose="乳幼児医療費助成に関する事務",
        withheld=False,
        subject="@SUBJ@",
        message_id="@MID@",
        request_hash="sha256:@MID@",
        outcome=Outcome.PROVIDED,
    )
    return encode_body(record, T0)


@contextmanager
def build_log(records: int, heads_every: int = 250_000) -> Iterator[AuditLog]:
    """A log of ``records`` records on a temporary SQLite file, with a head every ``heads_every``."""
    body_of = template()
    with (
        tempfile.TemporaryDirectory() as tmp,
        create_storage(f"sqlite:///{Path(tmp) / 'bench.db'}") as storage,
    ):
        source = connection_source(storage)
        log = AuditLog(SqlAuditStore(source), Ed25519HeadSigner.generate(), SystemClock())
        edge: dict[merkle.NodeKey, bytes] = {}
        size = 0
        while size < records:
            rows, leaves = [], []
            for i in range(size, min(size + CHUNK, records)):
                body = body_of.replace("@RID@", f"r{i:09d}").replace("@SUBJ@", f"pk-{i % 50_000:08d}")
                body = body.replace("@MID@", f"m{i:09d}")
                leaf_hash = merkle.hash_leaf(leaf_bytes(i, body))
                leaves.append(leaf_hash)
                rows.append(
                    {
                        "position": i,
                        "record_id": f"r{i:09d}",
                        "subject": f"pk-{i % 50_000:08d}",
                        "withheld": False,
                        "recorded_at": T0,
                        "body": body,
                        "leaf_hash": leaf_hash,
                    }
                )
            nodes = merkle.extend(size, edge, leaves)
            with source(True) as connection:
                connection.execute(audit_record.insert(), rows)
                connection.execute(
                    audit_node.insert(), [{"level": k[0], "position": k[1], "hash": h} for k, h in nodes]
                )
            every = {**edge, **dict(nodes), **{(0, size + j): h for j, h in enumerate(leaves)}}
            size += len(leaves)
            edge = {k: every[k] for k in merkle.frontier(size)}
            if size % heads_every == 0 or size == records:
                log.publish_head()
        yield log


def main() -> None:
    started = time.perf_counter()
    with build_log(RECORDS) as log:
        print(f"built a {RECORDS}-record log in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        started, cpu = time.perf_counter(), time.process_time()
        report = log.verify()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"verify used {cpu:.2f} s of CPU in this process", file=sys.stderr)
    assert report.ok, report.findings[:3]
    assert report.records == RECORDS
    print(f"audit verify: {RECORDS} records, {report.heads} heads in {elapsed:.2f} s (goal <= 10 s)")


if __name__ == "__main__":
    main()
