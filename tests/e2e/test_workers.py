"""`renkei serve --workers 2`: two processes serve one deployment on one port, under a supervisor.

Real processes on loopback (SQLite file and PostgreSQL): queries answered by both workers leave one
consistent audit log and message log, a request replayed to either worker is refused, ``/metrics`` counts
every worker's requests whichever answers, and one worker at a time runs the background jobs — another
takes over when it is SIGKILLed, and the supervisor replaces the dead worker.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from tests.exchange.notifications_harness import database
from tests.loopback import bound_socket, free_port, serve

from renkei.app import build_platform
from renkei.demo.seed import MANIFEST_FILE, demo_directory
from renkei.exchange.provider import income_provider
from renkei.exchange.signing import HUB_KEY_NAME, member_hub_key
from renkei.identity.keys import FileKeyStore
from renkei.identity.models import BasicInfo, Sex
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.service import Enrolment
from renkei.settings import Settings
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.exchange import SqlExchangeStore
from renkei.workers import _Slot, _Supervisor

CHIYODA, CHUO = "JP/LG/131016", "JP/LG/131024"
ATENA = "000000000000011"
PURPOSE = "infant-medical-subsidy"
SERVICE_PATH = "/r1/JP/LG/131024/u06/income-certificate"
ROW = {"tax_status": "1", "taxable_income": 1_200_000, "total_income": 2_500_000, "tax_amount": 60_000}
QUERIES = 30


@dataclass(frozen=True)
class Deployment:
    data_dir: Path
    url: str
    client: Enrolment


class Supervised:
    """`renkei serve --workers 2` as a child process, its output in a file."""

    def __init__(self, deployment: Deployment, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
        env |= {"RENKEI_DATABASE_URL": deployment.url, "RENKEI_LOG_LEVEL": "info"}
        command = [sys.executable, "-m", "renkei", "serve", "--port", str(self.port), "--workers", "2"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(deployment.data_dir)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.wait_for(lambda: len(self.serving()) == 2, "two workers answering")

    def health(self) -> dict[str, object]:
        answer = httpx.get(self.base + "/healthz", timeout=5)  # a new connection each time
        assert answer.status_code == 200, answer.text
        process = answer.json()["process"]
        assert isinstance(process, dict)
        return process

    def serving(self, attempts: int = 200) -> dict[int, bool]:
        """The workers seen answering (pid → runs the background jobs), over fresh connections."""
        seen: dict[int, bool] = {}
        for _ in range(attempts):
            try:
                process = self.health()
            except httpx.TransportError:
                return seen
            seen[int(str(process["pid"]))] = bool(process["background_jobs"])
            if len(seen) == 2:
                break
        return seen

    def workers(self) -> list[int]:
        """The supervisor's worker processes (not multiprocessing's resource tracker)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(p) for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (httpx.TransportError, OSError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what}: not in time\n{self.log.read_text()[-4000:]}")
            time.sleep(0.2)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """千代田区 (u17) may ask 中央区's 個人住民税 (u06) for one person's income; the provider serves on
    loopback in this process."""
    with database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url:
        data_dir = tmp_path / "var"
        platform = build_platform(Settings(data_dir=data_dir, database_url=url), clock=SystemClock())
        sock = bound_socket()
        try:
            registry, linkage = platform.registry, platform.linkage
            registry.add_organisation("LG", "131016", "千代田区")
            registry.add_organisation("LG", "131024", "中央区")
            client = registry.enrol(CHIYODA, 17)
            registry.add_member(CHUO, 6, endpoint=f"http://127.0.0.1:{sock.getsockname()[1]}")
            registry.provide(f"{CHUO}/u06", "income-certificate")
            items = {"individual-resident-tax": ("fiscal_year", "total_income", "taxable_income")}
            registry.add_purpose(PURPOSE, "乳幼児医療費助成", "児童福祉法", items)
            linkage.register_organisation(CHIYODA)
            linkage.register_organisation(CHUO)
            info = BasicInfo("山田 花子", "東京都千代田区1-1", date(2020, 5, 1), Sex.FEMALE)
            person = platform.identity.enrol(info)
            linkage.register_local_id(CHIYODA, ATENA, person.person_key)
            linkage.fugo_for(CHIYODA, person.person_key)
            fugo = linkage.fugo_for(CHUO, person.person_key)
            hub_key = member_hub_key(FileKeyStore(data_dir / "keys").secret(HUB_KEY_NAME, 32), f"{CHUO}/u06")
        finally:
            platform.storage.close()
        with serve(income_provider({fugo: dict(ROW)}, hub_key=hub_key), sock):
            yield Deployment(data_dir, url, client)


