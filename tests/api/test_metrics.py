"""``/metrics``: per-app registry, route templates as labels, the exchange counter, scrape-time gauges."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import prometheus_client
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from renkei.api.exchange import SERVICE_PATH
from renkei.api.metrics import (
    OTHER_SERVICE,
    UNMATCHED,
    Gauges,
    Metrics,
    MetricsMiddleware,
    exchange_outcome,
    metrics_router,
    status_class,
)
from renkei.app import build_app, build_platform
from renkei.settings import Settings
from renkei.spec.models import Spec

PERSON = "123456789018"
STATUS_OF = {"allowedService": 200, "asyncService": 202, "deniedService": 403, "brokenService": 502}


def _app(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(metrics_router(metrics))

    @app.get("/people/{person_id}")
    def person(person_id: str) -> dict[str, str]:
        return {"found": "yes"}  # the labels are under test, not the body (which never echoes the id)

    @app.get("/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("boom")

    @app.api_route(SERVICE_PATH, methods=["GET", "POST"])
    def query(service: str) -> Response:
        return JSONResponse({}, status_code=STATUS_OF.get(service, 404))

    sub = FastAPI()

    @sub.get("/items/{item}")
    def item(item: str) -> dict[str, str]:
        return {"found": "yes"}

    app.mount("/members", sub)
    return app


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(services=STATUS_OF)


@pytest.fixture
def client(metrics: Metrics) -> Iterator[TestClient]:
    with TestClient(_app(metrics), raise_server_exceptions=False) as c:
        yield c


def requests(metrics: Metrics, route: str, method: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "renkei_http_requests_total", {"route": route, "method": method, "status": status}
    )
    return value or 0.0


def exchanges(metrics: Metrics, service: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "renkei_exchanges_total", {"service": service, "outcome": outcome}
    )
    return value or 0.0


def test_requests_are_labelled_by_route_template_never_the_raw_path(
    client: TestClient, metrics: Metrics
) -> None:
    assert client.get(f"/people/{PERSON}?q={PERSON}").status_code == 200
    assert client.get("/people/someone-else").status_code == 200
    assert client.get(f"/nowhere/{PERSON}").status_code == 404
    assert client.post(f"/people/{PERSON}").status_code == 405

    assert requests(metrics, "/people/{person_id}", "GET", "2xx") == 2
    assert requests(metrics, UNMATCHED, "GET", "4xx") == 1
    assert requests(metrics, "/people/{person_id}", "POST", "4xx") == 1  # a method mismatch: the route
    latency = metrics.registry.get_sample_value(
        "renkei_http_request_duration_seconds_count", {"route": "/people/{person_id}", "method": "GET"}
    )
    assert latency == 2
    text = client.get("/metrics").text
    assert PERSON not in text
    assert "someone-else" not in text


def test_a_mounted_app_is_labelled_by_its_mount_and_a_failure_counts_as_5xx(
    client: TestClient, metrics: Metrics
) -> None:
    assert client.get(f"/members/items/{PERSON}").status_code == 200
    assert client.get("/boom").status_code == 500
    assert requests(metrics, "/members/{path}", "GET", "2xx") == 1
    assert requests(metrics, "/boom", "GET", "5xx") == 1


def test_exchanges_are_counted_by_service_and_outcome(client: TestClient, metrics: Metrics) -> None:
    base = "/r1/JP/GOV/0000000001/system"
    for service in ("allowedService", "allowedService", "asyncService", "deniedService", "brokenService"):
        client.post(f"{base}/{service}", content=PERSON)
    client.get(f"{base}/{PERSON}")  # an invented service: bounded label, no personal data

    assert exchanges(metrics, "allowedService", "allowed") == 2
    assert exchanges(metrics, "asyncService", "allowed") == 1
    assert exchanges(metrics, "deniedService", "denied") == 1
    assert exchanges(metrics, "brokenService", "error") == 1
    assert exchanges(metrics, OTHER_SERVICE, "denied") == 1
    assert PERSON not in client.get("/metrics").text
    client.get("/people/x")
    labelled = [(s, o) for s in [*STATUS_OF, OTHER_SERVICE] for o in ("allowed", "denied", "error")]
    assert sum(exchanges(metrics, s, o) for s, o in labelled) == 6  # other routes are not exchanges


def test_the_scrape_is_prometheus_text(client: TestClient) -> None:
    client.get("/people/x")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE renkei_http_requests_total counter" in response.text
    assert "# TYPE renkei_http_request_duration_seconds histogram" in response.text


def test_each_app_has_its_own_registry_and_the_global_one_is_untouched() -> None:
    before = set(prometheus_client.REGISTRY._names_to_collectors)
    first, second = Metrics(), Metrics()  # the same names twice: only possible on separate registries
    with TestClient(_app(first)) as c:
        c.get("/people/x")
    assert requests(first, "/people/{person_id}", "GET", "2xx") == 1
    assert requests(second, "/people/{person_id}", "GET", "2xx") == 0
    assert set(prometheus_client.REGISTRY._names_to_collectors) == before


def test_shared_metrics_need_the_multiprocess_mode_switched_on_before_the_process_started(
    tmp_path: Path,
) -> None:
    # This process started without it (settings.share_metrics is for the supervisor's workers): its
    # counters live in memory, and summing a directory of other processes' would silently miss its own.
    with pytest.raises(RuntimeError, match="multiprocess mode"):
        Metrics(multiprocess_dir=tmp_path)


def test_gauges_are_read_at_scrape_time() -> None:
    state = {"pending": 3, "failed": 1}
    size = [10]
    outbox = {"depth": 7.0, "dead_letters": 2.0, "lag_seconds": 1.5}
    metrics = Metrics(
        gauges=Gauges(deliveries=lambda: state, audit_tree_size=lambda: size[0], outbox=lambda: outbox)
    )
    with TestClient(_app(metrics)) as c:
        first = c.get("/metrics").text
        state["pending"] = 0
        size[0] = 12
        outbox["depth"] = 0.0
        second = c.get("/metrics").text
    assert "renkei_outbox_depth 7.0" in first and "renkei_outbox_depth 0.0" in second
    assert "renkei_outbox_dead_letters 2.0" in first
    assert "renkei_outbox_lag_seconds 1.5" in first
    assert 'renkei_commons_deliveries{state="pending"} 3.0' in first
    assert 'renkei_commons_deliveries{state="failed"} 1.0' in first
    assert "renkei_audit_tree_size 10.0" in first
    assert 'renkei_commons_deliveries{state="pending"} 0.0' in second
    assert "renkei_audit_tree_size 12.0" in second


def test_a_failing_gauge_is_dropped_from_that_scrape_only(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Mapping[str, int]:
        raise RuntimeError("database gone")

    metrics = Metrics(gauges=Gauges(deliveries=broken, audit_tree_size=lambda: 5))
    with caplog.at_level(logging.ERROR, logger="renkei.api.metrics"):
        text = metrics.exposition().decode()
    assert "renkei_commons_deliveries{" not in text
    assert "renkei_audit_tree_size 5.0" in text
    assert any("deliveries" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("status", "label", "outcome"),
    [
        (200, "2xx", "allowed"),
        (202, "2xx", "allowed"),
        (401, "4xx", "denied"),
        (404, "4xx", "denied"),
        (502, "5xx", "error"),
        (999, "other", "error"),
    ],
)
def test_status_class_and_outcome(status: int, label: str, outcome: str) -> None:
    assert status_class(status) == label
    assert exchange_outcome(status) == outcome


def test_wired_into_the_real_app(tmp_path: Path, spec: Spec) -> None:
    """The wiring the composition root will use, on the real app: hub queries and health are counted."""
    settings = Settings(data_dir=tmp_path / "var")
    platform = build_platform(settings, spec=spec)
    services = {str(service.id) for _, service in spec.services()}
    metrics = Metrics(
        gauges=Gauges(
            deliveries=lambda: {
                str(k): v for k, v in platform.commons.store.deliveries.count_by_state().items()
            },
            audit_tree_size=lambda: platform.audit.latest_head().tree_size,
        ),
        services=services,
    )
    app = build_app(settings, platform=platform)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(metrics_router(metrics))
    service = sorted(services)[0]
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        reply = client.post(f"/r1/{platform.registry.instance}/GOV/0000000001/system/{service}", json={})
        assert reply.status_code in {400, 401}  # unsigned: the hub refuses it
        text = client.get("/metrics").text
        # Inside the lifespan: the gauges read the database, which closes with the app.
        assert requests(metrics, "/healthz", "GET", "2xx") == 1
        assert exchanges(metrics, service, "denied") == 1
    assert "renkei_audit_tree_size" in text
    assert "renkei_outbox_depth 0.0" in text and "renkei_outbox_dead_letters 0.0" in text
    assert "renkei_commons_deliveries" not in text or 'state="' in text
