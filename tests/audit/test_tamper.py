"""Tampering with the stored log: ``verify`` detects each kind and names the first bad record index."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from renkei.audit.models import VerifyReport
from tests.audit.factories import access_record, sqlite_log

N = 20
Sql = Callable[[sqlite3.Connection], object]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A log of 20 records with a head after every record (so root checks localise to one record)."""
    path = tmp_path / "a.db"
    with sqlite_log(path) as log:
        log.publish_head()
        for i in range(N):
            log.append(access_record(i))
            log.publish_head()
    return path


def tamper(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        for statement in statements:
            connection.execute(statement)


def verify(path: Path) -> VerifyReport:
    with sqlite_log(path) as log:
        return log.verify()


def shift(path: Path, from_index: int, by: int) -> None:
    tamper(
        path,
        f"UPDATE audit_record SET position = -(position + {by}) - 1 WHERE position >= {from_index}",
        "UPDATE audit_record SET position = -position - 1 WHERE position < 0",
    )


def test_an_untouched_log_verifies(db: Path) -> None:
    report = verify(db)
    assert report.ok
    assert report.records == N
    assert report.heads == N + 1
    assert report.first_bad_index is None


def test_an_edited_body_is_found(db: Path) -> None:
    tamper(db, "UPDATE audit_record SET body = replace(body, '課税所得額', '課税所得') WHERE position = 7")
    assert verify(db).first_bad_index == 7


def test_a_deleted_record_is_found(db: Path) -> None:
    tamper(db, "DELETE FROM audit_record WHERE position = 7")
    report = verify(db)
    assert report.first_bad_index == 7
    assert any("missing" in f.message for f in report.findings)


def test_a_deleted_record_with_the_rest_renumbered_is_found(db: Path) -> None:
    tamper(db, "DELETE FROM audit_record WHERE position = 7")
    shift(db, 8, -1)
    assert verify(db).first_bad_index == 7


def test_deleting_the_newest_records_is_found(db: Path) -> None:
    tamper(db, "DELETE FROM audit_record WHERE position >= 17")
    report = verify(db)
    assert report.first_bad_index == 17
    assert any("gone" in f.message for f in report.findings)


def test_an_inserted_record_is_found(db: Path) -> None:
    shift(db, 7, 1)
    # The forger writes a well-formed row whose leaf hash matches its body at its new position.
    with closing(sqlite3.connect(db)) as connection, connection:
        (text,) = connection.execute("SELECT body FROM audit_record WHERE position = 3").fetchone()
        forged = text.replace(access_record(3).record_id, "forged-record")
        leaf = b'{"index":7,' + forged.encode()[1:]
        connection.execute(
            "INSERT INTO audit_record (position, record_id, subject, withheld, recorded_at, body, leaf_hash) "
            "VALUES (7, 'forged-record', 'pk-0003', 0, '2026-04-01 09:00:00.000000', ?, ?)",
            (forged, hashlib.sha256(b"\x00" + leaf).digest()),
        )
    assert verify(db).first_bad_index == 7


def test_two_reordered_records_are_found(db: Path) -> None:
    tamper(
        db,
        "UPDATE audit_record SET position = -1 WHERE position = 3",
        "UPDATE audit_record SET position = 3 WHERE position = 11",
        "UPDATE audit_record SET position = 11 WHERE position = -1",
    )
    report = verify(db)
    assert report.first_bad_index == 3
    assert {f.index for f in report.findings} >= {3, 11}


def test_an_edited_leaf_hash_is_found(db: Path) -> None:
    tamper(db, "UPDATE audit_record SET leaf_hash = zeroblob(32) WHERE position = 12")
    assert verify(db).first_bad_index == 12


def test_an_edited_leaf_hash_of_a_record_without_body_is_found_by_the_heads(db: Path) -> None:
    tamper(db, "UPDATE audit_record SET body = NULL, subject = NULL WHERE position < 15")
    assert verify(db).ok
    tamper(db, "UPDATE audit_record SET leaf_hash = zeroblob(32) WHERE position = 12")
    report = verify(db)
    assert report.first_bad_index == 12
    assert report.findings[0].head_size == 13


@pytest.mark.parametrize("column", ["root_hash", "signature"])
def test_an_edited_head_is_found(db: Path, column: str) -> None:
    tamper(db, f"UPDATE audit_head SET {column} = zeroblob(length({column})) WHERE tree_size = 9")
    report = verify(db)
    assert not report.ok
    assert [f.head_size for f in report.findings] == [9]
    assert "signature" in report.findings[0].message


def test_a_rewritten_head_time_is_found(db: Path) -> None:
    tamper(db, "UPDATE audit_head SET timestamp_ms = timestamp_ms + 1 WHERE tree_size = 4")
    assert [f.head_size for f in verify(db).findings] == [4]
