"""Value rules shared by every adapter, and the UTC timestamp column type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from renkei.storage.errors import StorageValueInvalid
from renkei.storage.sql.tables import UtcDateTime
from renkei.storage.values import check_text, to_utc

JST = timezone(timedelta(hours=9))
SQLITE = sqlite.base.SQLiteDialect()
POSTGRESQL = PGDialect_psycopg()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("text", ["𠮷", "\ue000", "\U0010fffd", " ", "a" * 10])
def test_storable_text_is_returned_unchanged(text: str) -> None:
    assert check_text("f", text, max_length=10) is text


def test_empty_text_is_allowed_only_when_asked_for() -> None:
    assert check_text("f", "", max_length=1, allow_empty=True) == ""
    with pytest.raises(StorageValueInvalid, match="must not be empty"):
        check_text("f", "", max_length=1)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("ab\x00", {"field": "f", "position": 2}),
        ("a\udc80", {"field": "f", "position": 1}),
        ("a" * 11, {"field": "f", "length": 11, "max_length": 10}),
    ],
    ids=["nul", "lone-surrogate", "too-long"],
)
def test_unstorable_text_is_refused_with_where_and_why(text: str, detail: dict[str, object]) -> None:
    with pytest.raises(StorageValueInvalid) as raised:
        check_text("f", text, max_length=10)
    assert raised.value.detail == detail
    assert raised.value.http_status == 400


def test_non_text_is_refused() -> None:
    with pytest.raises(StorageValueInvalid, match="must be text"):
        check_text("f", b"bytes", max_length=10)  # type: ignore[arg-type]


def test_to_utc_keeps_the_instant() -> None:
    at = datetime(2026, 4, 1, 9, 0, 0, 7, tzinfo=JST)
    utc = to_utc("at", at)
    assert utc == at
    assert utc.tzinfo is UTC
    assert utc.hour == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (datetime(2026, 4, 1), "timezone-aware"),
        (datetime(1, 1, 1, 0, 0, tzinfo=JST), "outside the range"),
        ("2026-04-01T00:00:00Z", "must be a datetime"),
    ],
)
def test_to_utc_refuses_what_has_no_utc_instant(value: object, reason: str) -> None:
    with pytest.raises(StorageValueInvalid, match=reason):
        to_utc("at", value)  # type: ignore[arg-type]


def test_the_timestamp_column_stores_naive_utc_text_on_sqlite() -> None:
    column = UtcDateTime()
    at = datetime(2026, 4, 1, 9, 0, tzinfo=JST)
    assert column.process_bind_param(at, SQLITE) == datetime(2026, 4, 1, 0, 0)
    assert column.process_result_value(datetime(2026, 4, 1, 0, 0), SQLITE) == at


def test_the_timestamp_column_hands_postgresql_an_aware_utc_value() -> None:
    column = UtcDateTime()
    bound = column.process_bind_param(datetime(2026, 4, 1, 9, 0, tzinfo=JST), POSTGRESQL)
    assert bound is not None
    assert bound.tzinfo is UTC
    read = column.process_result_value(datetime(2026, 4, 1, 9, 0, tzinfo=JST), POSTGRESQL)
    assert read is not None
    assert read.tzinfo is UTC
    assert read.hour == 0


def test_the_timestamp_column_passes_null_through() -> None:
    column = UtcDateTime()
    assert column.process_bind_param(None, SQLITE) is None
    assert column.process_result_value(None, POSTGRESQL) is None
