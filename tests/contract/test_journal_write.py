"""The journal's write path on the driver's own cursor, on both backends: values stored exactly as the
SQLAlchemy types store them, nonce claims that behave like the replay store over any sequence of batches,
driver failures that come out as typed storage errors leaving nothing of the call, the tree's size and
frontier read in one statement, and concurrent hub processes that neither deadlock nor claim a nonce twice.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from renkei.audit import merkle
from renkei.audit.auditor import verify_log
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.leaf import encode_body, leaf_bytes
from renkei.audit.ports import NewEntry
from renkei.audit.service import AuditLog
from renkei.exchange.models import Finished, LogEntry, LogOutcome, NonceClaim
from renkei.registry.identifiers import MemberId
from renkei.storage.clock import FixedClock
from renkei.storage.errors import StorageConflict, StorageValueInvalid
from renkei.storage.ports import Storage
from renkei.storage.sql.audit import SqlAuditStore, SqlAuditTransaction
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.exchange import SqlExchangeJournal, SqlExchangeStore
from renkei.storage.sql.registry import SqlReplayStore
from tests.audit.factories import access_record
from tests.contract.backends import Backend, examples

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
MEMBER = "JP/LG/131016/u17"
OTHER = "JP/LG/131024/u06"
SIGNER = Ed25519HeadSigner(bytes(range(32)))
_numbers = itertools.count(1)

instants = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))]),
)


def _journal(storage: Storage, clock: FixedClock | None = None) -> SqlExchangeJournal:
    source = connection_source(storage)
    fixed = clock or FixedClock(T0)
    return SqlExchangeJournal(source, lambda bound: AuditLog(SqlAuditStore(bound), SIGNER, fixed))


def _entry(at: datetime = T0, *, row_id: str | None = None) -> LogEntry:
    n = next(_numbers)
    return LogEntry(
        row_id or str(uuid.uuid4()), f"m-{n}", at, MEMBER, "income-certificate", OTHER,
        "infant-medical-subsidy", LogOutcome.PROVIDED, None, "h" * 88, "r" * 88, 3,
    )  # fmt: skip


def _raw(storage: Storage, sql: str, *parameters: Any) -> list[Any]:
    """Rows as the driver returns them (no SQLAlchemy type processing): the values as stored."""
    with connection_source(storage)(False) as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql, parameters).fetchall()]


def _mark(backend: Backend) -> str:
    return "?" if backend.name == "sqlite" else "%s"


@settings(examples, max_examples=25)
@given(at=instants)
@example(at=datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))  # a year of three digits
@example(at=datetime(2026, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))))  # microsecond 0
def test_values_are_stored_as_sqlalchemy_stores_them(backend: Backend, at: datetime) -> None:
    """The journal binds times itself: what it stores must be what ``UtcDateTime`` stores for the instant
    (the same text on SQLite, where order and equality are text comparisons; the same timestamptz)."""
    storage = backend.storage
    mark = _mark(backend)
    journal = _journal(storage, FixedClock(at))
    by_journal, by_sqlalchemy = _entry(at), _entry(at)
    jti = f"jti-{next(_numbers):013d}"
    record = access_record(next(_numbers), record_id=str(uuid.uuid4()))
    assert journal.write([NonceClaim(MEMBER, jti, at)], [Finished(by_journal, (record,))], T0) == [True]
    SqlExchangeStore(connection_source(storage)).log(by_sqlalchemy)
    assert SqlReplayStore(connection_source(storage)).remember(MemberId.parse(OTHER), jti, at, T0)

    def stored(sql: str, *key: str) -> Any:
        rows = _raw(storage, sql.replace("?", mark), *key)
        assert len(rows) == 1
        return rows[0][0]

    expected = stored("SELECT at FROM exchange_message WHERE id = ?", by_sqlalchemy.id)
    assert stored("SELECT at FROM exchange_message WHERE id = ?", by_journal.id) == expected
    for member in (MEMBER, OTHER):
        assert stored(
            "SELECT expires_at FROM registry_replay WHERE member_id = ? AND jti = ?", member, jti
        ) == (expected)
    assert stored("SELECT recorded_at FROM audit_record WHERE record_id = ?", record.record_id) == expected


_JTIS = [f"jti-{letter * 13}" for letter in "abcd"]


@st.composite
def _rounds(draw: st.DrawFn) -> list[tuple[int, list[tuple[str, str, int]]]]:
    """Batches of claims (a few members and nonces, so repeats and expiries happen), each written at a
    later instant (seconds after T0) than the one before."""
    rounds = []
    now = 0
    for _ in range(draw(st.integers(1, 6))):
        now += draw(st.integers(0, 4))
        claims = draw(
            st.lists(
                st.tuples(st.sampled_from([MEMBER, OTHER]), st.sampled_from(_JTIS), st.integers(0, 6)),
                min_size=1,
                max_size=6,
            )
        )
        rounds.append((now, claims))
    return rounds


@settings(examples, max_examples=40)
@given(rounds=_rounds())
def test_claims_behave_like_the_replay_store(backend: Backend, rounds: list[Any]) -> None:
    """Against a model: a claim is fresh unless its nonce is held by an entry that has not expired
    (``expires_at > now``) or it repeats an earlier claim of the same call; a fresh claim holds the nonce
    until its own ``expires_at``."""
    journal = _journal(backend.storage)
    tag = f"-{next(_numbers)}"  # examples share the database
    held: dict[tuple[str, str], datetime] = {}
    for second, claims in rounds:
        now = T0 + timedelta(seconds=second)
        batch = [NonceClaim(m, j + tag, now + timedelta(seconds=keep)) for m, j, keep in claims]
        expected, seen = [], set()
        for claim in batch:
            key = (claim.member, claim.jti)
            fresh = key not in seen and (key not in held or held[key] <= now)
            expected.append(fresh)
            seen.add(key)
            if fresh:
                held[key] = claim.keep_until
        assert journal.write(batch, [], now) == expected


def test_a_failing_statement_is_a_typed_error_and_leaves_nothing(backend: Backend) -> None:
    """A driver failure on the journal's own cursor (here a message-log row whose id is taken) comes out
    as the storage error SQLAlchemy's would have become, and the whole call is rolled back."""
    journal = _journal(backend.storage)
    taken = _entry()
    journal.write([], [Finished(taken)], T0)
    audit = AuditLog(SqlAuditStore(connection_source(backend.storage)), SIGNER, FixedClock(T0))
    record = access_record(1)
    with pytest.raises(StorageConflict):
        journal.write(
            [NonceClaim(MEMBER, "x" * 16, T0 + timedelta(minutes=5))],
            [Finished(_entry(), (record,)), Finished(_entry(row_id=taken.id))],
            T0,
        )
    assert journal.write([NonceClaim(MEMBER, "x" * 16, T0 + timedelta(minutes=5))], [], T0) == [True]
    assert audit.append(record).index == 0  # the record was not logged by the failed call
    with pytest.raises(StorageValueInvalid):
        journal.write([NonceClaim(MEMBER, "y" * 200, T0)], [], T0)


