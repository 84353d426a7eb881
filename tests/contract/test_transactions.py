"""A unit of work commits as a whole or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renkei.storage.errors import StorageConflict, StorageError, StorageValueInvalid
from renkei.storage.ports import Storage
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, tzinfo=UTC)


class BoomError(Exception):
    """Any failure of the caller's own code inside a unit of work."""


def _unit_of_work(storage: Storage, *writes: tuple[str, str], fail: bool = False) -> None:
    with storage.transaction() as tx:
        for version, digest in writes:
            tx.spec_releases.record(version, digest, T0)
        if fail:
            raise BoomError


def test_a_unit_of_work_commits_everything_together(backend: Backend) -> None:
    with backend.storage.transaction() as tx:
        a = tx.spec_releases.record("1.0", "d1", T0)
        b = tx.spec_releases.record("2.0", "d2", T0)
        assert tx.spec_releases.history() == [a, b], "a unit of work reads its own writes"
    assert backend.storage.spec_releases.history() == [a, b]


def test_an_error_in_the_middle_leaves_nothing_written(backend: Backend) -> None:
    with pytest.raises(BoomError):
        _unit_of_work(backend.storage, ("1.0", "d1"), ("2.0", "d2"), fail=True)
    assert backend.storage.spec_releases.history() == []


def test_a_storage_error_in_the_middle_rolls_back_the_earlier_writes(backend: Backend) -> None:
    published = backend.storage.spec_releases.record("1.0", "d1", T0)
    with pytest.raises(StorageConflict):
        _unit_of_work(backend.storage, ("2.0", "d2"), ("1.0", "changed"))
    assert backend.storage.spec_releases.history() == [published]


def test_a_refused_value_in_the_middle_rolls_back_the_earlier_writes(backend: Backend) -> None:
    with pytest.raises(StorageValueInvalid):
        _unit_of_work(backend.storage, ("2.0", "d2"), ("bad\x00", "d"))
    assert backend.storage.spec_releases.history() == []


def test_a_caught_error_does_not_poison_the_unit_of_work(backend: Backend) -> None:
    backend.storage.spec_releases.record("1.0", "d1", T0)
    with backend.storage.transaction() as tx:
        with pytest.raises(StorageConflict):
            tx.spec_releases.record("1.0", "changed", T0)
        kept = tx.spec_releases.record("2.0", "d2", T0)
    assert backend.storage.spec_releases.get("2.0") == kept


def test_uncommitted_writes_are_invisible_to_other_connections(backend: Backend) -> None:
    other = backend.open()
    with backend.storage.transaction() as tx:
        tx.spec_releases.record("1.0", "d1", T0)
        assert other.spec_releases.get("1.0") is None
        assert other.spec_releases.history() == []
    assert other.spec_releases.get("1.0") is not None


def test_repositories_of_an_ended_unit_of_work_refuse_to_work(backend: Backend) -> None:
    with backend.storage.transaction() as tx:
        pass
    with pytest.raises(StorageError, match="after its transaction ended"):
        tx.spec_releases.history()
