"""The notification delivery worker: claims due deliveries from the outbox and POSTs them to webhooks.

Durability is the database's: a delivery is claimed with a lease (``next_attempt_at`` moved to the lease's
end), pushed, and its outcome recorded. A worker killed between claim and record leaves the delivery
leased; when the lease ends any worker claims it again and pushes it once more with the same event id, so
receivers de-duplicate: at least once, exactly once in effect.

Order per person per subscriber: the outbox only hands out a delivery when no delivery of an earlier
event to the same subscriber for the same person is undelivered (pending, in flight or dead), so at most
one per (subscriber, person) is ever in flight, and a dead letter holds the later ones until it is
replayed.

Outcomes: a 2xx is delivered (after the access records are written); 408, 425, 429, 5xx, other
statuses, no answer and time-outs are retried with exponential backoff and jitter
(:class:`renkei.net.retry.RetryPolicy`) until the attempts are used up; any other 4xx is the receiver
refusing this event, which retrying cannot change: a dead letter at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from renkei.errors import RenkeiError
from renkei.exchange.notifications.models import ClaimedDelivery, DeliveryOutcome, DeliveryState
from renkei.exchange.notifications.payload import webhook_headers
from renkei.exchange.notifications.service import NotificationHub, Push
from renkei.net.http import HttpClient, HttpPoster, HttpTransportError
from renkei.net.retry import RetryPolicy

log = logging.getLogger(__name__)

RETRYABLE_4XX: Final = frozenset({408, 425, 429})
DEFAULT_POLICY: Final = RetryPolicy(max_attempts=12, base_s=2.0, cap_s=900.0, timeout_s=10.0)
"""Waits of about 1–2, 2–4, 4–8 … s, capped at 7.5–15 min: the 12th failed attempt, some 24–47 minutes
after the first, makes a dead letter (a receiver down for longer is replayed by an operator)."""
USER_AGENT: Final = "renkei-hub-notifications/1"


def permanent(status: int) -> bool:
    """Whether an answer refuses the event for good (a 4xx other than 408, 425 and 429)."""
    return 400 <= status < 500 and status not in RETRYABLE_4XX


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One push done, waiting for its outcome (and access records) to be written."""

    delivery: ClaimedDelivery
    outcome: DeliveryOutcome
    push: Push | None
    started: datetime


