"""The notification outbox on both backends: atomic accept, idempotency, ordering per person, claims with
leases and SKIP LOCKED, dead letters and replay, the cursor feed and the snapshot, measurements."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

import renkei.storage.sql.notifications  # noqa: F401  registers the tables until schema.py imports them
from renkei.exchange.notifications.errors import EventConflict
from renkei.exchange.notifications.models import (
    DeliveryMode,
    DeliveryOutcome,
    DeliveryState,
    NewEvent,
    Subscription,
)
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.notifications import SqlNotificationStore, exchange_delivery, exchange_event
from tests.contract.backends import Backend, examples

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
PUBLISHER = "JP/LG/131016/u01"
TOPIC = "resident-changes"
SUBSCRIBERS = ("JP/LG/131016/u06", "JP/LG/131016/u10")


def _store(backend: Backend) -> SqlNotificationStore:
    return SqlNotificationStore(connection_source(backend.storage))


def _subscribe(
    store: SqlNotificationStore, *subscribers: str, mode: DeliveryMode = DeliveryMode.WEBHOOK
) -> None:
    for subscriber in subscribers:
        url = f"http://127.0.0.1:9/{subscriber}" if mode is DeliveryMode.WEBHOOK else None
        store.put_subscription(Subscription(subscriber, TOPIC, mode, url, "p", None, T0, T0))


def _event(index: int, person: str | None, *, pid: str | None = None, content: str = "x") -> NewEvent:
    return NewEvent(
        index=index,
        publisher=PUBLISHER,
        topic=TOPIC,
        information="resident-record",
        publisher_event_id=pid,
        fingerprint=hashlib.sha256(content.encode()).hexdigest(),
        event_type="201",
        occurred_at=T0,
        person_key=person,
        order_key=person or "t" * 64,
        state_key=hashlib.sha256((person or "").encode()).hexdigest(),
        data={"content": content},
    )


def _everyone(subscriptions: Sequence[Subscription]) -> Sequence[Subscription]:
    return subscriptions


def _counts(backend: Backend) -> tuple[int, int]:
    with connection_source(backend.storage)(False) as connection:
        events = len(list(connection.execute(select(exchange_event.c.sequence))))
        deliveries = len(list(connection.execute(select(exchange_delivery.c.id))))
    return events, deliveries


def _deliver(store: SqlNotificationStore, ids: Sequence[str], at: datetime) -> None:
    store.record([DeliveryOutcome(i, DeliveryState.DELIVERED, at, status=204) for i in ids])


def test_accept_writes_events_and_one_delivery_per_routed_subscriber(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, *SUBSCRIBERS)
    _subscribe(store, "JP/LG/131016/u17", mode=DeliveryMode.POLL)
    accepted = store.accept([_event(0, "a" * 32), _event(1, "b" * 32)], _everyone, T0)
    assert [(a.index, a.sequence, a.deliveries, a.duplicate) for a in accepted] == [
        (0, 1, 2, False),
        (1, 2, 2, False),
    ]
    assert _counts(backend) == (2, 4), "pollers get no delivery rows"
    fanout = store.deliveries(event_id=accepted[0].event_id)
    assert {d.subscriber for d in fanout} == set(SUBSCRIBERS)
    assert all(d.state is DeliveryState.PENDING and d.attempts == 0 for d in fanout)
    only_u06 = store.accept(
        [_event(0, "c" * 32)], lambda s: [x for x in s if x.subscriber.endswith("u06")], T0
    )
    assert only_u06[0].deliveries == 1


def test_a_conflicting_event_refuses_the_whole_batch(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, *SUBSCRIBERS)
    store.accept([_event(0, "a" * 32, pid="e-1", content="first")], _everyone, T0)
    before = _counts(backend)
    batch = [_event(0, "b" * 32, pid="e-2"), _event(1, "a" * 32, pid="e-1", content="changed")]
    with pytest.raises(EventConflict) as raised:
        store.accept(batch, _everyone, T0)
    assert raised.value.detail["index"] == 1
    assert _counts(backend) == before, "nothing of the refused batch was stored"


def test_the_same_publisher_event_id_is_the_same_accepted_event(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, *SUBSCRIBERS)
    (first,) = store.accept([_event(0, "a" * 32, pid="e-1")], _everyone, T0)
    again = store.accept([_event(0, "a" * 32, pid="e-1"), _event(1, "a" * 32, pid="e-1")], _everyone, T0)
    assert [(a.event_id, a.sequence, a.deliveries, a.duplicate) for a in again] == [
        (first.event_id, first.sequence, 2, True)
    ] * 2
    assert _counts(backend) == (1, 2)
    twice = store.accept([_event(0, "b" * 32, pid="e-9"), _event(1, "b" * 32, pid="e-9")], _everyone, T0)
    assert [a.duplicate for a in twice] == [False, True] and twice[0].event_id == twice[1].event_id


def test_only_the_first_undelivered_event_per_person_and_subscriber_is_due(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    store.accept([_event(i, "a" * 32 if i % 2 == 0 else "b" * 32) for i in range(4)], _everyone, T0)
    first = store.claim_due(T0, T0 + LEASE, 100)
    assert [c.event.sequence for c in first] == [1, 2], "one head per person"
    assert first[0].subscription is not None and first[0].subscription.url is not None
    assert store.claim_due(T0, T0 + LEASE, 100) == [], "leased heads block their followers"
    _deliver(store, [first[0].id], T0)
    after = store.claim_due(T0, T0 + LEASE, 100)
    assert [c.event.sequence for c in after] == [3], "person a's next event; b's head is still in flight"


def test_recording_a_delivery_leases_the_same_persons_next_event(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    accepted = store.accept([_event(i, "a" * 32 if i != 1 else "b" * 32) for i in range(4)], _everyone, T0)
    seq = [a.sequence for a in accepted]  # a, b, a, a
    a1, b1 = store.claim_due(T0, T0 + LEASE, 10)
    retry = DeliveryOutcome(b1.id, DeliveryState.PENDING, T0, next_attempt_at=T0 + timedelta(seconds=5))
    followers = store.record_and_follow(
        [(DeliveryOutcome(a1.id, DeliveryState.DELIVERED, T0), a1), (retry, b1)], T0, T0 + LEASE
    )
    assert [f.event.sequence for f in followers] == [seq[2]], "only a delivered person has a follower"
    assert followers[0].order_key == a1.order_key and followers[0].subscription is not None
    assert store.claim_due(T0, T0 + LEASE, 10) == [], "the follower is leased, b is backing off"
    (a2,) = followers
    store.record([DeliveryOutcome(a2.id, DeliveryState.DEAD, T0, error="refused")])
    # A late success of a1 (already recorded) changes nothing; the dead a2 holds a3: no follower.
    assert store.record_and_follow([(DeliveryOutcome(a1.id, DeliveryState.DELIVERED, T0), a1)], T0, T0) == []
    assert store.replay(event_id=a2.event.id, subscriber=None, now=T0 + timedelta(seconds=1)) == 1
    assert (
        store.record_and_follow([(DeliveryOutcome(a1.id, DeliveryState.DELIVERED, T0), a1)], T0, T0) == []
    ), "the replayed head is not due before its time"
    (again,) = store.claim_due(T0 + timedelta(seconds=1), T0 + LEASE, 10)
    (a3,) = store.record_and_follow(
        [(DeliveryOutcome(again.id, DeliveryState.DELIVERED, T0), again)],
        T0 + timedelta(seconds=1),
        T0 + LEASE,
    )
    assert a3.event.sequence == seq[3]


def test_a_dead_letter_holds_later_events_until_it_is_replayed(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    accepted = store.accept([_event(i, "a" * 32) for i in range(3)], _everyone, T0)
    (head,) = store.claim_due(T0, T0 + LEASE, 10)
    store.record([DeliveryOutcome(head.id, DeliveryState.DEAD, T0, status=400, error="HTTP 400")])
    later = T0 + timedelta(hours=1)
    assert store.claim_due(later, later + LEASE, 10) == [], "ordering kept behind the dead letter"
    (dead,) = store.deliveries(state="dead")
    assert (dead.event_id, dead.last_status, dead.attempts) == (accepted[0].event_id, 400, 1)
    assert store.stats(later).dead_letters == 1
    assert store.replay(event_id="no-such-event", subscriber=None, now=later) == 0
    assert store.replay(event_id=accepted[0].event_id, subscriber=None, now=later) == 1
    (again,) = store.claim_due(later, later + LEASE, 10)
    assert (again.id, again.attempts) == (head.id, 0)
    _deliver(store, [again.id], later)
    (second,) = store.claim_due(later, later + LEASE, 10)
    assert second.event.id == accepted[1].event_id


def test_replay_by_subscriber_or_all(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, *SUBSCRIBERS)
    store.accept([_event(0, "a" * 32)], _everyone, T0)
    claimed = store.claim_due(T0, T0 + LEASE, 10)
    store.record([DeliveryOutcome(c.id, DeliveryState.DEAD, T0, error="gone") for c in claimed])
    assert store.replay(event_id=None, subscriber=SUBSCRIBERS[1], now=T0) == 1
    assert [d.subscriber for d in store.deliveries(state="dead")] == [SUBSCRIBERS[0]]
    assert store.replay(event_id=None, subscriber=None, now=T0) == 1
    assert store.deliveries(state="dead") == []


def test_a_claim_killed_with_its_worker_is_due_again_after_the_lease(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    store.accept([_event(0, "a" * 32)], _everyone, T0)
    (claimed,) = store.claim_due(T0, T0 + LEASE, 10)
    # the worker dies here: nothing is recorded
    assert store.claim_due(T0 + LEASE - timedelta(seconds=1), T0 + 2 * LEASE, 10) == []
    (again,) = store.claim_due(T0 + LEASE, T0 + 2 * LEASE, 10)
    assert again.id == claimed.id and again.attempts == 0
    assert store.next_due(T0) == T0 + 2 * LEASE


def test_outcomes_touch_only_pending_deliveries_and_count_attempts(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    store.accept([_event(0, "a" * 32)], _everyone, T0)
    (claimed,) = store.claim_due(T0, T0 + LEASE, 10)
    retry_at = T0 + timedelta(seconds=3)
    store.record(
        [DeliveryOutcome(claimed.id, DeliveryState.PENDING, T0, next_attempt_at=retry_at, status=503)]
    )
    assert store.claim_due(retry_at - timedelta(seconds=1), T0 + LEASE, 10) == []
    assert store.next_due(T0) == retry_at
    (again,) = store.claim_due(retry_at, retry_at + LEASE, 10)
    assert again.attempts == 1
    _deliver(store, [again.id], retry_at)
    store.record([DeliveryOutcome(again.id, DeliveryState.DEAD, retry_at, error="late")])  # ignored
    (view,) = store.deliveries()
    assert (view.state, view.attempts, view.delivered_at, view.last_status) == (
        DeliveryState.DELIVERED,
        2,
        retry_at,
        204,
    )


def test_a_removed_subscription_is_claimed_without_one(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    store.accept([_event(0, "a" * 32)], _everyone, T0)
    assert store.remove_subscription(SUBSCRIBERS[0], TOPIC)
    assert not store.remove_subscription(SUBSCRIBERS[0], TOPIC)
    (claimed,) = store.claim_due(T0, T0 + LEASE, 10)
    assert claimed.subscription is None


def test_subscriptions_are_replaced_in_place(backend: Backend) -> None:
    store = _store(backend)
    first = store.put_subscription(
        Subscription(SUBSCRIBERS[0], TOPIC, DeliveryMode.WEBHOOK, "http://a/", "p", None, T0, T0)
    )
    later = T0 + timedelta(days=1)
    second = store.put_subscription(
        Subscription(SUBSCRIBERS[0], TOPIC, DeliveryMode.POLL, None, "q", "JP/LG/131016", later, later)
    )
    assert second.created_at == first.created_at == T0 and second.updated_at == later
    assert store.subscriptions() == [second]
    assert (second.mode, second.url, second.purpose, second.source) == (
        DeliveryMode.POLL,
        None,
        "q",
        "JP/LG/131016",
    )
    assert store.subscriptions(subscriber="JP/LG/131016/u99") == []
    assert store.subscriptions(topic=TOPIC) == [second]


def test_the_feed_follows_the_cursor_and_the_snapshot_keeps_the_latest_per_key(backend: Backend) -> None:
    store = _store(backend)
    persons = ["a" * 32, "b" * 32, "a" * 32, "c" * 32, "b" * 32]
    accepted = store.accept([_event(i, p, content=str(i)) for i, p in enumerate(persons)], _everyone, T0)
    assert [e.sequence for e in store.feed(PUBLISHER, TOPIC, 0, 2)] == [1, 2]
    assert [e.sequence for e in store.feed(PUBLISHER, TOPIC, 2, 100)] == [3, 4, 5]
    assert store.feed(PUBLISHER, TOPIC, 5, 100) == []
    assert store.feed("JP/LG/131016/u06", TOPIC, 0, 100) == []
    assert store.last_sequence() == 5
    latest = store.snapshot(PUBLISHER, TOPIC, 5, 0, 100)
    assert [(e.sequence, e.data["content"]) for e in latest] == [(3, "2"), (4, "3"), (5, "4")]
    as_of_two = store.snapshot(PUBLISHER, TOPIC, 2, 0, 100)
    assert [e.sequence for e in as_of_two] == [1, 2], "a snapshot as of a sequence ignores later events"
    assert [e.sequence for e in store.snapshot(PUBLISHER, TOPIC, 5, 3, 1)] == [4]
    event = store.event(accepted[0].event_id)
    assert event is not None and event.person_key == "a" * 32 and event.occurred_at == T0


def test_measurements_of_the_outbox(backend: Backend) -> None:
    store = _store(backend)
    assert store.stats(T0).depth == 0 and store.stats(T0).lag_seconds == 0.0
    _subscribe(store, *SUBSCRIBERS)
    store.accept([_event(0, "a" * 32)], _everyone, T0)
    store.accept([_event(0, "b" * 32)], _everyone, T0 + timedelta(seconds=10))
    stats = store.stats(T0 + timedelta(seconds=30))
    assert (stats.depth, stats.dead_letters, stats.lag_seconds) == (4, 0, 30.0)
    claimed = store.claim_due(T0 + timedelta(seconds=30), T0 + timedelta(seconds=90), 100)
    assert len(claimed) == 4
    assert store.stats(T0 + timedelta(seconds=30)).lag_seconds == 0.0, "leased deliveries are not lagging"


def test_concurrent_accepts_get_dense_sequences_in_commit_order(backend: Backend) -> None:
    stores = [_store(backend), SqlNotificationStore(connection_source(backend.open()))]
    _subscribe(stores[0], SUBSCRIBERS[0])
    writers, rounds = 6, 10
    barrier = threading.Barrier(writers)

    def write(n: int) -> list[int]:
        barrier.wait(timeout=30)
        got = []
        for r in range(rounds):
            batch = [_event(i, f"{n:02d}{r:02d}{i:028d}") for i in range(3)]
            got += [a.sequence for a in stores[n % 2].accept(batch, _everyone, T0)]
        return got

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(write, range(writers)))
    for got in results:
        for start in range(0, len(got), 3):
            batch = got[start : start + 3]
            assert batch == list(range(batch[0], batch[0] + 3)), "a batch's sequences are consecutive"
    assert sorted(s for got in results for s in got) == list(range(1, writers * rounds * 3 + 1))


def test_concurrent_claimers_never_get_the_same_delivery(backend: Backend) -> None:
    stores = [_store(backend), SqlNotificationStore(connection_source(backend.open()))]
    _subscribe(stores[0], *SUBSCRIBERS)
    stores[0].accept([_event(i, f"{i:032d}") for i in range(60)], _everyone, T0)
    barrier = threading.Barrier(4)

    def claim(n: int) -> list[str]:
        barrier.wait(timeout=30)
        got: list[str] = []
        while batch := stores[n % 2].claim_due(T0, T0 + LEASE, 7):
            got += [c.id for c in batch]
        return got

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim, range(4)))
    everything = [i for got in results for i in got]
    assert len(everything) == len(set(everything)) == 120


@pytest.mark.parametrize(  # FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has one writer
    "backend", [pytest.param("postgresql", id="postgresql", marks=pytest.mark.pg)], indirect=True
)
def test_postgresql_claims_skip_rows_another_transaction_holds(backend: Backend) -> None:
    store = _store(backend)
    _subscribe(store, SUBSCRIBERS[0])
    store.accept([_event(i, f"{i:032d}") for i in range(4)], _everyone, T0)
    other = backend.open()
    with connection_source(other)(True) as held:
        locked = [
            row.id
            for row in held.execute(
                text("SELECT id FROM exchange_delivery ORDER BY event_sequence LIMIT 2 FOR UPDATE")
            )
        ]
        started = time.monotonic()
        claimed = store.claim_due(T0, T0 + LEASE, 10)
        assert time.monotonic() - started < 2, "the claim skipped the held rows instead of waiting"
        assert {c.id for c in claimed}.isdisjoint(locked) and len(claimed) == 2


@examples
@given(persons=st.lists(st.sampled_from("abc"), min_size=1, max_size=12), failing=st.sets(st.integers(0, 11)))
def test_any_interleaving_delivers_each_person_in_order(
    backend: Backend, persons: list[str], failing: set[int]
) -> None:
    """Whatever fails once, a subscriber gets every person's events in acceptance order."""
    store = _store(backend)
    subscriber = f"JP/LG/131016/u{len(store.subscriptions()) + 5:02d}"
    store.put_subscription(
        Subscription(subscriber, TOPIC, DeliveryMode.WEBHOOK, "http://x/", "p", None, T0, T0)
    )
    accepted = store.accept(
        [_event(i, p * 32) for i, p in enumerate(persons)],
        lambda s: [x for x in s if x.subscriber == subscriber],
        T0,
    )
    order = {a.sequence: p for a, p in zip(accepted, persons, strict=True)}
    seen: dict[str, list[int]] = {}
    failed: set[int] = set()
    now = T0
    for _ in range(10 * len(persons)):
        claimed = [c for c in store.claim_due(now, now + LEASE, 5) if c.subscriber == subscriber]
        if not claimed:
            now += LEASE
            continue
        outcomes = []
        for c in claimed:
            index = c.event.sequence - accepted[0].sequence
            if index in failing and index not in failed:
                failed.add(index)
                outcomes.append(DeliveryOutcome(c.id, DeliveryState.PENDING, now, next_attempt_at=now))
            else:
                seen.setdefault(order[c.event.sequence], []).append(c.event.sequence)
                outcomes.append(DeliveryOutcome(c.id, DeliveryState.DELIVERED, now))
        store.record(outcomes)
    for person, sequences in seen.items():
        assert sequences == sorted(s for s, p in order.items() if p == person)
    assert sum(len(s) for s in seen.values()) == len(persons)
