"""The simulated member systems over real HTTP on loopback: answers shaped by the spec, keyed by 符号."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from jsonschema import Draft202012Validator

from renkei.api.deps import Platform
from renkei.demo.members import EventInbox, MemberSystems, build_member_app
from renkei.demo.population import Population
from renkei.demo.records import assess, population_records
from renkei.demo.seed import MEMBERS_PATH, SeedReport
from renkei.spec.export.openapi import build_openapi
from renkei.spec.models import Spec
from renkei.types import InformationId


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def members(
    seeded: SeedReport, platform: Platform, chiyoda: Population, chuo: Population, spec: Spec, data_dir: Path
) -> Iterator[httpx.Client]:
    """The member systems mounted at /demo/members, as the platform mounts them, on a loopback server."""
    systems = MemberSystems(spec, platform.linkage, [chiyoda, chuo])
    host = FastAPI()
    host.mount(MEMBERS_PATH, build_member_app(systems, EventInbox(data_dir / "demo" / "events")))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(host, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the member systems did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}{MEMBERS_PATH}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def fugo(platform: Platform, population: Population, atena: str) -> str:
    """The provider organisation's 符号 of a resident, as the hub would send it after ID conversion."""
    org = population.organisation
    return platform.linkage.convert(org, atena, org).fugo


def response_schema(spec: Spec, service: str) -> Draft202012Validator:
    document = build_openapi(spec)
    schema = dict(document["components"]["schemas"][f"{service}.response"])
    schema["components"] = document["components"]
    return Draft202012Validator(schema)


def test_the_catalogue_lists_the_simulated_systems(members: httpx.Client) -> None:
    answer = members.get("/")
    assert answer.status_code == 200
    cities = {c["municipality"]: c for c in answer.json()}
    assert cities["131016"]["residents"] == 160
    assert [m["subsystem"] for m in cities["131024"]["members"]] == ["u01", "u06", "u10", "u15", "u17"]


