"""Kill the hub with SIGKILL while it accepts 2,000 events: after a restart every subscriber has every
accepted event exactly once in effect (receivers de-duplicate by event id), in order per person.

A real `renkei serve` process (SQLite file or PostgreSQL), publishers signing each event as 住民基本台帳
(u01) from several threads — one thread per person at a time, each event retried with the same event id
until the hub acknowledges it, as a real publisher does — and webhook receivers (u06, u10, u15) in this
process. The hub is killed with SIGKILL once a third of the events are in, then started again on the same
port and database; deliveries it had claimed come back after their lease.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from tests.e2e.test_exchange_demo import free_port
from tests.exchange.notifications_harness import (
    CHIYODA,
    PUBLISHER,
    TOPIC,
    Receivers,
    _register,
    database,
    serve,
    wait_for,
)

from renkei.app import build_platform
from renkei.identity.models import BasicInfo, Sex
from renkei.japanese.checkdigit import generate_atena_number, generate_household_number
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.service import Enrolment
from renkei.settings import Settings
from renkei.storage.clock import SystemClock

PERSONS = 20
EVENTS_PER_PERSON = 100  # 2,000 events
THREADS = 5
KILL_AFTER = 700
LEASE_S = 12
Prepared = tuple[Path, str, dict[str, Enrolment], list[tuple[str, str]]]
HOOKS = {"u06": "resident-tax-assessment", "u10": "nhi-narrow", "u15": "child-allowance"}


class Hub:
    """`renkei serve` as a child process that can be SIGKILLed and started again on the same port."""

    def __init__(self, data_dir: Path, url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RENKEI_DATABASE_URL": url,
            "RENKEI_DELIVERY_LEASE_SECONDS": str(LEASE_S),
            "RENKEI_LOG_LEVEL": "warning",
        }
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        command = [sys.executable, "-m", "renkei", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--data-dir", str(self.data_dir)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code in (200, 503):
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:  # the port may still be held for a moment: try again
                self.process = subprocess.Popen(
                    [*command, "--data-dir", str(self.data_dir)],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            if time.monotonic() > deadline:
                raise AssertionError("the hub did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _event(atena: str, household: str, person: int, k: int) -> dict[str, object]:
    return {
        "event_id": f"p{person:02d}-{k:03d}",
        "event_type": "201",
        "occurred_at": "2026-04-01T09:00:00+09:00",
        "data": {
            "atena_number": atena,
            "household_number": household,
            "name": f"試験 {person:02d}",
            "name_kana": "シケン",
            "birth_date": "1990-04-01",
            "sex": "1",
            "relationship": "01",
            "head_of_household_name": f"試験 {person:02d}",
            "address": f"東京都千代田区千代田1-{k + 1}",
            "resident_type": "1",
            "resident_status": "1",
            "change_reason": "201",
            "change_date": "2026-03-31",
        },
    }


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def prepared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Prepared]:
    """A deployment's database and data dir with 千代田区's members, 20 residents and the subscriptions."""
    with database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url:
        data_dir = tmp_path / "var"
        platform = build_platform(Settings(data_dir=data_dir, database_url=url), clock=SystemClock())
        try:
            members = _register(platform.registry)
            platform.linkage.register_organisation(CHIYODA)
            persons = []
            for n in range(PERSONS):
                info = BasicInfo(f"試験 {n:02d}", "東京都千代田区千代田1-1", date(1990, 4, 1), Sex.MALE)
                key = platform.identity.enrol(info).person_key
                atena = generate_atena_number(f"{n + 1:014d}")
                platform.linkage.register_local_id(CHIYODA, atena, key)
                persons.append((atena, generate_household_number(f"{n + 101:014d}")))
            yield data_dir, url, members, persons
        finally:
            platform.storage.close()


def test_sigkill_while_accepting_2000_events_loses_and_reorders_nothing(prepared: Prepared) -> None:
    data_dir, url, members, persons = prepared
    receivers = Receivers(SystemClock())
    with serve(receivers.app()) as receivers_url:
        receivers.url = receivers_url
        setup = build_platform(Settings(data_dir=data_dir, database_url=url), clock=SystemClock())
        try:
            for unit, purpose in HOOKS.items():
                setup.notifications.subscribe(
                    f"{CHIYODA}/{unit}", TOPIC, url=receivers.hook(unit), purpose=purpose
                )
        finally:
            setup.storage.close()

        hub = Hub(data_dir, url)
        hub.start()
        accepted: dict[str, str] = {}  # the hub's event id → the publisher's
        lock = threading.Lock()
        failures: list[str] = []
        enrolment = members[PUBLISHER]
        target = f"/r1/{PUBLISHER}/events/{TOPIC}"

        def publish(mine: list[int]) -> None:
            with httpx.Client(timeout=10) as client:
                for k in range(EVENTS_PER_PERSON):
                    for person in mine:
                        atena, household = persons[person]
                        body = json.dumps(_event(atena, household, person, k)).encode()
                        deadline = time.monotonic() + 120
                        while True:
                            token = sign_request(
                                enrolment.private_key_pem,
                                enrolment.member.id,
                                "POST",
                                target,
                                body,
                                SystemClock().now(),
                                certificate=enrolment.certificate_pem,
                            )
                            headers = {
                                SIGNATURE_HEADER: token,
                                "X-Road-Client": PUBLISHER,
                                "Content-Type": "application/json",
                            }
                            try:
                                response = client.post(hub.base + target, content=body, headers=headers)
                                if response.status_code in (200, 202):
                                    hub_id = response.json()["accepted"][0]["event_id"]
                                    with lock:
                                        accepted[hub_id] = f"p{person:02d}-{k:03d}"
                                    break
                                if response.status_code < 500:
                                    failures.append(f"{response.status_code} {response.text[:600]}")
                                    return
                            except httpx.TransportError:
                                pass  # the hub is down: the same event (same id) again, as publishers do
                            if time.monotonic() > deadline:
                                failures.append(f"p{person:02d}-{k:03d} never acknowledged")
                                return
                            time.sleep(0.05)

        shares = [list(range(t, PERSONS, THREADS)) for t in range(THREADS)]
        threads = [threading.Thread(target=publish, args=(share,), daemon=True) for share in shares]
        try:
            for thread in threads:
                thread.start()
            wait_for(lambda: len(accepted) >= KILL_AFTER or bool(failures), timeout=120, what="events in")
            assert failures == []
            hub.kill()
            killed_at = len(accepted)
            hub.start()
            for thread in threads:
                thread.join(300)
            assert failures == []
            assert len(set(accepted.values())) == len(accepted) == PERSONS * EVENTS_PER_PERSON
            assert KILL_AFTER <= killed_at < PERSONS * EVENTS_PER_PERSON, "the kill fell mid-stream"

            def complete() -> bool:
                return all(len(receivers.delivered(unit)) == len(accepted) for unit in HOOKS)

            wait_for(complete, timeout=240, what="every accepted event at every subscriber")
        finally:
            hub.stop()

    for unit in HOOKS:
        delivered = receivers.delivered(unit)  # first arrival of each event id, in arrival order
        assert {e["event_id"] for e in delivered} == set(accepted), unit
        by_person: dict[str, list[int]] = defaultdict(list)
        for body in delivered:
            person, k = accepted[body["event_id"]].split("-")
            by_person[person].append(int(k))
        for person, order in by_person.items():
            assert order == sorted(order), f"{unit} got {person}'s events out of order"
    assert hub.starts == 2
    duplicates = sum(len(receivers.of(u)) for u in HOOKS) - len(HOOKS) * len(accepted)
    print(f"killed after {killed_at} accepted events; {duplicates} duplicate pushes de-duplicated")
