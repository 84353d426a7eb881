"""The same provider called directly and through the hub (signature check, authorisation, ID conversion,
hub signing, access records and message log all on), concurrency 32, in one run.

    .venv/bin/python bench/hub_vs_direct.py [--requests 2000] [--profile]

Prints throughput of both, the p50/p99 latency the hub adds, and as the last line the ratio.
Hub and provider are uvicorn servers on loopback in threads of this process (so they share one GIL with
the load generator); storage is SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from tests.exchange.harness import ATENA, SERVICE_PATH, World, running_world

from renkei.spec.loader import load_spec

CONCURRENCY = 32


async def _run(n: int, make: object) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                url, headers, body = make()  # type: ignore[operator]
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(response.text)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started, latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_world(Path(tmp), load_spec()) as world:
        provider_url = world.registry.provided_service("JP/LG/131024/u06", "income-certificate").endpoint
        direct_body = json.dumps({"person_fugo": world.provider_fugo, "fiscal_year": 2025}).encode()
        hub_body = json.dumps({"atena_number": ATENA, "fiscal_year": 2025}).encode()
        from tests.exchange.harness import HUB_KEY

        from renkei.exchange.signing import HubSigner

        signer = HubSigner(HUB_KEY)

        def direct() -> tuple[str, dict[str, str], bytes]:
            headers = {"X-Road-Id": "d", "X-Road-Client": "c", "X-Road-Service": "s"}
            headers["X-Renkei-Hub-Signature"] = signer.sign(
                "POST", "/income-certificate", int(time.time()), "d", "c", "s", direct_body
            )
            return provider_url + "/income-certificate", headers, direct_body

        def hub(w: World = world) -> tuple[str, dict[str, str], bytes]:
            return w.hub_url + SERVICE_PATH, w.signed("POST", SERVICE_PATH, hub_body), hub_body

        asyncio.run(_run(100, direct))
        asyncio.run(_run(100, hub))
        d_time, d_lat = asyncio.run(_run(args.requests, direct))
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        h_time, h_lat = asyncio.run(_run(args.requests, hub))
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    d_rps, h_rps = args.requests / d_time, args.requests / h_time
    print(f"direct: {d_rps:8.1f} req/s  p50 {_pct(d_lat, 50):6.1f} ms  p99 {_pct(d_lat, 99):6.1f} ms")
    print(f"hub:    {h_rps:8.1f} req/s  p50 {_pct(h_lat, 50):6.1f} ms  p99 {_pct(h_lat, 99):6.1f} ms")
    added50 = _pct(h_lat, 50) - _pct(d_lat, 50)
    added99 = _pct(h_lat, 99) - _pct(d_lat, 99)
    print(f"added latency: p50 {added50:6.1f} ms  p99 {added99:6.1f} ms")
    print(f"hub/direct throughput ratio: {h_rps / d_rps:.2f}")


if __name__ == "__main__":
    main()
