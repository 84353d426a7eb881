"""Clocks: tz-aware UTC always; test clocks that stand still or step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from renkei.storage.clock import FixedClock, SteppingClock, SystemClock
from renkei.storage.errors import StorageValueInvalid
from renkei.storage.ports import Clock

JST = timezone(timedelta(hours=9))


def test_every_clock_satisfies_the_port() -> None:
    clocks: list[Clock] = [
        SystemClock(),
        FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
        SteppingClock(datetime(2026, 1, 1, tzinfo=UTC)),
    ]
    for clock in clocks:
        assert clock.now().tzinfo is UTC


def test_the_system_clock_tells_the_real_time_in_utc() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    assert before <= now <= datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)


def test_a_fixed_clock_stands_still_in_utc() -> None:
    clock = FixedClock(datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=JST))
    assert clock.now() == clock.now() == datetime(2026, 4, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_a_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 4, 1, tzinfo=UTC))
    assert clock.advance(timedelta(minutes=5)) == datetime(2026, 4, 1, 0, 5, tzinfo=UTC)
    assert clock.now() == datetime(2026, 4, 1, 0, 5, tzinfo=UTC)
    clock.set(datetime(2025, 1, 1, 9, 0, tzinfo=JST))
    assert clock.now() == datetime(2025, 1, 1, 0, 0, tzinfo=UTC)


def test_a_stepping_clock_never_repeats_even_across_threads() -> None:
    start = datetime(2026, 4, 1, tzinfo=UTC)
    clock = SteppingClock(start, timedelta(microseconds=1))
    seen: list[datetime] = []
    lock = threading.Lock()

    def read() -> None:
        for _ in range(200):
            at = clock.now()
            with lock:
                seen.append(at)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [start + timedelta(microseconds=i) for i in range(800)]


def test_the_first_step_is_the_start() -> None:
    clock = SteppingClock(datetime(2026, 4, 1, 9, 0, tzinfo=JST), timedelta(seconds=2))
    assert [clock.now() for _ in range(3)] == [datetime(2026, 4, 1, 0, 0, s, tzinfo=UTC) for s in (0, 2, 4)]


@pytest.mark.parametrize("make", [FixedClock, SteppingClock], ids=["fixed", "stepping"])
def test_test_clocks_refuse_naive_datetimes(make: type[FixedClock] | type[SteppingClock]) -> None:
    with pytest.raises(StorageValueInvalid, match="timezone-aware"):
        make(datetime(2026, 4, 1))


def test_a_stepping_clock_must_step_forwards() -> None:
    with pytest.raises(StorageValueInvalid, match="positive"):
        SteppingClock(datetime(2026, 4, 1, tzinfo=UTC), timedelta(0))
