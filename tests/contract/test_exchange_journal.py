"""The exchange journal on both backends: nonce claims, access records and message-log rows of many
exchanges in one transaction, all or nothing; the hub's group commit over it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

import renkei.storage.sql.exchange  # noqa: F401  registers the tables until schema.py imports them
from renkei.audit.errors import RecordConflict
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.service import AuditLog
from renkei.exchange.journal import GroupCommit
from renkei.exchange.models import Finished, LogEntry, LogOutcome, NonceClaim
from renkei.registry.identifiers import MemberId
from renkei.storage.clock import FixedClock
from renkei.storage.errors import StorageUnavailable
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.exchange import SqlExchangeJournal, SqlExchangeStore
from renkei.storage.sql.registry import SqlReplayStore
from tests.audit.factories import access_record
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
MEMBER = "JP/LG/131016/u17"
SIGNER = Ed25519HeadSigner(bytes(range(32)))


def _journal(backend: Backend) -> tuple[SqlExchangeJournal, AuditLog, SqlExchangeStore]:
    source = connection_source(backend.storage)
    clock = FixedClock(T0)
    journal = SqlExchangeJournal(source, lambda bound: AuditLog(SqlAuditStore(bound), SIGNER, clock))
    return journal, AuditLog(SqlAuditStore(source), SIGNER, clock), SqlExchangeStore(source)


def _entry(n: int, outcome: LogOutcome = LogOutcome.PROVIDED) -> LogEntry:
    return LogEntry(
        str(uuid.UUID(int=n)), f"m-{n}", T0, MEMBER, "income-certificate", "JP/LG/131024/u06",
        "infant-medical-subsidy", outcome, None, "h" * 88, "r" * 88, 3,
    )  # fmt: skip


def _claim(jti: str, keep: timedelta = timedelta(minutes=5)) -> NonceClaim:
    return NonceClaim(MEMBER, jti, T0 + keep)


def _provision(n: int) -> Finished:
    return Finished(_entry(n), (access_record(n), access_record(n + 10_000)))


def test_claims_records_and_rows_commit_together(backend: Backend) -> None:
    journal, audit, store = _journal(backend)
    fresh = journal.write(
        [_claim("a" * 16), _claim("b" * 16), _claim("a" * 16)], [_provision(1), Finished(_entry(2))], T0
    )
    assert fresh == [True, True, False]  # a repeat within one call is a replay
    assert journal.write([_claim("b" * 16), _claim("c" * 16)], [], T0) == [False, True]
    assert {e.message_id for e in store.entries()} == {"m-1", "m-2"}
    assert audit.record(access_record(1).record_id).index == 0
    assert _verified(audit, 2)


def test_an_expired_nonce_can_be_claimed_again(backend: Backend) -> None:
    journal, _, _ = _journal(backend)
    assert journal.write([_claim("e" * 16, timedelta(seconds=1))], [], T0) == [True]
    assert journal.write([_claim("e" * 16)], [], T0) == [False]
    assert journal.write([_claim("e" * 16)], [], T0 + timedelta(seconds=1)) == [True]


def test_a_failure_leaves_nothing_of_the_call(backend: Backend) -> None:
    """A record that conflicts with the log fails the whole call: no claim, no record, no row is kept."""
    journal, audit, store = _journal(backend)
    audit.append(access_record(7))
    other = access_record(8, record_id=access_record(7).record_id)  # same id, other content
    with pytest.raises(RecordConflict):
        journal.write([_claim("f" * 16)], [_provision(1), Finished(_entry(2), (other,))], T0)
    assert store.entries() == []
    assert journal.write([_claim("f" * 16)], [], T0) == [True]  # the claim was rolled back too
    assert _verified(audit, 1)


def test_the_replay_store_sees_the_journals_claims(backend: Backend) -> None:
    """Claims in the journal and ``SqlReplayStore.remember`` guard the same nonces."""
    journal, _, _ = _journal(backend)
    replays = SqlReplayStore(connection_source(backend.storage))
    assert journal.write([_claim("g" * 16)], [], T0) == [True]
    assert not replays.remember(MemberId.parse(MEMBER), "g" * 16, T0 + timedelta(minutes=5), T0)
    assert replays.remember(MemberId.parse(MEMBER), "h" * 16, T0 + timedelta(minutes=5), T0)
    assert journal.write([_claim("h" * 16)], [], T0) == [False]


class _Counting:
    """The real journal, counting its calls (how many batches the group commit made)."""

    def __init__(self, journal: SqlExchangeJournal) -> None:
        self.journal = journal
        self.calls: list[tuple[int, int]] = []

    def write(self, claims: Sequence[NonceClaim], finished: Sequence[Finished], now: datetime) -> list[bool]:
        self.calls.append((len(claims), len(finished)))
        return self.journal.write(claims, finished, now)


async def _gathered(commits: GroupCommit, *jobs: Awaitable[object]) -> list[object]:
    results = await asyncio.gather(*jobs, return_exceptions=True)
    await commits.aclose()
    return results


def test_group_commit_writes_concurrent_exchanges_together(backend: Backend) -> None:
    journal, audit, store = _journal(backend)
    counting = _Counting(journal)
    commits = GroupCommit(counting, FixedClock(T0))
    claims = [commits.claim(_claim(f"{n:016d}")) for n in range(20)]
    replay = commits.claim(_claim(f"{3:016d}"))  # the same nonce as a concurrent claim
    endings = [commits.finish(_provision(n)) for n in range(1, 30, 2)]

    results = asyncio.run(_gathered(commits, *claims, replay, *endings))

    assert results == [True] * 20 + [False] + [None] * 15
    assert counting.calls == [(21, 15)]  # one transaction for all of them
    assert sorted(e.message_id for e in store.entries(limit=100)) == sorted(f"m-{n}" for n in range(1, 30, 2))
    assert _verified(audit, 30)


def test_group_commit_fails_a_bad_exchange_alone(backend: Backend) -> None:
    journal, audit, store = _journal(backend)
    audit.append(access_record(7))
    counting = _Counting(journal)
    commits = GroupCommit(counting, FixedClock(T0))
    bad = Finished(_entry(99), (access_record(8, record_id=access_record(7).record_id),))
    claims = [commits.claim(_claim(f"{n:016d}")) for n in range(10)]
    endings = [commits.finish(_provision(n)) for n in range(101, 140, 2)]

    results = asyncio.run(_gathered(commits, *claims[:5], commits.finish(bad), *claims[5:], *endings))

    assert isinstance(results[5], RecordConflict)
    assert results[:5] + results[6:] == [True] * 10 + [None] * 20  # every other one was written
    assert 1 < len(counting.calls) <= 1 + 2 * 5  # split in halves: about 2 log2(31) writes, not 31
    assert "m-99" not in {e.message_id for e in store.entries(limit=100)}
    assert len(store.entries(limit=100)) == 20
    assert _verified(audit, 1 + 40)


def _verified(audit: AuditLog, size: int) -> bool:
    """The log holds ``size`` records and recomputes against a head published over them."""
    head = audit.publish_head()
    report = audit.verify()
    return report.ok and report.records == size == head.tree_size


def test_group_commit_fails_a_batch_at_once_when_the_database_is_unavailable(backend: Backend) -> None:
    """No halving and retrying when every item would fail alike (the database is gone or locked)."""
    other = backend.open()
    source = connection_source(other)
    clock = FixedClock(T0)
    counting = _Counting(
        SqlExchangeJournal(source, lambda bound: AuditLog(SqlAuditStore(bound), SIGNER, clock))
    )
    commits = GroupCommit(counting, clock)
    other.close()

    results = asyncio.run(
        _gathered(
            commits, *(commits.claim(_claim(f"{n:016d}")) for n in range(8)), commits.finish(_provision(1))
        )
    )

    assert all(isinstance(r, StorageUnavailable) for r in results)
    assert counting.calls == [(8, 1)]
