"""UUIDv7 ids: valid version-7 UUIDs that sort by their instant, with random bits below it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.ids import time_ordered_id

INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


@given(INSTANTS)
def test_a_version_7_uuid_carrying_its_millisecond(at: datetime) -> None:
    made = uuid.UUID(time_ordered_id(at))
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert made.int >> 80 == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@given(INSTANTS, st.integers(min_value=1, max_value=10**9))
def test_later_sorts_later(at: datetime, ms: int) -> None:
    later = at + timedelta(milliseconds=ms)
    if later.year <= 9999:
        assert time_ordered_id(at) < time_ordered_id(later)


def test_random_within_one_millisecond() -> None:
    at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert len({time_ordered_id(at) for _ in range(1000)}) == 1000


def test_naive_and_pre_1970_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        time_ordered_id(datetime(2026, 11, 27, 9, 0))
    with pytest.raises(ValueError, match="1970"):
        time_ordered_id(datetime(1969, 12, 31, 23, 59, tzinfo=UTC))
