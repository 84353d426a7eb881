"""A wake-up hint from the thread that commits an alert to the tasks that act on it (worker, streams),
and the hand-over of freshly queued deliveries to the delivery worker of the same process.

Only a hint: the database stays the truth, and every listener also polls, so a lost signal only delays.
A hand-over is a lease (see :meth:`ChangeSignal.hand_over`): lost, it only delays until the lease ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

Taker = Callable[[Any], None]


class ChangeSignal:
    """Wakes every registered asyncio waiter, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._taker: tuple[asyncio.AbstractEventLoop, Taker] | None = None

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

    # --- hand-over to the local delivery worker --------------------------------------------------------

    def set_taker(self, take: Taker) -> None:
        """Let ``take`` (called in the running loop) receive :meth:`hand_over`'s items."""
        with self._lock:
            self._taker = (asyncio.get_running_loop(), take)

    def drop_taker(self, take: Taker) -> None:
        """Withdraw ``take`` (if it is still the taker): later deliveries are left for claiming."""
        with self._lock:
            if self._taker is not None and self._taker[1] == take:
                self._taker = None

    @property
    def has_taker(self) -> bool:
        """Whether a worker in this process takes hand-overs (ask before leasing rows to it)."""
        with self._lock:
            return self._taker is not None

    def hand_over(self, items: Any) -> bool:
        """Give ``items`` to the taker's loop (thread-safe); ``False`` if there is no taker any more.

        The caller has leased the items' rows to the taker before committing them: if the hand-over is
        lost (the worker stopped meanwhile, the process died) the lease ends and any worker claims them.
        """
        with self._lock:
            taker = self._taker
        if taker is None:
            return False
        loop, take = taker
        try:
            loop.call_soon_threadsafe(take, items)
        except RuntimeError:  # its loop has closed
            with self._lock:
                if self._taker is taker:
                    self._taker = None
            return False
        return True
