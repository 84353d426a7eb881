"""Migrations: idempotent, and they produce exactly the schema ``tables.metadata`` describes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from renkei.storage.errors import MigrationFailed
from renkei.storage.sql import migrate
from renkei.storage.sql.backend import build_engine
from renkei.storage.sql.migration import alembic_config, current_revisions, head_revisions
from renkei.storage.sql.schema import metadata
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def _schema_differences(url: str) -> list[object]:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _revisions(url: str) -> tuple[str, ...]:
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            return current_revisions(connection)
    finally:
        engine.dispose()


def test_the_migrated_schema_is_exactly_the_metadata(backend: Backend) -> None:
    assert _schema_differences(backend.url) == []
    assert _revisions(backend.url) == head_revisions()


def test_migrating_again_is_a_no_op(backend: Backend) -> None:
    recorded = backend.storage.spec_releases.record("1.0", "d1", T0)
    migrate(backend.url)
    migrate(backend.url)
    assert _revisions(backend.url) == head_revisions()
    assert _schema_differences(backend.url) == []
    assert backend.storage.spec_releases.history() == [recorded]
    backend.storage.database.check()


def test_an_empty_database_is_migrated_to_head(backend: Backend) -> None:
    url = backend.empty_url()
    assert _revisions(url) == ()
    storage = backend.open(url, migrate=True)
    storage.database.check()
    assert _schema_differences(url) == []


def test_every_migration_can_be_undone_and_redone(backend: Backend) -> None:
    engine = build_engine(backend.url)
    backend.storage.close()  # PostgreSQL: no other session may hold locks on the tables being dropped
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
            assert current_revisions(connection) == ()
        migrate(engine)
    finally:
        engine.dispose()
    assert _schema_differences(backend.url) == []


def test_a_database_from_a_newer_renkei_is_not_touched(backend: Backend) -> None:
    engine = build_engine(backend.url)
    try:
        with engine.begin() as connection:
            # Every branch head row goes; one unknown revision stands in for a newer renkei's schema.
            connection.execute(text("DELETE FROM alembic_version"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('ffff_future')"))
        with pytest.raises(MigrationFailed) as raised:
            migrate(engine)
    finally:
        engine.dispose()
    assert raised.value.code == "storage.migration.failed"
    assert "ffff_future" in raised.value.message
