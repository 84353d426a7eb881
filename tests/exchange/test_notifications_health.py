"""``/healthz`` with the checks the composition root wires: the keys and the notification outbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from renkei.api.health import key_file
from renkei.exchange.notifications.models import OutboxStats
from renkei.storage.errors import StorageUnavailable


def _missing_key() -> bytes:
    raise FileNotFoundError("var/keys/exchange.hub.member-root")


def _health(client: TestClient, **state: Any) -> tuple[int, dict[str, Any]]:
    for name, value in state.items():
        setattr(client.app.state, name, value)  # type: ignore[attr-defined]
    response = client.get("/healthz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_the_composition_root_wires_keys_and_the_outbox(client: TestClient) -> None:
    status, body = _health(client)
    assert status == 200 and set(body["checks"]) == {"spec", "database", "keys", "outbox"}
    assert body["checks"]["outbox"] == {"status": "ok", "depth": 0, "dead_letters": 0, "lag_seconds": 0.0}
    assert set(body["checks"]["keys"]) == {"status", "exchange.hub.member-root", "audit.head-signing"}


def test_a_healthy_outbox_and_loadable_keys(client: TestClient) -> None:
    status, body = _health(
        client,
        outbox_stats=lambda: OutboxStats(depth=3, dead_letters=0, lag_seconds=1.25),
        key_checks={"hub": lambda: b"k" * 32, "audit": lambda: object()},
    )
    assert status == 200 and body["status"] == "ok"
    assert body["checks"]["outbox"] == {"status": "ok", "depth": 3, "dead_letters": 0, "lag_seconds": 1.25}
    assert body["checks"]["keys"] == {"status": "ok", "hub": {"status": "ok"}, "audit": {"status": "ok"}}


def test_dead_letters_or_lag_degrade_and_a_missing_key_fails(client: TestClient) -> None:
    status, body = _health(client, outbox_stats=lambda: OutboxStats(depth=0, dead_letters=2, lag_seconds=0))
    assert status == 200 and body["status"] == "degraded"
    status, body = _health(client, outbox_stats=lambda: OutboxStats(depth=9, dead_letters=0, lag_seconds=301))
    assert (status, body["checks"]["outbox"]["status"]) == (200, "degraded")
    status, body = _health(client, key_checks={"hub": _missing_key})
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["keys"]["hub"] == {"status": "fail", "error": "FileNotFoundError"}
    assert "var/keys" not in str(body), "no paths or key material on a public endpoint"


def test_a_key_file_check_reads_without_creating(client: TestClient, tmp_path: Path) -> None:
    good, loose, short, missing = (tmp_path / n for n in ("good.key", "loose.key", "short.key", "none.key"))
    for path, size, mode in ((good, 32, 0o600), (loose, 32, 0o644), (short, 31, 0o600)):
        path.write_bytes(bytes(size))
        path.chmod(mode)
    checks = {
        n: key_file(p, 32) for n, p in (("good", good), ("loose", loose), ("short", short), ("none", missing))
    }
    status, body = _health(client, key_checks=checks)
    assert status == 503
    assert {n: c["status"] for n, c in body["checks"]["keys"].items() if n != "status"} == {
        "good": "ok",
        "loose": "fail",
        "short": "fail",
        "none": "fail",
    }
    assert not missing.exists(), "a check never makes the key it looks for"


def test_an_unreadable_outbox_fails(client: TestClient) -> None:
    def gone() -> OutboxStats:
        raise StorageUnavailable("the database went away")

    status, body = _health(client, outbox_stats=gone)
    assert status == 503 and body["checks"]["outbox"] == {"status": "fail", "code": "storage.unavailable"}
