"""A query across deployments against the same query inside one, concurrency 8, in one run.

    .venv/bin/python bench/federation.py [--requests 500] [--residents 300] [--second-residents 200]

A :class:`renkei.demo.federation.FederationPair` (SQLite, two `renkei serve` processes with their mutual-TLS
hub listeners, 中央区's 符号 acquired at DC2 from DC1). Both runs ask DC1 as 千代田区 乳幼児医療 (u17) for
an `income-certificate` under `infant-medical-subsidy`:

* local: 千代田区 u17 → 千代田区 u06 (DC1 only), for 千代田区 residents assessed there;
* cross: 千代田区 u17 → 中央区 u06, hosted by DC2 (DC1 converts to 中央区's 符号, forwards over mutual TLS,
  DC2 authorises, asks its member system, records; both ends keep access records), for the adults of
  the family that moved from 中央区 to 千代田区 (the only 千代田区 residents 中央区 assessed).

Requests are signed before the clock starts (each with its own nonce and Idempotency-Key); the load
generator is an httpx AsyncClient with 8 connections in this process. A non-2xx answer counts as an error
and is reported; the figures are of answered requests. Prints throughput of both, p50/p99 of each and the
added p50/p99, and as its last line the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from renkei.demo.federation import (
    CHIYODA,
    INCOME_SERVICE,
    FederationPair,
    MemberCredentials,
    SignedQuery,
    populations_of,
    signed_query,
    the_family,
)
from renkei.demo.records import population_records
from renkei.types import InformationId

CONCURRENCY = 8
WARMUP = 40
LOCAL_SERVICE = f"JP/LG/{CHIYODA}/u06/income-certificate"


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    latencies: list[float]
    errors: dict[int, int]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def _drive(base_url: str, queries: list[SignedQuery]) -> Run:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    latencies: list[float] = []
    errors: dict[int, int] = {}
    pending = iter(queries)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for query in pending:
                started = time.perf_counter()
                response = await client.post(query.target, content=query.body, headers=dict(query.headers))
                elapsed = time.perf_counter() - started
                if response.is_success:
                    latencies.append(elapsed)
                else:
                    errors[response.status_code] = errors.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return Run(time.perf_counter() - started, latencies, errors)


def _queries(credentials: MemberCredentials, service: str, atenas: list[str], n: int) -> list[SignedQuery]:
    return [
        signed_query(
            credentials,
            service,
            {"atena_number": atenas[i % len(atenas)], "fiscal_year": 2025},
            idempotency_key=str(uuid.uuid4()),
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--residents", type=int, default=300)
    parser.add_argument("--second-residents", type=int, default=200)
    parser.add_argument("--root", type=Path, default=None, help="keep the deployments here")
    args = parser.parse_args()
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    with FederationPair(
        args.root, residents=args.residents, second_residents=args.second_residents, log=log
    ) as pair:
        if pair.failed_steps:
            print(f"set-up failed: {[s.name for s in pair.failed_steps]}", file=sys.stderr)
        family = the_family(pair)
        chiyoda, _ = populations_of(pair)
        moved = {m[2] for m in family.members}
        taxed = [
            str(r["atena_number"])
            for r in population_records(chiyoda)[InformationId("individual-resident-tax")]
            if r["atena_number"] not in moved
        ]
        cross_people = [family.guardian_chiyoda] + [
            m[2] for m in family.members if m[3] >= 18 and m[2] != family.guardian_chiyoda
        ]
        local_people = taxed[: len(cross_people)]
        credentials = MemberCredentials.load(pair.dc1.data_dir, f"JP/LG/{CHIYODA}/u17")
        for service, people in ((LOCAL_SERVICE, local_people), (INCOME_SERVICE, cross_people)):
            asyncio.run(_drive(pair.dc1.base_url, _queries(credentials, service, people, WARMUP)))
        local_queries = _queries(credentials, LOCAL_SERVICE, local_people, args.requests)
        cross_queries = _queries(credentials, INCOME_SERVICE, cross_people, args.requests)
        local = asyncio.run(_drive(pair.dc1.base_url, local_queries))
        cross = asyncio.run(_drive(pair.dc1.base_url, cross_queries))
    for name, run in (("local (DC1 only)", local), ("cross (DC1 → DC2)", cross)):
        print(
            f"{name:18s} {len(run.latencies):5d} answered in {run.seconds:6.2f} s:"
            f" {run.throughput:7.1f} req/s,"
            f" p50 {run.percentile(0.50):6.1f} ms, p99 {run.percentile(0.99):6.1f} ms"
            + (f", errors {run.errors}" if run.errors else "")
        )
    print(
        f"added by crossing: p50 {cross.percentile(0.50) - local.percentile(0.50):+.1f} ms,"
        f" p99 {cross.percentile(0.99) - local.percentile(0.99):+.1f} ms"
    )
    ratio = cross.throughput / local.throughput if local.throughput else 0.0
    print(f"cross/local throughput ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
