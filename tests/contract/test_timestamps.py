"""Timestamps come back as the same instant, tz-aware UTC, to the microsecond, on every backend."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from renkei.storage.clock import FixedClock
from renkei.storage.errors import StorageValueInvalid
from tests.contract.backends import Backend, examples

JST = ZoneInfo("Asia/Tokyo")

almost_a_day = timedelta(hours=23, minutes=59)
offsets = st.builds(timezone, st.timedeltas(min_value=-almost_a_day, max_value=almost_a_day))
instants = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.one_of(st.just(UTC), st.just(JST), offsets),
)


def test_a_frozen_instant_round_trips_exactly(backend: Backend) -> None:
    clock = FixedClock(datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=JST))
    recorded = backend.storage.spec_releases.record("2026.1", "sha256:aa", clock.now())
    read = backend.storage.spec_releases.get("2026.1")
    assert read is not None
    assert read == recorded
    assert read.activated_at == datetime(2026, 4, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert read.activated_at.tzinfo is UTC
    assert read.activated_at.microsecond == 123456


@settings(examples, max_examples=40)
@given(at=instants)
@example(at=datetime(1951, 9, 9, 0, 30, tzinfo=JST))  # summer time ended: 00:30 came twice …
@example(at=datetime(1951, 9, 9, 0, 30, fold=1, tzinfo=JST))  # … and this is the second time
@example(at=datetime(1, 1, 2, tzinfo=UTC))
@example(at=datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC))
def test_any_instant_round_trips_as_utc(backend: Backend, at: datetime) -> None:
    version = f"t{next(_numbers)}"
    backend.storage.spec_releases.record(version, "d", at)
    read = backend.storage.spec_releases.get(version)
    assert read is not None
    # Compare with the UTC instant: Python never calls an ambiguous local time (a DST fold, like Tokyo's
    # 1951-09-09 00:00) equal to a time in another zone (PEP 495), even when it is the same instant.
    assert read.activated_at == at.astimezone(UTC)
    assert read.activated_at.tzinfo is UTC


_numbers = itertools.count()


def test_the_two_passes_of_a_summer_time_fold_are_different_instants(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    first = releases.record("first", "d", datetime(1951, 9, 9, 0, 30, fold=0, tzinfo=JST))
    second = releases.record("second", "d", datetime(1951, 9, 9, 0, 30, fold=1, tzinfo=JST))
    assert second.activated_at - first.activated_at == timedelta(hours=1)
    assert releases.history() == [first, second]


def test_order_follows_the_instant_not_the_local_wall_clock(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    # 09:00 in Tokyo is 00:00 UTC: earlier than 01:00 UTC although its wall-clock text is later.
    tokyo = releases.record("tokyo", "d1", datetime(2026, 4, 1, 9, 0, tzinfo=JST))
    utc = releases.record("utc", "d2", datetime(2026, 4, 1, 1, 0, tzinfo=UTC))
    early = releases.record("early", "d3", datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert releases.history() == [early, tokyo, utc]
    assert releases.current() == utc


def test_naive_timestamps_are_refused(backend: Backend) -> None:
    with pytest.raises(StorageValueInvalid) as raised:
        backend.storage.spec_releases.record("2026.1", "d", datetime(2026, 4, 1, 9, 0))
    assert raised.value.code == "storage.value.invalid"
    assert "timezone-aware" in raised.value.message
    assert backend.storage.spec_releases.history() == []
