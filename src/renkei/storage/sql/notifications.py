"""Change notifications' storage (:class:`renkei.exchange.notifications.ports.NotificationStore`) on
SQLAlchemy Core: the durable outbox.

Tables: ``exchange_subscription`` (one row per subscriber and topic), ``exchange_event`` (accepted events;
``sequence`` is dense and given in commit order under the accept lock — SQLite's write lock, on PostgreSQL
a transaction-scoped advisory lock — so a feed reader that has seen sequence *n* never later finds a
smaller one committed), ``exchange_delivery`` (one row per event and webhook subscriber; the lease is
``next_attempt_at`` moved forward). Composition: ``SqlNotificationStore(connection_source(storage))``;
the tables register on ``tables.metadata`` when this module is imported.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from renkei.exchange.notifications.errors import EventConflict
from renkei.exchange.notifications.models import (
    Accepted,
    ClaimedDelivery,
    DeliveryMode,
    DeliveryOutcome,
    DeliveryState,
    DeliveryView,
    NewEvent,
    OutboxStats,
    StoredEvent,
    Subscription,
    new_id,
)
from renkei.exchange.notifications.ports import Router
from renkei.storage.errors import StorageError
from renkei.storage.sql.repositories import ConnectionSource
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.values import to_utc

MEMBER_MAX = 128
TOPIC_MAX = 64
URL_MAX = 2048
EVENT_ID_MAX = 128
ERROR_MAX = 2000
#: Key of the PostgreSQL advisory lock that serialises accepts, so sequences follow commit order ("exev").
PG_ACCEPT_LOCK = 0x65786576
_CHUNK = 500  # bind parameters per IN list

exchange_subscription = Table(
    "exchange_subscription",
    metadata,
    Column("subscriber", String(MEMBER_MAX), primary_key=True, comment="member system id"),
    Column("topic", String(TOPIC_MAX), primary_key=True, comment="notification topic (service id)"),
    Column("mode", String(16), nullable=False, comment="'webhook' or 'poll'"),
    Column("url", String(URL_MAX), nullable=True, comment="webhook URL (mode webhook)"),
    Column("purpose", String(MEMBER_MAX), nullable=True, comment="事務 the events are received for"),
    Column("source", String(MEMBER_MAX), nullable=True, comment="only events of this org / member"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    comment="購読: member systems subscribed to notification topics",
)

exchange_event = Table(
    "exchange_event",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False, comment="acceptance order"),
    Column("id", String(36), nullable=False, comment="the hub's event id (ev-…)"),
    Column("publisher", String(MEMBER_MAX), nullable=False),
    Column("topic", String(TOPIC_MAX), nullable=False),
    Column("information", String(TOPIC_MAX), nullable=False),
    Column("publisher_event_id", String(EVENT_ID_MAX), nullable=True, comment="the publisher's id"),
    Column("fingerprint", String(64), nullable=False, comment="SHA-256 of the event as published"),
    Column("event_type", String(16), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("accepted_at", UtcDateTime, nullable=False),
    Column("person_key", String(64), nullable=True, comment="linkage base key; never a 個人番号"),
    Column("state_key", String(64), nullable=False, comment="what the snapshot keeps the latest of"),
    Column("data", Text, nullable=False, comment="the topic's items as published (JSON)"),
    UniqueConstraint("id"),
    UniqueConstraint("publisher", "topic", "publisher_event_id"),
    Index("ix_exchange_event_publisher_topic_sequence", "publisher", "topic", "sequence"),
    Index(
        "ix_exchange_event_publisher_topic_state_key_sequence", "publisher", "topic", "state_key", "sequence"
    ),
    comment="異動通知: accepted change notifications (the outbox)",
)

exchange_delivery = Table(
    "exchange_delivery",
    metadata,
    Column("id", String(36), primary_key=True, comment="delivery id (dl-…)"),
    Column(
        "event_sequence",
        BigInteger,
        ForeignKey("exchange_event.sequence", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("subscriber", String(MEMBER_MAX), nullable=False),
    Column("order_key", String(64), nullable=False, comment="deliveries of one key go in sequence order"),
    Column("state", String(16), nullable=False, comment="pending, delivered or dead"),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False, comment="due time, or the end of a lease"),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(ERROR_MAX), nullable=True),
    UniqueConstraint("event_sequence", "subscriber"),
    Index("ix_exchange_delivery_state_next_attempt_at", "state", "next_attempt_at"),
    Index(
        "ix_exchange_delivery_undelivered",
        "subscriber",
        "order_key",
        "event_sequence",
        sqlite_where=text("state <> 'delivered'"),
        postgresql_where=text("state <> 'delivered'"),
    ),
    comment="配信: one row per event and webhook subscriber",
)

_EVENT_COLUMNS = tuple(
    exchange_event.c[name]
    for name in (
        "sequence",
        "id",
        "publisher",
        "topic",
        "information",
        "publisher_event_id",
        "event_type",
        "occurred_at",
        "accepted_at",
        "person_key",
        "data",
    )
)


class SqlNotificationStore:
    """:class:`~renkei.exchange.notifications.ports.NotificationStore` on a connection source."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    # --- subscriptions -----------------------------------------------------------------------------

    def put_subscription(self, subscription: Subscription) -> Subscription:
        table = exchange_subscription
        key = and_(table.c.subscriber == subscription.subscriber, table.c.topic == subscription.topic)
        values = {
            "mode": subscription.mode.value,
            "url": subscription.url,
            "purpose": subscription.purpose,
            "source": subscription.source,
            "updated_at": to_utc("updated_at", subscription.updated_at),
        }
        with self._source(True) as connection:
            changed = connection.execute(update(table).where(key).values(values)).rowcount
            if not changed:
                connection.execute(
                    table.insert().values(
                        subscriber=subscription.subscriber,
                        topic=subscription.topic,
                        created_at=to_utc("created_at", subscription.created_at),
                        **values,
                    )
                )
            row = connection.execute(select(table).where(key)).one()
        return _subscription(row)

    def remove_subscription(self, subscriber: str, topic: str) -> bool:
        table = exchange_subscription
        with self._source(True) as connection:
            deleted = connection.execute(
                table.delete().where(table.c.subscriber == subscriber, table.c.topic == topic)
            ).rowcount
        return bool(deleted)

    def subscriptions(self, *, subscriber: str | None = None, topic: str | None = None) -> list[Subscription]:
        table = exchange_subscription
        query = select(table).order_by(table.c.subscriber, table.c.topic)
        if subscriber is not None:
            query = query.where(table.c.subscriber == subscriber)
        if topic is not None:
            query = query.where(table.c.topic == topic)
        with self._source(False) as connection:
            return [_subscription(row) for row in connection.execute(query)]

    # --- accepting -----------------------------------------------------------------------------------

    def accept(self, events: Sequence[NewEvent], route: Router, at: datetime) -> list[Accepted]:
        if not events:
            return []
        publisher, topic = events[0].publisher, events[0].topic
        if any(e.publisher != publisher or e.topic != topic for e in events):
            raise StorageError("one accept takes the events of one publisher and topic")
        at = to_utc("accepted_at", at)
        ev, sub = exchange_event, exchange_subscription
        with self._source(True) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_ACCEPT_LOCK})
            given = sorted({e.publisher_event_id for e in events if e.publisher_event_id is not None})
            known: dict[str, tuple[str, int, str]] = {}
            for chunk in _chunks(given):
                query = select(ev.c.sequence, ev.c.id, ev.c.publisher_event_id, ev.c.fingerprint).where(
                    ev.c.publisher == publisher, ev.c.topic == topic, ev.c.publisher_event_id.in_(chunk)
                )
                for row in connection.execute(query):
                    known[str(row.publisher_event_id)] = (row.id, int(row.sequence), row.fingerprint)
            webhooks = [
                _subscription(row)
                for row in connection.execute(
                    select(sub).where(sub.c.topic == topic, sub.c.mode == DeliveryMode.WEBHOOK.value)
                )
            ]
            receivers = [s.subscriber for s in route(webhooks)]
            fanout = _fanout(connection, [seq for _, seq, _ in known.values()])
            last = connection.execute(select(func.max(ev.c.sequence))).scalar_one_or_none()
            sequence = int(last or 0)
            in_batch: dict[str, tuple[str, int, str]] = {}
            answers: list[Accepted] = []
            event_rows: list[dict[str, Any]] = []
            delivery_rows: list[dict[str, Any]] = []
            for event in events:
                pid = event.publisher_event_id
                prior: tuple[str, int, str] | None = None
                if pid is not None and pid in known:
                    prior = known[pid]
                elif pid is not None and pid in in_batch:
                    prior = in_batch[pid]
                if prior is not None:
                    if prior[2] != event.fingerprint:
                        raise EventConflict(
                            f"event {event.index}: event_id {pid!r} was accepted before with other content",
                            index=event.index,
                            event_id=pid,
                        )
                    answers.append(
                        Accepted(event.index, prior[0], prior[1], pid, fanout.get(prior[1], 0), True)
                    )
                    continue
                sequence += 1
                event_id = new_id("ev")
                if pid is not None:
                    in_batch[pid] = (event_id, sequence, event.fingerprint)
                event_rows.append(_event_row(event, sequence, event_id, at))
                delivery_rows.extend(
                    {
                        "id": new_id("dl"),
                        "event_sequence": sequence,
                        "subscriber": receiver,
                        "order_key": event.order_key,
                        "state": DeliveryState.PENDING.value,
                        "attempts": 0,
                        "created_at": at,
                        "next_attempt_at": at,
                    }
                    for receiver in receivers
                )
                fanout[sequence] = len(receivers)
                answers.append(Accepted(event.index, event_id, sequence, pid, len(receivers), False))
            if event_rows:
                connection.execute(ev.insert(), event_rows)
            if delivery_rows:
                connection.execute(exchange_delivery.insert(), delivery_rows)
        return answers

    # --- delivering ----------------------------------------------------------------------------------

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[ClaimedDelivery]:
        now = to_utc("now", now)
        lease_until = to_utc("lease_until", lease_until)
        d = exchange_delivery
        earlier = d.alias("earlier")
        blocked = exists().where(
            earlier.c.subscriber == d.c.subscriber,
            earlier.c.order_key == d.c.order_key,
            earlier.c.event_sequence < d.c.event_sequence,
            earlier.c.state != DeliveryState.DELIVERED.value,
        )
        query = (
            select(d.c.id)
            .where(d.c.state == DeliveryState.PENDING.value, d.c.next_attempt_at <= now, ~blocked)
            .order_by(d.c.event_sequence, d.c.id)
            .limit(limit)
        )
        with self._source(True) as connection:
            if connection.dialect.name == "postgresql":
                # Concurrent workers each take rows nobody else holds, instead of queueing on the same ones.
                query = query.with_for_update(skip_locked=True, of=d)
            ids = [row.id for row in connection.execute(query)]
            if not ids:
                return []
            connection.execute(update(d).where(d.c.id.in_(ids)).values(next_attempt_at=lease_until))
            return _claimed(connection, ids)

    def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        if not outcomes:
            return
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for outcome in outcomes:
            values = _outcome_values(outcome)
            groups.setdefault(tuple(values), []).append(
                {"b_id": outcome.delivery_id, **{f"b_{k}": v for k, v in values.items()}}
            )
        d = exchange_delivery
        with self._source(True) as connection:
            for columns, rows in groups.items():
                statement = (
                    update(d)
                    .where(d.c.id == bindparam("b_id"), d.c.state == DeliveryState.PENDING.value)
                    .values(attempts=d.c.attempts + 1, **{c: bindparam(f"b_{c}") for c in columns})
                )
                connection.execute(statement, rows)

    def record_and_follow(
        self,
        attempts: Sequence[tuple[DeliveryOutcome, ClaimedDelivery]],
        now: datetime,
        lease_until: datetime,
    ) -> list[ClaimedDelivery]:
        if not attempts:
            return []
        now = to_utc("now", now)
        lease_until = to_utc("lease_until", lease_until)
        d = exchange_delivery
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for outcome, _ in attempts:
            values = _outcome_values(outcome)
            groups.setdefault(tuple(values), []).append(
                {"b_id": outcome.delivery_id, **{f"b_{k}": v for k, v in values.items()}}
            )
        keys = sorted(
            {(c.subscriber, c.order_key) for o, c in attempts if o.state is DeliveryState.DELIVERED}
        )
        with self._source(True) as connection:
            for columns, rows in groups.items():
                statement = (
                    update(d)
                    .where(d.c.id == bindparam("b_id"), d.c.state == DeliveryState.PENDING.value)
                    .values(attempts=d.c.attempts + 1, **{c: bindparam(f"b_{c}") for c in columns})
                )
                connection.execute(statement, rows)
            leased: list[str] = []
            for subscriber, order_key in keys:
                head = (
                    select(d.c.id, d.c.state, d.c.next_attempt_at)
                    .where(
                        d.c.subscriber == subscriber,
                        d.c.order_key == order_key,
                        d.c.state != DeliveryState.DELIVERED.value,
                    )
                    .order_by(d.c.event_sequence)
                    .limit(1)
                )
                if connection.dialect.name == "postgresql":
                    head = head.with_for_update(skip_locked=True)
                row = connection.execute(head).first()
                if (
                    row is not None
                    and row.state == DeliveryState.PENDING.value
                    and row.next_attempt_at <= now
                ):
                    leased.append(row.id)
            if not leased:
                return []
            connection.execute(update(d).where(d.c.id.in_(leased)).values(next_attempt_at=lease_until))
            return _claimed(connection, leased)

    def next_due(self, after: datetime) -> datetime | None:
        d = exchange_delivery
        query = select(func.min(d.c.next_attempt_at)).where(
            d.c.state == DeliveryState.PENDING.value, d.c.next_attempt_at > to_utc("after", after)
        )
        with self._source(False) as connection:
            value = connection.execute(query).scalar_one_or_none()
        assert value is None or isinstance(value, datetime)
        return value

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
        d, ev = exchange_delivery, exchange_event
        query = (
            select(d, ev.c.id.label("event_id"), ev.c.topic, ev.c.publisher)
            .select_from(d.join(ev, ev.c.sequence == d.c.event_sequence))
            .order_by(d.c.event_sequence, d.c.subscriber)
            .limit(limit)
        )
        if event_id is not None:
            query = query.where(ev.c.id == event_id)
        if subscriber is not None:
            query = query.where(d.c.subscriber == subscriber)
        if topic is not None:
            query = query.where(ev.c.topic == topic)
        if state is not None:
            query = query.where(d.c.state == state)
        with self._source(False) as connection:
            return [_view(row) for row in connection.execute(query)]

    def replay(
        self, *, event_id: str | None, subscriber: str | None, now: datetime, topic: str | None = None
    ) -> int:
        now = to_utc("now", now)
        d, ev = exchange_delivery, exchange_event
        statement = (
            update(d)
            .where(d.c.state == DeliveryState.DEAD.value)
            .values(state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=now)
        )
        if subscriber is not None:
            statement = statement.where(d.c.subscriber == subscriber)
        if event_id is not None or topic is not None:
            events = select(ev.c.sequence)
            if event_id is not None:
                events = events.where(ev.c.id == event_id)
            if topic is not None:
                events = events.where(ev.c.topic == topic)
            statement = statement.where(d.c.event_sequence.in_(events.scalar_subquery()))
        with self._source(True) as connection:
            return int(connection.execute(statement).rowcount)

    def stats(self, now: datetime) -> OutboxStats:
        now = to_utc("now", now)
        d = exchange_delivery
        counts = select(d.c.state, func.count()).where(d.c.state != DeliveryState.DELIVERED.value)
        oldest = select(func.min(d.c.created_at)).where(
            d.c.state == DeliveryState.PENDING.value, d.c.next_attempt_at <= now
        )
        with self._source(False) as connection:
            found = {state: int(n) for state, n in connection.execute(counts.group_by(d.c.state))}
            first = connection.execute(oldest).scalar_one_or_none()
        lag = 0.0 if first is None else max(0.0, (now - first).total_seconds())
        return OutboxStats(
            depth=found.get(DeliveryState.PENDING.value, 0),
            dead_letters=found.get(DeliveryState.DEAD.value, 0),
            lag_seconds=lag,
        )

    # --- feeds ---------------------------------------------------------------------------------------

    def event(self, event_id: str) -> StoredEvent | None:
        with self._source(False) as connection:
            row = connection.execute(select(*_EVENT_COLUMNS).where(exchange_event.c.id == event_id)).first()
        return None if row is None else _event(row)

    def feed(self, publisher: str, topic: str, after: int, limit: int) -> list[StoredEvent]:
        ev = exchange_event
        query = (
            select(*_EVENT_COLUMNS)
            .where(ev.c.publisher == publisher, ev.c.topic == topic, ev.c.sequence > after)
            .order_by(ev.c.sequence)
            .limit(limit)
        )
        with self._source(False) as connection:
            return [_event(row) for row in connection.execute(query)]

    def snapshot(self, publisher: str, topic: str, as_of: int, after: int, limit: int) -> list[StoredEvent]:
        ev = exchange_event
        later = ev.alias("later")
        superseded = exists().where(
            later.c.publisher == ev.c.publisher,
            later.c.topic == ev.c.topic,
            later.c.state_key == ev.c.state_key,
            later.c.sequence > ev.c.sequence,
            later.c.sequence <= as_of,
        )
        query = (
            select(*_EVENT_COLUMNS)
            .where(
                ev.c.publisher == publisher,
                ev.c.topic == topic,
                ev.c.sequence > after,
                ev.c.sequence <= as_of,
                ~superseded,
            )
            .order_by(ev.c.sequence)
            .limit(limit)
        )
        with self._source(False) as connection:
            return [_event(row) for row in connection.execute(query)]

    def last_sequence(self) -> int:
        with self._source(False) as connection:
            value = connection.execute(select(func.max(exchange_event.c.sequence))).scalar_one_or_none()
        return int(value or 0)


