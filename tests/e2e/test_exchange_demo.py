"""The demo's member systems talking through a real hub: `renkei demo seed`, a real `renkei serve` process,
and `renkei exchange call` (as a subprocess) signing requests with the demo members' keys.

千代田区 乳幼児医療 (u17) asks its 個人住民税 system (u06) for an `income-certificate` under the purpose
`infant-medical-subsidy` (allowed, access records written); 住民基本台帳 (u01) asking u06 is refused by the
linkage matrix, 児童手当 (u15) asking with a purpose that does not use 個人住民税情報 is refused by the
registry; an unsigned request is 401.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from renkei.demo.federation import MemberCredentials
from renkei.registry.auth import SIGNATURE_HEADER, sign_request

CHIYODA = "131016"
INCOME = "JP/LG/131016/u06/income-certificate"
ATENA = "000000000000043"
"""千代田区's 4th resident with seed 0 (a business income, 課税標準額 3,410,000)."""


@dataclass(frozen=True)
class Demo:
    base: str
    data_dir: Path
    env: dict[str, str]

    def renkei(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "renkei", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def exchange_call(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`renkei exchange call …`: through `renkei` once cli/main.py mounts it, else the Typer app."""
        from renkei.cli.main import app

        if any(group.name == "exchange" for group in app.registered_groups):
            command = [sys.executable, "-m", "renkei", "exchange"]
        else:
            command = [sys.executable, "-c", "from renkei.cli.exchange import exchange_app; exchange_app()"]
        return subprocess.run(
            [*command, "call", *args, "--data-dir", str(self.data_dir), "--hub", self.base],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reply_body(stdout: str) -> dict[str, object]:
    """The JSON body `renkei exchange call` prints after the status line and headers."""
    body: dict[str, object] = json.loads(stdout[stdout.index("\n{") :])
    return body


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("exchange-demo")
    data_dir = root / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    demo = Demo(base, data_dir, env)
    seeded = demo.renkei(
        "demo", "seed", "--data-dir", str(data_dir), "--residents", "200", "--second-residents", "20",
        "--base-url", base,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "renkei", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"renkei serve did not come up:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield demo
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_allowed_query_through_the_hub_writes_access_records(demo: Demo) -> None:
    before = httpx.get(demo.base + "/audit/heads/latest", timeout=10).json()["tree_size"]
    fugo = demo.renkei("demo", "fugo", ATENA, "--data-dir", str(demo.data_dir), check=True).stdout.strip()
    assert len(fugo) >= 16  # the demo knows the resident (their 千代田区 符号)

    done = demo.exchange_call(
        INCOME,
        "--client", "JP/LG/131016/u17",
        "--purpose", "infant-medical-subsidy",
        "--data", json.dumps({"atena_number": ATENA, "fiscal_year": 2025}),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "HTTP 200 OK"
    assert any(line.startswith("X-Road-Id: ") for line in lines)
    assert any(line.startswith("X-Road-Request-Hash: ") for line in lines)
    body = reply_body(done.stdout)
    assert body["fiscal_year"] == 2025
    assert body["taxable_income"] == 3_410_000 and body["tax_amount"] == 346_000
    # The purpose covers only some 個人住民税 items: the rest are filtered out; never the 宛名番号.
    assert "salary_income" not in body and "atena_number" not in body

    # Access records: two per provision (requester and provider side), under a fresh signed head.
    published = demo.renkei("audit", "publish", "--data-dir", str(demo.data_dir), check=True)
    assert json.loads(published.stdout)["tree_size"] >= before + 2
    latest = httpx.get(demo.base + "/audit/heads/latest", timeout=10).json()
    assert latest["tree_size"] >= before + 2
    verified = demo.renkei("audit", "verify", "--data-dir", str(demo.data_dir))
    assert verified.returncode == 0 and verified.stdout.startswith("OK: "), verified.stdout


def test_get_form_of_the_query_is_signed_over_the_query_string(demo: Demo) -> None:
    done = demo.exchange_call(
        INCOME, "--method", "GET", "--data", json.dumps({"atena_number": ATENA, "fiscal_year": 2025})
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert reply_body(done.stdout)["taxable_income"] == 3_410_000


def test_matrix_denial_names_the_rule(demo: Demo) -> None:
    """住民基本台帳 (unit 1) may not receive 個人住民税情報: `renkei spec why 6 1 個人住民税情報` exits 1."""
    why = demo.renkei("spec", "why", "6", "1", "個人住民税情報")
    assert why.returncode == 1 and "不許可" in why.stdout
    done = demo.exchange_call(
        INCOME,
        "--client", "JP/LG/131016/u01",
        "--purpose", "resident-tax-assessment",
        "--data", json.dumps({"atena_number": ATENA, "fiscal_year": 2025}),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "HTTP 403 Forbidden"
    assert "application/problem+json" in done.stdout
    problem = reply_body(done.stdout)
    assert problem["code"] == "exchange.client.unauthorised"
    assert problem["xroad_code"] == "Client.AccessDenied"
    assert problem["rule"] == "spec.matrix"
    assert (problem["sender"], problem["receiver"]) == (6, 1)


def test_purpose_denial_names_the_rule(demo: Demo) -> None:
    """児童手当 (15) may receive 個人住民税情報, but not for 個人住民税の賦課 (which uses only 住基情報)."""
    done = demo.exchange_call(
        INCOME,
        "--client", "JP/LG/131016/u15",
        "--purpose", "resident-tax-assessment",
        "--data", json.dumps({"atena_number": ATENA, "fiscal_year": 2025}),
    )  # fmt: skip
    assert done.returncode == 1
    problem = reply_body(done.stdout)
    assert problem["status"] == 403 and problem["rule"] == "registry.purpose"


def test_unsigned_request_is_401(demo: Demo) -> None:
    response = httpx.post(
        f"{demo.base}/r1/{INCOME}",
        json={"atena_number": ATENA, "fiscal_year": 2025},
        headers={"X-Road-Client": "JP/LG/131016/u17", "X-Road-Issue": "infant-medical-subsidy"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "exchange.client.unauthenticated"
    assert problem["reason"] == "registry.auth.missing"
    assert response.headers["X-Road-Id"]


def test_the_simulated_members_answer_the_hub_only_and_show_what_they_received_to_themselves_only(
    demo: Demo,
) -> None:
    # Straight to the member system, around the hub: no hub signature, no answer (and no query logged).
    members = f"{demo.base}/demo/members/{CHIYODA}"
    around = httpx.post(
        f"{members}/u06/income-certificate", json={"atena_number": ATENA, "fiscal_year": 2025}
    )
    assert around.status_code == 400 and around.json()["code"] == "demo.request.invalid"
    assert "山田" not in around.text and "total_income" not in around.text
    # Through the hub: allowed, and u06 received the query with its own 符号 only.
    called = demo.exchange_call(
        INCOME, "--client", "JP/LG/131016/u17", "--purpose", "infant-medical-subsidy",
        "--data", json.dumps({"atena_number": ATENA, "fiscal_year": 2025}),
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    message_id = next(
        line.split(": ", 1)[1] for line in called.stdout.splitlines() if line.startswith("X-Road-Id")
    )
    # What u06 received is its own to see: unsigned, or signed by another member system, it is refused.
    for view in ("events", "received"):
        unsigned = httpx.get(f"{members}/u06/{view}")
        assert unsigned.status_code == 401 and unsigned.json()["code"] == "demo.viewer.refused"
    u17 = MemberCredentials.load(demo.data_dir, "JP/LG/131016/u17")
    target = f"/demo/members/{CHIYODA}/u06/received"
    token = sign_request(
        u17.private_key, str(u17.member), "GET", target, b"", datetime.now(UTC), certificate=u17.certificate
    )
    other = httpx.get(demo.base + target, headers={SIGNATURE_HEADER: token})
    assert other.status_code == 401 and "not by JP/LG/131016/u17" in other.json()["detail"]
    by_u17 = demo.renkei(
        "demo", "inbox", "JP/LG/131016/u17", "--data-dir", str(demo.data_dir), "--hub", demo.base
    )
    assert by_u17.returncode == 0, by_u17.stderr  # u17 reads its own inbox
    inbox = demo.renkei(
        "demo", "inbox", "JP/LG/131016/u06", "--queries", "--data-dir", str(demo.data_dir), "--hub", demo.base
    )  # fmt: skip
    assert inbox.returncode == 0, inbox.stderr
    [seen] = [q for q in json.loads(inbox.stdout)["queries"] if q["message_id"] == message_id]
    sent = json.loads(seen["body"])
    assert "person_fugo" in sent and "atena_number" not in sent and ATENA not in seen["body"]
    assert all(q["message_id"] for q in json.loads(inbox.stdout)["queries"]), "nothing unsigned was logged"
