"""The same provider called directly and through the hub (signature check, authorisation, ID conversion,
hub signing, access records and message log all on), concurrency 32, in one run.

    .venv/bin/python bench/hub_vs_direct.py [--requests 2000] [--hub-workers N]

The provider runs as a uvicorn server in a process of its own on a loopback port. The hub is
``renkei serve [--workers N]`` started as an operator starts it, on the embedded SQLite default in a
temporary data directory that this process has enrolled the members in: every middleware, the lifespan's
background jobs, JSON access logs at the default level (to /dev/null). The load generator (a lean keep-alive
HTTP/1.1 client, 32 connections) runs in this process, and its requests are built and signed before the
clock starts, so neither run pays for the client's signing. For a profile, attach py-spy to a hub process
while it runs (``py-spy record --pid PID --format raw --gil``).

Prints throughput of both, the p50/p99 latency the hub adds, the CPU each process spent per request, and
as the last line the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from renkei.api.deps import Platform
from renkei.app import build_platform
from renkei.exchange.provider import income_provider
from renkei.exchange.signing import HUB_KEY_NAME, HubSigner, member_hub_key
from renkei.identity.keys import FileKeyStore
from renkei.identity.models import BasicInfo, Sex
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.settings import Settings
from renkei.storage.clock import SystemClock

CONCURRENCY = 32
WARMUP = 200
CHIYODA = "JP/LG/131016"
CHUO = "JP/LG/131024"
ATENA = "000000000000011"
PURPOSE = "infant-medical-subsidy"
PURPOSE_ITEMS = ("fiscal_year", "total_income", "taxable_income")
PROVIDER = f"{CHUO}/u06"
SERVICE_PATH = "/r1/JP/LG/131024/u06/income-certificate"
PROVIDER_PATH = "/income-certificate"
ROW = {"tax_status": "1", "taxable_income": 1_200_000, "total_income": 2_500_000, "tax_amount": 60_000}


@dataclass(frozen=True, slots=True)
class Caller:
    """What the hub process hands the load generator: the client's credentials and the person's 符号."""

    member_id: str
    private_key_pem: bytes
    certificate_pem: bytes
    provider_fugo: str
    hub_key: bytes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(app: FastAPI, port: int, stop: Event) -> None:
    """Serve ``app`` on ``port`` until ``stop`` is set (uvicorn in this process's main thread)."""
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", access_log=False))

    def watch() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    server.run()


def provider_process(port: int, fugo: str, hub_key: bytes, stop: Event) -> None:
    """The provider member system (個人住民税), checking the hub's signature."""
    _serve(income_provider({fugo: dict(ROW)}, hub_key=member_hub_key(hub_key, PROVIDER)), port, stop)


def _enrol(platform: Platform, provider_url: str) -> Caller:
    """Register the members, the purpose and the person (once, in the first hub process)."""
    registry, linkage = platform.registry, platform.linkage
    registry.add_organisation("LG", "131016", "千代田区")
    registry.add_organisation("LG", "131024", "中央区")
    client = registry.enrol(CHIYODA, 17)
    registry.add_member(CHUO, 6, endpoint=provider_url)
    registry.provide(PROVIDER, "income-certificate")
    registry.add_purpose(
        PURPOSE, "乳幼児医療費助成", "児童福祉法", {"individual-resident-tax": PURPOSE_ITEMS}
    )
    linkage.register_organisation(CHIYODA)
    linkage.register_organisation(CHUO)
    person = platform.identity.enrol(
        BasicInfo("山田 花子", "東京都千代田区1-1", date(2020, 5, 1), Sex.FEMALE)
    )
    linkage.register_local_id(CHIYODA, ATENA, person.person_key)
    linkage.fugo_for(CHIYODA, person.person_key)  # stored now: every hub process reads the same 符号
    return Caller(
        str(client.member.id),
        client.private_key_pem,
        client.certificate_pem,
        linkage.fugo_for(CHUO, person.person_key),
        FileKeyStore(platform.settings.data_dir / "keys").secret(HUB_KEY_NAME, 32),
    )


def start_hub(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``renkei serve --workers N`` on ``data_dir``, as an operator starts it (JSON logs at the default level,
    to /dev/null)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    command = [sys.executable, "-m", "renkei", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def hub_pids(hub: subprocess.Popen[bytes], workers: int) -> list[int]:
    """The serving processes: ``renkei serve`` itself, and with workers the workers it started."""
    if workers == 1:
        return [hub.pid]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{hub.pid}/task/{hub.pid}/children").read_text().split()
        spawned = [int(p) for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        if len(spawned) >= workers:
            return [hub.pid, *spawned]
        time.sleep(0.1)
    raise RuntimeError("the hub's workers did not start")


# --- the load generator: 32 keep-alive connections, one request in flight on each ---------------------


Request = bytes  # the whole HTTP/1.1 request, head and body


def _request(path: str, headers: dict[str, str], body: bytes) -> Request:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _run(port: int, requests: list[Request]) -> tuple[float, list[float]]:
    """Send ``requests`` over 32 connections; the wall time and each request's latency (seconds)."""
    latencies: list[float] = []
    pending = iter(requests)
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(CONCURRENCY)]

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for request in pending:
            started = time.perf_counter()
            status, body = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:300]!r}")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(r, w) for r, w in connections))
        return time.perf_counter() - started, latencies
    finally:
        for _, writer in connections:
            writer.close()


def _direct_requests(n: int, fugo: str, hub_key: bytes) -> list[Request]:
    signer = HubSigner(hub_key)
    body = json.dumps({"person_fugo": fugo, "fiscal_year": 2025}).encode()
    out = []
    for i in range(n):
        headers = {
            "Content-Type": "application/json",
            "X-Road-Id": f"direct-{i}",
            "X-Road-Client": "JP/LG/131016/u17",
            "X-Road-Service": "JP/LG/131024/u06/income-certificate",
            "X-Road-Issue": PURPOSE,
        }
        headers["X-Renkei-Hub-Signature"] = signer.sign(
            "POST",
            PROVIDER_PATH,
            int(time.time()),
            headers["X-Road-Id"],
            headers["X-Road-Client"],
            headers["X-Road-Service"],
            body,
            recipient=PROVIDER,
        )
        out.append(_request(PROVIDER_PATH, headers, body))
    return out


def _hub_requests(n: int, caller: Caller) -> list[Request]:
    body = json.dumps({"atena_number": ATENA, "fiscal_year": 2025}).encode()
    now = SystemClock().now()
    out = []
    for _ in range(n):
        token = sign_request(
            caller.private_key_pem,
            caller.member_id,
            "POST",
            SERVICE_PATH,
            body,
            now,
            certificate=caller.certificate_pem,
        )
        headers = {
            SIGNATURE_HEADER: token,
            "X-Road-Client": caller.member_id,
            "X-Road-Issue": PURPOSE,
            "Content-Type": "application/json",
        }
        out.append(_request(SERVICE_PATH, headers, body))
    return out


def _wait_listening(port: int, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server on port {port} died")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Measured:
    """One timed run: wall time, latencies, and the CPU seconds each process spent during it."""

    seconds: float
    latencies: list[float]
    hub_cpu: float
    provider_cpu: float
    client_cpu: float


def _measure(port: int, requests: list[Request], hub_pids: list[int], provider_pid: int | None) -> Measured:
    def now() -> tuple[float, float, float]:
        return sum(_cpu_seconds(p) for p in hub_pids), _cpu_seconds(provider_pid), time.process_time()

    before = now()
    seconds, latencies = asyncio.run(_run(port, requests))
    after = now()
    hub, provider, client = (b - a for a, b in zip(before, after, strict=True))
    return Measured(seconds, latencies, hub, provider, client)


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--hub-workers", type=int, default=1, help="renkei serve --workers N (processes serving the hub)"
    )
    args = parser.parse_args()
    n: int = args.requests
    workers: int = args.hub_workers
    if workers < 1:
        parser.error("--hub-workers must be at least 1")
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    provider_port, hub_port = _free_port(), _free_port()
    provider: Any = None
    hub: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            data_dir = Path(tmp) / "var"
            platform = build_platform(Settings(data_dir=data_dir))
            caller = _enrol(platform, f"http://127.0.0.1:{provider_port}")
            platform.storage.close()
            provider = ctx.Process(
                target=provider_process, args=(provider_port, caller.provider_fugo, caller.hub_key, stop)
            )
            provider.start()
            hub = start_hub(data_dir, hub_port, workers)
            _wait_listening(provider_port, provider.is_alive)
            _wait_listening(hub_port, lambda: hub is not None and hub.poll() is None)
            pids = hub_pids(hub, workers)

            direct_requests = _direct_requests(WARMUP + n, caller.provider_fugo, caller.hub_key)
            hub_requests = _hub_requests(WARMUP + n, caller)
            asyncio.run(_run(provider_port, direct_requests[:WARMUP]))
            asyncio.run(_run(hub_port, hub_requests[:WARMUP]))
            direct = _measure(provider_port, direct_requests[WARMUP:], pids, provider.pid)
            through = _measure(hub_port, hub_requests[WARMUP:], pids, provider.pid)
        finally:
            stop.set()
            if hub is not None:
                hub.terminate()
                hub.wait(60)
            if provider is not None:
                provider.join(30)
                if provider.is_alive():
                    provider.terminate()
    d_time, d_lat, h_time, h_lat = direct.seconds, direct.latencies, through.seconds, through.latencies
    d_rps, h_rps = n / d_time, n / h_time
    print(f"direct: {d_rps:8.1f} req/s  p50 {_pct(d_lat, 50):6.1f} ms  p99 {_pct(d_lat, 99):6.1f} ms")
    print(f"hub:    {h_rps:8.1f} req/s  p50 {_pct(h_lat, 50):6.1f} ms  p99 {_pct(h_lat, 99):6.1f} ms")
    added50 = _pct(h_lat, 50) - _pct(d_lat, 50)
    added99 = _pct(h_lat, 99) - _pct(d_lat, 99)
    print(f"added latency: p50 {added50:6.1f} ms  p99 {added99:6.1f} ms")

    # CPU per request of each process (all threads), independent of what else the machine runs.
    def ms(seconds: float) -> str:
        return f"{seconds * 1000 / n:5.2f} ms"

    hub_label = f"hub ({workers} process{'es' if workers > 1 else ''})"
    print(f"cpu per request, direct run: provider {ms(direct.provider_cpu)}", end="")
    print(f"  load generator {ms(direct.client_cpu)}")
    print(
        f"cpu per request, hub run:    {hub_label} {ms(through.hub_cpu)}  provider {ms(through.provider_cpu)}"
        f"  load generator {ms(through.client_cpu)}"
    )
    print(f"hub/direct throughput ratio: {h_rps / d_rps:.2f}")


if __name__ == "__main__":
    main()
