"""Driver failures become typed storage errors that name the database and never leak parameters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
from sqlalchemy import exc as sa_exc

from renkei.errors import InvalidInput
from renkei.storage.errors import (
    MigrationPending,
    StorageBusy,
    StorageConflict,
    StorageError,
    StorageUnavailable,
    StorageValueInvalid,
)
from renkei.storage.sql.failures import translate, translated

WHERE = "SQLite database /x/renkei.db"
SECRET = {"name": "山田太郎 secret-person"}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "t.db", timeout=0, isolation_level=None)
    connection.execute("CREATE TABLE t (k TEXT UNIQUE)")
    try:
        yield connection
    finally:
        connection.close()


def _sqlite_error(db: sqlite3.Connection, sql: str) -> sqlite3.Error:
    try:
        db.execute(sql)
    except sqlite3.Error as error:
        return error
    raise AssertionError(f"{sql} did not fail")


def _wrap(orig: BaseException, cls: type[sa_exc.DBAPIError] = sa_exc.OperationalError) -> sa_exc.DBAPIError:
    return cls("INSERT INTO t VALUES (:name)", SECRET, orig)


def test_a_locked_sqlite_database_is_busy(db: sqlite3.Connection, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "t.db", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        error = translate(_wrap(_sqlite_error(db, "BEGIN IMMEDIATE")), WHERE)
    finally:
        other.close()
    assert type(error) is StorageBusy
    assert isinstance(error, StorageUnavailable), "busy is a kind of unavailable: retry later"
    assert error.code == "storage.busy"
    assert error.detail["sqlite_error"] == "SQLITE_BUSY"


def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    try:
        sqlite3.connect(tmp_path / "missing" / "x.db")
    except sqlite3.Error as orig:
        error = translate(_wrap(orig), WHERE)
    assert type(error) is StorageUnavailable
    assert error.message == f"{WHERE}: unable to open database file"


def test_a_sqlite_constraint_violation_is_a_conflict(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO t VALUES ('a')")
    error = translate(_wrap(_sqlite_error(db, "INSERT INTO t VALUES ('a')"), sa_exc.IntegrityError), WHERE)
    assert type(error) is StorageConflict


def test_a_missing_sqlite_table_means_the_schema_is_not_migrated(db: sqlite3.Connection) -> None:
    error = translate(_wrap(_sqlite_error(db, "SELECT * FROM spec_release")), WHERE)
    assert type(error) is MigrationPending
    assert "not migrated" in error.message


def test_other_sqlite_errors_stay_generic(db: sqlite3.Connection) -> None:
    error = translate(_wrap(_sqlite_error(db, "SELEKT 1")), WHERE)
    assert type(error) is StorageError
    assert error.code == "storage.failed"


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("40001", StorageBusy),
        ("40P01", StorageBusy),
        ("55P03", StorageBusy),
        ("08006", StorageUnavailable),
        ("28P01", StorageUnavailable),
        ("3D000", StorageUnavailable),
        ("53300", StorageUnavailable),
        ("57P01", StorageUnavailable),
        ("25006", StorageUnavailable),
        ("23505", StorageConflict),
        ("22021", StorageValueInvalid),
        ("42P01", MigrationPending),
        ("42601", StorageError),
    ],
)
def test_postgresql_errors_map_by_sqlstate(sqlstate: str, expected: type[StorageError]) -> None:
    orig = psycopg.errors.lookup(sqlstate)("server says no\nDETAIL: Key (name)=(secret-person) exists")
    error = translate(_wrap(orig, sa_exc.DBAPIError), "PostgreSQL database x")
    assert type(error) is expected
    assert error.detail["sqlstate"] == sqlstate
    assert error.message.startswith("PostgreSQL database x: server says no"), "the database is named"
    assert "secret-person" not in error.message, "only the primary message line, not DETAIL"


def test_a_postgresql_connection_failure_without_sqlstate_is_unavailable() -> None:
    orig = psycopg.OperationalError(
        'connection failed: connection to server on socket "/x/.s.PGSQL.5432" failed'
    )
    error = translate(_wrap(orig), "PostgreSQL database x")
    assert type(error) is StorageUnavailable
    assert "/x/.s.PGSQL.5432" in error.message


def test_an_invalidated_connection_is_unavailable() -> None:
    error = translate(
        sa_exc.DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True), WHERE
    )
    assert type(error) is StorageUnavailable


def test_pool_exhaustion_is_busy() -> None:
    assert type(translate(sa_exc.TimeoutError("QueuePool limit reached"), WHERE)) is StorageBusy


def test_errors_that_never_reached_the_driver_are_generic() -> None:
    error = translate(sa_exc.ResourceClosedError("This result object is closed."), WHERE)
    assert type(error) is StorageError
    assert error.message == f"{WHERE}: This result object is closed."


@pytest.mark.parametrize("cls", [sa_exc.OperationalError, sa_exc.IntegrityError, sa_exc.DataError])
def test_sql_parameters_never_reach_the_message(cls: type[sa_exc.DBAPIError]) -> None:
    error = translate(_wrap(RuntimeError("driver failure"), cls), WHERE)
    assert "secret-person" not in str(error)
    assert "secret-person" not in repr(error.detail)
    assert "INSERT" not in str(error)


def test_value_errors_are_also_invalid_input() -> None:
    error = translate(_wrap(RuntimeError("bad value"), sa_exc.DataError), WHERE)
    assert isinstance(error, StorageValueInvalid)
    assert isinstance(error, InvalidInput)


def test_translated_converts_only_sqlalchemy_errors() -> None:
    with pytest.raises(StorageUnavailable) as raised, translated(WHERE):
        raise _wrap(RuntimeError("x"))
    assert isinstance(raised.value.__cause__, sa_exc.OperationalError)
    conflict = StorageConflict("already there")
    with pytest.raises(StorageConflict) as passed, translated(WHERE):
        raise conflict
    assert passed.value is conflict
    with pytest.raises(KeyError), translated(WHERE):
        raise KeyError("not a database failure")
