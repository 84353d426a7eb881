"""Change notifications over real HTTP on loopback: the hub (uvicorn, its delivery worker running) and
webhook receivers (uvicorn), on SQLite and PostgreSQL: fan-out by the matrix, per-receiver 符号 conversion,
batches all-or-nothing, idempotent event ids, order per person under retries, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from renkei.exchange.service import subject_of
from renkei.identity.scan import contains_individual_number
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
    wait_for,
)

VALID_INDIVIDUAL_NUMBER = "123456789018"
WEBHOOKS = ("u06", "u10", "u15", "chuo-u06")


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def world(request: pytest.FixtureRequest, tmp_path: Path, spec: Spec) -> Iterator[World]:
    with (
        database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url,
        running_world(url, spec, SystemClock()) as made,
    ):
        subscribe_all(made)
        yield made


def _problem(response: object, status: int, code: str) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["X-Road-Id"] and response.headers["X-Road-Request-Hash"]
    body: dict[str, object] = response.json()
    assert body["code"] == code, body
    return body


def _stored_events(world: World) -> int:
    return world.store.last_sequence()


def test_a_publish_reaches_every_allowed_subscriber_converted_for_it(world: World) -> None:
    a, b = world.persons["a"], world.persons["b"]
    response = world.publish({"events": [event(a, "101"), event(b, "201")]}, headers={"X-Road-Id": "pub-1"})

    assert response.status_code == 202, response.text
    assert response.headers["X-Road-Id"] == "pub-1"
    accepted = response.json()["accepted"]
    assert [(x["index"], x["deliveries"], x["duplicate"]) for x in accepted] == [(0, 4, False), (1, 4, False)]
    wait_for(lambda: all(len(world.receivers.delivered(h)) == 2 for h in WEBHOOKS), what="fan-out")
    assert world.receivers.of("chuo-u10") == [], "中央区's u10 takes only 中央区's events (source)"
    assert all(h.signed for h in world.receivers.hits), "every push carries a valid hub signature"

    ids = [x["event_id"] for x in accepted]
    same_org = sorted(world.receivers.delivered("u06"), key=lambda e: ids.index(e["event_id"]))
    assert [e["event_id"] for e in same_org] == ids
    first = same_org[0]
    assert set(first) == {"event_id", "topic", "event_type", "occurred_at", "person_fugo", "data"}
    assert (first["topic"], first["event_type"]) == (TOPIC, "101")
    assert first["occurred_at"] == "2026-04-01T00:00:00+00:00"
    assert first["person_fugo"] == world.fugo(CHIYODA, "a")
    assert first["data"]["atena_number"] == a.atena, "庁内: the organisation's own 宛名番号"

    other_org = sorted(world.receivers.delivered("chuo-u06"), key=lambda e: ids.index(e["event_id"]))
    assert [e["person_fugo"] for e in other_org] == [world.fugo(CHUO, "a"), world.fugo(CHUO, "b")]
    assert other_org[0]["data"]["atena_number"] != a.atena, "中央区's own 宛名番号 of person a"
    assert "atena_number" not in other_org[1]["data"], "中央区 has no 宛名番号 for person b"
    raw = b"".join(h.raw for h in world.receivers.of("chuo-u06"))
    for leaked in (a.atena, b.atena, world.fugo(CHIYODA, "a"), world.fugo(CHIYODA, "b")):
        assert leaked.encode() not in raw, "never the publisher's 宛名番号 or 符号"

    narrow = world.receivers.delivered("u10")
    assert all(set(e["data"]) <= set(NARROW_ITEMS) for e in narrow), "only the purpose's items"
    assert {e["data"]["name"] for e in narrow} == {a.name, b.name}

    hit = world.receivers.of("u15")[0]
    assert hit.headers["x-renkei-event-id"] == hit.headers["x-road-id"] == hit.body["event_id"]
    assert hit.headers["x-renkei-topic"] == TOPIC and hit.headers["x-renkei-attempt"] == "1"
    assert hit.headers["x-road-client"] == f"{CHIYODA}/u15"
    assert hit.headers["x-road-service"] == f"{PUBLISHER}/{TOPIC}"

    wait_for(lambda: len(world.access_records()) == 16, what="access records")
    records = world.access_records()
    assert {(r["requester"]["member"], r["side"]) for r in records} == {
        (f"{org}/u{u}", side)
        for org, u in ((CHIYODA, "06"), (CHIYODA, "10"), (CHIYODA, "15"), (CHUO, "06"))
        for side in ("requester", "provider")
    }
    assert {r["subject"] for r in records} == {subject_of(a.key), subject_of(b.key)}
    assert all(
        r["provider"]["member"] == PUBLISHER and r["information"] == "resident-record" for r in records
    )
    narrow_items = {i["id"] for r in records if r["purpose"] == "nhi-narrow" for i in r["items"]}
    assert narrow_items <= set(NARROW_ITEMS)
    (logged,) = [e for e in world.message_log.entries() if e.message_id == "pub-1"]
    assert (logged.outcome.value, logged.service, logged.client) == ("accepted", f"events/{TOPIC}", PUBLISHER)


def test_a_subscription_the_matrix_does_not_allow_gets_nothing(world: World) -> None:
    refused = world.request(
        "PUT",
        f"/r1/{CHIYODA}/u07/subscriptions/{TOPIC}",
        {"mode": "webhook", "url": world.receivers.hook("u07"), "purpose": "resident-tax-assessment"},
        who=f"{CHIYODA}/u07",
    )
    body = _problem(refused, 403, "exchange.client.unauthorised")
    assert body["rule"] == "spec.matrix"
    # One written behind the API's back (a matrix changed since, say) is still never routed to.
    from renkei.exchange.notifications.models import DeliveryMode, Subscription

    now = world.clock.now()
    world.store.put_subscription(
        Subscription(
            f"{CHIYODA}/u07", TOPIC, DeliveryMode.WEBHOOK, world.receivers.hook("u07"), None, None, now, now
        )
    )
    response = world.publish(event(world.persons["a"]))
    assert response.status_code == 202 and response.json()["accepted"][0]["deliveries"] == 4
    wait_for(lambda: all(world.receivers.delivered(h) for h in WEBHOOKS), what="the allowed ones")
    assert world.receivers.of("u07") == []


def test_a_bad_event_refuses_the_whole_batch_naming_it(world: World) -> None:
    a, b = world.persons["a"], world.persons["b"]
    bad_type = world.publish({"events": [event(a), event(b, "999"), event(a)]})
    assert _problem(bad_type, 400, "exchange.event.invalid")["index"] == 1
    stranger = dict(event(a), atena_number="000000000009999")
    unknown = world.publish({"events": [event(a), event(b), stranger]})
    assert _problem(unknown, 404, "exchange.person.unknown")["index"] == 2
    mismatch = world.publish({"events": [dict(event(a), person_fugo=world.fugo(CHIYODA, "b"))]})
    _problem(mismatch, 400, "exchange.event.invalid")
    wrong_reason = world.publish(event(a, "101", data={"change_reason": "201"}))
    _problem(wrong_reason, 400, "exchange.event.invalid")
    missing = world.publish(event(a, data={"name": None}))
    assert {"location": "data/name", "rule": "type"} in _problem(missing, 400, "exchange.event.invalid")[
        "errors"
    ]  # type: ignore[operator]
    assert _stored_events(world) == 0 and world.store.stats(world.clock.now()).depth == 0

    good = world.publish({"events": [event(a), event(b), event(a)]})
    assert good.status_code == 202
    assert [x["sequence"] for x in good.json()["accepted"]] == [1, 2, 3]


def test_the_same_publisher_event_id_is_accepted_once(world: World) -> None:
    a = world.persons["a"]
    first = world.publish(event(a, event_id="juki-0001"))
    again = world.publish(event(a, event_id="juki-0001"))
    assert first.status_code == 202 and again.status_code == 200
    (one,), (two,) = first.json()["accepted"], again.json()["accepted"]
    assert two == {**one, "duplicate": True}
    changed = world.publish(event(a, "301", event_id="juki-0001"))
    assert _problem(changed, 409, "exchange.event.conflict")["event_id"] == "juki-0001"
    wait_for(lambda: all(world.receivers.delivered(h) for h in WEBHOOKS), what="delivery")
    assert all(len(world.receivers.of(h)) == 1 for h in WEBHOOKS), "one delivery per subscriber, no copy"
    assert _stored_events(world) == 1


def test_events_reach_each_subscriber_in_order_per_person_despite_retries(world: World) -> None:
    a, b = world.persons["a"], world.persons["b"]
    # u06 fails person a's 転入 (101) twice; u15 refuses nothing; 中央区's u06 fails b's first event thrice.
    world.receivers.script[("u06", "101")] = [503, 500]
    world.receivers.script[("chuo-u06", "102")] = [503, 429, 408]
    batch = [
        event(a, "101"),
        event(b, "102"),
        event(a, "201"),
        event(b, "202"),
        event(a, "301"),
        event(b, "302"),
    ]
    response = world.publish({"events": batch})
    assert response.status_code == 202
    order = {x["event_id"]: x["sequence"] for x in response.json()["accepted"]}
    wait_for(lambda: all(len(world.receivers.delivered(h)) == 6 for h in WEBHOOKS), what="every event")
    for hook in WEBHOOKS:
        by_person: dict[str, list[int]] = {}
        for received in world.receivers.delivered(hook):
            by_person.setdefault(received["person_fugo"], []).append(order[received["event_id"]])
        assert all(seqs == sorted(seqs) for seqs in by_person.values()), (hook, by_person)
    attempts = [
        h.headers["x-renkei-attempt"] for h in world.receivers.of("u06") if h.body["event_type"] == "101"
    ]
    assert attempts == ["1", "2", "3"]
    u06 = world.receivers.of("u06")
    first_ok = next(i for i, h in enumerate(u06) if h.body["event_type"] == "101" and h.status == 204)
    assert all(h.body["event_type"] != "201" for h in u06[:first_ok]), "a's next event waited for the first"
    wait_for(lambda: world.store.stats(world.clock.now()).depth == 0, what="every outcome recorded")


def test_individual_numbers_are_refused_wherever_they_hide(world: World) -> None:
    a = world.persons["a"]
    in_data = world.publish(event(a, data={"address_extra": f"メモ {VALID_INDIVIDUAL_NUMBER}"}))
    body = _problem(in_data, 400, "exchange.request.individual_number")
    assert not contains_individual_number(json.dumps(body, ensure_ascii=False))
    escaped = json.dumps(event(a, data={"address_extra": VALID_INDIVIDUAL_NUMBER}))
    escaped = escaped.replace(
        VALID_INDIVIDUAL_NUMBER, "".join(f"\\u{ord(c):04x}" for c in VALID_INDIVIDUAL_NUMBER)
    )
    _problem(world.publish(None, raw=escaped.encode()), 400, "exchange.request.individual_number")
    in_batch = world.publish(
        {"events": [event(a), event(a, data={"address_extra": VALID_INDIVIDUAL_NUMBER})]}
    )
    assert _problem(in_batch, 400, "exchange.request.individual_number")["index"] == 1
    assert _stored_events(world) == 0


def test_unsigned_forged_and_replayed_publishes_are_refused(world: World) -> None:
    import httpx

    a = world.persons["a"]
    target = f"/r1/{PUBLISHER}/events/{TOPIC}"
    body = json.dumps(event(a)).encode()
    unsigned = httpx.post(
        world.hub_url + target, content=body, headers={"X-Road-Client": PUBLISHER}, timeout=10
    )
    assert _problem(unsigned, 401, "exchange.client.unauthenticated")["reason"] == "registry.auth.missing"
    headers = world.signed("POST", target, body)
    assert httpx.post(world.hub_url + target, content=body, headers=headers, timeout=10).status_code == 202
    replayed = httpx.post(world.hub_url + target, content=body, headers=headers, timeout=10)
    assert _problem(replayed, 401, "exchange.client.unauthenticated")["reason"] == "registry.auth.replayed"
    altered = httpx.post(
        world.hub_url + target,
        content=body.replace(b"2026-03-31", b"2026-03-30"),
        headers=world.signed("POST", target, body),
        timeout=10,
    )
    assert _problem(altered, 401, "exchange.client.unauthenticated")["reason"] == "registry.auth.altered"
    as_someone_else = world.publish(event(a), who=f"{CHIYODA}/u06")  # u06 publishing on its own path
    assert _problem(as_someone_else, 403, "exchange.client.unauthorised")["rule"] == "spec.matrix"
    other_path = world.request("POST", f"/r1/{CHIYODA}/u06/events/{TOPIC}", event(a))
    assert _problem(other_path, 403, "exchange.client.unauthorised")["rule"] == "client.self"
    _problem(world.publish(event(a), topic="resident-record-inquiry"), 404, "exchange.topic.unknown")
    _problem(world.publish(None, raw=b"{not json"), 400, "exchange.request.malformed")
    assert _stored_events(world) == 1
    denied = [e for e in world.message_log.entries() if e.outcome.value == "denied"]
    assert len(denied) >= 6
