"""Clocks: where services get the time from, so tests can freeze it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from renkei.storage.errors import StorageValueInvalid
from renkei.storage.values import to_utc


class SystemClock:
    """The real time, tz-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that stands still until a test moves it with :meth:`advance` or :meth:`set`."""

    def __init__(self, at: datetime) -> None:
        self._at = to_utc("at", at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (any tz-aware datetime; backwards too)."""
        at = to_utc("at", at)
        with self._lock:
            self._at = at

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        with self._lock:
            self._at += delta
            return self._at

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


class SteppingClock:
    """Returns ``start``, then ``start + step``, ``start + 2*step`` …: every reading is distinct and later.

    Thread-safe, so concurrent callers never see the same instant twice.
    """

    def __init__(self, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        if step <= timedelta(0):
            raise StorageValueInvalid(f"step must be positive, got {step}", field="step")
        self._next = to_utc("start", start)
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            at = self._next
            self._next = at + self._step
            return at

    def __repr__(self) -> str:
        return f"SteppingClock(next={self._next.isoformat()}, step={self._step})"
