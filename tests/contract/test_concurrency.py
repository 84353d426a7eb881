"""Concurrent writers: the database, not luck, decides; callers see only the defined outcomes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from renkei.errors import RenkeiError
from renkei.storage.errors import StorageConflict
from renkei.storage.models import SpecRelease
from renkei.storage.ports import Storage
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, tzinfo=UTC)
WRITERS = 8
ROUNDS = 4


def _race(storages: list[Storage], version: str, digest_of: list[str]) -> list[SpecRelease | RenkeiError]:
    barrier = threading.Barrier(WRITERS)

    def write(i: int) -> SpecRelease | RenkeiError:
        barrier.wait(timeout=30)
        try:
            return storages[i % len(storages)].spec_releases.record(version, digest_of[i], T0 + timedelta(i))
        except StorageConflict as conflict:
            return conflict

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(write, range(WRITERS)))


def test_concurrent_records_of_one_version_store_exactly_one_row(backend: Backend) -> None:
    # Two storages: two engines and pools, as two hub processes would have.
    storages = [backend.storage, backend.open()]
    for n in range(ROUNDS):
        version = f"2026.{n}"
        results = _race(storages, version, ["sha256:same"] * WRITERS)
        assert all(isinstance(r, SpecRelease) for r in results), results
        assert len(set(results)) == 1, "every writer gets the one stored release"
        assert backend.storage.spec_releases.get(version) == results[0]
    versions = {r.version for r in backend.storage.spec_releases.history()}
    assert versions == {f"2026.{n}" for n in range(ROUNDS)}


def test_concurrent_records_with_different_digests_have_one_winner(backend: Backend) -> None:
    storages = [backend.storage, backend.open()]
    for n in range(ROUNDS):
        version = f"2026.{n}"
        digests = [f"sha256:{i % 2}" for i in range(WRITERS)]
        results = _race(storages, version, digests)
        stored = backend.storage.spec_releases.get(version)
        assert stored is not None
        for digest, result in zip(digests, results, strict=True):
            if digest == stored.digest:
                assert result == stored
            else:
                assert isinstance(result, StorageConflict)
                assert result.detail["recorded_digest"] == stored.digest
    assert len(backend.storage.spec_releases.history()) == ROUNDS


def test_concurrent_units_of_work_do_not_lose_writes(backend: Backend) -> None:
    storages = [backend.storage, backend.open()]
    barrier = threading.Barrier(WRITERS)

    def work(i: int) -> None:
        barrier.wait(timeout=30)
        with storages[i % 2].transaction() as tx:
            tx.spec_releases.record(f"a{i}", "d", T0)
            tx.spec_releases.record(f"b{i}", "d", T0)

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(work, range(WRITERS)))
    assert len(backend.storage.spec_releases.history()) == 2 * WRITERS
