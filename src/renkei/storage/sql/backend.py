"""One SQLAlchemy engine per database, set up the way renkei needs each backend.

SQLite: WAL (readers never block the writer), foreign keys enforced, a 5 s busy timeout, and
``synchronous=NORMAL`` (durable across application crashes; WAL makes it safe). pysqlite's own transaction
handling is switched off so that SQLAlchemy's ``BEGIN`` is real, and write transactions start with
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes cannot wait for the lock in WAL
mode and fails at once with SQLITE_BUSY, so concurrent writers would fail instead of queueing.

PostgreSQL: psycopg 3, connections checked before use (``pool_pre_ping``), session time zone UTC.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine

from renkei.storage.errors import StorageUnavailable
from renkei.storage.sql.urls import describe, parse_url, sqlite_path

WRITE_OPTION = "renkei_write"
"""Execution option that marks a connection's next transaction as a write (``BEGIN IMMEDIATE`` on SQLite)."""

SQLITE_PRAGMAS = (
    ("journal_mode", "WAL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "5000"),
    ("synchronous", "NORMAL"),
)
PG_CONNECT_TIMEOUT_S = 10


def build_engine(url: str | URL) -> Engine:
    """A new engine for ``url`` (see :func:`~renkei.storage.sql.urls.parse_url`); the caller disposes it.

    For SQLite the file's directory is created if missing.
    """
    parsed = parse_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if isinstance(exc, FileExistsError | NotADirectoryError):
                reason = f"{path.parent} or one of its parents is a file, not a directory"
            else:
                reason = exc.strerror or str(exc)
            where = describe(parsed)
            raise StorageUnavailable(f"{where}: cannot create its directory: {reason}", where=where) from None
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "options" not in parsed.query:
        # Timestamps are converted to UTC on read anyway; a UTC session also keeps year-9999 values
        # from overflowing when psycopg converts them to a local zone.
        connect_args["options"] = "-c timezone=UTC"
    if "application_name" not in parsed.query:
        connect_args["application_name"] = "renkei"
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # None = autocommit at the driver level: SQLAlchemy's "begin" event below issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
            cursor.fetchall()
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    write = bool(connection.get_execution_options().get(WRITE_OPTION))
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
