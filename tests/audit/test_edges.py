"""``renkei audit …`` and the ``/audit`` HTTP API, built directly (until app.py and cli/main.py wire them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from renkei.api.audit import router
from renkei.api.errors import install_error_handlers
from renkei.audit.errors import SigningKeyInvalid
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.publisher import publish_heads
from renkei.audit.service import AuditLog
from renkei.audit.verify import consistency_valid, inclusion_valid
from renkei.cli.audit import app as audit_cli
from renkei.cli.audit import key_path
from renkei.settings import Settings
from renkei.storage.clock import SystemClock
from renkei.storage.sql import create_storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source
from tests.audit.factories import access_record, sqlite_log


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A deployment's data directory holding a log of 10 records, a head over them, and its key."""
    data = tmp_path / "var"
    settings = Settings(data_dir=data)
    signer = Ed25519HeadSigner.from_file(key_path(settings), create=True)
    with create_storage(settings.effective_database_url) as storage:
        log = AuditLog(SqlAuditStore(connection_source(storage)), signer, SystemClock())
        log.append_many([access_record(i) for i in range(10)])
        log.publish_head()
    return data


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(audit_cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_verify_passes_and_then_names_the_first_bad_index(data_dir: Path) -> None:
    code, out = run("verify", "--data-dir", str(data_dir))
    assert code == 0
    assert out.startswith("OK: 10 records and 1 signed tree heads")
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(data_dir / "renkei.db")) as connection, connection:
        connection.execute(
            "UPDATE audit_record SET body = replace(body, 'msg-', 'msg-X') WHERE position >= 4"
        )
    code, out = run("verify", "--data-dir", str(data_dir))
    assert code == 1
    assert out.splitlines()[-1] == "FAILED: first bad record index 4"


def test_an_auditor_needs_only_the_public_key(data_dir: Path) -> None:
    public = Ed25519HeadSigner.from_file(key_path(Settings(data_dir=data_dir))).public_key.hex()
    key_path(Settings(data_dir=data_dir)).unlink()
    code, out = run("verify", "--data-dir", str(data_dir), "--public-key", public)
    assert code == 0, out
    with pytest.raises(SigningKeyInvalid):
        run("verify", "--data-dir", str(data_dir))


def test_verify_with_another_key_fails_on_the_heads(data_dir: Path) -> None:
    code, out = run(
        "verify", "--data-dir", str(data_dir), "--public-key", Ed25519HeadSigner.generate().public_key.hex()
    )
    assert code == 1
    assert out.splitlines()[-1] == "FAILED: bad signed tree head of size 10"
    with pytest.raises(SigningKeyInvalid):
        run("verify", "--data-dir", str(data_dir), "--public-key", "zz")


def test_prove_prints_a_proof_an_independent_verifier_accepts(data_dir: Path) -> None:
    code, out = run("prove", access_record(7).record_id, "--data-dir", str(data_dir), "--with-leaf")
    assert code == 0
    proof = json.loads(out)
    assert proof["leaf_index"] == 7
    assert proof["tree_size"] == 10
    assert proof["leaf"].startswith('{"index":7,')
    path = [bytes.fromhex(p) for p in proof["audit_path"]]
    root = bytes.fromhex(proof["sth"]["root_hash"])
    assert inclusion_valid(7, 10, bytes.fromhex(proof["leaf_hash"]), path, root)


def test_publish_consistency_and_retention(data_dir: Path) -> None:
    with create_storage(Settings(data_dir=data_dir).effective_database_url) as storage:
        log = AuditLog(
            SqlAuditStore(connection_source(storage)),
            Ed25519HeadSigner.from_file(key_path(Settings(data_dir=data_dir))),
            SystemClock(),
        )
        log.append(access_record(10))
    code, out = run("publish", "--data-dir", str(data_dir))
    assert code == 0
    assert json.loads(out)["tree_size"] == 11
    code, out = run("consistency", "10", "11", "--data-dir", str(data_dir))
    assert code == 0
    assert len(json.loads(out)["consistency_path"]) >= 1
    code, out = run("retention", "--data-dir", str(data_dir))
    assert code == 0
    assert out.strip() == "0 record bodies dropped"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, AuditLog]]:
    with sqlite_log(tmp_path / "a.db") as log:
        app = FastAPI()
        install_error_handlers(app)
        app.state.audit_log = log
        app.include_router(router)
        with TestClient(app) as c:
            yield c, log


def test_the_http_api_serves_heads_and_proofs(client: tuple[TestClient, AuditLog]) -> None:
    http, log = client
    missing = http.get("/audit/heads/latest")
    assert missing.status_code == 404
    assert missing.json()["code"] == "audit.head.not_found"
    log.append_many([access_record(i) for i in range(6)])
    first = log.publish_head()
    log.append_many([access_record(i) for i in range(6, 9)])
    log.publish_head()
    latest = http.get("/audit/heads/latest").json()
    assert latest["tree_size"] == 9
    assert latest["public_key"] == log.public_key.hex()
    assert [h["tree_size"] for h in http.get("/audit/heads", params={"from_size": 7}).json()] == [9]
    proof = http.get(f"/audit/records/{access_record(4).record_id}/proof", params={"tree_size": 6}).json()
    assert "leaf" not in proof
    assert proof["sth"]["tree_size"] == 6
    assert inclusion_valid(
        4,
        6,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(p) for p in proof["audit_path"]],
        first.root_hash,
    )
    consistency = http.get("/audit/consistency", params={"first": 6, "second": 9}).json()
    assert consistency_valid(
        6,
        9,
        first.root_hash,
        bytes.fromhex(latest["root_hash"]),
        [bytes.fromhex(p) for p in consistency["consistency_path"]],
    )
    key = http.get("/audit/public-key").json()
    assert key["algorithm"] == "Ed25519"
    assert key["public_key"] == log.public_key.hex()
    assert http.get("/audit/records/nope/proof").json()["code"] == "audit.record.not_found"
    bad = http.get("/audit/consistency", params={"first": 9, "second": 6})
    assert bad.status_code == 400
    assert bad.json()["code"] == "audit.proof.invalid"


def test_heads_are_published_on_a_timer(tmp_path: Path) -> None:
    with sqlite_log(tmp_path / "a.db") as log:
        log.append(access_record(0))

        async def scenario() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(publish_heads(log, stop, interval_s=0.01))
            await asyncio.sleep(0.05)
            await asyncio.to_thread(log.append, access_record(1))
            await asyncio.sleep(0.05)
            stop.set()
            await task

        asyncio.run(scenario())
        assert [h.tree_size for h in log.heads()] == [1, 2]
