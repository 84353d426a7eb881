"""What the Commons (公共情報コモンズ) needs from storage, as Protocols, and the records they hand back.

The SQL adapter is :mod:`renkei.storage.sql.commons`; ``app.py`` builds it from the storage's connection
source and passes it to :class:`renkei.commons.service.CommonsService`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from renkei.commons.lifecycle import AlertState

#: Where one stored revision stands in its update / cancel chain: the lifecycle's own states
#: (active 発表中, superseded 更新済, cancelled 取消, expired 期限切れ).
LifecycleState = AlertState


class DeliveryState(StrEnum):
    """Where one push of one revision to one subscriber stands."""

    PENDING = "pending"  # 配信待ち (also: waiting for a retry)
    DELIVERED = "delivered"  # 配信済 (2xx, no receipt yet)
    ACKNOWLEDGED = "acknowledged"  # 受領確認済
    FAILED = "failed"  # 配信失敗 (retries exhausted)


class Channel(StrEnum):
    """The media a subscriber is: each receives its own rendering of an alert."""

    TV = "tv"  # テレビ (L字放送・データ放送)
    RADIO = "radio"  # ラジオ (読み上げ原稿)
    CARRIER_MAIL = "carrier-mail"  # 携帯事業者 (緊急速報メール)
    WEB = "web"  # ウェブ・ポータル
    CAP = "cap"  # CAP XML そのもの


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One received document (one revision of an alert chain) as stored.

    ``alert_id`` names the chain (the identifier of its first message), ``revision`` counts from 1 along it,
    ``message_id`` is the document's own CAP identifier. ``raw_xml`` is the document in CAP 1.2: the source
    of truth from which every rendering is made; the other fields are for queries and lists.
    """

    message_id: str
    alert_id: str
    revision: int
    sender: str
    sender_code: str
    sent: datetime
    status: str  # CAP status: Actual, Exercise, System, Test, Draft
    msg_type: str  # CAP msgType: Alert, Update, Cancel, Ack, Error
    kind: str  # the authoring template (evacuation, shelter …) or the CAP event
    headline: str
    area_codes: tuple[str, ...]
    state: LifecycleState
    received_at: datetime
    raw_xml: str
    expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class AreaFilter:
    """Which areas a subscriber serves; empty everywhere means all of Japan.

    Prefecture codes are the 2-digit JIS X 0401 codes, municipality codes the 5- or 6-digit JIS X 0402 /
    全国地方公共団体コード; a polygon is a list of (latitude, longitude) vertices in WGS 84.
    """

    prefectures: tuple[str, ...] = ()
    municipalities: tuple[str, ...] = ()
    polygon: tuple[tuple[float, float], ...] = ()

    @property
    def everywhere(self) -> bool:
        return not (self.prefectures or self.municipalities or self.polygon)


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """A media subscriber (情報伝達者): where its webhooks go, what it wants, and the key that signs them."""

    id: str
    name: str
    channel: Channel
    webhook_url: str
    secret: str
    areas: AreaFilter = field(default_factory=AreaFilter)
    message_types: tuple[str, ...] = ()  # CAP msgTypes wanted; empty means all
    active: bool = True
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One revision pushed to one subscriber: the bytes to push, and how the pushing went."""

    id: str
    subscriber_id: str
    message_id: str
    alert_id: str
    revision: int
    channel: Channel
    media_type: str
    body: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    receipt: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one attempt came to, for :meth:`DeliveryRepository.record_outcomes`.

    ``state`` is ``PENDING`` (retry at ``next_attempt_at``), ``DELIVERED``, ``ACKNOWLEDGED`` or ``FAILED``.
    """

    delivery_id: str
    state: DeliveryState
    attempted_at: datetime
    next_attempt_at: datetime | None = None
    status: int | None = None
    error: str | None = None
    receipt: str | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of the Atom feed / event stream: appended once per accepted revision, never changed."""

    seq: int
    message_id: str
    alert_id: str
    revision: int
    msg_type: str
    status: str
    title: str
    summary: str
    published_at: datetime


class AlertRepository(Protocol):
    def add(self, record: AlertRecord) -> None:
        """Store a new revision.

        Raises ``commons.alert.duplicate`` if its ``message_id`` or its (alert, revision) is stored already.
        """
        ...

    def get(self, message_id: str) -> AlertRecord | None: ...

    def revisions(self, alert_id: str) -> list[AlertRecord]:
        """Every stored revision of the chain, oldest first."""
        ...

    def latest(self, *, limit: int = 100, offset: int = 0) -> list[AlertRecord]:
        """The newest revision of each chain, the most recently received chain first."""
        ...

    def set_state(self, message_id: str, state: LifecycleState) -> None: ...


class SubscriberRepository(Protocol):
    def add(self, record: SubscriberRecord) -> None: ...

    def get(self, subscriber_id: str) -> SubscriberRecord | None: ...

    def all(self, *, active_only: bool = False) -> list[SubscriberRecord]:
        """Every subscriber, in registration order."""
        ...

    def set_active(self, subscriber_id: str, active: bool) -> None: ...


class DeliveryRepository(Protocol):
    def add_many(self, records: Sequence[DeliveryRecord]) -> None: ...

    def get(self, delivery_id: str) -> DeliveryRecord | None: ...

    def for_alert(self, alert_id: str) -> list[DeliveryRecord]:
        """Every delivery of every revision of the chain, by revision then creation."""
        ...

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[DeliveryRecord]:
        """Up to ``limit`` pending deliveries due at ``now``, leased until ``lease_until``.

        The lease moves their ``next_attempt_at`` so no other worker claims them meanwhile; a worker that dies
        holding them only delays them until the lease ends (then they are claimed again: at-least-once).
        """
        ...

    def record_outcomes(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Apply attempt outcomes, each counting one attempt; a delivery no longer pending is left alone."""
        ...

    def acknowledge(self, delivery_id: str, at: datetime, receipt: str | None) -> DeliveryRecord | None:
        """Mark a delivery acknowledged (idempotent: the first receipt is kept); ``None`` if unknown."""
        ...

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery falls due, if any is pending."""
        ...

    def count_by_state(self) -> dict[DeliveryState, int]: ...


class FeedRepository(Protocol):
    def append(self, entry: FeedEntry) -> int:
        """Append (``entry.seq`` is ignored) and return the sequence number given."""
        ...

    def since(self, seq: int, *, limit: int = 500) -> list[FeedEntry]:
        """Entries after ``seq``, oldest first."""
        ...

    def recent(self, *, limit: int = 50) -> list[FeedEntry]:
        """The newest entries, newest first."""
        ...


class CommonsTransaction(Protocol):
    """The Commons repositories bound to one transaction: they commit together or not at all."""

    @property
    def alerts(self) -> AlertRepository: ...

    @property
    def subscribers(self) -> SubscriberRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def feed(self) -> FeedRepository: ...


class CommonsStore(CommonsTransaction, Protocol):
    """The Commons repositories (each call a transaction of its own) and units of work over them."""

    def transaction(self) -> AbstractContextManager[CommonsTransaction]: ...
