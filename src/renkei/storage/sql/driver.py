"""The driver's own cursor under a SQLAlchemy connection, for the hot write paths (the hub's journal: the
audit log's rows, nonce claims, message-log rows), and instants bound as ``UtcDateTime`` binds them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from renkei.storage.values import to_utc

_INSERT_ROWS_MAX = 500  # rows per multi-row INSERT on PostgreSQL (at most 65535 parameters)


class DriverCursor:
    """A cursor of the driver's own connection under a SQLAlchemy ``Connection``, in its transaction.

    For the hot write paths, where SQLAlchemy's per-statement machinery costs more than the statements:
    values must be bound as the column types would (:func:`db_time` for ``UtcDateTime``), with the
    driver's positional marker :attr:`mark`. A driver failure leaves as SQLAlchemy's ``DBAPIError``
    (without the parameters), so ``storage.sql.failures.translated`` turns it into the same typed storage
    error as one raised through SQLAlchemy; a lost connection is invalidated as SQLAlchemy would.
    """

    __slots__ = ("_connection", "_cursor", "mark", "sqlite")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self._cursor: Any = None

    def __enter__(self) -> DriverCursor:
        self._cursor = self._connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> None:
        cursor, self._cursor = self._cursor, None
        cursor.close()
        dialect = self._connection.dialect
        dbapi = dialect.loaded_dbapi
        if error is None or not isinstance(error, dbapi.Error):
            return
        lost = dialect.is_disconnect(error, self._connection.connection.dbapi_connection, cursor)
        if lost:
            self._connection.invalidate(error)
        raise sa_exc.DBAPIError.instance(
            None, None, error, dbapi.Error, hide_parameters=True, connection_invalidated=lost, dialect=dialect
        ) from error

    def rows(self, sql: str, parameters: Sequence[Any] | None = None) -> list[Any]:
        """Run ``sql``; the rows it returns (none for a statement without a result)."""
        cursor = self._cursor
        if parameters is None:  # psycopg then reads no placeholders in ``sql``
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        return cursor.fetchall() if cursor.description is not None else []

    def insert(self, *tables: tuple[str, Sequence[Sequence[Any]]]) -> None:
        """Insert rows into tables, each given as ``(head, rows)`` with ``head`` = ``INSERT INTO t (a, b,
        …)``. SQLite: one prepared statement per table stepped per row (``executemany``, cheapest there).
        PostgreSQL: multi-row VALUES, all tables in one statement (one round trip) while they fit in one
        chunk of :data:`_INSERT_ROWS_MAX` rows each; psycopg's ``executemany`` costs a round of Python per
        row."""
        tables = tuple((head, rows) for head, rows in tables if rows)
        if self.sqlite:
            for head, rows in tables:
                self._cursor.executemany(_insert_sql(head, len(rows[0]), 1, "?"), rows)
            return
        if all(len(rows) <= _INSERT_ROWS_MAX for _, rows in tables):
            if tables:
                *first, last = tables
                parts = [
                    f"i{n} AS ({_insert_sql(h, len(r[0]), len(r), '%s')})" for n, (h, r) in enumerate(first)
                ]
                sql = _insert_sql(last[0], len(last[1][0]), len(last[1]), "%s")
                self._cursor.execute(
                    f"WITH {', '.join(parts)} {sql}" if parts else sql,
                    [value for _, rows in tables for row in rows for value in row],
                )
            return
        for head, rows in tables:
            for start in range(0, len(rows), _INSERT_ROWS_MAX):
                chunk = rows[start : start + _INSERT_ROWS_MAX]
                values = [value for row in chunk for value in row]
                self._cursor.execute(_insert_sql(head, len(chunk[0]), len(chunk), "%s"), values)


@functools.lru_cache(maxsize=256)
def _insert_sql(head: str, width: int, count: int, mark: str) -> str:
    group = "(" + ", ".join([mark] * width) + ")"
    return f"{head} VALUES {', '.join([group] * count)}"


def db_time(at: datetime, sqlite: bool, name: str = "recorded_at") -> datetime | str:
    """``at`` as ``UtcDateTime`` binds it: SQLite, naive UTC text in SQLAlchemy's fixed-width form
    (``YYYY-MM-DD HH:MM:SS.ffffff``); PostgreSQL, the aware UTC instant (``timestamptz``)."""
    if type(at) is not datetime or at.tzinfo is not UTC:  # every clock's instant skips this
        at = to_utc(name, at)
    # isoformat writes SQLAlchemy's SQLite DATETIME format (4-digit year, 6-digit fraction), then +00:00.
    return at.isoformat(" ", "microseconds")[:26] if sqlite else at


def from_db_time(value: datetime | str) -> datetime:
    """A ``UtcDateTime`` value read on the driver's cursor, as SQLAlchemy would return it (the inverse
    of :func:`db_time`)."""
    if isinstance(value, str):  # SQLite's text form, naive UTC
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
