"""Delivery: signatures, backoff, matching, and the worker against real HTTP receivers on loopback
(failing, hanging and slow subscribers never delay the healthy ones; a crash loses no delivery)."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renkei.commons.delivery.signing import DELIVERY_HEADER, verify
from renkei.commons.delivery.worker import DeliveryWorker, delivery_client, running
from renkei.commons.model import MessageKind, MsgType, Status
from renkei.commons.ports import AreaFilter, Channel, DeliveryRecord, DeliveryState, SubscriberRecord
from renkei.commons.service import CommonsService, Draft
from renkei.net.retry import RetryPolicy
from renkei.storage.clock import SystemClock
from renkei.storage.ports import Storage
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage

SECRET = "s3cret-for-tests-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Receiver:
    """Webhook receivers on one loopback server: ``/hook/{name}`` behaves as ``modes[name]`` says."""

    modes: dict[str, str] = field(default_factory=dict)
    hits: list[tuple[str, str, float, bool]] = field(default_factory=list)  # name, delivery id, time, sig ok
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            name = request.path_params["name"]
            body = await request.body()
            ok = verify(SECRET, request.headers, body, now=time.time())
            with self.lock:
                self.hits.append((name, request.headers.get(DELIVERY_HEADER, ""), time.monotonic(), ok))
            mode = self.modes.get(name, "ok")
            if mode == "fail":
                return Response("boom", status_code=500)
            if mode == "hang":
                await asyncio.sleep(30)
            if mode == "slow":
                await asyncio.sleep(0.05)
            if mode == "ack":
                return JSONResponse({"受領": True})
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"])])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def ids(self, name: str | None = None) -> list[str]:
        with self.lock:
            return [h[1] for h in self.hits if name is None or h[0] == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(port=free_port())
    config = uvicorn.Config(
        made.app(),
        host="127.0.0.1",
        port=made.port,
        log_level="error",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.01)
    try:
        yield made
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with create_storage(f"sqlite:///{tmp_path / 'commons.db'}") as opened:
        yield opened


def service_on(storage: Storage) -> CommonsService:
    return CommonsService(SqlCommonsStore(connection_source(storage)), SystemClock())


def evacuation(status: Status = Status.ACTUAL) -> Draft:
    return Draft(
        kind=MessageKind.EVACUATION,
        sender="bousai@city.kurashiki.okayama.jp",
        sender_name="倉敷市",
        sender_code="332020",
        area_desc="真備町",
        area_codes=("332020",),
        headline="真備町に避難指示",
        description="小田川の水位が上昇しています。",
        instruction="直ちに避難してください。",
        status=status,
        details={"発令区分": "避難指示", "地区": "真備町", "対象世帯数": "8000"},
    )


def subscribe(service: CommonsService, receiver: Receiver, name: str, **kw: object) -> SubscriberRecord:
    return service.register_subscriber(
        name=name,
        channel=Channel.TV,
        webhook_url=receiver.url(name),
        secret=SECRET,
        **kw,  # type: ignore[arg-type]
    )


async def until(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_signatures_verify_and_refuse_tampering() -> None:
    from renkei.commons.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

    now = 1_750_000_000
    headers = {
        TIMESTAMP_HEADER: str(now),
        DELIVERY_HEADER: "d1",
        SIGNATURE_HEADER: signature("k" * 20, str(now), "d1", "避難指示".encode()),
    }
    assert verify("k" * 20, headers, "避難指示".encode(), now=now + 10)
    assert not verify("k" * 20, headers, "避難勧告".encode(), now=now)
    assert not verify("x" * 20, headers, "避難指示".encode(), now=now)
    assert not verify("k" * 20, headers, "避難指示".encode(), now=now + 3600)
    assert not verify("k" * 20, {**headers, DELIVERY_HEADER: "d2"}, "避難指示".encode(), now=now)


def test_backoff_grows_with_jitter_and_ends() -> None:
    policy = RetryPolicy(max_attempts=4, base_s=1, cap_s=3)
    rng = random.Random(7)
    waits = [policy.backoff(n, rng) for n in (1, 2, 3)]
    assert [w is not None for w in waits] == [True, True, True]
    assert timedelta(seconds=0.5) <= waits[0] <= timedelta(seconds=1)  # type: ignore[operator]
    assert timedelta(seconds=1) <= waits[1] <= timedelta(seconds=2)  # type: ignore[operator]
    assert timedelta(seconds=1.5) <= waits[2] <= timedelta(seconds=3)  # type: ignore[operator]
    assert policy.backoff(4, rng) is None


def test_subscribers_get_only_their_areas_and_types(storage: Storage, receiver: Receiver) -> None:
    service = service_on(storage)
    subscribe(service, receiver, "okayama", areas=AreaFilter(prefectures=("33",)))
    subscribe(service, receiver, "kurashiki5", areas=AreaFilter(municipalities=("33202",)))
    subscribe(service, receiver, "tokyo", areas=AreaFilter(prefectures=("13",)))
    subscribe(service, receiver, "updates-only", message_types=("Update",))
    subscribe(service, receiver, "everyone")
    accepted = service.submit_draft(evacuation())
    assert accepted.deliveries == 3
    names = {s.id: s.webhook_url.rsplit("/", 1)[1] for s in service.subscribers()}
    got = {names[d.subscriber_id] for d in service.deliveries(accepted.record.alert_id)}
    assert got == {"okayama", "kurashiki5", "everyone"}


def test_polygon_filters_match_points_inside(storage: Storage) -> None:
    from renkei.commons.delivery.matching import inside

    square = ((34.0, 133.0), (35.0, 133.0), (35.0, 134.0), (34.0, 134.0))
    assert inside((34.5, 133.5), square)
    assert not inside((35.5, 133.5), square)


def test_healthy_subscribers_are_not_slowed_by_failing_hanging_or_dead_ones(
    storage: Storage, receiver: Receiver
) -> None:
    service = service_on(storage)
    receiver.modes.update({"fail": "fail", "hang": "hang", "ack": "ack"})
    for name in ["h1", "h2", "h3", "h4", "ack", "fail", "hang"]:
        subscribe(service, receiver, name)
    # a subscriber whose server is gone: connection refused
    service.register_subscriber(
        name="dead", channel=Channel.RADIO, webhook_url=f"http://127.0.0.1:{free_port()}/x", secret=SECRET
    )
    policy = RetryPolicy(max_attempts=3, base_s=0.05, cap_s=0.2, timeout_s=1.0)

    async def scenario() -> float:
        async with delivery_client(policy) as client:
            worker = DeliveryWorker(
                service.store,
                client,
                SystemClock(),
                policy=policy,
                signal=service.signal,
                poll_interval_s=0.05,
            )
            async with running(worker):
                started = time.monotonic()
                accepted = await asyncio.to_thread(service.submit_draft, evacuation())
                await until(lambda: all(receiver.ids(n) for n in ["h1", "h2", "h3", "h4", "ack"]), 5)
                healthy_after = time.monotonic() - started

                def settled() -> bool:
                    return all(
                        d.state is not DeliveryState.PENDING
                        for d in service.deliveries(accepted.record.alert_id)
                    )

                await until(settled, 15)
        return healthy_after

    healthy_after = asyncio.run(scenario())
    assert healthy_after < 1.0, f"healthy subscribers waited {healthy_after:.2f} s"
    states = {d.subscriber_id: d for d in service.deliveries(service.alerts()[0][0].alert_id)}
    by_name = {s.name: states[s.id] for s in service.subscribers()}
    assert {n: by_name[n].state for n in by_name} == {
        "h1": DeliveryState.DELIVERED,
        "h2": DeliveryState.DELIVERED,
        "h3": DeliveryState.DELIVERED,
        "h4": DeliveryState.DELIVERED,
        "ack": DeliveryState.ACKNOWLEDGED,
        "fail": DeliveryState.FAILED,
        "hang": DeliveryState.FAILED,
        "dead": DeliveryState.FAILED,
    }
    assert by_name["ack"].receipt == '{"受領":true}'
    assert by_name["fail"].attempts == 3
    assert by_name["fail"].last_status == 500
    assert len(receiver.ids("fail")) == 3
    assert "1 s" in (by_name["hang"].last_error or "")
    assert all(ok for *_, ok in receiver.hits), "every push is signed with the subscriber's secret"


def test_a_crash_mid_delivery_loses_nothing_and_receivers_deduplicate(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    count = 60
    for i in range(count):
        receiver.modes[f"r{i}"] = "slow"
    with create_storage(url) as first_storage:
        service = service_on(first_storage)
        for i in range(count):
            subscribe(service, receiver, f"r{i}")
        accepted = service.submit_draft(evacuation())
        assert accepted.deliveries == count

        async def crash() -> None:
            async with delivery_client() as client:
                worker = DeliveryWorker(
                    service.store, client, SystemClock(), concurrency=8, lease=timedelta(seconds=0.5)
                )
                task = asyncio.create_task(worker.run())
                await until(lambda: len(receiver.ids()) >= 10, 10)
                task.cancel()  # the process dies: in-flight pushes and unrecorded outcomes are lost
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(crash())
    before = len(set(receiver.ids()))
    assert 10 <= before < count

    with create_storage(url) as second_storage:  # a new process over the same database
        service = service_on(second_storage)

        async def resume() -> None:
            async with delivery_client() as client:
                worker = DeliveryWorker(service.store, client, SystemClock(), poll_interval_s=0.05)
                async with running(worker):
                    await until(
                        lambda: service.store.deliveries.count_by_state()[DeliveryState.PENDING] == 0, 15
                    )

        asyncio.run(resume())
        deliveries = service.deliveries(accepted.record.alert_id)
    assert {d.state for d in deliveries} == {DeliveryState.DELIVERED}
    assert set(receiver.ids()) == {d.id for d in deliveries}, "every delivery arrived (de-duplicated by id)"


def test_drills_are_labelled_in_every_rendering(storage: Storage) -> None:
    service = service_on(storage)
    accepted = service.submit_draft(evacuation(Status.EXERCISE))
    assert accepted.record.headline.startswith("【訓練】")
    view = service.alert(accepted.record.alert_id)
    for rendering in service.render(view.alert):
        if rendering.channel is Channel.RADIO:  # read aloud: the label is spoken, first and last
            assert rendering.body.startswith("これは訓練です。"), rendering.body
            assert rendering.body.endswith("これは訓練です。"), rendering.body
        elif rendering.channel is not Channel.CAP:
            assert "【訓練】" in rendering.body, rendering.channel


def test_updates_supersede_and_cancels_cancel_the_chain(storage: Storage) -> None:
    service = service_on(storage)
    first = service.submit_draft(evacuation()).record
    update = replace(evacuation(), msg_type=MsgType.UPDATE, replaces=first.message_id)
    second = service.submit_draft(update).record
    assert (second.alert_id, second.revision) == (first.alert_id, 2)
    assert [r.state.value for r in service.alert(first.alert_id).revisions] == ["superseded", "active"]
    cancel = replace(evacuation(), msg_type=MsgType.CANCEL, replaces=second.message_id)
    service.submit_draft(cancel)
    view = service.alert(first.alert_id)
    assert [r.state.value for r in view.revisions] == ["cancelled"] * 3
    assert view.state.value == "cancelled"
    assert datetime.now(UTC) > view.current.received_at


def test_deliveries_accepted_while_a_worker_runs_are_handed_to_it_without_a_claim(
    storage: Storage, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_on(storage)
    for name in ("a", "b", "c"):
        subscribe(service, receiver, name)
    repository = service.store.deliveries
    claim_due = repository.claim_due
    claimed: list[str] = []

    def counting_claim(now: datetime, lease_until: datetime, limit: int) -> list[DeliveryRecord]:
        found = claim_due(now, lease_until, limit)
        claimed.extend(d.id for d in found)
        return found

    monkeypatch.setattr(repository, "claim_due", counting_claim)

    async def scenario() -> str:
        async with delivery_client() as client:
            worker = DeliveryWorker(
                service.store, client, SystemClock(), signal=service.signal, poll_interval_s=0.05
            )
            async with running(worker):
                await until(lambda: service.signal.has_taker, 5)
                accepted = await asyncio.to_thread(service.submit_draft, evacuation())
                await until(lambda: len(receiver.ids()) == 3, 5)
                await until(
                    lambda: all(
                        d.state is DeliveryState.DELIVERED
                        for d in service.deliveries(accepted.record.alert_id)
                    ),
                    5,
                )
        return accepted.record.alert_id

    alert_id = asyncio.run(scenario())
    assert not service.signal.has_taker, "a stopped worker takes nothing more"
    deliveries = service.deliveries(alert_id)
    assert claimed == [], "handed over, not claimed"
    assert sorted(receiver.ids()) == sorted(d.id for d in deliveries)
    assert all(d.attempts == 1 for d in deliveries)
    assert all(ok for *_, ok in receiver.hits), "hand-overs are signed like every push"
    # with no worker running, a new alert is left due now for whichever worker claims it
    later = service.submit_draft(evacuation())
    assert all(
        d.next_attempt_at == later.record.received_at for d in service.deliveries(later.record.alert_id)
    )
