"""Publishing tree heads on a timer, for the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib

from renkei.audit.service import AuditLog

DEFAULT_INTERVAL_S = 60.0


async def publish_heads(log: AuditLog, stop: asyncio.Event, interval_s: float = DEFAULT_INTERVAL_S) -> None:
    """Publish a head every ``interval_s`` seconds until ``stop`` is set, and once more on the way out.

    Publishing runs in a worker thread (it touches the database). A failure propagates and ends the
    task: the caller's task supervision decides (a missed head loses nothing; the next one covers all).
    """
    while not stop.is_set():
        await asyncio.to_thread(log.publish_head)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
    await asyncio.to_thread(log.publish_head)
