"""The Commons REST API over real HTTP: intake (CAP, EDXL, JSON), 422 listing every error with nothing
stored, alerts, CAP XML, map, Atom, receipts, SSE with Last-Event-ID, dashboard and pages."""

from __future__ import annotations

import json
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
from lxml import etree

from renkei.api.commons import delivery_lifespan, pages, router
from renkei.api.errors import install_error_handlers
from renkei.commons.cap import to_cap_xml
from renkei.commons.edxl import distribution_for, to_edxl_xml
from renkei.commons.service import CommonsService
from renkei.storage.clock import SystemClock
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage

DRAFT = {
    "kind": "避難情報",
    "sender": "bousai@city.kurashiki.okayama.jp",
    "sender_name": "倉敷市",
    "sender_code": "332020",
    "area_desc": "真備町",
    "area_codes": ["332020"],
    "headline": "真備町に避難指示",
    "description": "小田川が氾濫するおそれがあります。",
    "details": {"発令区分": "避難指示", "地区": "真備町"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def commons_app(service: CommonsService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with delivery_lifespan(service, poll_interval_s=0.1):
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.commons = service
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(pages)
    return app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, CommonsService]]:
    with create_storage(f"sqlite:///{tmp_path / 'api.db'}") as storage:
        service = CommonsService(SqlCommonsStore(connection_source(storage)), SystemClock())
        port = free_port()
        config = uvicorn.Config(
            commons_app(service), host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            assert thread.is_alive(), "server thread died"
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}", service
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def test_json_authoring_then_read_back_everywhere(served: tuple[str, CommonsService]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, timeout=10) as http:
        created = http.post("/commons/alerts", json=DRAFT)
        assert created.status_code == 201, created.text
        alert_id = created.json()["alert_id"]
        assert created.headers["location"] == f"/commons/alerts/{alert_id}"
        listed = http.get("/commons/alerts").json()
        assert [a["alert_id"] for a in listed] == [alert_id]
        assert listed[0]["state"] == "active"
        one = http.get(f"/commons/alerts/{alert_id}").json()
        assert one["current"]["headline"] == "真備町に避難指示"
        assert one["drill"] is None
        xml = http.get(f"/commons/alerts/{alert_id}.xml")
        assert xml.headers["content-type"].startswith("application/cap+xml")
        assert etree.fromstring(xml.content).tag == "{urn:oasis:names:tc:emergency:cap:1.2}alert"
        svg = http.get(f"/commons/alerts/{alert_id}/map.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert "<svg" in svg.text
        atom = etree.fromstring(http.get("/commons/feed.atom").content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        assert atom.findtext("a:entry/a:title", namespaces=ns) == "真備町に避難指示"
        assert atom.find("a:entry/a:summary", ns) is not None
        thin = etree.fromstring(http.get("/commons/feed.thin.atom").content)
        assert thin.find("a:entry/a:summary", ns) is None
        assert "真備町に避難指示" in http.get(f"/commons/view/{alert_id}").text
        assert "配信状況" in http.get(f"/commons/dashboard/{alert_id}").text
        assert http.get("/commons/alerts/nope").json()["code"] == "commons.alert.not_found"


def test_cap_and_edxl_documents_are_accepted(served: tuple[str, CommonsService]) -> None:
    base, service = served
    from renkei.commons.model import MessageKind
    from renkei.commons.service import Draft

    draft = Draft(**{**DRAFT, "kind": MessageKind.EVACUATION, "area_codes": ("332020",)})  # type: ignore[arg-type]
    alert = service.alert_from_draft(draft)
    with httpx.Client(base_url=base, timeout=10) as http:
        cap = http.post(
            "/commons/alerts", content=to_cap_xml(alert), headers={"content-type": "application/xml"}
        )
        assert cap.status_code == 201, cap.text
        other = service.alert_from_draft(draft)
        edxl = to_edxl_xml(distribution_for(other, document_id="doc-1", document_revision=1))
        accepted = http.post("/commons/alerts", content=edxl, headers={"content-type": "application/xml"})
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["message_id"] == other.identifier
        again = http.post(
            "/commons/alerts", content=to_cap_xml(alert), headers={"content-type": "application/xml"}
        )
        assert again.status_code == 409
        assert again.json()["code"] == "commons.alert.duplicate"


def test_invalid_documents_list_every_error_and_store_nothing(served: tuple[str, CommonsService]) -> None:
    base, service = served
    bad = (
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>'
        b"<sent>yesterday</sent><status>Maybe</status></alert>"
    )
    with httpx.Client(base_url=base, timeout=10) as http:
        refused = http.post("/commons/alerts", content=bad, headers={"content-type": "application/xml"})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["code"] == "commons.alert.invalid"
        assert len(problem["errors"]) >= 2, problem["errors"]  # the schema error and the bad date
        hostile = b'<!DOCTYPE x [<!ENTITY e "boom">]><alert>&e;</alert>'
        assert http.post("/commons/alerts", content=hostile).status_code == 422
        empty_json = http.post("/commons/alerts", json={"kind": "避難情報"})
        assert empty_json.status_code == 422
        assert len(empty_json.json()["errors"]) >= 5
    assert service.alerts() == []
    assert service.feed() == []


def test_receipts_and_the_event_stream_resume(served: tuple[str, CommonsService]) -> None:
    base, service = served
    service.register_subscriber(
        name="局",
        channel=__import__("renkei.commons.ports").commons.ports.Channel.TV,
        webhook_url="http://127.0.0.1:9/none",
        secret="x" * 20,
    )
    with httpx.Client(base_url=base, timeout=10) as http:
        first = http.post("/commons/alerts", json=DRAFT).json()
        second = http.post("/commons/alerts", json={**DRAFT, "headline": "第二報"}).json()
        delivery = service.deliveries(first["alert_id"])[0]
        acked = http.post(f"/commons/deliveries/{delivery.id}/ack", content="受領しました".encode())
        assert acked.status_code == 200
        assert acked.json()["state"] == "acknowledged"
        assert acked.json()["receipt"] == "受領しました"
        assert http.post("/commons/deliveries/nope/ack").status_code == 404
        events = []
        with http.stream("GET", "/commons/stream", headers={"Last-Event-ID": "0"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                if len(events) == 2:
                    break
        assert [e["title"] for e in events] == ["真備町に避難指示", "第二報"]
        resumed = []
        with http.stream(
            "GET", "/commons/stream", headers={"Last-Event-ID": str(events[0]["seq"])}
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    resumed.append(json.loads(line[6:]))
                    break
        assert resumed[0]["alert_id"] == second["alert_id"]


def test_the_alert_page_links_to_a_prefilled_update_and_cancel_form(
    served: tuple[str, CommonsService],
) -> None:
    base, service = served
    with httpx.Client(base_url=base, timeout=10) as http:
        created = http.post("/commons/alerts", json={**DRAFT, "status": "Exercise"}).json()
        page = http.get(f"/commons/view/{created['alert_id']}").text
        assert f'href="/commons/new?replaces={created["message_id"]}"' in page
        form = http.get("/commons/new", params={"replaces": created["alert_id"]})
        assert form.status_code == 200
        html = form.text
        assert "更新・取消の作成" in html
        assert f'name="replaces" value="{created["message_id"]}"' in html
        assert '<option value="Update" selected>' in html
        assert '<option value="Exercise" selected>' in html  # a drill's update stays a drill
        assert 'value="真備町に避難指示"' in html
        assert 'value="332020"' in html
        assert "<option selected>避難指示</option>" in html
        cancel = http.get("/commons/new", params={"replaces": created["message_id"], "msg_type": "Cancel"})
        assert '<option value="Cancel" selected>' in cancel.text
        missing = http.get("/commons/new", params={"replaces": "nope"})
        assert missing.status_code == 404
        assert "nope" in missing.text

        fields = {
            "template": "evacuation",
            "status": "Exercise",
            "msg_type": "Update",
            "replaces": created["message_id"],
            "sender": DRAFT["sender"],
            "sender_name": DRAFT["sender_name"],
            "sender_code": DRAFT["sender_code"],
            "area_desc": DRAFT["area_desc"],
            "area_codes": "332020",
            "headline": "真備町の避難指示を継続",
            "d_発令区分": "避難指示",
            "d_地区": "真備町",
            "action": "submit",
        }
        submitted = http.post("/commons/new", data=fields, follow_redirects=False)
        assert submitted.status_code == 303, submitted.text
    view = service.alert(created["alert_id"])
    assert [(r.revision, r.msg_type, r.state.value) for r in view.revisions] == [
        (1, "Alert", "superseded"),
        (2, "Update", "active"),
    ]
    assert view.current.headline == "【訓練】真備町の避難指示を継続"
