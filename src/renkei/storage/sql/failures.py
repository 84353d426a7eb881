"""Translation of driver failures into the typed errors of :mod:`renkei.storage.errors`.

Messages carry the database's name and the driver's primary message only: never the SQL parameters,
which may hold personal data, and never a password.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc

from renkei.errors import RenkeiError
from renkei.storage.errors import (
    MigrationPending,
    StorageBusy,
    StorageConflict,
    StorageError,
    StorageUnavailable,
    StorageValueInvalid,
)

# SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep these in the low byte.
_SQLITE_BUSY = {5, 6}  # BUSY, LOCKED
_SQLITE_UNAVAILABLE = {3, 8, 10, 11, 13, 14, 15, 23, 26}  # PERM READONLY IOERR CORRUPT FULL CANTOPEN …
_SQLITE_CONSTRAINT = 19
_SQLITE_VALUE = {18, 20, 25}  # TOOBIG, MISMATCH, RANGE

# PostgreSQL SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_PG_BUSY = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
# connection, authorization, no such database, resources, operator intervention, system
_PG_UNAVAILABLE_CLASSES = ("08", "28", "3D", "53", "57P", "58")
_PG_READ_ONLY = "25006"  # a hot standby or a read-only transaction


def _primary_message(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def translate(error: sa_exc.SQLAlchemyError, where: str) -> StorageError:
    """The typed error for ``error`` raised while talking to the database named ``where``."""
    if isinstance(error, sa_exc.TimeoutError):
        return StorageBusy(f"{where}: no pooled connection became free in time", where=where)
    if not isinstance(error, sa_exc.DBAPIError):
        return StorageError(f"{where}: {_primary_message(error)}", where=where)
    orig = error.orig
    message = f"{where}: {_primary_message(orig if orig is not None else error)}"
    if isinstance(orig, sqlite3.Error):
        found = _translate_sqlite(orig, message, where)
        if found is not None:
            return found
    elif isinstance(orig, psycopg.Error):
        found = _translate_postgresql(orig, message, where)
        if found is not None:
            return found
    if error.connection_invalidated or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return StorageUnavailable(message, where=where)
    if isinstance(error, sa_exc.IntegrityError):
        return StorageConflict(message, where=where)
    if isinstance(error, sa_exc.DataError):
        return StorageValueInvalid(message, where=where)
    return StorageError(message, where=where)


def _translate_sqlite(orig: sqlite3.Error, message: str, where: str) -> StorageError | None:
    code = getattr(orig, "sqlite_errorcode", None)
    name = getattr(orig, "sqlite_errorname", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in _SQLITE_BUSY:
        return StorageBusy(message, where=where, sqlite_error=name)
    if primary in _SQLITE_UNAVAILABLE:
        return StorageUnavailable(message, where=where, sqlite_error=name)
    if primary == _SQLITE_CONSTRAINT:
        return StorageConflict(message, where=where, sqlite_error=name)
    if primary in _SQLITE_VALUE:
        return StorageValueInvalid(message, where=where, sqlite_error=name)
    if "no such table" in str(orig):
        return MigrationPending(f"{message} (the schema is not migrated)", where=where, sqlite_error=name)
    return StorageError(message, where=where, sqlite_error=name)


def _translate_postgresql(orig: psycopg.Error, message: str, where: str) -> StorageError | None:
    state = orig.sqlstate
    if state is None:
        # psycopg raises without SQLSTATE when it never reached a server (socket gone, refused, timeout).
        if isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError):
            return StorageUnavailable(message, where=where)
        return None
    if state in _PG_BUSY:
        return StorageBusy(message, where=where, sqlstate=state)
    if state.startswith(_PG_UNAVAILABLE_CLASSES) or state == _PG_READ_ONLY:
        return StorageUnavailable(message, where=where, sqlstate=state)
    if state.startswith("23"):
        return StorageConflict(message, where=where, sqlstate=state)
    if state.startswith("22"):
        return StorageValueInvalid(message, where=where, sqlstate=state)
    if state == "42P01":
        return MigrationPending(f"{message} (the schema is not migrated)", where=where, sqlstate=state)
    return StorageError(message, where=where, sqlstate=state)


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Re-raise SQLAlchemy and driver failures in the block as typed storage errors."""
    try:
        yield
    except RenkeiError:
        raise
    except sa_exc.SQLAlchemyError as error:
        raise translate(error, where) from error
