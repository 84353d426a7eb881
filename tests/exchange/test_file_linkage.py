"""File linkage through the hub over real HTTP on loopback: a file-only publisher's CP932 CSV becomes
notifications that REST members receive by webhook, and a REST publisher's events reach a file-only reader
as a CSV file of the 差分 — both on SQLite and PostgreSQL, with the hub's checks and records unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from renkei.exchange.csvfile import export_events, read_events
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from tests.exchange.notifications_harness import (
    CHIYODA,
    PUBLISHER,
    TOPIC,
    World,
    database,
    event,
    running_world,
    subscribe_all,
    wait_for,
)

FILES = f"/r1/{PUBLISHER}/files/{TOPIC}"
READER = f"{CHIYODA}/u17"  # subscribed with mode "poll": it fetches files instead of taking webhooks


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def world(request: pytest.FixtureRequest, tmp_path: Path, spec: Spec) -> Iterator[World]:
    with (
        database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url,
        running_world(url, spec, SystemClock()) as made,
    ):
        subscribe_all(made)
        yield made


def _file(spec: Spec, world: World, *names: str, encoding: str = "cp932") -> bytes:
    events = [event(world.persons[n], "201", event_id=f"file-{n}") for n in names]
    return export_events(spec, TOPIC, events, encoding).data  # type: ignore[arg-type]


def _upload(world: World, body: bytes, encoding: str = "cp932") -> httpx.Response:
    target = f"{FILES}?encoding={encoding}"
    headers = world.signed("POST", target, body)
    headers["Content-Type"] = "text/csv; charset=Shift_JIS"
    return httpx.post(world.hub_url + target, content=body, headers=headers, timeout=10)


def test_a_cp932_file_from_a_file_only_publisher_reaches_rest_webhooks(world: World, spec: Spec) -> None:
    body = _file(spec, world, "a", "b")
    assert "山田".encode("cp932") in body, "the file really is CP932"

    response = _upload(world, body)

    assert response.status_code == 202, response.text
    accepted = response.json()["accepted"]
    assert [a["publisher_event_id"] for a in accepted] == ["file-a", "file-b"]
    wait_for(lambda: len(world.receivers.delivered("u06")) == 2, what="webhook delivery")
    got = world.receivers.delivered("u06")
    assert {e["data"]["name"] for e in got} == {"山田 花子", "佐藤 太郎"}
    assert {e["person_fugo"] for e in got} == {world.fugo(CHIYODA, "a"), world.fugo(CHIYODA, "b")}
    assert _upload(world, body).status_code == 200, "the same file again is a duplicate, not new events"
    assert world.store.last_sequence() == 2


def test_a_rest_publishers_events_reach_a_file_only_reader_as_a_csv_file(world: World, spec: Spec) -> None:
    published = world.publish(
        {"events": [event(world.persons["a"], "101"), event(world.persons["c"], "201")]}
    )
    assert published.status_code == 202, published.text
    target = f"{FILES}?since=0&encoding=cp932"
    headers = world.signed("GET", target, who=READER, purpose="infant-medical-subsidy")

    response = httpx.get(world.hub_url + target, headers=headers, timeout=10)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=Shift_JIS"
    assert response.headers["X-Renkei-Next-Cursor"] == "2"
    rows = read_events(spec, TOPIC, response.content, "cp932")
    assert [r.event_type for r in rows] == ["101", "201"]
    assert [r.data["name"] for r in rows] == ["山田 花子", "鈴木 一郎"]
    assert [r.person_fugo for r in rows] == [world.fugo(CHIYODA, "a"), world.fugo(CHIYODA, "c")]
    provided = [r for r in world.access_records() if r["requester"]["member"] == READER]
    assert len(provided) == 4, "both events, recorded at the reader's and the publisher's end"

    again = world.signed("GET", f"{FILES}?since=2", who=READER, purpose="infant-medical-subsidy")
    empty = httpx.get(world.hub_url + f"{FILES}?since=2", headers=again, timeout=10)
    assert empty.status_code == 200 and read_events(spec, TOPIC, empty.content) == []


def test_a_bad_file_is_refused_whole_with_its_place_and_logged(world: World, spec: Spec) -> None:
    good = _file(spec, world, "a", "b").decode("cp932").split("\r\n")
    broken = good[0] + "\r\n" + good[1] + "\r\n" + good[2].replace("1990-04-01", "1990-13-45") + "\r\n"

    response = _upload(world, broken.encode("cp932"))

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "exchange.file.invalid"
    assert problem["errors"][0]["line"] == 3
    assert "1990-13-45" not in response.text, "cell values of personal items are never echoed"
    assert world.store.last_sequence() == 0, "nothing of the file was accepted"
    assert any(e.code == "exchange.file.invalid" for e in world.message_log.entries(limit=10))


def test_an_unsigned_file_is_refused_before_it_is_read(world: World, spec: Spec) -> None:
    response = httpx.post(world.hub_url + FILES, content=b"garbage", headers={"X-Road-Client": PUBLISHER})

    assert response.status_code == 401
    assert response.json()["code"] == "exchange.client.unauthenticated"
