"""What change notifications handle and keep: subscriptions, accepted events, their deliveries, dead
letters, feed pages and the outbox's measurements. Every value is frozen."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


def new_id(prefix: str) -> str:
    """A random id (128 bits, base32): ``ev-…`` for events, ``dl-…`` for deliveries.

    Not a UUID: a UUID's hex groups are now and then twelve digits that pass the 個人番号 check digit, which
    the leak scans cannot tell from a real number; base32 (a-z, 2-7) never forms one.
    """
    return f"{prefix}-{base64.b32encode(secrets.token_bytes(16)).decode('ascii').rstrip('=').lower()}"


class DeliveryMode(StrEnum):
    """How a subscriber gets its events."""

    WEBHOOK = "webhook"  # the hub POSTs each event to the subscriber's URL
    POLL = "poll"  # the subscriber reads the feed (差分 / 全件) itself


class DeliveryState(StrEnum):
    """Where one (event, subscriber) delivery stands."""

    PENDING = "pending"  # waiting, leased to a worker, or backing off
    DELIVERED = "delivered"  # the webhook answered 2xx
    DEAD = "dead"  # given up (attempts used up, refused, subscription gone): replay re-queues it


def within(source: str, member: str) -> bool:
    """Whether ``member`` (or organisation) is ``source`` or lies under it (``JP/LG/131016`` takes
    ``JP/LG/131016/u01``)."""
    return member == source or member.startswith(source + "/")


@dataclass(frozen=True, slots=True)
class Subscription:
    """A member system's subscription to a topic.

    ``purpose`` (事務) is required for topics of personal information: it bounds the items delivered and is
    named in the access records. ``source`` limits the subscription to events of one organisation
    (``JP/LG/131016``) or member system (``JP/LG/131016/u01``); ``None`` means the subscriber's own
    organisation (a municipality's data stays with it unless the operator names another source).
    """

    subscriber: str
    topic: str
    mode: DeliveryMode
    url: str | None
    purpose: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime

    def takes_from(self, publisher: str) -> bool:
        """Whether an event of ``publisher`` (a member id) falls within ``source`` (by default the
        subscriber's own organisation: the first three parts of its id)."""
        return within(self.source or self.subscriber.rsplit("/", 1)[0], publisher)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event the hub is about to accept (validated, the person resolved inside the linkage base).

    ``data`` are the topic's items as the publisher sent them (its own 宛名番号 included, if the topic
    carries one); ``person_key`` is the linkage base's internal key (never a 個人番号), converted per
    receiver at delivery; ``order_key`` groups the events delivered in order; ``state_key`` the events of
    which the snapshot (全件) keeps the latest.
    """

    index: int
    publisher: str
    topic: str
    information: str
    publisher_event_id: str | None
    fingerprint: str
    event_type: str
    occurred_at: datetime
    person_key: str | None
    order_key: str
    state_key: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An accepted event as the outbox keeps it; ``sequence`` is the hub-wide acceptance order."""

    sequence: int
    id: str
    publisher: str
    topic: str
    information: str
    publisher_event_id: str | None
    event_type: str
    occurred_at: datetime
    accepted_at: datetime
    person_key: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer for one event of a publish: the hub's event id, its sequence and fan-out."""

    index: int
    event_id: str
    sequence: int
    publisher_event_id: str | None
    deliveries: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery leased to a worker, with what it needs to push it. ``subscription`` is ``None`` when
    the subscriber has unsubscribed since the event was accepted."""

    id: str
    subscriber: str
    order_key: str
    attempts: int
    event: StoredEvent
    subscription: Subscription | None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one attempt came to; ``next_attempt_at`` for a retry (state pending)."""

    delivery_id: str
    state: DeliveryState
    attempted_at: datetime
    next_attempt_at: datetime | None = None
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One delivery as operators see it (the DLQ listing, an event's fan-out)."""

    id: str
    event_id: str
    sequence: int
    topic: str
    publisher: str
    subscriber: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The outbox's measurements: pending deliveries, dead letters, and the age of the oldest due one."""

    depth: int
    dead_letters: int
    lag_seconds: float


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of a feed for one reader: events already converted for it, and the cursor to go on from."""

    topic: str
    publisher: str
    events: tuple[Mapping[str, Any], ...]
    next_cursor: str
    more: bool
    as_of: str | None = None
    """For a snapshot (全件): the 差分 cursor that continues after it."""
