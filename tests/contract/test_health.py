"""``Database.check()``: quiet on a live database, ``storage.unavailable`` once it is gone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renkei.storage.errors import MigrationPending, StorageUnavailable
from renkei.storage.sql import create_storage, migrate
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def test_check_passes_on_a_live_migrated_database(backend: Backend) -> None:
    backend.storage.database.check()
    assert backend.storage.database.dialect == backend.name


def test_check_fails_once_the_database_is_gone(backend: Backend) -> None:
    storage, vanish = backend.vanishing_storage()
    storage.spec_releases.record("1.0", "d", T0)
    storage.database.check()
    vanish()
    with pytest.raises(StorageUnavailable) as raised:
        storage.database.check()
    assert raised.value.code == "storage.unavailable"
    assert {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[backend.name] in raised.value.message
    with pytest.raises(StorageUnavailable):
        storage.spec_releases.current()
    with pytest.raises(StorageUnavailable):
        storage.spec_releases.record("2.0", "d", T0)


def test_opening_an_unreachable_database_fails_clearly(backend: Backend) -> None:
    url = backend.unreachable_url()
    with pytest.raises(StorageUnavailable) as raised:
        create_storage(url)
    assert raised.value.code == "storage.unavailable"
    where = {"sqlite": "not-a-directory", "postgresql": "no-server-here"}[backend.name]
    assert where in raised.value.message, "the message says which database could not be reached"
    with pytest.raises(StorageUnavailable):
        migrate(url)


def test_check_reports_a_schema_that_is_not_migrated(backend: Backend) -> None:
    storage = backend.open(backend.empty_url(), migrate=False)
    with pytest.raises(MigrationPending) as raised:
        storage.database.check()
    assert raised.value.code == "storage.migration.pending"
    assert "never migrated" in raised.value.message


def test_a_closed_storage_refuses_to_work(backend: Backend) -> None:
    storage = backend.open()
    storage.close()
    storage.close()  # idempotent
    with pytest.raises(StorageUnavailable, match="closed"):
        storage.spec_releases.history()
    with pytest.raises(StorageUnavailable, match="closed"):
        storage.database.check()
