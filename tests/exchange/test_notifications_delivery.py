"""Delivery of change notifications under faults, with an injected clock: the backoff schedule, dead letters
holding later events for the same person, replay (over HTTP and by the operator), a subscription removed
with events in flight, and a worker killed mid-push whose lease runs out (the restart path)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from renkei.exchange.notifications.models import DeliveryState, DeliveryView
from renkei.exchange.notifications.worker import NotificationWorker, permanent, running, webhook_client
from renkei.net.http import HttpClient
from renkei.net.retry import RetryPolicy
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock, SystemClock
from tests.exchange.notifications_harness import (
    CHIYODA,
    TOPIC,
    World,
    database,
    event,
    running_world,
    wait_for,
)

T0 = datetime.now(UTC).replace(microsecond=0)
POLICY = RetryPolicy(max_attempts=3, base_s=10.0, cap_s=60.0, timeout_s=5.0)
U06, U15 = f"{CHIYODA}/u06", f"{CHIYODA}/u15"
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as made:
        yield made


def _view(world: World, event_id: str, subscriber: str) -> DeliveryView:
    (found,) = [d for d in world.hub.deliveries(event_id) if d.subscriber == subscriber]
    return found


def _subscribe(world: World, *hooks: str) -> None:
    for hook in hooks:
        world.hub.subscribe(
            f"{CHIYODA}/{hook}", TOPIC, url=world.receivers.hook(hook), purpose="child-allowance"
        )


def test_statuses_that_end_a_delivery_at_once() -> None:
    assert [s for s in (400, 401, 403, 404, 408, 410, 413, 422, 425, 429) if permanent(s)] == [
        400,
        401,
        403,
        404,
        410,
        413,
        422,
    ]
    assert not any(permanent(s) for s in (200, 204, 301, 500, 502, 503, 504))


def test_backoff_follows_the_policy_then_a_dead_letter_holds_the_person_until_replayed(
    url: str, spec: Spec
) -> None:
    clock = FixedClock(T0)
    with running_world(url, spec, clock, policy=POLICY, rng=random.Random(7), poll_interval_s=0.05) as world:
        _subscribe(world, "u06", "u15")
        world.receivers.refuse["u06"] = 503
        draws = random.Random(7)
        w1, w2 = POLICY.backoff(1, draws), POLICY.backoff(2, draws)
        assert w1 is not None and w2 is not None
        assert timedelta(seconds=5) <= w1 <= timedelta(seconds=10) <= w2 <= timedelta(seconds=20)
        a = world.persons["a"]
        e1 = world.publish(event(a, "101")).json()["accepted"][0]["event_id"]
        wait_for(lambda: _view(world, e1, U06).attempts == 1, what="the first attempt recorded")
        first = _view(world, e1, U06)
        assert (first.state, first.next_attempt_at, first.last_status) == (
            DeliveryState.PENDING,
            T0 + w1,
            503,
        )
        e2 = world.publish(event(a, "201")).json()["accepted"][0]["event_id"]
        wait_for(lambda: len(world.receivers.delivered("u15")) == 2, what="the healthy subscriber")

        clock.set(T0 + w1 - timedelta(milliseconds=1))
        world.worker.wake()
        time.sleep(0.3)
        assert len(world.receivers.of("u06")) == 1, "not before its time"
        clock.set(T0 + w1)
        world.worker.wake()
        wait_for(lambda: _view(world, e1, U06).attempts == 2, what="the second attempt")
        assert _view(world, e1, U06).next_attempt_at == T0 + w1 + w2
        clock.set(T0 + w1 + w2)
        world.worker.wake()
        wait_for(lambda: _view(world, e1, U06).state is DeliveryState.DEAD, what="the dead letter")
        dead = _view(world, e1, U06)
        assert dead.attempts == 3 and dead.last_error is not None and "503" in dead.last_error
        assert [h.headers["x-renkei-attempt"] for h in world.receivers.of("u06")] == ["1", "2", "3"]

        clock.advance(timedelta(hours=1))
        world.worker.wake()
        time.sleep(0.3)
        assert {h.body["event_id"] for h in world.receivers.of("u06")} == {e1}, "e2 waits behind e1"
        stats = world.hub.stats()
        assert (stats.depth, stats.dead_letters) == (1, 1) and stats.lag_seconds >= 3600

        listed = world.request("GET", f"/r1/{U06}/dead-letters/{TOPIC}", who=U06)
        assert [d["event_id"] for d in listed.json()["dead_letters"]] == [e1]
        other = world.request("GET", f"/r1/{U15}/dead-letters/{TOPIC}", who=U06)
        assert other.status_code == 403 and other.json()["rule"] == "client.self"
        del world.receivers.refuse["u06"]
        replayed = world.request("POST", f"/r1/{U06}/dead-letters/{TOPIC}/replay", {}, who=U06)
        assert replayed.json() == {"subscriber": U06, "topic": TOPIC, "replayed": 1}
        wait_for(lambda: len(world.receivers.delivered("u06")) == 2, what="the replay")
        assert [e["event_id"] for e in world.receivers.delivered("u06")] == [e1, e2]
        wait_for(lambda: world.hub.stats().depth == 0, what="the outbox drained")
        assert world.hub.stats().dead_letters == 0


def test_a_refusal_is_dead_at_once_and_the_operator_replays_it(url: str, spec: Spec) -> None:
    with running_world(url, spec, SystemClock()) as world:
        _subscribe(world, "u06", "u15")
        world.receivers.refuse["u15"] = 422
        a, b = world.persons["a"], world.persons["b"]
        accepted = world.publish({"events": [event(a, "101"), event(b, "102"), event(a, "201")]}).json()
        ids = [x["event_id"] for x in accepted["accepted"]]
        wait_for(lambda: len(world.receivers.delivered("u06")) == 3, what="the healthy subscriber")
        wait_for(lambda: len(world.hub.dead_letters()) == 2, what="the refusals")
        assert {d.event_id for d in world.hub.dead_letters(subscriber=U15)} == {ids[0], ids[1]}
        assert all(d.attempts == 1 and d.last_status == 422 for d in world.hub.dead_letters())
        assert {h.body["event_id"] for h in world.receivers.of("u15")} == {ids[0], ids[1]}, "a's 2nd waits"
        del world.receivers.refuse["u15"]
        assert world.hub.replay(event_id=ids[0]) == 1
        wait_for(lambda: len(world.receivers.delivered("u15")) == 2, what="a's events after the replay")
        assert [e["event_id"] for e in world.receivers.delivered("u15")] == [ids[0], ids[2]]
        assert world.hub.replay(subscriber=U15) == 1
        wait_for(lambda: len(world.receivers.delivered("u15")) == 3, what="b's event")
        assert world.hub.replay() == 0


def test_events_of_a_removed_subscription_become_dead_letters(url: str, spec: Spec) -> None:
    clock = FixedClock(T0)
    with running_world(url, spec, clock, policy=POLICY, poll_interval_s=0.05) as world:
        # A webhook nobody answers: the first attempt fails to connect and is retried later.
        world.hub.subscribe(U06, TOPIC, url="http://127.0.0.1:9/hook", purpose="child-allowance")
        e1 = world.publish(event(world.persons["a"])).json()["accepted"][0]["event_id"]
        wait_for(lambda: _view(world, e1, U06).attempts == 1, what="the failed attempt")
        gone = world.request("DELETE", f"/r1/{U06}/subscriptions/{TOPIC}", who=U06)
        assert gone.status_code == 200 and gone.json()["removed"] is True
        clock.advance(timedelta(minutes=1))
        world.worker.wake()
        wait_for(lambda: _view(world, e1, U06).state is DeliveryState.DEAD, what="the dead letter")
        assert (_view(world, e1, U06).last_error or "").startswith("exchange.subscription.unknown")


def test_a_push_cut_off_by_a_crash_is_sent_again_once_its_lease_ends(url: str, spec: Spec) -> None:
    clock = FixedClock(T0)
    lease = timedelta(seconds=60)
    with running_world(url, spec, clock, worker=False) as world:
        _subscribe(world, "u06")
        world.receivers.script[("u06", "101")] = [0]  # the receiver takes it, then hangs before answering
        world.receivers.hang_s = 2.0
        e1 = world.publish(event(world.persons["a"], "101")).json()["accepted"][0]["event_id"]

        async def until(condition: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 15
            while not condition():
                assert time.monotonic() < deadline, "timed out"
                await asyncio.sleep(0.02)

        def worker(client: HttpClient) -> NotificationWorker:
            return NotificationWorker(world.hub, client, policy=POLICY, lease=lease, poll_interval_s=0.05)

        async def scenario() -> None:
            async with webhook_client() as client:
                doomed = asyncio.create_task(worker(client).run())
                await until(lambda: len(world.receivers.of("u06")) == 1)
                doomed.cancel()  # the process dies mid-push: nothing is recorded
                with contextlib.suppress(asyncio.CancelledError):
                    await doomed
            leased = _view(world, e1, U06)
            assert (leased.state, leased.attempts, leased.next_attempt_at) == (
                DeliveryState.PENDING,
                0,
                T0 + lease,
            )
            async with webhook_client() as client, running(worker(client)) as restarted:
                clock.set(T0 + lease - timedelta(seconds=1))
                restarted.wake()
                await asyncio.sleep(0.3)
                assert len(world.receivers.of("u06")) == 1, "still leased to the dead worker"
                clock.set(T0 + lease)
                restarted.wake()
                await until(lambda: _view(world, e1, U06).state is DeliveryState.DELIVERED)

        asyncio.run(scenario())
        assert [h.body["event_id"] for h in world.receivers.of("u06")] == [e1, e1], "at least once"
        assert len(world.receivers.delivered("u06")) == 1, "exactly once in effect"
        assert len(world.access_records()) == 2
