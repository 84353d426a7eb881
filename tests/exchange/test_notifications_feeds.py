"""Feeds for pollers over real HTTP (差分 from a cursor, 全件 snapshot), converted for the caller and
recorded; the subscription API a member system uses for itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from renkei.exchange.service import subject_of
from renkei.registry.identifiers import MemberId
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from tests.exchange.notifications_harness import (
    CHIYODA,
    CHUO,
    NARROW_ITEMS,
    PUBLISHER,
    TOPIC,
    World,
    database,
    event,
    running_world,
    subscribe_all,
)

U17 = f"{CHIYODA}/u17"
FEED = f"/r1/{PUBLISHER}/feeds/{TOPIC}"


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def world(request: pytest.FixtureRequest, tmp_path: Path, spec: Spec) -> Iterator[World]:
    with (
        database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url,
        running_world(url, spec, SystemClock()) as made,
    ):
        subscribe_all(made)
        yield made


def _read(
    world: World, target: str, *, who: str = U17, purpose: str | None = "infant-medical-subsidy"
) -> Any:
    response = world.request("GET", target, who=who, purpose=purpose)
    assert response.status_code == 200, response.text
    assert response.headers["X-Road-Request-Hash"]
    return response.json()


def test_the_delta_feed_pages_from_a_cursor_and_the_snapshot_keeps_the_latest_per_person(
    world: World,
) -> None:
    a, b, c = world.persons["a"], world.persons["b"], world.persons["c"]
    published = world.publish(
        {"events": [event(a, "101"), event(b, "101"), event(a, "201"), event(c, "102")]}
    )
    ids = [x["event_id"] for x in published.json()["accepted"]]

    first = _read(world, FEED + "?since=0&limit=2")
    assert [e["event_id"] for e in first["events"]] == ids[:2]
    assert (first["next"], first["more"], first["publisher"], first["topic"]) == ("2", True, PUBLISHER, TOPIC)
    event_a = first["events"][0]
    assert event_a["person_fugo"] == world.fugo(CHIYODA, "a") and event_a["data"]["atena_number"] == a.atena
    rest = _read(world, FEED + f"?since={first['next']}")
    assert [e["event_id"] for e in rest["events"]] == ids[2:] and rest["more"] is False
    assert _read(world, FEED + f"?since={rest['next']}") | {"events": []} == {
        **rest,
        "events": [],
        "more": False,
    }
    records = [r for r in world.access_records() if r["requester"]["member"] == U17]
    assert len(records) == 8, "two access records per personal event read (the webhooks add their own)"
    assert {r["purpose"] for r in records} == {"infant-medical-subsidy"}
    assert {r["side"] for r in records} == {"requester", "provider"}
    assert {r["subject"] for r in records} == {subject_of(p.key) for p in (a, b, c)}

    page = _read(world, FEED + "/snapshot?limit=2")
    assert [e["event_id"] for e in page["events"]] == [ids[1], ids[2]], "b's, then a's latest"
    assert page["more"] is True and page["as_of"] == "4"
    last = _read(world, FEED + f"/snapshot?cursor={page['next']}&limit=2")
    assert [e["event_id"] for e in last["events"]] == [ids[3]] and last["more"] is False

    later = world.publish(event(a, "301")).json()["accepted"][0]["event_id"]
    after = _read(world, FEED + f"?since={page['as_of']}")
    assert [e["event_id"] for e in after["events"]] == [later], "差分 goes on where the 全件 stood"


def test_a_poller_in_another_organisation_reads_only_what_its_subscription_takes(world: World) -> None:
    """中央区's u10 is subscribed to 中央区's own events (``source``): 千代田区's feed, snapshot and CSV
    export are refused, whatever the query or headers add. Once the operator makes the cross-organisation
    subscription (source 千代田区), it reads them with its own 符号 and its purpose's items only."""
    world.publish({"events": [event(world.persons["a"]), event(world.persons["b"])]})
    chuo_u10 = f"{CHUO}/u10"
    for target in (
        FEED,
        FEED + "/snapshot",
        f"/r1/{PUBLISHER}/files/{TOPIC}",
        FEED + f"?since=0&source={CHIYODA}&publisher={CHUO}/u01",
    ):
        refused = world.request(
            "GET", target, who=chuo_u10, purpose="nhi-narrow", headers={"X-Renkei-Tenant": "131016"}
        )
        assert refused.status_code == 403, target
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert (body["code"], body["rule"], body["source"]) == (
            "exchange.feed.forbidden",
            "subscription.source",
            CHUO,
        ), target
    assert chuo_u10 not in {r["requester"]["member"] for r in world.access_records()}
    refused_log = [e for e in world.message_log.entries() if e.client == chuo_u10]
    assert refused_log and {e.outcome.value for e in refused_log} == {"denied"}

    world.hub.subscribe(chuo_u10, TOPIC, mode="poll", purpose="nhi-narrow", source=CHIYODA)
    page = _read(world, FEED, who=chuo_u10, purpose="nhi-narrow")
    assert [e["person_fugo"] for e in page["events"]] == [world.fugo(CHUO, "a"), world.fugo(CHUO, "b")]
    assert all(set(e["data"]) <= set(NARROW_ITEMS) for e in page["events"])


