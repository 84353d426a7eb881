"""The delivery worker: drains the ``commons_delivery`` outbox by pushing signed webhooks.

Durability comes from the database, not from this process: a delivery is claimed with a lease (its
``next_attempt_at`` moved to the lease's end), pushed, and its outcome recorded. A worker that dies between
the push and the record leaves the delivery leased; when the lease ends any worker claims it again and
pushes it once more, with the same ``X-Commons-Delivery-Id``, so receivers de-duplicate: at-least-once
delivery, exactly-once in effect.

Isolation: every subscriber has a semaphore of its own (``per_subscriber`` pushes at a time) under a global
one (``concurrency``), and every attempt has a hard time limit, so a subscriber that hangs, fails or answers
slowly ties up at most ``per_subscriber`` of the global slots and never delays the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Protocol

from renkei.commons.delivery.signal import ChangeSignal
from renkei.commons.delivery.signing import (
    ALERT_HEADER,
    ATTEMPT_HEADER,
    CHANNEL_HEADER,
    DELIVERY_HEADER,
    REVISION_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from renkei.commons.ports import (
    DeliveryOutcome,
    DeliveryRecord,
    DeliveryRepository,
    DeliveryState,
    SubscriberRecord,
    SubscriberRepository,
)
from renkei.net.http import HttpClient, HttpPoster, HttpTransportError
from renkei.net.retry import RetryPolicy
from renkei.storage.ports import Clock

RECEIPT_MAX = 4000
OUTCOME_BATCH = 1000
SUBSCRIBER_CACHE_S = 30.0


class DeliverySource(Protocol):
    """What the worker needs of storage (a :class:`renkei.commons.ports.CommonsStore` is one)."""

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def subscribers(self) -> SubscriberRepository: ...


OutcomeListener = Callable[[DeliveryRecord, DeliveryOutcome], None]


class DeliveryWorker:
    """Pushes due deliveries until :meth:`stop`; run it as a task (see :func:`running`)."""

    def __init__(
        self,
        store: DeliverySource,
        client: HttpPoster,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        signal: ChangeSignal | None = None,
        concurrency: int = 128,
        per_subscriber: int = 4,
        max_in_flight: int = 5000,
        claim_batch: int = 500,
        lease: timedelta = timedelta(seconds=120),
        poll_interval_s: float = 1.0,
        rng: random.Random | None = None,
        listeners: Sequence[OutcomeListener] = (),
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._signal = signal
        self._concurrency = concurrency
        self._per_subscriber = per_subscriber
        self._max_in_flight = max_in_flight
        self._claim_batch = claim_batch
        self._lease = lease
        self._poll_interval_s = poll_interval_s
        self._rng = rng or random.Random()
        self._listeners = list(listeners)
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()
        self._subscriber_cache: dict[str, tuple[float, SubscriberRecord | None]] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._global_slots: asyncio.Semaphore | None = None
        self._outcomes: asyncio.Queue[tuple[DeliveryRecord, DeliveryOutcome] | None] | None = None

    @property
    def in_flight(self) -> int:
        """Deliveries claimed and not yet recorded."""
        return len(self._in_flight)

    def wake(self) -> None:
        """Look for due deliveries now (call from the worker's loop; other threads use the signal)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; :meth:`run` returns once every push in flight has finished and been recorded."""
        self._stopping = True
        if self._signal is not None:
            self._signal.drop_taker(self.take)
        self.wake()

    async def run(self) -> None:
        """Claim, push and record until stopped. Cancelling it is a crash: nothing more is recorded."""
        loop = asyncio.get_running_loop()
        self._wake = self._signal.register() if self._signal is not None else asyncio.Event()
        self._global_slots = asyncio.Semaphore(self._concurrency)
        self._slots = defaultdict(lambda: asyncio.Semaphore(self._per_subscriber))
        outcomes: asyncio.Queue[tuple[DeliveryRecord, DeliveryOutcome] | None] = asyncio.Queue()
        self._outcomes = outcomes
        recorder = asyncio.create_task(self._record(outcomes))
        if self._signal is not None and not self._stopping:
            self._signal.set_taker(self.take)
        try:
            while not self._stopping:
                full = await self._claim()
                if full or self._stopping:
                    continue
                await self._sleep(loop)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            outcomes.put_nowait(None)
            await recorder
        except asyncio.CancelledError:
            for task in (*self._tasks, recorder):
                task.cancel()
            await asyncio.gather(*self._tasks, recorder, return_exceptions=True)
            raise
        finally:
            if self._signal is not None:
                self._signal.drop_taker(self.take)
                self._signal.unregister(self._wake)
            self._wake = None
            self._outcomes = None

    async def _sleep(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._wake is not None
        timeout = self._poll_interval_s
        due = await asyncio.to_thread(self._store.deliveries.next_due)
        if due is not None:
            timeout = max(0.0, min(timeout, (due - self._clock.now()).total_seconds()))
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _claim(self) -> bool:
        room = min(self._claim_batch, self._max_in_flight - len(self._in_flight))
        if room <= 0:
            await asyncio.sleep(0.01)
            return False
        now = self._clock.now()
        claimed = await asyncio.to_thread(self._store.deliveries.claim_due, now, now + self._lease, room)
        if any(d.subscriber_id not in self._subscriber_cache for d in claimed):
            # one query for all of them, rather than one per push
            everyone = await asyncio.to_thread(self._store.subscribers.all)
            at = asyncio.get_running_loop().time()
            self._subscriber_cache.update({s.id: (at, s) for s in everyone})
        for delivery in claimed:
            self._start(delivery)
        return len(claimed) == room

    def take(self, handed: Sequence[tuple[DeliveryRecord, SubscriberRecord]]) -> None:
        """Push deliveries handed over by the service that just committed them, leased to this worker
        (:meth:`ChangeSignal.hand_over`): no claim query, no subscriber query. Call in the worker's loop."""
        if self._outcomes is None:  # not running: the lease ends and they are claimed then
            return
        at = asyncio.get_running_loop().time()
        for delivery, subscriber in handed:
            self._subscriber_cache[subscriber.id] = (at, subscriber)
            self._start(delivery)

    def _start(self, delivery: DeliveryRecord) -> None:
        if delivery.id in self._in_flight:  # its lease ran out while it waited here: still ours
            return
        assert self._global_slots is not None and self._outcomes is not None
        self._in_flight.add(delivery.id)
        task = asyncio.create_task(self._attempt(delivery, self._global_slots, self._outcomes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(
        self,
        delivery: DeliveryRecord,
        global_slots: asyncio.Semaphore,
        outcomes: asyncio.Queue[tuple[DeliveryRecord, DeliveryOutcome] | None],
    ) -> None:
        async with self._slots[delivery.subscriber_id], global_slots:
            outcome = await self._push(delivery)
        outcomes.put_nowait((delivery, outcome))

    async def _subscriber(self, subscriber_id: str) -> SubscriberRecord | None:
        loop = asyncio.get_running_loop()
        cached = self._subscriber_cache.get(subscriber_id)
        if cached is not None and loop.time() - cached[0] < SUBSCRIBER_CACHE_S:
            return cached[1]
        found = await asyncio.to_thread(self._store.subscribers.get, subscriber_id)
        self._subscriber_cache[subscriber_id] = (loop.time(), found)
        return found

    async def _push(self, delivery: DeliveryRecord) -> DeliveryOutcome:
        subscriber = await self._subscriber(delivery.subscriber_id)
        attempt = delivery.attempts + 1
        if subscriber is None or not subscriber.active:
            return DeliveryOutcome(
                delivery.id, DeliveryState.FAILED, self._clock.now(), error="subscriber removed or inactive"
            )
        timestamp = str(int(self._clock.now().timestamp()))
        body = delivery.body.encode()
        headers = {
            "Content-Type": delivery.media_type,
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(subscriber.secret, timestamp, delivery.id, body),
            ALERT_HEADER: delivery.alert_id,
            REVISION_HEADER: str(delivery.revision),
            ATTEMPT_HEADER: str(attempt),
            CHANNEL_HEADER: delivery.channel.value,
        }
        status: int | None = None
        try:
            async with asyncio.timeout(self._policy.timeout_s):
                response = await self._client.post(subscriber.webhook_url, body, headers)
            status = response.status
            error = None if response.is_success else f"HTTP {status}"
            receipt = response.text.strip()[:RECEIPT_MAX] or None
        except TimeoutError:
            error = f"no answer within {self._policy.timeout_s:g} s"
        except HttpTransportError as exc:
            error = str(exc)[:500] or type(exc).__name__
        at = self._clock.now()
        if error is None:
            # A 2xx with a body is the subscriber's receipt (受領確認); an empty 2xx is delivered, not acked.
            state = DeliveryState.ACKNOWLEDGED if receipt else DeliveryState.DELIVERED
            return DeliveryOutcome(delivery.id, state, at, status=status, receipt=receipt)
        wait = self._policy.backoff(attempt, self._rng)
        if wait is None:
            return DeliveryOutcome(delivery.id, DeliveryState.FAILED, at, status=status, error=error)
        return DeliveryOutcome(
            delivery.id, DeliveryState.PENDING, at, next_attempt_at=at + wait, status=status, error=error
        )

    async def _record(self, outcomes: asyncio.Queue[tuple[DeliveryRecord, DeliveryOutcome] | None]) -> None:
        done = False
        while not done:
            batch = [await outcomes.get()]
            while len(batch) < OUTCOME_BATCH and not outcomes.empty():
                batch.append(outcomes.get_nowait())
            done = None in batch
            items = [item for item in batch if item is not None]
            if not items:
                continue
            await asyncio.to_thread(self._store.deliveries.record_outcomes, [o for _, o in items])
            for delivery, outcome in items:
                self._in_flight.discard(delivery.id)
                for listener in self._listeners:
                    listener(delivery, outcome)
            if any(o.state is DeliveryState.PENDING for _, o in items):
                self.wake()


def delivery_client(policy: RetryPolicy | None = None, *, connections: int = 256) -> HttpClient:
    """The HTTP client a worker pushes with (close it, e.g. ``async with``): the lean keep-alive client of
    :mod:`.http`, keeping up to ``connections`` idle connections per receiver origin. No redirects, no
    proxies. ``policy`` is accepted for symmetry: the worker applies its time limit to each attempt."""
    del policy
    return HttpClient(idle_per_origin=connections, user_agent="renkei-commons/1")


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    """Run ``worker`` as a task for the block; on exit stop it gracefully and wait for it."""
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        await task
