"""The Commons storage adapter (alerts, subscribers, deliveries, feed) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
from renkei.storage.errors import StorageValueInvalid
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source
from tests.contract.backends import Backend

T0 = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)


def _store(backend: Backend) -> SqlCommonsStore:
    return SqlCommonsStore(connection_source(backend.storage))


def _alert(message_id: str = "m1", alert_id: str = "a1", revision: int = 1, **changes: object) -> AlertRecord:
    values: dict[str, object] = {
        "message_id": message_id,
        "alert_id": alert_id,
        "revision": revision,
        "sender": "kurashiki@example.lg.jp",
        "sender_code": "332020",
        "sent": T0,
        "status": "Actual",
        "msg_type": "Alert" if revision == 1 else "Update",
        "kind": "避難情報",
        "headline": "避難指示 真備町",
        "area_codes": ("332020",),
        "state": LifecycleState.ACTIVE,
        "received_at": T0 + timedelta(seconds=revision),
        "raw_xml": "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>𠮷</alert>",
    }
    values.update(changes)
    return AlertRecord(**values)  # type: ignore[arg-type]


def _subscriber(sid: str = "s1", **changes: object) -> SubscriberRecord:
    values: dict[str, object] = {
        "id": sid,
        "name": "山陽放送",
        "channel": Channel.TV,
        "webhook_url": "http://127.0.0.1:9/hook",
        "secret": "k" * 32,
        "areas": AreaFilter(prefectures=("33",), polygon=((34.6, 133.7), (34.7, 133.8), (34.6, 133.9))),
        "message_types": ("Alert", "Update"),
        "created_at": T0,
    }
    values.update(changes)
    return SubscriberRecord(**values)  # type: ignore[arg-type]


def _delivery(did: str, subscriber: str = "s1", message_id: str = "m1", due: datetime = T0) -> DeliveryRecord:
    return DeliveryRecord(
        id=did,
        subscriber_id=subscriber,
        message_id=message_id,
        alert_id="a1",
        revision=1,
        channel=Channel.TV,
        media_type="text/plain; charset=utf-8",
        body="【避難指示】真備町",
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=due,
        created_at=T0,
    )


def test_alerts_round_trip_and_latest_revision_per_chain(backend: Backend) -> None:
    store = _store(backend)
    first = _alert()
    store.alerts.add(first)
    assert store.alerts.get("m1") == first
    second = _alert("m2", revision=2, expires=T0 + timedelta(hours=6))
    store.alerts.add(second)
    other = _alert("m3", alert_id="a2", received_at=T0 + timedelta(minutes=5))
    store.alerts.add(other)
    store.alerts.set_state("m1", LifecycleState.SUPERSEDED)
    assert [r.message_id for r in store.alerts.revisions("a1")] == ["m1", "m2"]
    assert store.alerts.revisions("a1")[0].state is LifecycleState.SUPERSEDED
    assert [r.message_id for r in store.alerts.latest()] == ["m3", "m2"]
    assert store.alerts.latest(limit=1, offset=1) == [second]
    assert store.alerts.get("nope") is None


def test_a_message_or_a_revision_is_accepted_once(backend: Backend) -> None:
    store = _store(backend)
    store.alerts.add(_alert())
    with pytest.raises(AlertDuplicate):
        store.alerts.add(_alert())
    with pytest.raises(AlertDuplicate):
        store.alerts.add(_alert("m9"))  # another message claiming revision 1 of a1
    with pytest.raises(StorageValueInvalid):
        store.alerts.add(_alert("bad\x00id"))


def test_subscribers_round_trip(backend: Backend) -> None:
    store = _store(backend)
    subscriber = _subscriber()
    store.subscribers.add(subscriber)
    store.subscribers.add(
        _subscriber("s2", channel=Channel.CARRIER_MAIL, areas=AreaFilter(), message_types=())
    )
    assert store.subscribers.get("s1") == subscriber
    store.subscribers.set_active("s2", False)
    assert [s.id for s in store.subscribers.all()] == ["s1", "s2"]
    assert [s.id for s in store.subscribers.all(active_only=True)] == ["s1"]


def test_an_accepting_transaction_commits_everything_or_nothing(backend: Backend) -> None:
    store = _store(backend)
    store.subscribers.add(_subscriber())

    class BoomError(Exception):
        pass

    def fail_midway() -> None:
        with store.transaction() as tx:
            tx.alerts.add(_alert())
            tx.deliveries.add_many([_delivery("d1")])
            tx.feed.append(FeedEntry(0, "m1", "a1", 1, "Alert", "Actual", "t", "s", T0))
            raise BoomError

    with pytest.raises(BoomError):
        fail_midway()
    assert store.alerts.get("m1") is None
    assert store.deliveries.get("d1") is None
    assert store.feed.recent() == []

    with store.transaction() as tx:
        tx.alerts.add(_alert())
        tx.deliveries.add_many([_delivery("d1")])
        seq = tx.feed.append(FeedEntry(0, "m1", "a1", 1, "Alert", "Actual", "題", "要約", T0))
    assert store.deliveries.get("d1") == _delivery("d1")
    assert [e.seq for e in store.feed.recent()] == [seq]


def test_claiming_leases_due_deliveries_once(backend: Backend) -> None:
    store = _store(backend)
    for i in range(5):
        store.subscribers.add(_subscriber(f"s{i}"))
    store.alerts.add(_alert())
    store.deliveries.add_many([_delivery(f"d{i}", f"s{i}", due=T0 + timedelta(seconds=i)) for i in range(5)])
    assert store.deliveries.next_due() == T0
    lease = T0 + timedelta(minutes=1)
    claimed = store.deliveries.claim_due(T0 + timedelta(seconds=2), lease, limit=10)
    assert [d.id for d in claimed] == ["d0", "d1", "d2"]
    again = store.deliveries.claim_due(T0 + timedelta(seconds=2), lease, limit=10)
    assert again == []
    assert [d.id for d in store.deliveries.claim_due(T0 + timedelta(seconds=9), lease, limit=1)] == ["d3"]
    # a dead worker's lease runs out: the delivery is due again
    assert {d.id for d in store.deliveries.claim_due(lease, lease + timedelta(minutes=1), limit=10)} == {
        "d0",
        "d1",
        "d2",
        "d3",
        "d4",
    }


def test_outcomes_retry_deliver_fail_and_acknowledge(backend: Backend) -> None:
    store = _store(backend)
    for i in range(4):
        store.subscribers.add(_subscriber(f"s{i}"))
    store.alerts.add(_alert())
    store.deliveries.add_many([_delivery(f"d{i}", f"s{i}") for i in range(4)])
    at = T0 + timedelta(seconds=1)
    retry = T0 + timedelta(seconds=30)
    store.deliveries.record_outcomes(
        [
            DeliveryOutcome(
                "d0", DeliveryState.PENDING, at, next_attempt_at=retry, status=500, error="HTTP 500"
            ),
            DeliveryOutcome("d1", DeliveryState.DELIVERED, at, status=200),
            DeliveryOutcome("d2", DeliveryState.ACKNOWLEDGED, at, status=200, receipt='{"ok":true}'),
            DeliveryOutcome("d3", DeliveryState.FAILED, at, error="timeout"),
        ]
    )
    d0, d1, d2, d3 = (store.deliveries.get(f"d{i}") for i in range(4))
    assert d0 is not None
    assert d0.state is DeliveryState.PENDING
    assert d0.attempts == 1
    assert d0.next_attempt_at == retry
    assert d0.last_status == 500
    assert d1 is not None
    assert d1.state is DeliveryState.DELIVERED
    assert d1.delivered_at == at
    assert d2 is not None
    assert d2.state is DeliveryState.ACKNOWLEDGED
    assert d2.receipt == '{"ok":true}'
    assert d3 is not None
    assert d3.state is DeliveryState.FAILED
    assert d3.last_error == "timeout"
    # a late outcome for a finished delivery changes nothing
    store.deliveries.record_outcomes([DeliveryOutcome("d3", DeliveryState.DELIVERED, at)])
    assert store.deliveries.get("d3") == d3
    ack_at = T0 + timedelta(minutes=2)
    acked = store.deliveries.acknowledge("d1", ack_at, "受領しました")
    assert acked is not None
    assert acked.state is DeliveryState.ACKNOWLEDGED
    assert acked.acknowledged_at == ack_at
    assert acked.delivered_at == at
    assert store.deliveries.acknowledge("d1", ack_at + timedelta(minutes=1), "again") == acked
    assert store.deliveries.acknowledge("missing", ack_at, None) is None
    counts = store.deliveries.count_by_state()
    assert counts[DeliveryState.ACKNOWLEDGED] == 2
    assert counts[DeliveryState.FAILED] == 1
    assert [d.id for d in store.deliveries.for_alert("a1")] == ["d0", "d1", "d2", "d3"]
    assert store.deliveries.next_due() == retry


def test_the_feed_is_append_only_and_ordered(backend: Backend) -> None:
    store = _store(backend)
    for i in range(3):
        store.alerts.add(_alert(f"m{i}", alert_id=f"a{i}"))
    seqs = [
        store.feed.append(FeedEntry(0, f"m{i}", f"a{i}", 1, "Alert", "Actual", f"題{i}", "要約", T0))
        for i in range(3)
    ]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    assert [e.title for e in store.feed.since(seqs[0])] == ["題1", "題2"]
    assert [e.title for e in store.feed.recent(limit=2)] == ["題2", "題1"]
    assert store.feed.since(seqs[-1]) == []


def test_the_commons_migration_makes_exactly_the_commons_tables(backend: Backend) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from renkei.storage.sql.backend import build_engine
    from renkei.storage.sql.tables import metadata

    engine = build_engine(backend.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            # Only the Commons' tables: other contexts' branches are checked by their own suites.
            diffs = [d for d in compare_metadata(context, metadata) if "commons_" in repr(d)]
    finally:
        engine.dispose()
    assert diffs == []