class _UndoError(Exception):
    """Rolls a test's transaction back."""


def _frontier_in_hand(storage: Storage, n: int, leaves: list[bytes], *, entries_first: bool) -> None:
    """Under the append lock, once the size is read the frontier is in hand: deleting the tree's rows
    (in this transaction, rolled back by the :class:`_UndoError` raised at the end) changes nothing."""
    with connection_source(storage)(True) as connection:
        writer = SqlAuditTransaction(connection, writing=True)
        if entries_first:
            assert writer.entries([f"absent-{n}"]) == {}
        assert writer.size() == n
        connection.exec_driver_sql("DELETE FROM audit_node")
        connection.exec_driver_sql("DELETE FROM audit_record")
        assert writer.size() == n
        edge = writer.nodes(merkle.frontier(n))
        assert merkle.range_hash(0, n, edge) == merkle.root_of(leaves)
        raise _UndoError


def test_the_size_and_frontier_are_read_right_at_every_size(backend: Backend) -> None:
    """``size`` reads the frontier in the same statement (one probe per set bit of the size), and under
    the append lock ``entries`` reads both too: the frontier must be right at every size."""
    store = SqlAuditStore(connection_source(backend.storage))
    log = AuditLog(store, SIGNER, FixedClock(T0))
    leaves: list[bytes] = []
    for n in range(70):
        with store.reading() as reader:
            assert reader.size() == n
            assert merkle.range_hash(0, n, reader.nodes(merkle.frontier(n))) == merkle.root_of(leaves)
        with pytest.raises(_UndoError):
            _frontier_in_hand(backend.storage, n, leaves, entries_first=n % 2 == 1)
        receipts = log.append_many([access_record(n, record_id=f"r-{n}")] * (1 + n % 2))
        leaves.append(receipts[0].leaf_hash)
    with store.writing() as writer:
        assert set(writer.entries(["r-3", "r-4", "nope"])) == {"r-3", "r-4"}
        assert writer.size() == 70
        body = encode_body(access_record(99), T0)
        digest = merkle.hash_leaf(leaf_bytes(70, body))
        writer.add_entries([NewEntry(70, "r-70", "pk", False, T0, body, digest)], [])
        assert writer.size() == 71  # read again once the log grew
        writer.add_entries([], [])
    with store.reading() as reader:  # a proof's look-up, more keys than one statement takes
        keys = [(0, i) for i in range(71)] + [(1, i) for i in range(35)] + [(2, 3), (6, 0)]
        absent = [(0, i) for i in range(71, 400)] + [(1, 35), (9, 0)]
        found = reader.nodes((keys + absent) * 2)
        assert set(found) == set(keys)
        assert found[(6, 0)] == merkle.root_of(leaves[:64])
        assert found[(1, 5)] == merkle.hash_children(leaves[10], leaves[11])


