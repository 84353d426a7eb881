"""Schema migrations, run programmatically: no ``alembic.ini``, nothing read from the working directory
or the environment."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from renkei.errors import RenkeiError
from renkei.storage.errors import MigrationFailed, StorageUnavailable
from renkei.storage.sql.backend import WRITE_OPTION, build_engine
from renkei.storage.sql.failures import translate, translated
from renkei.storage.sql.urls import describe

SCRIPT_LOCATION = "renkei.storage:migrations"
#: Key of the PostgreSQL advisory lock that serialises hub processes migrating the same database at once.
PG_MIGRATION_LOCK = 0x72656E6B  # "renk"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code, pointing at the migrations inside the package."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> tuple[str, ...]:
    """The revisions the code expects the database to be at, sorted.

    Each context that owns tables keeps its migrations on a branch of its own (``branch_labels``, based on
    ``0001``), so contexts evolve their schemas independently; the database is current when it is at
    every branch head.
    """
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if not heads:  # pragma: no cover - the package always ships revisions
        raise MigrationFailed("the package contains no migrations")
    return tuple(sorted(heads))


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions recorded in the database's ``alembic_version``, sorted (empty when never migrated)."""
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def migrate(target: str | URL | Engine) -> None:
    """Upgrade the database at ``target`` (a URL, or an engine the caller keeps) to every head revision.

    A no-op when it is already there. The upgrade runs in one transaction (SQLite and PostgreSQL both
    have transactional DDL): on failure the schema stays at its previous revision and
    ``storage.migration.failed`` is raised; ``storage.unavailable`` if the database cannot be reached.
    Concurrent callers are serialised (PostgreSQL advisory lock, SQLite write lock).
    """
    engine = target if isinstance(target, Engine) else build_engine(target)
    try:
        _upgrade(engine)
    finally:
        if engine is not target:
            engine.dispose()


def _upgrade(engine: Engine) -> None:
    where = describe(engine.url)
    with translated(where), engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(connection), "heads")
            except RenkeiError:
                raise
            except SQLAlchemyError as error:
                failure = translate(error, where)
                if isinstance(failure, StorageUnavailable):
                    raise failure from error
                raise MigrationFailed(
                    f"{where}: upgrading the schema failed: {failure.message}", where=where
                ) from error
            except CommandError as error:
                # e.g. the database is at a revision this code does not know: a newer renkei migrated it.
                raise MigrationFailed(f"{where}: {error}", where=where) from error
