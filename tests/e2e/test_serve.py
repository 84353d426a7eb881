"""`renkei serve` as `make run` starts it: a real process on loopback, answering over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "renkei", "serve", "--port", str(port), "--data-dir", str(tmp_path / "var")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"renkei serve did not come up:\n{out}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
    assert (tmp_path / "var" / "renkei.db").exists()


def test_serve_answers_health_spec_browser_and_docs(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as http:
        health = http.get("/healthz").json()
        assert health["status"] == "ok"
        page = http.get("/spec")
        assert page.status_code == 200 and "住民基本台帳" in page.text
        assert http.get("/openapi.json").json()["openapi"].startswith("3.1")
        assert http.get("/docs").status_code == 200
        assert http.get("/", follow_redirects=False).headers["location"] == "/spec"