class NotificationWorker:
    """Pushes due deliveries until :meth:`stop`; run it as a task (see :func:`running`).

    Pushes run concurrently (``concurrency`` in all, ``per_subscriber`` to one subscriber); their outcomes
    go to one recorder task that writes them in batches — the access records of the delivered ones in one
    append, then the outcomes in one transaction that also leases each delivered person's next event for
    the same subscriber, which is pushed at once (no claim query per event).
    """

    def __init__(
        self,
        hub: NotificationHub,
        client: HttpPoster,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 64,
        per_subscriber: int = 8,
        claim_batch: int = 200,
        record_batch: int = 500,
        lease: timedelta = timedelta(seconds=60),
        poll_interval_s: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._hub = hub
        self._store = hub.store
        self._clock = hub.clock
        self._client = client
        self._policy = policy or DEFAULT_POLICY
        if lease.total_seconds() <= self._policy.timeout_s:
            raise ValueError("the lease must outlast one attempt (policy.timeout_s)")
        self._concurrency = concurrency
        self._per_subscriber = per_subscriber
        self._claim_batch = claim_batch
        self._record_batch = record_batch
        self._lease = lease
        self._poll_interval_s = poll_interval_s
        self._rng = rng or random.Random()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._global_slots: asyncio.Semaphore | None = None
        self._done: asyncio.Queue[_Attempt | None] | None = None

    @property
    def in_flight(self) -> int:
        """Deliveries claimed and not yet recorded."""
        return len(self._in_flight)

    def wake(self) -> None:
        """Look for due deliveries now. Safe from any thread (the hub calls it after an accept)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: the worker is gone
            loop.call_soon_threadsafe(self._set_wake)

    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; :meth:`run` returns once every push in flight is finished and recorded."""
        self._stopping = True
        self._set_wake()

    async def run(self) -> None:
        """Claim, push and record until stopped. Cancelling it is a crash: nothing more is recorded."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._global_slots = asyncio.Semaphore(self._concurrency)
        self._slots = defaultdict(lambda: asyncio.Semaphore(self._per_subscriber))
        done: asyncio.Queue[_Attempt | None] = asyncio.Queue()
        self._done = done
        recorder = asyncio.create_task(self._record(done))
        self._hub.add_listener(self.wake)
        try:
            while not self._stopping:
                full = await self._claim()
                if full or self._stopping:
                    continue
                await self._sleep()
            while self._tasks:  # the recorder may start followers until it sees the stop
                await asyncio.gather(*self._tasks, return_exceptions=True)
            done.put_nowait(None)
            await recorder
        except asyncio.CancelledError:
            for task in (*self._tasks, recorder):
                task.cancel()
            await asyncio.gather(*self._tasks, recorder, return_exceptions=True)
            raise
        finally:
            self._hub.remove_listener(self.wake)
            self._loop = None
            self._wake = None
            self._done = None

    async def _sleep(self) -> None:
        assert self._wake is not None
        now = self._clock.now()
        timeout = self._poll_interval_s
        due = await asyncio.to_thread(self._store.next_due, now)
        if due is not None:
            timeout = max(0.0, min(timeout, (due - now).total_seconds()))
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _claim(self) -> bool:
        room = self._claim_batch
        now = self._clock.now()
        try:
            claimed = await asyncio.to_thread(self._store.claim_due, now, now + self._lease, room)
        except RenkeiError:  # storage unavailable for a moment: the poll comes back
            log.exception("notifications: claiming due deliveries failed")
            return False
        for delivery in claimed:
            self._start(delivery)
        return len(claimed) == room

    def _start(self, delivery: ClaimedDelivery) -> None:
        if delivery.id in self._in_flight:  # its lease ran out while it waited here: still ours
            return
        self._in_flight.add(delivery.id)
        task = asyncio.create_task(self._attempt(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        assert self._global_slots is not None and self._done is not None
        started = self._clock.now()
        try:
            async with self._slots[delivery.subscriber], self._global_slots:
                outcome, push = await self._push(delivery)
        except Exception:  # a bug: the lease ends and the delivery is claimed again
            log.exception("notifications: delivery %s failed inside the hub", delivery.id)
            self._in_flight.discard(delivery.id)
            return
        self._done.put_nowait(_Attempt(delivery, outcome, push, started))

    async def _record(self, done: asyncio.Queue[_Attempt | None]) -> None:
        finished = False
        while not finished:
            batch = [await done.get()]
            while len(batch) < self._record_batch and not done.empty():
                batch.append(done.get_nowait())
            finished = None in batch
            attempts = [a for a in batch if a is not None]
            if not attempts:
                continue
            try:
                followers = await self._write(attempts)
            except Exception:  # not recorded: their leases end and they are claimed again
                log.exception("notifications: recording %d delivery outcomes failed", len(attempts))
                followers = []
            for attempt in attempts:
                self._in_flight.discard(attempt.delivery.id)
            for follower in followers:
                self._start(follower)

    async def _write(self, attempts: list[_Attempt]) -> list[ClaimedDelivery]:
        """Access records of the delivered ones first (a failure there retries them: a delivery is never
        recorded as done without its records), then every outcome, leasing the followers."""
        delivered = [a for a in attempts if a.outcome.state is DeliveryState.DELIVERED and a.push is not None]
        outcomes = {a.delivery.id: a.outcome for a in attempts}
        if delivered:
            pushes = [(a.push, a.started, a.outcome.attempted_at) for a in delivered if a.push is not None]
            try:
                await asyncio.to_thread(self._hub.provided, pushes)
            except Exception as exc:
                log.exception("notifications: access records of %d deliveries not written", len(pushes))
                for a in delivered:
                    outcomes[a.delivery.id] = self._retry(
                        a.delivery,
                        a.outcome.attempted_at,
                        None,
                        f"access records not written ({type(exc).__name__})",
                    )
        now = self._clock.now()
        pairs = [(outcomes[a.delivery.id], a.delivery) for a in attempts]
        if self._stopping:
            await asyncio.to_thread(self._store.record, [o for o, _ in pairs])
            return []
        return await asyncio.to_thread(self._store.record_and_follow, pairs, now, now + self._lease)

    async def _push(self, delivery: ClaimedDelivery) -> tuple[DeliveryOutcome, Push | None]:
        attempt = delivery.attempts + 1
        try:
            push = await asyncio.to_thread(self._hub.prepare, delivery)
        except RenkeiError as undeliverable:
            reason = f"{undeliverable.code}: {undeliverable.message}"
            return DeliveryOutcome(delivery.id, DeliveryState.DEAD, self._clock.now(), error=reason), None
        headers = webhook_headers(
            self._hub.signer,
            push.url,
            delivery.event,
            delivery.subscriber,
            delivery.id,
            attempt,
            push.body,
            self._clock.now(),
        )
        status: int | None = None
        try:
            async with asyncio.timeout(self._policy.timeout_s):
                response = await self._client.post(push.url, push.body, headers)
            status = response.status
            error = None if response.is_success else f"HTTP {status}"
        except TimeoutError:
            error = f"no answer within {self._policy.timeout_s:g} s"
        except HttpTransportError as exc:
            error = str(exc)[:500] or type(exc).__name__
        at = self._clock.now()
        if error is None:
            return DeliveryOutcome(delivery.id, DeliveryState.DELIVERED, at, status=status), push
        if status is not None and permanent(status):
            refused = f"{error}: refused by the receiver"
            return DeliveryOutcome(delivery.id, DeliveryState.DEAD, at, status=status, error=refused), push
        return self._retry(delivery, at, status, error), push

    def _retry(
        self, delivery: ClaimedDelivery, at: datetime, status: int | None, error: str
    ) -> DeliveryOutcome:
        """Pending again after the policy's backoff, or a dead letter once the attempts are used up."""
        attempt = delivery.attempts + 1
        wait = self._policy.backoff(attempt, self._rng)
        if wait is None:
            return DeliveryOutcome(
                delivery.id, DeliveryState.DEAD, at, status=status, error=f"{error} (attempt {attempt})"
            )
        return DeliveryOutcome(
            delivery.id, DeliveryState.PENDING, at, next_attempt_at=at + wait, status=status, error=error
        )


def webhook_client(connections: int = 64) -> HttpClient:
    """The HTTP client the worker pushes with (close it, e.g. ``async with``): the lean keep-alive client."""
    return HttpClient(idle_per_origin=connections, user_agent=USER_AGENT)


@asynccontextmanager
async def running(worker: NotificationWorker) -> AsyncIterator[NotificationWorker]:
    """Run ``worker`` as a task for the block; on exit stop it gracefully and wait for it."""
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        await task