def _claimed(connection: Connection, ids: Sequence[str]) -> list[ClaimedDelivery]:
    """The claimed deliveries ``ids`` with their events and (if still there) subscriptions."""
    d, ev, sub = exchange_delivery, exchange_event, exchange_subscription
    joined = (
        select(
            d.c.id.label("delivery_id"),
            d.c.subscriber.label("delivery_subscriber"),
            d.c.order_key,
            d.c.attempts,
            *_EVENT_COLUMNS,
            *(c.label(f"s_{c.name}") for c in sub.c),
        )
        .select_from(
            d.join(ev, ev.c.sequence == d.c.event_sequence).outerjoin(
                sub, and_(sub.c.subscriber == d.c.subscriber, sub.c.topic == ev.c.topic)
            )
        )
        .where(d.c.id.in_(ids))
        .order_by(d.c.event_sequence, d.c.id)
    )
    return [
        ClaimedDelivery(
            id=row.delivery_id,
            subscriber=row.delivery_subscriber,
            order_key=row.order_key,
            attempts=row.attempts,
            event=_event(row),
            subscription=None if row.s_mode is None else _subscription(row, "s_"),
        )
        for row in connection.execute(joined)
    ]


def _outcome_values(outcome: DeliveryOutcome) -> dict[str, Any]:
    at = to_utc("attempted_at", outcome.attempted_at)
    values: dict[str, Any] = {
        "state": outcome.state.value,
        "last_attempt_at": at,
        "last_status": outcome.status,
        "last_error": None if outcome.error is None else outcome.error[:ERROR_MAX],
    }
    if outcome.state is DeliveryState.PENDING:
        if outcome.next_attempt_at is None:
            raise StorageError("a pending outcome needs its next_attempt_at")
        values["next_attempt_at"] = to_utc("next_attempt_at", outcome.next_attempt_at)
    if outcome.state is DeliveryState.DELIVERED:
        values["delivered_at"] = at
    return values


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _fanout(connection: Connection, sequences: Sequence[int]) -> dict[int, int]:
    d = exchange_delivery
    found: dict[int, int] = {}
    for start in range(0, len(sequences), _CHUNK):
        chunk = sequences[start : start + _CHUNK]
        query = (
            select(d.c.event_sequence, func.count())
            .where(d.c.event_sequence.in_(chunk))
            .group_by(d.c.event_sequence)
        )
        found.update((int(s), int(n)) for s, n in connection.execute(query))
    return found


