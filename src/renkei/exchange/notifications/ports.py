"""The storage port of change notifications (implemented by
``renkei.storage.sql.notifications.SqlNotificationStore`` on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from renkei.exchange.notifications.models import (
    Accepted,
    ClaimedDelivery,
    DeliveryOutcome,
    DeliveryView,
    NewEvent,
    OutboxStats,
    StoredEvent,
    Subscription,
)

Router = Callable[[Sequence[Subscription]], Sequence[Subscription]]
"""Given the topic's webhook subscriptions, the ones a batch's events go to (the matrix and ``source``)."""


class NotificationStore(Protocol):
    """The outbox: subscriptions, events, deliveries."""

    # --- subscriptions -----------------------------------------------------------------------------

    def put_subscription(self, subscription: Subscription) -> Subscription:
        """Create or replace the subscription of ``(subscriber, topic)`` (``created_at`` kept); return the
        stored one."""
        ...

    def remove_subscription(self, subscriber: str, topic: str) -> bool:
        """Delete it; whether there was one. Its pending deliveries go dead when a worker reaches them."""
        ...

    def subscriptions(self, *, subscriber: str | None = None, topic: str | None = None) -> list[Subscription]:
        """Subscriptions, by subscriber then topic."""
        ...

    # --- accepting -----------------------------------------------------------------------------------

    def accept(self, events: Sequence[NewEvent], route: Router, at: datetime) -> list[Accepted]:
        """In ONE transaction: every new event row and one pending delivery per routed webhook subscriber.

        All ``events`` share publisher and topic. An event whose ``publisher_event_id`` was accepted before
        is not stored again: its answer is the stored event (``duplicate``), or ``exchange.event.conflict``
        naming its index when the fingerprint differs — and then nothing of the batch is stored.
        Sequences are given in commit order (a feed reader never skips an event committed late).
        """
        ...

    # --- delivering ----------------------------------------------------------------------------------

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries until ``lease_until``.

        Due: pending, ``next_attempt_at <= now``, and no delivery of an earlier event to the same
        subscriber for the same person (``order_key``) is still undelivered (pending or dead). Concurrent
        claimers never get the same row (PostgreSQL: ``FOR UPDATE SKIP LOCKED``).
        """
        ...

    def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Record attempts (``attempts`` + 1) of deliveries still pending; others are left alone."""
        ...

    def record_and_follow(
        self,
        attempts: Sequence[tuple[DeliveryOutcome, ClaimedDelivery]],
        now: datetime,
        lease_until: datetime,
    ) -> list[ClaimedDelivery]:
        """Record attempts (as :meth:`record`) and, in the same transaction, lease and return for each
        delivered one the next delivery for the same subscriber and person, if it is pending and due —
        so a worker goes down each person's events without a claim query per event."""
        ...

    def next_due(self, after: datetime) -> datetime | None:
        """The earliest ``next_attempt_at`` after ``after`` of a pending delivery (when to look again;
        deliveries already due but held behind an earlier one are left out: their turn comes with a wake)."""
        ...

    # --- operators -----------------------------------------------------------------------------------

    def deliveries(
        self,
        *,
        event_id: str | None = None,
        subscriber: str | None = None,
        topic: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryView]:
        """Deliveries by event sequence (the DLQ is ``state="dead"``)."""
        ...

    def replay(
        self, *, event_id: str | None, subscriber: str | None, now: datetime, topic: str | None = None
    ) -> int:
        """Re-queue dead deliveries (of one event, subscriber and/or topic; or all): pending, due ``now``,
        attempts reset. How many."""
        ...

    def stats(self, now: datetime) -> OutboxStats:
        """Depth (pending), dead letters, lag (age of the oldest due pending delivery, seconds)."""
        ...

    # --- feeds ---------------------------------------------------------------------------------------

    def event(self, event_id: str) -> StoredEvent | None: ...

    def feed(self, publisher: str, topic: str, after: int, limit: int) -> list[StoredEvent]:
        """Events of ``publisher`` on ``topic`` with sequence > ``after``, in sequence order."""
        ...

    def snapshot(self, publisher: str, topic: str, as_of: int, after: int, limit: int) -> list[StoredEvent]:
        """The latest event per state key among those with sequence <= ``as_of``, by sequence, > ``after``."""
        ...

    def last_sequence(self) -> int:
        """The highest sequence given so far (0 when none)."""
        ...
