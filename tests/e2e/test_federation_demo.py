"""`renkei demo federation`: two real deployments on loopback (DC1 千代田区 and the linkage base, DC2 中央区),
each a `renkei serve` process with its hub-to-hub mutual-TLS listener, seeded, trusting each other by CA
fingerprint, 中央区's 符号 acquired at DC2 from the base — then case (a) 乳幼児医療 for the family that moved
from 中央区 to 千代田区, and case (b) 中央区's u17 in DC1 asking its u06 in DC2.

On SQLite and on PostgreSQL (two databases of the test run's cluster). And a fault: DC2 stopped → the query at
DC1 gets a typed problem and DC1 keeps no access record for it; DC2 started again → the same query (same
Idempotency-Key) is answered.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from tests.exchange.notifications_harness import database

from renkei.cli.demo import access_records
from renkei.demo.federation import (
    CHIYODA,
    INCOME_SERVICE,
    FederationPair,
    MemberCredentials,
    send,
    signed_query,
    the_family,
)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Command-line options giving each deployment its database (none: SQLite in its data directory)."""
    if request.param == "sqlite":
        yield []
        return
    with ExitStack() as stack:
        pg = lambda: request.getfixturevalue("pg_url")  # noqa: E731
        dc1 = stack.enter_context(database("postgresql", tmp_path / "dc1", pg))
        dc2 = stack.enter_context(database("postgresql", tmp_path / "dc2", pg))
        yield ["--database-url-dc1", dc1, "--database-url-dc2", dc2]


def test_the_demo_runs_both_cases_across_two_deployments(urls: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "renkei", "demo", "federation", "--root", str(tmp_path / "pair"), *urls],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out[-6000:] + done.stderr[-3000:]
    assert "all 12 checks passed" in out
    assert out.count("[ok]") == 12 and "[FAILED]" not in out
    assert "access record at DC1: side=requester" in out
    assert "access record at DC2: side=provider" in out
    assert "the moving family: 中央区 世帯" in out
    # what DC2's member system received: a 符号, never a 宛名番号
    received = [line for line in out.splitlines() if line.startswith("DC2 u06 received: ")]
    assert len(received) == 2 and all('"person_fugo"' in r and "atena" not in r for r in received)


def test_a_stopped_peer_is_a_typed_problem_and_the_same_query_succeeds_after_a_restart(
    tmp_path: Path,
) -> None:
    with FederationPair(tmp_path / "pair") as pair:
        family = the_family(pair)
        credentials = MemberCredentials.load(pair.dc1.data_dir, f"JP/LG/{CHIYODA}/u17")
        key = str(uuid.uuid4())
        items = {"atena_number": family.guardian_chiyoda, "fiscal_year": 2025}

        pair.stop(pair.dc2)
        refused = send(
            pair.dc1.base_url, signed_query(credentials, INCOME_SERVICE, items, idempotency_key=key)
        )
        assert refused.status_code >= 500, refused.text
        problem = refused.json()
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert str(problem["code"]).startswith(("exchange.", "tenancy.peer.")), problem
        assert access_records(pair.dc1, refused.headers.get("X-Road-Id", "")) == []

        pair.start(pair.dc2)
        answered = send(
            pair.dc1.base_url, signed_query(credentials, INCOME_SERVICE, items, idempotency_key=key)
        )
        assert answered.status_code == 200, answered.text
        assert answered.json() == dict(family.expected)
        message_id = answered.headers["X-Road-Id"]
        assert [r["side"] for r in access_records(pair.dc1, message_id)] == ["requester"]
        assert [r["side"] for r in access_records(pair.dc2, message_id)] == ["provider"]