def _stored_key(person_key: str) -> str:
    """The linkage base's person key as stored: its hex in base32 (``k-…``), so that no run of twelve
    digits — which a 個人番号 leak scan cannot tell from a number — ever appears in the table."""
    try:
        raw = bytes.fromhex(person_key)
    except ValueError:
        return "x-" + person_key
    return "k-" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _person_key(stored: str) -> str:
    kind, _, value = stored.partition("-")
    if kind == "x":
        return value
    padded = value.upper() + "=" * (-len(value) % 8)
    return base64.b32decode(padded).hex()


def _event_row(event: NewEvent, sequence: int, event_id: str, at: datetime) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "id": event_id,
        "publisher": event.publisher,
        "topic": event.topic,
        "information": event.information,
        "publisher_event_id": event.publisher_event_id,
        "fingerprint": event.fingerprint,
        "event_type": event.event_type,
        "occurred_at": to_utc("occurred_at", event.occurred_at),
        "accepted_at": at,
        "person_key": None if event.person_key is None else _stored_key(event.person_key),
        "state_key": event.state_key,
        "data": json.dumps(event.data, ensure_ascii=False, separators=(",", ":")),
    }


def _event(row: Row[Any]) -> StoredEvent:
    return StoredEvent(
        sequence=int(row.sequence),
        id=row.id,
        publisher=row.publisher,
        topic=row.topic,
        information=row.information,
        publisher_event_id=row.publisher_event_id,
        event_type=row.event_type,
        occurred_at=row.occurred_at,
        accepted_at=row.accepted_at,
        person_key=None if row.person_key is None else _person_key(row.person_key),
        data=json.loads(row.data),
    )


def _subscription(row: Row[Any], prefix: str = "") -> Subscription:
    values = row._mapping
    return Subscription(
        subscriber=values[prefix + "subscriber"],
        topic=values[prefix + "topic"],
        mode=DeliveryMode(values[prefix + "mode"]),
        url=values[prefix + "url"],
        purpose=values[prefix + "purpose"],
        source=values[prefix + "source"],
        created_at=values[prefix + "created_at"],
        updated_at=values[prefix + "updated_at"],
    )


def _view(row: Row[Any]) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        event_id=row.event_id,
        sequence=int(row.event_sequence),
        topic=row.topic,
        publisher=row.publisher,
        subscriber=row.subscriber,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        delivered_at=row.delivered_at,
        last_status=row.last_status,
        last_error=row.last_error,
    )
