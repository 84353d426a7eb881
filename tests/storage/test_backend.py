"""How engines are set up per backend: SQLite pragmas and write locking, PostgreSQL session settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from renkei.storage.errors import StorageUnavailable
from renkei.storage.sql.backend import WRITE_OPTION, build_engine


def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'renkei.db'}")
    try:
        with engine.connect() as connection:
            read = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        engine.dispose()
    assert read == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}


def test_the_sqlite_directory_is_created(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'renkei.db'}")
    engine.dispose()
    assert (tmp_path / "a" / "b").is_dir()


def test_a_file_in_the_way_of_the_sqlite_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("not a directory", encoding="utf-8")
    with pytest.raises(StorageUnavailable, match="is a file, not a directory") as raised:
        build_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'renkei.db'}")
    assert str(tmp_path / "a" / "b") in raised.value.message


@pytest.mark.parametrize(("write", "locked"), [(True, True), (False, False)], ids=["write", "read"])
def test_sqlite_write_transactions_take_the_write_lock_at_begin(
    tmp_path: Path, write: bool, locked: bool
) -> None:
    # A deferred transaction that reads and then writes cannot wait for the lock in WAL mode (it fails
    # with SQLITE_BUSY at once), so writers must hold the lock from BEGIN.
    path = tmp_path / "renkei.db"
    engine = build_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: write})
            with connection.begin():
                connection.execute(text("SELECT 1")).scalar_one()
                try:
                    other.execute("BEGIN IMMEDIATE")
                    other.execute("ROLLBACK")
                    got_lock = True
                except sqlite3.OperationalError:
                    got_lock = False
    finally:
        other.close()
        engine.dispose()
    assert got_lock is not locked


@pytest.mark.pg
def test_postgresql_sessions_run_in_utc_and_name_themselves(pg_url: str) -> None:
    engine = build_engine(pg_url)
    try:
        with engine.connect() as connection:
            zone = connection.execute(text("SHOW timezone")).scalar_one()
            name = connection.execute(text("SHOW application_name")).scalar_one()
    finally:
        engine.dispose()
    assert (zone, name) == ("UTC", "renkei")