@pytest.mark.parametrize("with_records", [True, False], ids=["records", "claims-only"])
def test_concurrent_journals_neither_deadlock_nor_claim_twice(backend: Backend, with_records: bool) -> None:
    """Hub processes (own engines) writing batches that claim the same nonces in opposite orders, with and
    without access records (the advisory lock): every call completes, each nonce is fresh exactly once."""
    writers, rounds = 4, 6
    storages = [backend.open() for _ in range(writers)]
    barrier = threading.Barrier(writers)
    nonces = [f"shared-nonce-{i:04d}" for i in range(12)]
    until = T0 + timedelta(minutes=5)

    def work(w: int) -> list[tuple[str, bool]]:
        journal = _journal(storages[w])
        outcome: list[tuple[str, bool]] = []
        barrier.wait(timeout=30)
        for r in range(rounds):
            picked = nonces[r * 2 : r * 2 + 6]
            if w % 2:
                picked.reverse()
            ending = Finished(_entry(), (access_record(1000 * w + r, record_id=str(uuid.uuid4())),))
            fresh = journal.write(
                [NonceClaim(MEMBER, jti, until) for jti in picked], [ending] if with_records else [], T0
            )
            outcome += zip(picked, fresh, strict=True)
        return outcome

    with ThreadPoolExecutor(writers) as pool:
        results = [pair for batch in pool.map(work, range(writers)) for pair in batch]
    winners = sorted(jti for jti, fresh in results if fresh)
    assert winners == sorted({jti for jti, _ in results})
    if with_records:
        report = verify_log(SqlAuditStore(connection_source(backend.storage)), SIGNER.public_key)
        assert report.ok
        assert report.records == writers * rounds
