"""Structured JSON logs, and an access log that never carries personal data."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from renkei.api.logging import (
    ACCESS_LOGGER,
    AccessLogMiddleware,
    JsonFormatter,
    RequestIds,
    configure_logging,
)
from renkei.app import build_app, build_platform
from renkei.japanese.checkdigit import individual_number_check_digit, is_valid_individual_number
from renkei.settings import Settings
from renkei.spec.models import Spec

NAMES = ("renkei", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpx2", "httpcore")
BASE = "12345678901"
NUMBER = BASE + individual_number_check_digit(BASE)  # a valid 個人番号 (12 digits)


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back after each test."""
    saved = {
        n: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for n in NAMES
        for lg in [logging.getLogger(n)]
    }
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_number_is_a_valid_individual_number() -> None:
    assert len(NUMBER) == 12
    assert is_valid_individual_number(NUMBER)


def test_a_record_is_one_json_object_a_line() -> None:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    logging.getLogger("renkei.test").info("hello %s", "世界")
    logging.getLogger("uvicorn.error").warning("two\nlines")
    first, second = lines(stream)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "info"
    assert first["logger"] == "renkei.test"
    assert first["message"] == "hello 世界"
    assert first["time"].endswith("+00:00")
    assert second["message"] == "two\nlines"
    assert len(stream.getvalue().splitlines()) == 2


def test_an_exception_and_the_request_id_are_fields() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("renkei.x", logging.ERROR, __file__, 1, "failed", None, None)
        record.exc_info = sys.exc_info()
    record.request_id = "abc"
    entry = json.loads(formatter.format(record))
    assert entry["request_id"] == "abc"
    assert "ValueError: bad" in entry["exc"]


def test_configure_logging_is_idempotent_and_silences_uvicorn_access() -> None:
    configure_logging("info", stream=io.StringIO())
    stream = io.StringIO()
    handler = configure_logging("warning", stream=stream)
    for name in ("renkei", "uvicorn"):
        logger = logging.getLogger(name)
        assert [h for h in logger.handlers if h.get_name() == "renkei-json"] == [handler]
        assert logger.level == logging.WARNING
        assert not logger.propagate
    assert logging.getLogger("uvicorn.access").disabled
    logging.getLogger("uvicorn.access").warning('127.0.0.1 - "GET /x?n=%s HTTP/1.1" 200', NUMBER)
    logging.getLogger("renkei.x").info("below the level")
    assert stream.getvalue() == ""


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty", stream=io.StringIO())


def _app(request_ids: RequestIds) -> FastAPI:
    app = FastAPI()
    app.add_middleware(AccessLogMiddleware, request_ids=request_ids)

    @app.post("/people/{person_id}")
    def person(person_id: str) -> dict[str, str]:
        logging.getLogger("renkei.people").info("looked someone up")
        return {"ok": "yes"}

    return app


def test_the_access_log_names_the_route_template_and_stamps_the_request_id() -> None:
    stream = io.StringIO()
    request_ids = RequestIds()
    configure_logging("info", stream=stream, request_ids=request_ids)
    with TestClient(_app(request_ids)) as client:
        reply = client.post("/people/person-42")
    inner, access = lines(stream)
    assert access["logger"] == ACCESS_LOGGER
    assert access["method"] == "POST"
    assert access["route"] == "/people/{person_id}"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0
    assert access["request_id"] == inner["request_id"] == reply.headers["x-request-id"]
    assert request_ids.current is None  # reset once the request is done
    assert "person-42" not in stream.getvalue()


def test_an_individual_number_in_path_query_body_or_headers_reaches_no_log_line(
    tmp_path: Path, spec: Spec, caplog: pytest.LogCaptureFixture
) -> None:
    """The whole platform, wired as the composition root will: the hub refuses the request, and neither
    our JSON lines nor anything that reaches the root logger carries the number."""
    stream = io.StringIO()
    settings = Settings(data_dir=tmp_path / "var")
    platform = build_platform(settings, spec=spec)
    app = build_app(settings, platform=platform)  # wires the access log and request ids itself
    configure_logging("debug", stream=stream, request_ids=app.state.request_ids)
    service = sorted(str(s.id) for _, s in spec.services())[0]
    instance = platform.registry.instance
    caplog.set_level(logging.DEBUG)
    with TestClient(app) as client:
        client.post(
            f"/r1/{instance}/GOV/{NUMBER}/system/{service}?individualNumber={NUMBER}",
            json={"individualNumber": NUMBER},
            headers={"X-Road-Client": f"{instance}/GOV/{NUMBER}/system", "X-Person": NUMBER},
        )
        client.get(f"/r1/results/{NUMBER}?n={NUMBER}")
        client.get(f"/no/such/{NUMBER}")
        client.get(f"/healthz?n={NUMBER}")
    logged = stream.getvalue().splitlines()
    access = [e for e in lines(stream) if e["logger"] == ACCESS_LOGGER]
    assert [e["route"] for e in access] == [
        "/r1/{instance}/{member_class}/{member_code}/{subsystem}/{service}",
        "/r1/results/{result_id}",
        "<unmatched>",
        "/healthz",
    ]
    everything = [*logged, *(caplog.text.splitlines())]
    assert everything  # something was logged, and none of it carries the number
    assert [line for line in everything if NUMBER in line] == []


def test_under_a_real_uvicorn_the_set_up_holds_and_no_raw_path_is_logged() -> None:
    """uvicorn run as the composition root should (``log_config=None``): our handler stays, uvicorn's own
    access line (raw path and query) never appears, ours does."""
    stream = io.StringIO()
    request_ids = RequestIds()
    configure_logging("info", stream=stream, request_ids=request_ids)
    config = uvicorn.Config(
        _app(request_ids), host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.025)
        port = server.servers[0].sockets[0].getsockname()[1]
        reply = httpx.post(f"http://127.0.0.1:{port}/people/{NUMBER}?n={NUMBER}", json={"n": NUMBER})
        assert reply.status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    entries = lines(stream)
    assert any(e["logger"] == ACCESS_LOGGER and e["route"] == "/people/{person_id}" for e in entries)
    assert any(e["logger"].startswith("uvicorn") for e in entries)  # uvicorn's startup lines, as JSON
    assert NUMBER not in stream.getvalue()
