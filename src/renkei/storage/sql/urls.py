"""Database URLs: which backends renkei accepts, in their one canonical form, and how to name them safely."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from renkei.storage.errors import StorageUrlInvalid

_EXPECTED = "expected sqlite:///path/to/renkei.db or postgresql+psycopg://user@host/dbname"


def parse_url(url: str | URL) -> URL:
    """The canonical SQLAlchemy URL for ``url``, or ``storage.url.invalid``.

    SQLite must be a file (an in-memory database would vanish with each pooled connection); its path is
    made absolute so that a later change of working directory cannot move the database. PostgreSQL
    always uses psycopg 3: ``postgresql://`` and ``postgres://`` are read as ``postgresql+psycopg://``.
    """
    if isinstance(url, str):
        try:
            parsed = make_url(url.strip())
        except ArgumentError:
            raise StorageUrlInvalid(f"cannot parse the database URL; {_EXPECTED}") from None
    else:
        parsed = url
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in {"", "pysqlite"}:
            raise StorageUrlInvalid(f"SQLite driver {driver!r} is not supported; use sqlite:///path")
        database = parsed.database or ""
        if database in {"", ":memory:"} or parsed.query.get("mode") == "memory":
            raise StorageUrlInvalid(f"renkei needs an SQLite file, not an in-memory database; {_EXPECTED}")
        if database.startswith("file:"):
            raise StorageUrlInvalid(f"SQLite URI filenames are not supported; {_EXPECTED}")
        return parsed.set(drivername="sqlite", database=str(Path(database).absolute()))
    if backend in {"postgresql", "postgres"}:
        if driver not in {"", "psycopg"}:
            raise StorageUrlInvalid(
                f"PostgreSQL driver {driver!r} is not supported; renkei uses psycopg 3 (postgresql+psycopg://)"
            )
        if not parsed.database:
            raise StorageUrlInvalid(f"the PostgreSQL URL names no database; {_EXPECTED}")
        return parsed.set(drivername="postgresql+psycopg")
    raise StorageUrlInvalid(f"database backend {backend!r} is not supported; {_EXPECTED}")


def sqlite_path(url: URL) -> Path | None:
    """The database file of an SQLite URL (as returned by :func:`parse_url`), else ``None``."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


def describe(url: URL) -> str:
    """A name for the database fit for error messages and logs: never includes the password."""
    path = sqlite_path(url)
    if path is not None:
        return f"SQLite database {path}"
    socket = url.query.get("host")
    host = url.host or (socket if isinstance(socket, str) else None) or "localhost"
    port = f":{url.port}" if url.port else ""
    user = f"{url.username}@" if url.username else ""
    return f"PostgreSQL database {url.database!r} at {user}{host}{port}"
