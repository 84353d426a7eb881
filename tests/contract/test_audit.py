"""The audit log's storage on SQLite and PostgreSQL: appends, proofs, retention, crash safety and
concurrent appenders getting dense, unique indices."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from renkei.audit.auditor import verify_log
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.service import AuditLog
from renkei.audit.verify import consistency_proof_valid, inclusion_proof_valid
from renkei.storage.clock import FixedClock, SteppingClock
from renkei.storage.ports import Clock, Storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
SIGNER = Ed25519HeadSigner(bytes(range(32)))


def record(n: int, *, subject: str = "pk-1", withheld: bool = False) -> AccessRecord:
    at = T0 + timedelta(seconds=n)
    return AccessRecord(
        record_id=f"rec-{n}",
        side=Side.PROVIDER,
        requester=Party("JP/LG/131016", "JP/LG/131016/u17"),
        provider=Party("JP/LG/131024", "JP/LG/131024/u06"),
        requested_at=at,
        provided_at=at,
        information="individual-resident-tax",
        items=(InformationItem("taxable_income", "課税所得額"),),
        purpose="乳幼児医療費助成に関する事務",
        withheld=withheld,
        subject=subject,
        message_id=f"msg-{n}",
        request_hash=f"sha256:{n:064x}",
        outcome=Outcome.PROVIDED,
    )


def audit_log(storage: Storage, clock: Clock | None = None) -> tuple[AuditLog, SqlAuditStore]:
    store = SqlAuditStore(connection_source(storage))
    return AuditLog(store, SIGNER, clock or SteppingClock(T0, timedelta(milliseconds=1))), store


def test_appends_heads_and_proofs(backend: Backend) -> None:
    log, store = audit_log(backend.storage)
    receipts = log.append_many([record(i, subject=f"pk-{i % 3}", withheld=i == 4) for i in range(23)])
    assert [r.index for r in receipts] == list(range(23))
    first = log.publish_head()
    receipts += log.append_many([record(i) for i in range(23, 40)])
    second = log.publish_head()
    assert (first.tree_size, second.tree_size) == (23, 40)
    for receipt in receipts:
        assert inclusion_proof_valid(log.inclusion_proof(receipt.record_id), SIGNER.public_key)
        i = receipt.index
        expected = record(i, subject=f"pk-{i % 3}", withheld=i == 4) if i < 23 else record(i)
        assert log.record(receipt.record_id).record == expected
    assert consistency_proof_valid(log.consistency_proof(23, 40), SIGNER.public_key)
    assert [r.index for r in log.records_of("pk-1")] == [1, 7, 10, 13, 16, 19, 22, *range(23, 40)]
    assert [r.index for r in log.records_of("pk-1", include_withheld=True, limit=3)] == [1, 4, 7]
    assert log.heads() == [first, second]
    report = verify_log(store, SIGNER.public_key)
    assert report.ok
    assert report.records == 40


def test_retention_keeps_the_tree_verifiable(backend: Backend) -> None:
    clock = FixedClock(T0)
    log, store = audit_log(backend.storage, clock)
    log.append_many([record(i) for i in range(8)])
    clock.advance(timedelta(days=400))
    log.append_many([record(i) for i in range(8, 11)])
    log.publish_head()
    clock.set(T0.replace(year=2033) + timedelta(days=1))
    assert log.apply_retention() == 8
    assert [r.index for r in log.records_of("pk-1")] == [8, 9, 10]
    assert log.record("rec-0").record is None
    assert inclusion_proof_valid(log.inclusion_proof("rec-0"), SIGNER.public_key)
    assert verify_log(store, SIGNER.public_key).ok


def test_a_crash_before_publishing_loses_nothing(backend: Backend) -> None:
    other = backend.open()
    log, _ = audit_log(other)
    log.append_many([record(i) for i in range(3)])
    log.publish_head()
    log.append_many([record(i) for i in range(3, 9)])
    other.close()  # the process is gone; no head covers records 3..8

    log, store = audit_log(backend.open())
    assert verify_log(store, SIGNER.public_key).ok
    assert log.publish_head().tree_size == 9
    assert inclusion_proof_valid(log.inclusion_proof("rec-8"), SIGNER.public_key)
    assert consistency_proof_valid(log.consistency_proof(3, 9), SIGNER.public_key)


def test_concurrent_appenders_get_dense_unique_indices(backend: Backend) -> None:
    storages = [backend.storage, backend.open()]
    writers, rounds, batch = 6, 5, 7
    barrier = threading.Barrier(writers)

    def work(w: int) -> list[int]:
        log, _ = audit_log(storages[w % 2])
        barrier.wait(timeout=30)
        indices: list[int] = []
        for r in range(rounds):
            base = (w * rounds + r) * batch
            indices += [x.index for x in log.append_many([record(base + i) for i in range(batch)])]
            if r == 2:
                log.publish_head()
        return indices

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(work, range(writers)))
    every = sorted(i for indices in results for i in indices)
    assert every == list(range(writers * rounds * batch))
    for indices in results:  # each batch got a contiguous run
        for start in range(0, len(indices), batch):
            run = indices[start : start + batch]
            assert run == list(range(run[0], run[0] + batch))
    log, store = audit_log(backend.storage)
    log.publish_head()
    report = verify_log(store, SIGNER.public_key)
    assert report.ok
    assert report.records == len(every)
    sizes = [h.tree_size for h in log.heads()]
    for a, b in itertools.pairwise(sizes):
        assert consistency_proof_valid(log.consistency_proof(a, b), SIGNER.public_key)