def query(client: Enrolment) -> tuple[dict[str, str], bytes]:
    body = b'{"atena_number": "000000000000011", "fiscal_year": 2025}'
    member = str(client.member.id)
    token = sign_request(
        client.private_key_pem,
        member,
        "POST",
        SERVICE_PATH,
        body,
        SystemClock().now(),
        certificate=client.certificate_pem,
    )
    headers = {
        SIGNATURE_HEADER: token,
        "X-Road-Client": member,
        "X-Road-Issue": PURPOSE,
        "Content-Type": "application/json",
    }
    return headers, body


def healthz_count(metrics: str) -> float:
    return counter(metrics, "renkei_http_requests_total", method="GET", route="/healthz", status="2xx")


def alive(pid: int) -> bool:
    """The process runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def counter(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_two_workers_serve_one_deployment(deployment: Deployment, tmp_path: Path) -> None:
    hub = Supervised(deployment, tmp_path / "serve.log")
    try:
        for _ in range(QUERIES):
            headers, body = query(deployment.client)
            answer = httpx.post(hub.base + SERVICE_PATH, headers=headers, content=body, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["total_income"] == 2_500_000
        # A signed request replayed on a new connection: whichever worker gets it, the nonce is taken.
        headers, body = query(deployment.client)
        assert httpx.post(hub.base + SERVICE_PATH, headers=headers, content=body).status_code == 200
        replays = [httpx.post(hub.base + SERVICE_PATH, headers=headers, content=body) for _ in range(6)]
        assert {r.status_code for r in replays} == {401}, [r.text for r in replays]
        assert {r.json()["reason"] for r in replays} == {"registry.auth.replayed"}

        metrics = httpx.get(hub.base + "/metrics").text
        labels = {"service": "income-certificate"}
        assert counter(metrics, "renkei_exchanges_total", outcome="allowed", **labels) == QUERIES + 1
        assert counter(metrics, "renkei_exchanges_total", outcome="denied", **labels) == 6
        assert hub.stop() == 0
    finally:
        hub.stop()
    platform = build_platform(Settings(data_dir=deployment.data_dir, database_url=deployment.url))
    try:
        report = platform.audit.verify()
        assert report.ok, report.findings
        assert report.records == 2 * (QUERIES + 1)  # the client's and the provider's record of each
        logged = SqlExchangeStore(connection_source(platform.storage)).entries(limit=1000)
        assert len(logged) == QUERIES + 1 + 6
    finally:
        platform.storage.close()


def test_a_second_supervisor_or_a_taken_port_is_refused_and_the_running_one_keeps_its_counts(
    deployment: Deployment, tmp_path: Path
) -> None:
    hub = Supervised(deployment, tmp_path / "serve.log")
    try:
        for _ in range(5):
            hub.health()
        before = healthz_count(httpx.get(hub.base + "/metrics").text)
        assert before >= 5
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
        env["RENKEI_DATABASE_URL"] = deployment.url
        serve = [sys.executable, "-m", "renkei", "serve", "--workers", "2"]
        same_dir = [*serve, "--port", str(free_port()), "--data-dir", str(deployment.data_dir)]
        same_port = [*serve, "--port", str(hub.port), "--data-dir", str(tmp_path / "other")]
        for command, code in (
            (same_dir, "workers.deployment_running"),
            (same_port, "workers.port_unavailable"),
        ):
            out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 2 and f"error [{code}]" in out.stderr, out.stderr[-2000:]
        assert not (tmp_path / "other" / "run" / "metrics").exists()
        # Nothing of the running deployment was touched: its counters go on from where they were.
        assert healthz_count(httpx.get(hub.base + "/metrics").text) >= before
    finally:
        hub.stop()


def test_the_workers_stop_when_their_supervisor_is_killed(deployment: Deployment, tmp_path: Path) -> None:
    hub = Supervised(deployment, tmp_path / "serve.log")
    try:
        workers = hub.workers()
        os.kill(hub.process.pid, signal.SIGKILL)
        hub.process.wait()
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if alive(pid)], "a worker outlived its supervisor"
    finally:
        hub.stop()


def test_one_worker_runs_the_jobs_and_another_takes_over_when_it_dies(
    deployment: Deployment, tmp_path: Path
) -> None:
    hub = Supervised(deployment, tmp_path / "serve.log")
    lock = deployment.data_dir / "run" / "leader.lock"
    try:
        serving = hub.serving()
        leaders = [pid for pid, jobs in serving.items() if jobs]
        assert len(leaders) == 1 and sorted(serving) == sorted(hub.workers())
        assert lock.read_text() == f"{leaders[0]}\n"

        os.kill(leaders[0], signal.SIGKILL)
        # The other worker takes the jobs over; the supervisor starts a worker in the dead one's place.
        hub.wait_for(lambda: lock.read_text() not in ("", f"{leaders[0]}\n"), "a new leader")
        hub.wait_for(lambda: len(hub.workers()) == 2 and leaders[0] not in hub.workers(), "a new worker")
        hub.wait_for(lambda: len(hub.serving()) == 2, "two workers answering again")
        serving = hub.serving()
        assert [pid for pid, jobs in serving.items() if jobs] == [int(lock.read_text())]
        workers = hub.workers()
        assert hub.stop() == 0
        for pid in workers:
            assert not alive(pid), f"worker {pid} outlived the supervisor"
        assert lock.read_text() == ""
    finally:
        hub.stop()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "2", "--federation-port", "1"], "--federation-port runs in one process"),
    ],
)
def test_workers_the_cli_refuses(flags: list[str], message: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "renkei", "serve", "--data-dir", str(tmp_path / "var"), *flags]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    said = " ".join(out.stderr.replace("│", " ").split())  # typer's box wraps the message
    assert out.returncode == 2 and message in said, out.stderr
    assert not (tmp_path / "var").exists()  # refused before anything was created


def test_the_supervisor_gives_up_when_workers_keep_dying_at_start(tmp_path: Path) -> None:
    # A damaged demo manifest: the supervisor's migration passes, every worker's build_app fails.
    data_dir = tmp_path / "var"
    (demo_directory(data_dir)).mkdir(parents=True)
    (demo_directory(data_dir) / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    command = [sys.executable, "-m", "renkei", "serve", "--port", str(free_port()), "--workers", "2"]
    out = subprocess.run(
        [*command, "--data-dir", str(data_dir)], env=env, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 1, out.stderr[-3000:]
    assert "every worker failed to come up 3 times in a row: stopping" in out.stderr


def test_restarts_pause_longer_for_a_worker_that_keeps_failing_and_only_all_failing_ends_it() -> None:
    supervisor = _Supervisor.__new__(_Supervisor)  # the restart policy alone, without processes
    supervisor._slots = [_Slot(), _Slot()]
    healthy, failing = supervisor._slots

    def exits(slot: _Slot, lived: float) -> bool:
        slot.process = ctx.Process(target=int)
        slot.process.start()
        slot.process.join()
        slot.started = time.monotonic() - lived
        return supervisor._ended(slot)

    ctx = multiprocessing.get_context("spawn")
    pauses = []
    for _ in range(5):
        assert not exits(failing, 1.0), "one worker failing while another serves goes on"
        pauses.append(round(failing.restart_at - time.monotonic(), 1))
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert not exits(healthy, 3600.0) and healthy.restart_at <= time.monotonic()  # up an hour: at once
    assert not exits(healthy, 1.0) and not exits(healthy, 1.0)
    assert exits(healthy, 1.0), "every worker failed to come up three times in a row: give up"
