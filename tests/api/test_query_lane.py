"""The query lane (``api.exchange.query_lane`` ahead of FastAPI in ``app.PlatformApp``) takes exactly the
requests FastAPI's router would give the query route, and everything around it still applies."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.api.exchange import SERVICE_PATH, query_path
from renkei.app import PlatformApp, build_app
from renkei.settings import Settings

SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "r1",
            "JP",
            "LG",
            "131016",
            "u17",
            "results",
            "listMethods",
            "allowedMethods",
            "getOpenAPI",
            "events",
            "feeds",
            "files",
            "snapshot",
            "income-certificate",
            "",
            "%2F",
            "ｒ１",
        ]
    ),
    st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=6),
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformApp]:
    app = build_app(Settings(data_dir=tmp_path_factory.mktemp("lane") / "var"))
    yield app
    app.state.platform.storage.database.close()


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


def _routed_to_query(app: PlatformApp, method: str, path: str) -> bool:
    """Whether FastAPI itself (its middleware and router, the lane bypassed) serves ``method path`` with
    the query route: the router leaves the route it chose in the scope."""
    scope = _scope(method, path)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    asyncio.run(FastAPI.__call__(app, scope, receive, send))
    route = scope.get("route")
    return getattr(route, "path_format", None) == SERVICE_PATH and method in getattr(route, "methods", ())


@settings(max_examples=400, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
    segments=st.lists(SEGMENTS, min_size=0, max_size=8),
    lead=st.sampled_from(["r1", "R1", "r2", None]),
)
def test_the_lane_takes_what_the_router_gives_the_query_route(
    app: PlatformApp, method: str, segments: list[str], lead: str | None
) -> None:
    path = "/" + "/".join(([lead] if lead else []) + segments)
    taken = query_path(_scope(method, path)) is not None
    if method in ("GET", "POST"):
        assert taken == _routed_to_query(app, method, path), path
    else:  # HEAD reaches the route through FastAPI (Starlette adds it to GET routes): not the lane's
        assert not taken, path


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/r1/JP/LG/131024/u06/income-certificate", True),
        ("GET", "/r1/JP/LG/131024/u06/income-certificate", True),
        ("GET", "/r1/JP/LG/131024/u06/listMethods", False),  # a directory metaservice
        ("POST", "/r1/JP/LG/131024/u06/listMethods", True),  # the directory serves GET only
        ("GET", "/r1/results/0f0e", False),
        ("POST", "/r1/JP/LG/131024/u06/events/resident-changes", False),
        ("POST", "/r1/JP/LG/131024/u06/", False),
        ("PUT", "/r1/JP/LG/131024/u06/income-certificate", False),
    ],
)
def test_known_paths(app: PlatformApp, method: str, path: str, expected: bool) -> None:
    assert (query_path(_scope(method, path)) is not None) is expected
    assert _routed_to_query(app, method, path) is expected


def test_the_lane_answers_inside_the_apps_middleware(tmp_path: Path) -> None:
    """A refused query through the lane: problem+json from the hub, the access log's request id, the
    metrics' count — and the route's own rendering for the same request without the lane."""
    app = build_app(Settings(data_dir=tmp_path / "var"))
    path = f"/r1/{app.state.platform.registry.instance}/LG/131024/u06/income-certificate"
    with TestClient(app) as client:
        reply = client.post(path, json={"fiscal_year": 2025}, headers={"X-Road-Client": "JP/LG/131016/u17"})
        assert reply.status_code == 401
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["code"] == "exchange.client.unauthenticated"  # no signature
        assert reply.headers["x-road-id"] and reply.headers["x-road-request-hash"]
        assert len(reply.headers["x-request-id"]) == 32  # AccessLogMiddleware wrapped the lane
        scraped = client.get("/metrics").text
        assert 'outcome="denied"' in scraped and 'service="income-certificate"' in scraped
    assert app._lane is not None  # it was the lane that answered


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of the app, included routers opened (FastAPI keeps them whole)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


def test_every_r1_route_of_the_app_is_routed_as_the_lane_decides(app: PlatformApp) -> None:
    """Each ``/r1/…`` template of every router, filled in, for each of its methods: a route added later in
    the query route's shape (a new directory metaservice) fails here until ``query_path`` knows it."""
    checked = 0
    for route in _routes(app.router.routes):
        template = getattr(route, "path_format", "")
        if not template.startswith("/r1/") or template == SERVICE_PATH:
            continue
        path = re.sub(r"\{[^}]+\}", "x1", template)
        for method in sorted(set(getattr(route, "methods", None) or ()) & {"GET", "POST"}):
            assert (query_path(_scope(method, path)) is not None) == _routed_to_query(app, method, path), (
                method,
                template,
            )
            checked += 1
    assert checked >= 10  # directory, notifications, results …


def test_the_lane_stays_out_where_fastapis_stack_has_work(tmp_path: Path) -> None:
    """With a ``max_body_size`` (FastAPI's own body limit), the route is FastAPI's again — and answers."""
    app = build_app(Settings(data_dir=tmp_path / "var"))
    assert hasattr(app, "_native_telemetry")  # the FastAPI attribute the lane consults (private)
    app.max_body_size = 1 << 20
    path = f"/r1/{app.state.platform.registry.instance}/LG/131024/u06/income-certificate"
    with TestClient(app) as client:
        reply = client.post(path, json={"fiscal_year": 2025}, headers={"X-Road-Client": "JP/LG/131016/u17"})
    assert reply.status_code == 401 and reply.json()["code"] == "exchange.client.unauthenticated"
    assert app._lane is None