def test_a_subscription_without_source_reads_its_own_organisation_only(world: World) -> None:
    """A subscription without ``source`` takes its own organisation's events only: 中央区's u06, its
    subscription changed to name no source, neither reads nor is pushed 千代田区's events."""
    hub = world.hub
    hub.subscribe(
        f"{CHUO}/u06", TOPIC, url=world.receivers.hook("chuo-u06"), purpose="resident-tax-assessment"
    )
    [held] = [s for s in hub.subscriptions(topic=TOPIC) if s.subscriber == f"{CHUO}/u06"]
    assert held.source is None
    assert not held.takes_from(f"{CHIYODA}/u01") and held.takes_from(f"{CHUO}/u01")
    world.publish(event(world.persons["a"]))
    refused = world.request("GET", FEED, who=f"{CHUO}/u06", purpose="resident-tax-assessment")
    assert refused.status_code == 403 and refused.json()["code"] == "exchange.feed.forbidden"
    assert refused.json()["source"] == CHUO
    # No subscription at all: the reader's own organisation, as without a source.
    assert world.hub.feed_source(MemberId.parse(f"{CHIYODA}/u07"), TOPIC) == CHIYODA


def test_feed_readers_are_authenticated_and_authorised(world: World) -> None:
    world.publish(event(world.persons["a"]))
    no_purpose = world.request("GET", FEED, who=U17)
    assert no_purpose.status_code == 403 and no_purpose.json()["rule"] == "registry.purpose"
    wrong_purpose = world.request("GET", FEED, who=U17, purpose="tax-only")
    assert wrong_purpose.status_code == 403 and wrong_purpose.json()["rule"] == "registry.purpose"
    outside = world.request("GET", FEED, who=f"{CHIYODA}/u07", purpose="infant-medical-subsidy")
    assert outside.status_code == 403 and outside.json()["rule"] == "spec.matrix"
    for bad in ("since=abc", "since=-1", "limit=0", "limit=5000"):
        response = world.request("GET", f"{FEED}?{bad}", who=U17, purpose="infant-medical-subsidy")
        assert response.json()["code"] == "exchange.feed.cursor_invalid", bad
    bad_page = world.request("GET", f"{FEED}/snapshot?cursor=7", who=U17, purpose="infant-medical-subsidy")
    assert bad_page.status_code == 400
    import httpx

    unsigned = httpx.get(world.hub_url + FEED, headers={"X-Road-Client": U17}, timeout=10)
    assert unsigned.status_code == 401
    readers = {r["requester"]["member"] for r in world.access_records()}
    assert U17 not in readers and f"{CHIYODA}/u07" not in readers, "a refused read leaves no access record"


def test_a_member_manages_its_own_subscription(world: World) -> None:
    u15 = f"{CHIYODA}/u15"
    target = f"/r1/{u15}/subscriptions/{TOPIC}"
    body = {"mode": "webhook", "url": world.receivers.hook("new-u15"), "purpose": "child-allowance"}
    put = world.request("PUT", target, body, who=u15)
    assert put.status_code == 200, put.text
    assert {k: put.json()[k] for k in ("subscriber", "topic", "mode", "url", "purpose", "source")} == {
        "subscriber": u15,
        "topic": TOPIC,
        "mode": "webhook",
        "url": world.receivers.hook("new-u15"),
        "purpose": "child-allowance",
        "source": CHIYODA,  # a member's own subscription takes its own organisation's events
    }
    assert world.request("GET", target, who=u15).json()["url"] == world.receivers.hook("new-u15")
    for wrong, code in (
        ({"mode": "poll", "url": "http://x/"}, "exchange.subscription.invalid"),
        ({"mode": "webhook", "purpose": "child-allowance"}, "exchange.subscription.invalid"),
        (
            {"mode": "webhook", "url": "ftp://x/", "purpose": "child-allowance"},
            "exchange.subscription.invalid",
        ),
        ({"mode": "webhook", "url": "http://x/"}, "exchange.client.unauthorised"),
        ({"mode": "carrier-pigeon", "purpose": "child-allowance"}, "exchange.subscription.invalid"),
        (
            {"mode": "poll", "purpose": "child-allowance", "source": "somewhere"},
            "exchange.subscription.invalid",
        ),
        ({"mode": "poll", "purpose": "child-allowance", "colour": "blue"}, "exchange.subscription.invalid"),
    ):
        assert world.request("PUT", target, wrong, who=u15).json()["code"] == code, wrong
    for outside in (CHUO, f"{CHUO}/u01", "JP/GOV/000000"):
        refused = world.request("PUT", target, {**body, "source": outside}, who=u15)
        assert refused.status_code in (400, 403), outside
    cross = world.request("PUT", target, {**body, "source": CHUO}, who=u15)
    assert cross.status_code == 403 and cross.json()["code"] == "exchange.subscription.source_forbidden"
    own_publisher = world.request("PUT", target, {**body, "source": PUBLISHER}, who=u15)
    assert own_publisher.status_code == 200 and own_publisher.json()["source"] == PUBLISHER
    someone_else = world.request("PUT", f"/r1/{CHIYODA}/u06/subscriptions/{TOPIC}", body, who=u15)
    assert someone_else.status_code == 403 and someone_else.json()["rule"] == "client.self"
    unknown_topic = world.request("PUT", f"/r1/{u15}/subscriptions/no-such-topic", body, who=u15)
    assert unknown_topic.status_code == 404 and unknown_topic.json()["code"] == "exchange.topic.unknown"
    assert world.request("DELETE", target, who=u15).status_code == 200
    assert world.request("GET", target, who=u15).json()["code"] == "exchange.subscription.unknown"
    assert world.request("DELETE", target, who=u15).status_code == 404
