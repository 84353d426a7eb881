"""The Commons' tables and repositories (公共情報コモンズ) on SQLAlchemy Core.

Four tables: ``commons_alert`` (each received revision, raw CAP XML included), ``commons_subscriber``,
``commons_delivery`` (one row per subscriber per revision: the outbox the delivery worker drains) and
``commons_feed_entry`` (append-only; its ``seq`` is the Atom entry order and the SSE event id).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row

from renkei.commons.delivery.errors import AlertDuplicate
from renkei.commons.ports import (
    AlertRecord,
    AreaFilter,
    Channel,
    DeliveryOutcome,
    DeliveryRecord,
    DeliveryState,
    FeedEntry,
    LifecycleState,
    SubscriberRecord,
)
from renkei.storage.errors import StorageError
from renkei.storage.sql.repositories import ConnectionSource
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.values import check_text, to_utc

ID_MAX = 255
NAME_MAX = 255
CODE_MAX = 16
URL_MAX = 2048

commons_alert = Table(
    "commons_alert",
    metadata,
    Column("message_id", String(ID_MAX), primary_key=True),
    Column("alert_id", String(ID_MAX), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("sender", String(NAME_MAX), nullable=False),
    Column("sender_code", String(CODE_MAX), nullable=False),
    Column("sent", UtcDateTime, nullable=False),
    Column("status", String(CODE_MAX), nullable=False),
    Column("msg_type", String(CODE_MAX), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("headline", Text, nullable=False),
    Column("area_codes", Text, nullable=False, comment="JSON array of municipality codes"),
    Column("state", String(CODE_MAX), nullable=False),
    Column("expires", UtcDateTime, nullable=True),
    Column("received_at", UtcDateTime, nullable=False, index=True),
    Column("raw_xml", Text, nullable=False),
    UniqueConstraint("alert_id", "revision"),
    comment="Commons alerts: every received revision (公共情報コモンズ 受信文書)",
)

commons_subscriber = Table(
    "commons_subscriber",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("channel", String(CODE_MAX), nullable=False),
    Column("webhook_url", String(URL_MAX), nullable=False),
    Column("secret", String(NAME_MAX), nullable=False),
    Column("prefectures", Text, nullable=False, comment="JSON array"),
    Column("municipalities", Text, nullable=False, comment="JSON array"),
    Column("polygon", Text, nullable=False, comment="JSON array of [lat, lon]"),
    Column("message_types", Text, nullable=False, comment="JSON array"),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    comment="Commons media subscribers (情報伝達者)",
)

commons_delivery = Table(
    "commons_delivery",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscriber_id", String(64), ForeignKey("commons_subscriber.id"), nullable=False),
    Column("message_id", String(ID_MAX), ForeignKey("commons_alert.message_id"), nullable=False),
    Column("alert_id", String(ID_MAX), nullable=False, index=True),
    Column("revision", Integer, nullable=False),
    Column("channel", String(CODE_MAX), nullable=False),
    Column("media_type", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(CODE_MAX), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("acknowledged_at", UtcDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("receipt", Text, nullable=True),
    UniqueConstraint("subscriber_id", "message_id"),
    Index("ix_commons_delivery_state_next_attempt_at", "state", "next_attempt_at"),
    comment="Commons deliveries: one push of one revision to one subscriber (outbox)",
)

commons_feed_entry = Table(
    "commons_feed_entry",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(ID_MAX), ForeignKey("commons_alert.message_id"), nullable=False),
    Column("alert_id", String(ID_MAX), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("msg_type", String(CODE_MAX), nullable=False),
    Column("status", String(CODE_MAX), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    comment="Commons Atom feed entries, append-only (seq = SSE event id)",
)


def _json(values: Sequence[Any]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def _text(name: str, value: str, max_length: int, *, allow_empty: bool = False) -> str:
    return check_text(name, value, max_length=max_length, allow_empty=allow_empty)


def _long(name: str, value: str | None) -> str | None:
    return None if value is None else check_text(name, value, max_length=10_000_000, allow_empty=True)


def _alert(row: Row[Any]) -> AlertRecord:
    return AlertRecord(
        message_id=row.message_id,
        alert_id=row.alert_id,
        revision=row.revision,
        sender=row.sender,
        sender_code=row.sender_code,
        sent=row.sent,
        status=row.status,
        msg_type=row.msg_type,
        kind=row.kind,
        headline=row.headline,
        area_codes=tuple(json.loads(row.area_codes)),
        state=LifecycleState(row.state),
        received_at=row.received_at,
        raw_xml=row.raw_xml,
        expires=row.expires,
    )


def _subscriber(row: Row[Any]) -> SubscriberRecord:
    return SubscriberRecord(
        id=row.id,
        name=row.name,
        channel=Channel(row.channel),
        webhook_url=row.webhook_url,
        secret=row.secret,
        areas=AreaFilter(
            prefectures=tuple(json.loads(row.prefectures)),
            municipalities=tuple(json.loads(row.municipalities)),
            polygon=tuple((float(a), float(b)) for a, b in json.loads(row.polygon)),
        ),
        message_types=tuple(json.loads(row.message_types)),
        active=bool(row.active),
        created_at=row.created_at,
    )


def _delivery(row: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        subscriber_id=row.subscriber_id,
        message_id=row.message_id,
        alert_id=row.alert_id,
        revision=row.revision,
        channel=Channel(row.channel),
        media_type=row.media_type,
        body=row.body,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        last_attempt_at=row.last_attempt_at,
        delivered_at=row.delivered_at,
        acknowledged_at=row.acknowledged_at,
        last_status=row.last_status,
        last_error=row.last_error,
        receipt=row.receipt,
    )


def _entry(row: Row[Any]) -> FeedEntry:
    return FeedEntry(
        seq=row.seq,
        message_id=row.message_id,
        alert_id=row.alert_id,
        revision=row.revision,
        msg_type=row.msg_type,
        status=row.status,
        title=row.title,
        summary=row.summary,
        published_at=row.published_at,
    )


class SqlAlertRepository:
    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def add(self, record: AlertRecord) -> None:
        values = {
            "message_id": _text("message_id", record.message_id, ID_MAX),
            "alert_id": _text("alert_id", record.alert_id, ID_MAX),
            "revision": record.revision,
            "sender": _text("sender", record.sender, NAME_MAX),
            "sender_code": _text("sender_code", record.sender_code, CODE_MAX, allow_empty=True),
            "sent": to_utc("sent", record.sent),
            "status": _text("status", record.status, CODE_MAX),
            "msg_type": _text("msg_type", record.msg_type, CODE_MAX),
            "kind": _text("kind", record.kind, 64, allow_empty=True),
            "headline": _long("headline", record.headline),
            "area_codes": _json([_text("area_code", c, CODE_MAX) for c in record.area_codes]),
            "state": record.state.value,
            "expires": None if record.expires is None else to_utc("expires", record.expires),
            "received_at": to_utc("received_at", record.received_at),
            "raw_xml": _long("raw_xml", record.raw_xml),
        }
        with self._source(True) as connection:
            clash = connection.execute(
                select(commons_alert.c.message_id)
                .where(commons_alert.c.alert_id == record.alert_id)
                .where(commons_alert.c.revision == record.revision)
            ).first()
            if clash is not None:
                raise AlertDuplicate(
                    f"alert {record.alert_id!r} already has a revision {record.revision}",
                    alert_id=record.alert_id,
                    revision=record.revision,
                )
            seen = connection.execute(
                select(commons_alert.c.message_id).where(commons_alert.c.message_id == record.message_id)
            ).first()
            if seen is not None:
                raise AlertDuplicate(
                    f"alert message {record.message_id!r} was accepted already", message_id=record.message_id
                )
            connection.execute(commons_alert.insert().values(values))

    def get(self, message_id: str) -> AlertRecord | None:
        with self._source(False) as connection:
            row = connection.execute(
                select(commons_alert).where(commons_alert.c.message_id == message_id)
            ).first()
        return None if row is None else _alert(row)

    def revisions(self, alert_id: str) -> list[AlertRecord]:
        query = (
            select(commons_alert)
            .where(commons_alert.c.alert_id == alert_id)
            .order_by(commons_alert.c.revision)
        )
        with self._source(False) as connection:
            return [_alert(row) for row in connection.execute(query)]

    def latest(self, *, limit: int = 100, offset: int = 0) -> list[AlertRecord]:
        newest = (
            select(commons_alert.c.alert_id, func.max(commons_alert.c.revision).label("top"))
            .group_by(commons_alert.c.alert_id)
            .subquery()
        )
        query = (
            select(commons_alert)
            .join(
                newest,
                and_(newest.c.alert_id == commons_alert.c.alert_id, newest.c.top == commons_alert.c.revision),
            )
            .order_by(commons_alert.c.received_at.desc(), commons_alert.c.message_id)
            .limit(limit)
            .offset(offset)
        )
        with self._source(False) as connection:
            return [_alert(row) for row in connection.execute(query)]

    def set_state(self, message_id: str, state: LifecycleState) -> None:
        with self._source(True) as connection:
            connection.execute(
                update(commons_alert)
                .where(commons_alert.c.message_id == message_id)
                .values(state=state.value)
            )


class SqlSubscriberRepository:
    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def add(self, record: SubscriberRecord) -> None:
        if record.created_at is None:
            raise StorageError("a subscriber needs its created_at")
        values = {
            "id": _text("id", record.id, 64),
            "name": _text("name", record.name, NAME_MAX),
            "channel": record.channel.value,
            "webhook_url": _text("webhook_url", record.webhook_url, URL_MAX),
            "secret": _text("secret", record.secret, NAME_MAX),
            "prefectures": _json([_text("prefecture", c, CODE_MAX) for c in record.areas.prefectures]),
            "municipalities": _json(
                [_text("municipality", c, CODE_MAX) for c in record.areas.municipalities]
            ),
            "polygon": _json([[float(a), float(b)] for a, b in record.areas.polygon]),
            "message_types": _json([_text("message_type", t, CODE_MAX) for t in record.message_types]),
            "active": record.active,
            "created_at": to_utc("created_at", record.created_at),
        }
        with self._source(True) as connection:
            connection.execute(commons_subscriber.insert().values(values))

    def get(self, subscriber_id: str) -> SubscriberRecord | None:
        with self._source(False) as connection:
            row = connection.execute(
                select(commons_subscriber).where(commons_subscriber.c.id == subscriber_id)
            ).first()
        return None if row is None else _subscriber(row)

    def all(self, *, active_only: bool = False) -> list[SubscriberRecord]:
        query = select(commons_subscriber).order_by(commons_subscriber.c.created_at, commons_subscriber.c.id)
        if active_only:
            query = query.where(commons_subscriber.c.active.is_(True))
        with self._source(False) as connection:
            return [_subscriber(row) for row in connection.execute(query)]

    def set_active(self, subscriber_id: str, active: bool) -> None:
        with self._source(True) as connection:
            connection.execute(
                update(commons_subscriber)
                .where(commons_subscriber.c.id == subscriber_id)
                .values(active=active)
            )


_FINAL = (DeliveryState.DELIVERED.value, DeliveryState.ACKNOWLEDGED.value, DeliveryState.FAILED.value)


class SqlDeliveryRepository:
    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def add_many(self, records: Sequence[DeliveryRecord]) -> None:
        if not records:
            return
        rows = [
            {
                "id": _text("id", r.id, 64),
                "subscriber_id": r.subscriber_id,
                "message_id": r.message_id,
                "alert_id": r.alert_id,
                "revision": r.revision,
                "channel": r.channel.value,
                "media_type": _text("media_type", r.media_type, 128),
                "body": _long("body", r.body),
                "state": r.state.value,
                "attempts": r.attempts,
                "next_attempt_at": to_utc("next_attempt_at", r.next_attempt_at),
                "created_at": to_utc("created_at", r.created_at),
                "last_attempt_at": None,
                "delivered_at": None,
                "acknowledged_at": None,
                "last_status": None,
                "last_error": None,
                "receipt": None,
            }
            for r in records
        ]
        with self._source(True) as connection:
            connection.execute(commons_delivery.insert(), rows)

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        with self._source(False) as connection:
            row = connection.execute(
                select(commons_delivery).where(commons_delivery.c.id == delivery_id)
            ).first()
        return None if row is None else _delivery(row)

    def for_alert(self, alert_id: str) -> list[DeliveryRecord]:
        query = (
            select(commons_delivery)
            .where(commons_delivery.c.alert_id == alert_id)
            .order_by(commons_delivery.c.revision, commons_delivery.c.created_at, commons_delivery.c.id)
        )
        with self._source(False) as connection:
            return [_delivery(row) for row in connection.execute(query)]

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[DeliveryRecord]:
        now = to_utc("now", now)
        lease_until = to_utc("lease_until", lease_until)
        query = (
            select(commons_delivery)
            .where(commons_delivery.c.state == DeliveryState.PENDING.value)
            .where(commons_delivery.c.next_attempt_at <= now)
            .order_by(commons_delivery.c.next_attempt_at, commons_delivery.c.id)
            .limit(limit)
        )
        with self._source(True) as connection:
            if connection.dialect.name == "postgresql":
                # Concurrent workers each take rows nobody else holds, instead of queueing on the same ones.
                query = query.with_for_update(skip_locked=True)
            rows = list(connection.execute(query))
            if not rows:
                return []
            ids = [row.id for row in rows]
            connection.execute(
                update(commons_delivery)
                .where(commons_delivery.c.id.in_(ids))
                .values(next_attempt_at=lease_until)
            )
        return [_delivery(row) for row in rows]

    def record_outcomes(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        if not outcomes:
            return
        # One executemany per shape of outcome (which columns it sets), not one statement per outcome.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for outcome in outcomes:
            at = to_utc("attempted_at", outcome.attempted_at)
            values: dict[str, Any] = {
                "state": outcome.state.value,
                "last_attempt_at": at,
                "last_status": outcome.status,
                "last_error": None if outcome.error is None else outcome.error[:2000],
            }
            if outcome.state is DeliveryState.PENDING:
                if outcome.next_attempt_at is None:
                    raise StorageError("a pending outcome needs its next_attempt_at")
                values["next_attempt_at"] = to_utc("next_attempt_at", outcome.next_attempt_at)
            if outcome.state in (DeliveryState.DELIVERED, DeliveryState.ACKNOWLEDGED):
                values["delivered_at"] = at
            if outcome.state is DeliveryState.ACKNOWLEDGED:
                values["acknowledged_at"] = at
                values["receipt"] = _long("receipt", outcome.receipt)
            groups[tuple(values)].append(
                {"b_id": outcome.delivery_id, **{f"b_{k}": v for k, v in values.items()}}
            )
        table = commons_delivery
        with self._source(True) as connection:
            for columns, rows in groups.items():
                statement = (
                    update(table)
                    .where(table.c.id == bindparam("b_id"))
                    .where(table.c.state == DeliveryState.PENDING.value)
                    .values(attempts=table.c.attempts + 1, **{c: bindparam(f"b_{c}") for c in columns})
                )
                connection.execute(statement, rows)

    def acknowledge(self, delivery_id: str, at: datetime, receipt: str | None) -> DeliveryRecord | None:
        at = to_utc("at", at)
        receipt = _long("receipt", receipt)
        table = commons_delivery
        with self._source(True) as connection:
            connection.execute(
                update(table)
                .where(table.c.id == delivery_id)
                .where(table.c.state != DeliveryState.ACKNOWLEDGED.value)
                .values(
                    # A receipt may overtake the worker recording the 2xx: it proves delivery too.
                    state=DeliveryState.ACKNOWLEDGED.value,
                    acknowledged_at=at,
                    delivered_at=case((table.c.delivered_at.is_(None), at), else_=table.c.delivered_at),
                    receipt=receipt,
                )
            )
            row = connection.execute(select(table).where(table.c.id == delivery_id)).first()
        return None if row is None else _delivery(row)

    def next_due(self) -> datetime | None:
        query = select(func.min(commons_delivery.c.next_attempt_at)).where(
            commons_delivery.c.state == DeliveryState.PENDING.value
        )
        with self._source(False) as connection:
            value = connection.execute(query).scalar_one_or_none()
        if value is None:
            return None
        assert isinstance(value, datetime)  # min() keeps the column's UtcDateTime type
        return value

    def count_by_state(self) -> dict[DeliveryState, int]:
        query = select(commons_delivery.c.state, func.count()).group_by(commons_delivery.c.state)
        counts = dict.fromkeys(DeliveryState, 0)
        with self._source(False) as connection:
            for state, count in connection.execute(query):
                counts[DeliveryState(state)] = int(count)
        return counts


class SqlFeedRepository:
    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def append(self, entry: FeedEntry) -> int:
        values = {
            "message_id": entry.message_id,
            "alert_id": entry.alert_id,
            "revision": entry.revision,
            "msg_type": entry.msg_type,
            "status": entry.status,
            "title": _long("title", entry.title),
            "summary": _long("summary", entry.summary),
            "published_at": to_utc("published_at", entry.published_at),
        }
        with self._source(True) as connection:
            result = connection.execute(commons_feed_entry.insert().values(values))
            key = result.inserted_primary_key
        if key is None or key[0] is None:  # pragma: no cover - both dialects return it
            raise StorageError("the feed entry got no sequence number")
        return int(key[0])

    def since(self, seq: int, *, limit: int = 500) -> list[FeedEntry]:
        query = (
            select(commons_feed_entry)
            .where(commons_feed_entry.c.seq > seq)
            .order_by(commons_feed_entry.c.seq)
            .limit(limit)
        )
        with self._source(False) as connection:
            return [_entry(row) for row in connection.execute(query)]

    def recent(self, *, limit: int = 50) -> list[FeedEntry]:
        query = select(commons_feed_entry).order_by(commons_feed_entry.c.seq.desc()).limit(limit)
        with self._source(False) as connection:
            return [_entry(row) for row in connection.execute(query)]


class _Repositories:
    def __init__(self, source: ConnectionSource) -> None:
        self._alerts = SqlAlertRepository(source)
        self._subscribers = SqlSubscriberRepository(source)
        self._deliveries = SqlDeliveryRepository(source)
        self._feed = SqlFeedRepository(source)

    @property
    def alerts(self) -> SqlAlertRepository:
        return self._alerts

    @property
    def subscribers(self) -> SqlSubscriberRepository:
        return self._subscribers

    @property
    def deliveries(self) -> SqlDeliveryRepository:
        return self._deliveries

    @property
    def feed(self) -> SqlFeedRepository:
        return self._feed


class _BoundSource:
    """Hands repositories one unit of work's connection, and refuses once that transaction has ended."""

    def __init__(self, connection: Connection) -> None:
        self._connection: Connection | None = connection

    @contextmanager
    def __call__(self, write: bool) -> Iterator[Connection]:
        if self._connection is None:
            raise StorageError("a commons repository was used after its transaction ended")
        yield self._connection

    def release(self) -> None:
        self._connection = None


class SqlCommonsStore(_Repositories):
    """:class:`renkei.commons.ports.CommonsStore` on a connection source
    (``renkei.storage.sql.engine.connection_source(storage)``)."""

    def __init__(self, source: ConnectionSource) -> None:
        super().__init__(source)
        self._source = source

    @contextmanager
    def transaction(self) -> Iterator[_Repositories]:
        """A unit of work: everything done through the yielded repositories commits together."""
        with self._source(True) as connection:
            bound = _BoundSource(connection)
            try:
                yield _Repositories(bound)
            finally:
                bound.release()
