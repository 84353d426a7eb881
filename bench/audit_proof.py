"""Benchmark: one inclusion proof in a 1,000,000-record SQLite log (goal ≤ 1 ms); prints the median."""

from __future__ import annotations

import random
import statistics
import sys
import time

from audit_verify import build_log
from renkei.audit.verify import inclusion_proof_valid

RECORDS = 1_000_000
SAMPLES = 2_000


def main() -> None:
    rng = random.Random(2026)
    with build_log(RECORDS) as log:
        ids = [f"r{rng.randrange(RECORDS):09d}" for _ in range(SAMPLES)]
        for record_id in ids[:50]:  # warm the statement cache and the page cache
            log.inclusion_proof(record_id)
        times = []
        for record_id in ids:
            started = time.perf_counter()
            proof = log.inclusion_proof(record_id)
            times.append(time.perf_counter() - started)
            assert proof.path
        assert all(inclusion_proof_valid(log.inclusion_proof(i), log.public_key) for i in ids[:100])
    median_ms = statistics.median(times) * 1000
    p99_ms = statistics.quantiles(times, n=100)[98] * 1000
    print(f"{SAMPLES} proofs: p99 {p99_ms:.3f} ms", file=sys.stderr)
    print(f"audit proof: median {median_ms:.3f} ms per inclusion proof in {RECORDS} records (goal <= 1 ms)")


if __name__ == "__main__":
    main()
