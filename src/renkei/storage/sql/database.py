"""The :class:`~renkei.storage.ports.Database` port on a SQLAlchemy engine, and the transactions that
repositories run in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from renkei.storage.errors import MigrationPending, StorageError, StorageUnavailable
from renkei.storage.sql.backend import WRITE_OPTION
from renkei.storage.sql.failures import translated
from renkei.storage.sql.migration import current_revisions, head_revisions
from renkei.storage.sql.repositories import SqlRepositories
from renkei.storage.sql.urls import describe, sqlite_path


class SqlDatabase:
    """A database reached through one engine, which this object owns and disposes on :meth:`close`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._where = describe(engine.url)
        self._path = sqlite_path(engine.url)
        self._heads = head_revisions()
        self._closed = False
        if self._path is not None:
            # Open once now, so the file exists from here on: its disappearance is then a failure (below).
            with translated(self._where), engine.connect():
                pass

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def where(self) -> str:
        """The database's name for messages (no password)."""
        return self._where

    def check(self) -> None:
        self._ensure_usable()
        with translated(self._where), self._engine.connect() as connection:
            migrated = inspect(connection).has_table("alembic_version")
            revisions = current_revisions(connection) if migrated else ()
        if revisions != self._heads:
            found = ", ".join(revisions) or "none (never migrated)"
            raise MigrationPending(
                f"{self._where}: schema revision is {found}, this renkei needs {', '.join(self._heads)}; "
                "run the migrations",
                where=self._where,
                revisions=list(revisions),
                heads=list(self._heads),
            )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    @contextmanager
    def begin(self, write: bool) -> Iterator[Connection]:
        """A connection in a transaction of its own, committed when the block ends without an exception."""
        self._ensure_usable()
        with translated(self._where), self._engine.connect() as connection:
            if write:
                connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def transaction(self) -> Iterator[SqlRepositories]:
        """A unit of work: repositories that all write through one transaction."""
        with self.begin(write=True) as connection:
            bound = _BoundSource(connection, self._where)
            try:
                yield SqlRepositories(bound)
            finally:
                bound.release()

    def _ensure_usable(self) -> None:
        if self._closed:
            raise StorageUnavailable(f"{self._where}: this storage has been closed", where=self._where)
        if self._path is not None and not self._path.exists():
            # A pooled connection would go on reading and writing the unlinked file: the data would be lost.
            raise StorageUnavailable(
                f"{self._where}: the database file is gone (deleted or moved while renkei was running)",
                where=self._where,
            )

    def __repr__(self) -> str:
        return f"SqlDatabase({self._where!r})"


class _BoundSource:
    """Hands repositories the unit of work's connection, and refuses once that transaction has ended."""

    def __init__(self, connection: Connection, where: str) -> None:
        self._connection: Connection | None = connection
        self._where = where

    @contextmanager
    def __call__(self, write: bool) -> Iterator[Connection]:
        if self._connection is None:
            raise StorageError(f"{self._where}: a repository was used after its transaction ended")
        with translated(self._where):
            yield self._connection

    def release(self) -> None:
        self._connection = None
