"""SQL repositories on SQLAlchemy Core. Each takes a connection source, so the same class serves both a
call-per-transaction repository on :class:`~renkei.storage.ports.Storage` and one bound to a unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from renkei.storage.errors import StorageConflict, StorageError
from renkei.storage.models import SpecRelease
from renkei.storage.sql.tables import DIGEST_MAX, VERSION_MAX, spec_release
from renkei.storage.values import check_text, to_utc

ConnectionSource = Callable[[bool], AbstractContextManager[Connection]]
"""``source(write)`` yields a connection inside a transaction; ``write`` asks for a write transaction."""


def insert_or_ignore(
    connection: Connection, table: Table, values: dict[str, Any], keys: Sequence[str]
) -> Insert:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` in the connection's dialect.

    Unlike catching a unique violation, this never aborts a PostgreSQL transaction, so it is safe inside a
    unit of work, and it waits for a concurrent inserter of the same key to commit or roll back.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=list(keys))
    if dialect == "sqlite":
        return sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=list(keys))
    raise StorageError(f"dialect {dialect!r} is not supported")  # pragma: no cover - parse_url refuses it


class SqlSpecReleaseRepository:
    """:class:`~renkei.storage.ports.SpecReleaseRepository` on the ``spec_release`` table."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def record(self, version: str, digest: str, activated_at: datetime) -> SpecRelease:
        version = check_text("version", version, max_length=VERSION_MAX)
        digest = check_text("digest", digest, max_length=DIGEST_MAX)
        at = to_utc("activated_at", activated_at)
        with self._source(True) as connection:
            values = {"version": version, "digest": digest, "activated_at": at}
            connection.execute(insert_or_ignore(connection, spec_release, values, ["version"]))
            stored = self._select_one(connection, version)
        if stored is None:  # pragma: no cover - only if another writer deleted it in between
            raise StorageError(f"spec release {version!r} vanished while it was being recorded")
        if stored.digest != digest:
            raise StorageConflict(
                f"spec version {version!r} is already recorded with digest {stored.digest!r}; "
                f"a published version never changes, so it cannot now have digest {digest!r}",
                version=version,
                recorded_digest=stored.digest,
                digest=digest,
            )
        return stored

    def get(self, version: str) -> SpecRelease | None:
        version = check_text("version", version, max_length=VERSION_MAX)
        with self._source(False) as connection:
            return self._select_one(connection, version)

    def current(self) -> SpecRelease | None:
        query = (
            select(spec_release)
            .order_by(spec_release.c.activated_at.desc(), spec_release.c.id.desc())
            .limit(1)
        )
        with self._source(False) as connection:
            row = connection.execute(query).first()
        return None if row is None else _release(row)

    def history(self) -> list[SpecRelease]:
        query = select(spec_release).order_by(spec_release.c.activated_at, spec_release.c.id)
        with self._source(False) as connection:
            return [_release(row) for row in connection.execute(query)]

    @staticmethod
    def _select_one(connection: Connection, version: str) -> SpecRelease | None:
        row = connection.execute(select(spec_release).where(spec_release.c.version == version)).first()
        return None if row is None else _release(row)


def _release(row: Row[Any]) -> SpecRelease:
    return SpecRelease(version=row.version, digest=row.digest, activated_at=row.activated_at)


class SqlRepositories:
    """Every repository on one connection source: what a unit of work hands out (a ``Transaction``)."""

    def __init__(self, source: ConnectionSource) -> None:
        self._spec_releases = SqlSpecReleaseRepository(source)

    @property
    def spec_releases(self) -> SqlSpecReleaseRepository:
        return self._spec_releases
