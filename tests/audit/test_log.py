"""The audit log service on the embedded SQLite storage: appends, heads, proofs, the portal index,
retention and crash safety."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta
from pathlib import Path

import pytest

from renkei.audit.errors import (
    HeadNotFound,
    ProofRequestInvalid,
    RecordConflict,
    RecordInvalid,
    RecordNotCovered,
    RecordNotFound,
)
from renkei.audit.leaf import decode_body, encode_body, leaf_bytes
from renkei.audit.merkle import hash_leaf
from renkei.audit.models import Outcome, Side
from renkei.audit.ports import AccessRecorder, NewEntry
from renkei.audit.service import years_before
from renkei.audit.verify import consistency_proof_valid, inclusion_proof_valid
from renkei.storage.clock import FixedClock
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source
from tests.audit.factories import T0, access_record, open_log, sqlite_log


def test_the_log_is_an_access_recorder(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        recorder: AccessRecorder = log
        receipt = recorder.append(access_record(0))
        both = recorder.append_many([access_record(1), access_record(1, side=Side.PROVIDER)])
    assert receipt.index == 0
    assert [r.index for r in both] == [1, 2]
    assert len({r.record_id for r in both}) == 2


def test_a_receipt_names_the_leaf_hash_of_the_canonical_leaf(tmp_path: Path) -> None:
    record = access_record(3)
    with sqlite_log(tmp_path / "a.db") as log:
        receipt = log.append(record)
        logged = log.record(record.record_id)
        leaf = log.leaf(record.record_id)
    assert logged.record == record
    assert leaf == leaf_bytes(0, encode_body(record, receipt.recorded_at))
    assert receipt.leaf_hash == hash_leaf(leaf) == logged.leaf_hash
    assert leaf.startswith(b'{"index":0,"record":{"information":"individual-resident-tax",')
    assert "課税所得額".encode() in leaf  # UTF-8, not \u escapes


def test_bodies_round_trip(tmp_path: Path) -> None:
    record = dataclasses.replace(access_record(5), provided_at=None, outcome=Outcome.DENIED, items=())
    record_back, at = decode_body(encode_body(record, T0))
    assert record_back == record
    assert at == T0


def test_appends_are_idempotent_by_record_id(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        first = log.append_many([access_record(0), access_record(1)])
        again = log.append_many([access_record(1), access_record(2), access_record(2)])
        assert again[0] == first[1]
        assert again[1] == again[2]
        assert again[1].index == 2
        with pytest.raises(RecordConflict) as raised:
            log.append(dataclasses.replace(access_record(0), purpose="別の事務"))
        assert raised.value.code == "audit.record.conflict"
        with pytest.raises(RecordConflict):
            log.append_many([access_record(9), dataclasses.replace(access_record(9), purpose="x")])
        log.publish_head()
        assert log.latest_head().tree_size == 3


def test_a_record_repeated_in_a_batch_of_new_records_is_logged_once(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        receipts = log.append_many([access_record(0), access_record(1), access_record(0)])
        assert [r.index for r in receipts] == [0, 1, 0]
        assert receipts[0] == receipts[2]
        assert log.append_many([access_record(1), access_record(0)]) == [receipts[1], receipts[0]]
        log.publish_head()
        assert log.latest_head().tree_size == 2


def test_a_personal_number_is_never_accepted_as_subject() -> None:
    with pytest.raises(RecordInvalid) as raised:
        access_record(0, subject="123456789018")
    assert raised.value.code == "audit.record.invalid"
    assert raised.value.detail["field"] == "subject"


@pytest.mark.parametrize(
    ("field", "value"),
    [("purpose", ""), ("subject", "x\x00"), ("message_id", "a" * 257), ("side", "both"), ("withheld", 1)],
)
def test_malformed_records_are_refused(field: str, value: object) -> None:
    with pytest.raises(RecordInvalid):
        dataclasses.replace(access_record(0), **{field: value})  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    with pytest.raises(RecordInvalid):
        dataclasses.replace(access_record(0), requested_at=T0.replace(tzinfo=None))


def test_every_record_is_proven_against_every_head_and_heads_are_consistent(tmp_path: Path) -> None:
    rng = random.Random(7)
    with sqlite_log(tmp_path / "a.db") as log:
        receipts = []
        heads = []
        n = 0
        for _ in range(12):
            batch = rng.randint(1, 40)
            receipts += log.append_many([access_record(n + i) for i in range(batch)])
            n += batch
            heads.append(log.publish_head())
        assert [r.index for r in receipts] == list(range(n))
        for head in heads:
            for receipt in receipts[: head.tree_size]:
                proof = log.inclusion_proof(receipt.record_id, head.tree_size)
                assert proof.leaf_index == receipt.index
                assert proof.head == head
                assert inclusion_proof_valid(proof, log.public_key)
        for a in heads:
            for b in heads:
                if a.tree_size <= b.tree_size:
                    assert consistency_proof_valid(
                        log.consistency_proof(a.tree_size, b.tree_size), log.public_key
                    )
        assert log.verify().ok


def test_a_head_is_published_only_when_the_log_grew(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        empty = log.publish_head()
        assert empty.tree_size == 0
        assert log.publish_head() == empty
        log.append(access_record(0))
        one = log.publish_head()
        assert one.tree_size == 1
        assert one.timestamp_ms >= empty.timestamp_ms
        assert [h.tree_size for h in log.heads()] == [0, 1]
        assert log.heads(from_size=1) == [one] == log.heads(from_size=1, limit=5)
        assert log.head(1) == one == log.latest_head()


def test_head_times_never_go_backwards_even_if_the_clock_does(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    with sqlite_log(tmp_path / "a.db", clock=clock) as log:
        log.append(access_record(0))
        first = log.publish_head()
        clock.set(T0 - timedelta(hours=1))
        log.append(access_record(1))
        assert log.publish_head().timestamp_ms == first.timestamp_ms
        assert log.verify().ok


def test_proof_errors_are_typed(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        with pytest.raises(HeadNotFound):
            log.latest_head()
        with pytest.raises(RecordNotFound):
            log.inclusion_proof("no-such-record")
        receipt = log.append(access_record(0))
        with pytest.raises(RecordNotCovered) as raised:
            log.inclusion_proof(receipt.record_id)
        assert raised.value.http_status == 409
        log.publish_head()
        log.append(access_record(1))
        with pytest.raises(RecordNotCovered):
            log.inclusion_proof(access_record(1).record_id)
        with pytest.raises(HeadNotFound):
            log.inclusion_proof(receipt.record_id, tree_size=7)
        with pytest.raises(ProofRequestInvalid):
            log.consistency_proof(2, 1)
        with pytest.raises(ProofRequestInvalid):
            log.consistency_proof(0, 1)
        with pytest.raises(HeadNotFound):
            log.consistency_proof(1, 2)
        with pytest.raises(RecordNotFound):
            log.record("nope")
        with pytest.raises(RecordNotFound):
            log.leaf("nope")


def test_the_portal_lists_a_persons_records_without_withheld_ones(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        log.append_many([access_record(i, subject="pk-a" if i % 3 == 0 else "pk-b") for i in range(30)])
        log.append(access_record(100, subject="pk-a", withheld=True))
        mine = log.records_of("pk-a")
        assert [r.index for r in mine] == list(range(0, 30, 3))
        assert all(r.record is not None and r.record.subject == "pk-a" for r in mine)
        with_withheld = log.records_of("pk-a", include_withheld=True)
        assert with_withheld[-1].index == 30
        assert [r.index for r in log.records_of("pk-a", after=9, limit=2)] == [12, 15]
        assert log.records_of("pk-nobody") == []


def test_retention_drops_bodies_after_seven_years_and_proofs_still_work(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    with sqlite_log(tmp_path / "a.db", clock=clock) as log:
        old = log.append_many([access_record(i, subject="pk-old") for i in range(10)])
        clock.advance(timedelta(days=365 * 3))
        new = log.append_many([access_record(i, subject="pk-new") for i in range(10, 15)])
        head = log.publish_head()
        clock.set(years_before(T0, -7) + timedelta(seconds=1))
        assert log.apply_retention() == 10
        assert log.apply_retention() == 0
        assert log.records_of("pk-old") == []
        assert len(log.records_of("pk-new")) == 5
        dropped = log.record(old[0].record_id)
        assert dropped.record is None
        assert dropped.leaf_hash == old[0].leaf_hash
        assert log.leaf(old[0].record_id) is None
        for receipt in old + new:
            assert inclusion_proof_valid(log.inclusion_proof(receipt.record_id), log.public_key)
        log.append(access_record(99))
        later = log.publish_head()
        assert consistency_proof_valid(log.consistency_proof(head.tree_size, later.tree_size), log.public_key)
        assert log.verify().ok
        # A retried append of a record whose body is gone is still recognised, not logged twice.
        assert log.append(access_record(0, subject="pk-old")).index == 0


def test_seven_years_before_a_leap_day() -> None:
    leap = T0.replace(year=2028, month=2, day=29)
    assert years_before(leap, 7) == leap.replace(year=2021, day=28)


def test_a_crash_between_append_and_publish_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    storage, log = open_log(path)
    log.append_many([access_record(i) for i in range(5)])
    log.publish_head()
    unpublished = log.append_many([access_record(i) for i in range(5, 12)])
    storage.close()  # the process dies before the timer publishes the next head

    storage, log = open_log(path)
    with storage:
        report = log.verify()
        assert report.ok
        assert report.records == 12
        assert report.heads == 1
        head = log.publish_head()
        assert head.tree_size == 12
        for receipt in unpublished:
            assert inclusion_proof_valid(log.inclusion_proof(receipt.record_id), log.public_key)
        assert consistency_proof_valid(log.consistency_proof(5, 12), log.public_key)


class CrashError(Exception):
    """Stands for the process dying inside a transaction."""


def test_a_failed_append_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    storage, log = open_log(path)
    with storage:
        log.append(access_record(0))
        store = SqlAuditStore(connection_source(storage))

        body = encode_body(access_record(1), T0)
        entry = NewEntry(1, "half-written", "pk-x", False, T0, body, hash_leaf(leaf_bytes(1, body)))

        def crash_mid_append() -> None:
            with store.writing() as tx:
                tx.add_entries([entry], [((1, 0), b"\0" * 32)])
                assert tx.size() == 2
                raise CrashError

        with pytest.raises(CrashError):
            crash_mid_append()
        with pytest.raises(RecordNotFound):
            log.record("half-written")
        assert log.append(access_record(1)).index == 1
        log.publish_head()
        assert log.verify().ok
        assert log.latest_head().tree_size == 2
