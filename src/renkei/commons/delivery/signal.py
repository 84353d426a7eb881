"""A wake-up hint from the thread that commits an alert to the tasks that act on it (worker, streams).

Only a hint: the database stays the truth, and every listener also polls, so a lost signal only delays.
"""

from __future__ import annotations

import asyncio
import threading


class ChangeSignal:
    """Wakes every registered asyncio waiter, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        """Wake every waiter (thread-safe; a closed loop is skipped)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # its loop has closed: the waiter is gone
                with self._lock:
                    self._waiters.discard((loop, event))

    def register(self) -> asyncio.Event:
        """An event in the running loop that :meth:`notify` sets; pass it to :meth:`unregister` when done."""
        event = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
        return event

    def unregister(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not event}