def test_resident_record_inquiry(
    members: httpx.Client, platform: Platform, chiyoda: Population, spec: Spec
) -> None:
    resident = chiyoda.residents[0]
    answer = members.post(
        "/131016/u01/resident-record-inquiry",
        json={"person_fugo": fugo(platform, chiyoda, resident.atena_number), "as_of": "2025-07-01"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == resident.name
    assert body["birth_date"] == resident.birth_date.isoformat()
    assert "atena_number" not in body  # the 宛名番号 never travels in the answer
    assert not list(response_schema(spec, "resident-record-inquiry").iter_errors(body))


def test_income_certificate_for_the_fiscal_year(
    members: httpx.Client, platform: Platform, chiyoda: Population, spec: Spec
) -> None:
    assessments = assess(chiyoda)
    taxed = next(a for a in assessments.values() if a.tax is not None and a.tax.tax_status == "1")
    person = fugo(platform, chiyoda, taxed.resident.atena_number)
    answer = members.post("/131016/u06/income-certificate", json={"person_fugo": person, "fiscal_year": 2025})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert taxed.tax is not None
    assert body["tax_amount"] == taxed.tax.tax_amount
    assert body["total_income"] == taxed.total_income
    assert not list(response_schema(spec, "income-certificate").iter_errors(body))
    older = members.post("/131016/u06/income-certificate", json={"person_fugo": person, "fiscal_year": 2019})
    assert older.status_code == 404
    assert older.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("subsystem", "service", "information"),
    [
        ("u10", "nhi-inquiry", "national-health-insurance"),
        ("u15", "allowance-inquiry", "allowance"),
        ("u17", "medical-subsidy-inquiry", "medical-subsidy"),
    ],
)
def test_every_service_answers_in_the_shape_of_the_spec(
    members: httpx.Client,
    platform: Platform,
    chuo: Population,
    spec: Spec,
    subsystem: str,
    service: str,
    information: str,
) -> None:
    records = population_records(chuo)[InformationId(information)]
    assert records, information
    record = records[0]
    answer = members.post(
        f"/131024/{subsystem}/{service}",
        json={"person_fugo": fugo(platform, chuo, str(record["atena_number"])), "as_of": "2025-07-01"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body == {k: record[k] for k in spec.kind(information).services[0].response if k in record}
    assert not list(response_schema(spec, service).iter_errors(body))


def test_a_child_has_no_income_certificate(
    members: httpx.Client, platform: Platform, chiyoda: Population
) -> None:
    child = next(r for r in chiyoda.residents if r.age(chiyoda.reference_date) < 10)
    answer = members.post(
        "/131016/u06/income-certificate",
        json={"person_fugo": fugo(platform, chiyoda, child.atena_number), "fiscal_year": 2025},
    )
    assert answer.status_code == 404
    assert answer.json()["code"] == "demo.record.unknown"


def test_unknown_persons_and_services_get_problems(
    members: httpx.Client, platform: Platform, chiyoda: Population
) -> None:
    unknown = members.post("/131016/u01/resident-record-inquiry", json={"person_fugo": "A" * 32})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == "urn:renkei:error:demo.record.unknown"
    # a 符号 of another organisation does not resolve here (符号 are per organisation)
    chiyoda_fugo = fugo(platform, chiyoda, chiyoda.residents[0].atena_number)
    other = members.post("/131024/u01/resident-record-inquiry", json={"person_fugo": chiyoda_fugo})
    assert other.status_code == 404
    for path in ("/131016/u02/resident-record-inquiry", "/131016/u01/income-certificate", "/999999/u01/x"):
        assert members.post(path, json={"person_fugo": "A"}).status_code == 404, path
    assert members.post("/131016/u01/resident-record-changes", json={"person_fugo": "A"}).status_code == 404
    bad = members.post("/131016/u06/income-certificate", json={"person_fugo": chiyoda_fugo})
    assert bad.status_code == 400
    assert bad.json()["code"] == "demo.request.invalid"
    assert members.post("/131016/u01/resident-record-inquiry", content=b"[1]").status_code == 400
    assert members.post("/131016/u01/resident-record-inquiry", content=b"{").status_code == 400


def test_notifications_are_deduplicated_by_event_id(members: httpx.Client, data_dir: Path) -> None:
    event = {"event_id": "evt-0001", "topic": "resident-changes", "change_reason": "301"}
    first = members.post("/131016/u15/events", json=event)
    assert first.status_code == 202
    assert first.json() == {"event_id": "evt-0001", "duplicate": False}
    again = members.post("/131016/u15/events", json=event)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    by_header = members.post(
        "/131016/u15/events", json={"topic": "x"}, headers={"X-Renkei-Event-Id": "evt-0002"}
    )
    assert by_header.status_code == 202
    assert members.post("/131016/u15/events", json={"topic": "no id"}).status_code == 400
    listed = members.get("/131016/u15/events").json()
    assert listed["count"] == 2
    assert [e["event_id"] for e in listed["events"]] == ["evt-0001", "evt-0002"]
    # the seen ids survive a restart
    restarted = EventInbox(data_dir / "demo" / "events")
    assert restarted.receive("131016-u15", "evt-0001", event) is False
    assert restarted.receive("131016-u15", "evt-0003", event) is True


def test_inboxes_of_several_processes_share_what_they_received(tmp_path: Path) -> None:
    # Two workers of one deployment each hold an inbox on the same directory (flock is per open file, so
    # two in one process stand for two processes): an event one took is a duplicate for the other.
    first, second = EventInbox(tmp_path / "events"), EventInbox(tmp_path / "events")
    assert first.receive("131016-u06", "ev-1", {"n": 1}) is True
    assert second.receive("131016-u06", "ev-1", {"n": 1}) is False
    assert second.receive("131016-u06", "ev-2", {"n": 2}) is True
    assert first.receive("131016-u06", "ev-2", {"n": 2}) is False
    assert [e["event_id"] for e in first.events("131016-u06")] == ["ev-1", "ev-2"]
    assert [e["event_id"] for e in second.events("131016-u06")] == ["ev-1", "ev-2"]
    assert first.events("131024-u06") == []
    memory = EventInbox()
    assert memory.receive("m", "ev-1", {}) is True and memory.receive("m", "ev-1", {}) is False
    assert [e["event_id"] for e in memory.events("m")] == ["ev-1"]
