"""The identity adapter on SQLite and PostgreSQL: sequences under concurrency, persons and 基本4情報 history,
符号 uniqueness per (organisation, generation), PIN retry state, nonces, and the migration."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import renkei.storage.sql.identity as identity_tables
from renkei.identity.errors import LocalIdConflict, SequenceExhausted
from renkei.identity.models import AtenaNumber, BasicInfo, Fugo, FugoRecord, OrgId, PersonKey, Sex
from renkei.storage.errors import StorageConflict
from renkei.storage.sql.backend import build_engine
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.tables import metadata
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, tzinfo=UTC)
ORG = OrgId("JP/LG/131016")
THREADS = 8
ROUNDS = 25


def _repositories(backend: Backend) -> list[SqlIdentityRepository]:
    # Two storages: two engines and pools, as two hub processes would have.
    return [SqlIdentityRepository(connection_source(s)) for s in (backend.storage, backend.open())]


def _info(name: str = "山田 太郎") -> BasicInfo:
    return BasicInfo(name, "東京都千代田区千代田1-1", date(1980, 5, 17), Sex.MALE)


def _person(repository: SqlIdentityRepository, n: int) -> PersonKey:
    key = PersonKey(f"{n:032x}")
    repository.add_person(key, 10**9 + n, _info(), T0)
    return key


def test_identity_tables_match_their_migration(backend: Backend) -> None:
    engine = build_engine(backend.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = list(compare_metadata(context, metadata))
    finally:
        engine.dispose()
    ours = [d for d in differences if "identity_" in repr(d)]
    assert ours == []
    assert identity_tables.identity_number.name in metadata.tables


def test_concurrent_reservations_never_share_a_value(backend: Backend) -> None:
    repositories = _repositories(backend)
    barrier = threading.Barrier(THREADS)

    def work(i: int) -> list[int]:
        barrier.wait(timeout=30)
        starts: list[int] = []
        for _ in range(ROUNDS):
            size = 1 + i % 3
            start = repositories[i % 2].reserve("individual", size, 10**11)
            starts.extend(range(start, start + size))
        return starts

    with ThreadPoolExecutor(THREADS) as pool:
        values = [v for chunk in pool.map(work, range(THREADS)) for v in chunk]
    assert len(values) == len(set(values))
    assert sorted(values) == list(range(len(values)))
    assert repositories[0].peek("individual") == len(values)


def test_exhaustion_keeps_the_counter(backend: Backend) -> None:
    repository = _repositories(backend)[0]
    assert repository.reserve("small", 5, 6) == 0
    with pytest.raises(SequenceExhausted):
        repository.reserve("small", 2, 6)
    assert repository.peek("small") == 5


def test_persons_numbers_and_basic_info_history(backend: Backend) -> None:
    repository = _repositories(backend)[0]
    person = _person(repository, 1)
    assert repository.person_exists(person)
    later = BasicInfo("山田 太郎", "東京都新宿区西新宿2-8-1", date(1980, 5, 17), Sex.MALE)
    repository.add_basic_info(person, later, T0 + timedelta(days=3), T0 + timedelta(days=1))
    with pytest.raises(StorageConflict):
        repository.add_basic_info(person, later, T0 + timedelta(days=3), T0)
    history = repository.basic_info_history(person)
    assert [(r.info, r.valid_from) for r in history] == [(_info(), T0), (later, T0 + timedelta(days=3))]
    changed = repository.change_number(person, 10**9 + 1, 77, T0 + timedelta(days=5))
    assert changed.replaces_sequence == 10**9 + 1
    old = repository.number_by_sequence(10**9 + 1)
    assert old is not None
    assert old.retired_at == T0 + timedelta(days=5)
    assert repository.current_number(person) == repository.number_by_sequence(77)
    with pytest.raises(StorageConflict):
        repository.change_number(person, 10**9 + 1, 78, T0)


def test_fugo_is_unique_per_organisation_and_generation(backend: Backend) -> None:
    repository = _repositories(backend)[0]
    one, two = _person(repository, 1), _person(repository, 2)
    repository.add_organisation(ORG, T0)
    assert repository.add_organisation(ORG, T0 + timedelta(days=1)).registered_at == T0
    record = FugoRecord(one, ORG, 1, Fugo("A" * 32), T0)
    assert repository.put_fugo(record) == record
    assert repository.put_fugo(FugoRecord(one, ORG, 1, Fugo("B" * 32), T0)).fugo == "A" * 32
    with pytest.raises(StorageConflict):
        repository.put_fugo(FugoRecord(two, ORG, 1, Fugo("A" * 32), T0))
    rotated = repository.rotate(ORG, 1, T0, T0 + timedelta(days=30))
    assert rotated.generation == 2
    with pytest.raises(StorageConflict):
        repository.rotate(ORG, 1, T0, T0)
    repository.put_fugo(FugoRecord(two, ORG, 2, Fugo("A" * 32), T0))  # another generation: allowed
    assert [r.generation for r in repository.find_fugo(ORG, Fugo("A" * 32))] == [2, 1]


def test_local_ids_are_one_to_one_per_organisation(backend: Backend) -> None:
    repository = _repositories(backend)[0]
    one, two = _person(repository, 1), _person(repository, 2)
    repository.add_organisation(ORG, T0)
    repository.put_local_id(ORG, AtenaNumber("A-1"), one, T0)
    repository.put_local_id(ORG, AtenaNumber("A-1"), one, T0)
    with pytest.raises(LocalIdConflict):
        repository.put_local_id(ORG, AtenaNumber("A-1"), two, T0)
    with pytest.raises(LocalIdConflict):
        repository.put_local_id(ORG, AtenaNumber("A-2"), one, T0)
    assert repository.person_by_local_id(ORG, AtenaNumber("A-1")) == one
    assert repository.local_id_of(ORG, two) is None


def test_pin_failures_lock_exactly_once_under_concurrency(backend: Backend) -> None:
    repositories = _repositories(backend)
    person = _person(repositories[0], 1)
    repositories[0].add_card("CARD1", person, T0)
    barrier = threading.Barrier(THREADS)

    def fail(i: int) -> int:
        barrier.wait(timeout=30)
        return repositories[i % 2].record_pin_failure("CARD1", 3, T0 + timedelta(seconds=i)).pin_failures

    with ThreadPoolExecutor(THREADS) as pool:
        counts = sorted(pool.map(fail, range(THREADS)))
    assert counts == list(range(1, THREADS + 1))
    state = repositories[0].card("CARD1")
    assert state is not None
    assert state.locked
    assert state.pin_failures == THREADS
    repositories[0].reset_pin_failures("CARD1")  # a locked card stays locked
    assert repositories[1].card("CARD1") == state


def test_a_nonce_is_consumed_once_and_not_after_expiry(backend: Backend) -> None:
    repositories = _repositories(backend)
    repositories[0].add_nonce("n1", T0, T0 + timedelta(minutes=2))
    repositories[0].add_nonce("n2", T0, T0 + timedelta(minutes=2))
    barrier = threading.Barrier(THREADS)

    def consume(i: int) -> bool:
        barrier.wait(timeout=30)
        return repositories[i % 2].consume_nonce("n1", T0 + timedelta(seconds=1))

    with ThreadPoolExecutor(THREADS) as pool:
        assert sorted(pool.map(consume, range(THREADS))) == [False] * (THREADS - 1) + [True]
    assert not repositories[0].consume_nonce("n2", T0 + timedelta(minutes=2))
    assert not repositories[0].consume_nonce("unknown", T0)
