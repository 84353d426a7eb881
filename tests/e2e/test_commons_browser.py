"""A staff member authors an evacuation order (避難指示) in the Commons form with a real browser (Debian's
Chromium driven by Playwright), submits it, and finds it on the alert page and in the Atom feed."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from renkei.api.commons import delivery_lifespan, pages, router
from renkei.api.errors import install_error_handlers
from renkei.commons.service import CommonsService
from renkei.storage.clock import SystemClock
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    with create_storage(f"sqlite:///{tmp_path / 'browser.db'}") as storage:
        service = CommonsService(SqlCommonsStore(connection_source(storage)), SystemClock())

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with delivery_lifespan(service, poll_interval_s=0.2):
                yield

        app = FastAPI(lifespan=lifespan)
        app.state.commons = service
        install_error_handlers(app)
        app.include_router(router)
        app.include_router(pages)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            assert thread.is_alive(), "server thread died"
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_staff_author_an_evacuation_order_and_see_it_published(base_url: str) -> None:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is missing: install it with `apt-get install -y chromium fonts-noto-cjk`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package `playwright` is missing: `.venv/bin/pip install playwright`")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="ja-JP")
            page.goto(f"{base_url}/commons/new?template=evacuation")
            page.fill("#sender", "bousai@city.kurashiki.okayama.jp")
            page.fill("#sender_name", "倉敷市")
            page.fill("#sender_code", "332020")
            page.fill("#area_desc", "真備町")
            page.fill("#area_codes", "332020")
            page.fill("#headline", "真備町全域に避難指示を発令")
            page.fill("#description", "小田川の堤防が決壊するおそれがあります。")
            page.fill("#instruction", "直ちに安全な場所へ避難してください。")
            page.select_option("[name='d_発令区分']", "避難指示")
            page.fill("[name='d_地区']", "真備町全域")
            page.fill("[name='d_対象世帯数']", "8900")
            page.click("#preview")
            assert "真備町全域に避難指示を発令" in page.inner_text("pre.preview >> nth=0")
            page.click("#submit")
            page.wait_for_url("**/commons/view/**")
            assert page.inner_text("#headline") == "真備町全域に避難指示を発令"
            assert page.inner_text("#state") == "発表中"
            alert_url = page.url
        finally:
            browser.close()

    with httpx.Client(timeout=10) as http:
        feed = http.get(f"{base_url}/commons/feed.atom").text
    assert "真備町全域に避難指示を発令" in feed
    assert alert_url.rsplit("/", 1)[1] in feed
