"""The demo municipality's notifications end to end over real HTTP: ``seed_demo`` subscribes the simulated
member systems, 住基 (u01) publishes with ``renkei exchange publish``, the simulated u06 / u10 / u15
receive it (hub signature checked, de-duplicated), u17 polls with ``renkei exchange feed``, and the
operator's commands list subscriptions, deliveries and dead letters and replay them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from renkei.api import notifications as notifications_api
from renkei.api.deps import Platform
from renkei.api.errors import install_error_handlers
from renkei.app import build_platform
from renkei.cli.main import app as cli
from renkei.demo.members import EventInbox, MemberSystems, build_member_app
from renkei.demo.population import Population, generate_population
from renkei.demo.records import population_records
from renkei.demo.seed import MEMBERS_PATH, seed_demo, seed_subscriptions
from renkei.exchange.notifications.service import NotificationHub
from renkei.exchange.signing import HUB_KEY_NAME, HubSigner
from renkei.identity.keys import FileKeyStore
from renkei.registry.identifiers import OrganisationId
from renkei.settings import Settings
from renkei.spec.models import Spec
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.exchange import SqlExchangeStore
from renkei.storage.sql.notifications import SqlNotificationStore
from renkei.types import InformationId
from tests.exchange.notifications_harness import bound_socket, serve, wait_for

CHIYODA_U01 = "JP/LG/131016/u01"
TOPIC = "resident-changes"


@dataclass
class Demo:
    data_dir: Path
    platform: Platform
    hub: NotificationHub
    inbox: EventInbox
    population: Population
    url: str

    def cli(self, *args: str) -> Any:
        return CliRunner().invoke(cli, ["exchange", *args, "--data-dir", str(self.data_dir)])

    def received(self, member: str) -> list[dict[str, Any]]:
        return [e["event"] for e in self.inbox.events(member)]


@pytest.fixture
def demo(tmp_path: Path, spec: Spec) -> Iterator[Demo]:
    data_dir = tmp_path / "var"
    platform = build_platform(Settings(data_dir=data_dir), spec=spec)
    try:
        source = connection_source(platform.storage)
        hub_key = FileKeyStore(data_dir / "keys").secret(HUB_KEY_NAME, 32)
        hub = NotificationHub(
            platform.registry,
            platform.authenticator,
            platform.linkage,
            platform.audit,
            SqlNotificationStore(source),
            HubSigner(hub_key),
            platform.clock,
            message_log=SqlExchangeStore(source),
        )
        populations = [
            generate_population(30, seed=3, municipality="131016"),
            generate_population(10, seed=3, municipality="131024"),
        ]
        sock = bound_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        seed_demo(platform, populations, data_dir=data_dir, base_url=url, notifications=hub)
        # u06 u10 u15 u17 and the 統合DB's intake (u09) of each municipality
        assert len(hub.subscriptions(topic=TOPIC)) == 10
        organisations = [OrganisationId.parse(f"JP/LG/{p.municipality.code}") for p in populations]
        assert seed_subscriptions(hub, organisations, url) == 0, "seeding again changes nothing"

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with notifications_api.delivery_lifespan(hub, poll_interval_s=0.2):
                yield

        inbox = EventInbox(data_dir / "demo" / "events")
        app = FastAPI(lifespan=lifespan)
        app.state.notifications = hub
        install_error_handlers(app)
        app.include_router(notifications_api.router)
        systems = MemberSystems(spec, platform.linkage, populations)
        app.mount(MEMBERS_PATH, build_member_app(systems, inbox, hub_keys=HubSigner(hub_key).key_for))
        with serve(app, sock):
            yield Demo(data_dir, platform, hub, inbox, populations[0], url)
    finally:
        platform.storage.close()


def _event(demo: Demo, index: int = 0) -> dict[str, Any]:
    record = dict(population_records(demo.population)[InformationId("resident-record")][index])
    return {"event_type": record["change_reason"], "occurred_at": "2026-04-01T09:00:00+09:00", "data": record}


def test_the_demo_members_receive_a_published_change(demo: Demo) -> None:
    published = demo.cli("publish", CHIYODA_U01, TOPIC, "--data", json.dumps(_event(demo)), "--hub", demo.url)
    assert published.exit_code == 0, published.output
    assert "HTTP 202" in published.output
    event_id = json.loads(published.output.split("\n\n", 1)[1])["accepted"][0]["event_id"]
    for member in ("131016-u06", "131016-u10", "131016-u15"):
        wait_for(lambda member=member: len(demo.received(member)) == 1, what=member)  # type: ignore[misc]
    received = demo.received("131016-u06")[0]
    atena = str(_event(demo)["data"]["atena_number"])
    org = "JP/LG/131016"
    person = demo.platform.linkage.resolve(org, demo.platform.linkage.convert(org, atena, org).fugo)
    assert received["event_id"] == event_id and received["data"]["atena_number"] == atena
    assert received["person_fugo"] == demo.platform.linkage.fugo_for(org, person)
    assert demo.received("131024-u06") == [] and demo.received("131016-u17") == [], "中央区 / the poller"

    feed = demo.cli(
        "feed", CHIYODA_U01, TOPIC, "--client", "JP/LG/131016/u17", "--purpose", "infant-medical-subsidy",
        "--hub", demo.url,
    )  # fmt: skip
    assert feed.exit_code == 0, feed.output
    page = json.loads(feed.output.split("\n\n", 1)[1])
    assert [e["event_id"] for e in page["events"]] == [event_id] and page["next"] == "1"

    status = demo.cli("deliveries", event_id, "--format", "json")
    assert status.exit_code == 0, status.output
    wait_for(
        lambda: (
            {d["state"] for d in json.loads(demo.cli("deliveries", event_id, "-f", "json").output)}
            == {"delivered"}
        ),
        what="every delivery recorded",
    )
    assert {d["subscriber"] for d in json.loads(status.output)} == {
        f"JP/LG/131016/u{u}" for u in ("06", "10", "15")
    }


def test_a_demo_member_refuses_an_unsigned_notification(demo: Demo) -> None:
    target = f"{demo.url}{MEMBERS_PATH}/131016/u06/events"
    body = json.dumps({"event_id": "ev-forged", "topic": TOPIC}).encode()
    forged = httpx.post(
        target, content=body, headers={"X-Renkei-Hub-Signature": f"t={int(time.time())},v1=00"}, timeout=10
    )
    assert forged.status_code == 400 and forged.json()["code"] == "demo.request.invalid"
    assert demo.received("131016-u06") == []


@pytest.mark.parametrize(
    ("recipient", "event_header", "taken"),
    [
        ("JP/LG/131016/u06", None, True),
        ("JP/LG/131016/u10", None, False),  # signed by the hub, but for another member system
        ("JP/LG/131016/u06", "ev-forged", False),  # replayed with another (unsigned) event id
    ],
)
def test_a_demo_member_takes_what_the_hub_signed_for_it_under_the_signed_event_id(
    demo: Demo, recipient: str, event_header: str | None, taken: bool
) -> None:
    target = f"{demo.url}{MEMBERS_PATH}/131016/u06/events"
    body = json.dumps({"event_id": "ev-signed", "topic": TOPIC}).encode()
    headers = {"X-Road-Id": "ev-signed", "X-Road-Client": "JP/LG/131016/u06", "X-Road-Service": "s"}
    signer = HubSigner(FileKeyStore(demo.data_dir / "keys").secret(HUB_KEY_NAME, 32))
    headers["X-Renkei-Hub-Signature"] = signer.sign(
        "POST", httpx.URL(target).path, int(time.time()), "ev-signed", headers["X-Road-Client"], "s", body,
        recipient=recipient,
    )  # fmt: skip
    if event_header is not None:
        headers["X-Renkei-Event-Id"] = event_header
    answer = httpx.post(target, content=body, headers=headers, timeout=10)
    assert (answer.status_code == 202) is taken, answer.text
    received = [e["event_id"] for e in demo.received("131016-u06")]
    assert received == (["ev-signed"] if taken else [])


def test_the_operator_lists_and_replays_dead_letters(demo: Demo) -> None:
    listed = demo.cli("subscriptions", "--topic", TOPIC, "--format", "json")
    assert listed.exit_code == 0, listed.output
    modes = {(s["subscriber"], s["mode"]) for s in json.loads(listed.output)}
    assert ("JP/LG/131016/u17", "poll") in modes and ("JP/LG/131024/u06", "webhook") in modes
    # u15's webhook now points at a system that does not exist: its events are refused (404), dead at once.
    wrong = f"{demo.url}{MEMBERS_PATH}/999999/u15/events"
    right = f"{demo.url}{MEMBERS_PATH}/131016/u15/events"
    for url in (wrong, right):
        changed = demo.cli(
            "subscribe", "JP/LG/131016/u15", TOPIC, "--webhook", url, "--purpose",
            "child-allowance-certification", "--source", "JP/LG/131016",
        )  # fmt: skip
        assert changed.exit_code == 0, changed.output
        if url == right:
            break
        for index in (0, 1):
            sent = demo.cli(
                "publish", CHIYODA_U01, TOPIC, "-d", json.dumps(_event(demo, index)), "--hub", demo.url
            )
            assert sent.exit_code == 0, sent.output
        wait_for(lambda: len(demo.hub.dead_letters()) == 2, what="the dead letters")
        dead = demo.cli("dead-letters", "--subscriber", "JP/LG/131016/u15", "-f", "json")
        assert [d["last_status"] for d in json.loads(dead.output)] == [404, 404]
    replayed = demo.cli("replay", "--all", "--subscriber", "JP/LG/131016/u15")
    assert replayed.exit_code == 0 and "re-queued 2 dead letters" in replayed.output
    wait_for(lambda: len(demo.received("131016-u15")) == 2, what="the replayed events")
    nothing = demo.cli("replay", "--all")
    assert nothing.exit_code == 1 and "re-queued 0" in nothing.output
    assert demo.cli("replay").exit_code == 2, "EVENT_ID or --all"
