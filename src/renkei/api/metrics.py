"""``/metrics``: Prometheus metrics of one deployment, on a registry created per app (never the global one).

:class:`Metrics` owns the collectors; :class:`MetricsMiddleware` counts every HTTP request by *route
template* (``/r1/{instance}/…/{service}``, never the raw path, so no id or personal datum becomes a label),
method and status class, times it, and counts the hub's exchanges by service and outcome from the query
route's template and status (the exchange code needs no change). :class:`Gauges` are callables the app
passes in, read at scrape time (deliveries by state, audit tree size).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renkei.api.exchange import SERVICE_PATH

log = logging.getLogger(__name__)

UNMATCHED = "<unmatched>"
"""The route label of a request no route matched (its raw path is never a label)."""
OTHER_SERVICE = "<other>"
"""The service label of an exchange naming a service the spec does not define."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OUTCOMES = ("allowed", "denied", "error")


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The template of the route a request matches, and its path parameters."""

    template: str
    params: Mapping[str, Any]


def route_resolver(scope: Scope) -> Callable[[], RouteMatch]:
    """Call before the app with ``scope``; the returned function, called after, names the route that served
    the request: the template the router left in ``scope["route"]`` (with its prefix), or, for a request a
    mounted app served, the mount's template (``/members/{path}``); :data:`UNMATCHED` when none did.

    The mount is found up front because a mounted Starlette app overwrites ``scope["app"]`` and
    ``scope["route"]`` with its own on the way down.
    """
    entered = scope.get("app")
    mount: str | None = None
    for route in app_routes(scope):
        if isinstance(route, Mount) and route.matches(scope)[0] is Match.FULL:
            mount = route.path_format
            break

    def resolve() -> RouteMatch:
        if scope.get("app") is not entered and mount is not None:
            return RouteMatch(mount, {})
        template = getattr(scope.get("route"), "path_format", None)
        if isinstance(template, str):
            params = scope.get("path_params")
            return RouteMatch(template, params if isinstance(params, Mapping) else {})
        return RouteMatch(mount or UNMATCHED, {})

    return resolve


def app_routes(scope: Scope) -> Sequence[BaseRoute]:
    """The top-level routes of the application serving ``scope`` (Starlette puts itself in
    ``scope["app"]``); mounts are among them."""
    router = getattr(scope.get("app"), "router", None)
    routes = getattr(router, "routes", None)
    return routes if isinstance(routes, list) else []


def multiprocess_values() -> bool:
    """Whether prometheus_client keeps this process's values in files for a multiprocess collector."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def status_class(status: int) -> str:
    """``2xx`` … ``5xx``: the status label (bounded, unlike the status itself)."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def exchange_outcome(status: int) -> str:
    """An exchange's outcome from the hub's reply: ``allowed`` (< 400, including 202 for an asynchronous
    query), ``denied`` (4xx: the hub refused it — unauthenticated, unauthorised, unknown, malformed) or
    ``error`` (5xx: the hub or the provider failed)."""
    if status < 400:
        return "allowed"
    if status < 500:
        return "denied"
    return "error"


@dataclass(frozen=True, slots=True)
class Gauges:
    """Values read at scrape time, through callables the composition root passes in. Each may be None.

    ``deliveries`` returns the Commons deliveries' count by state (``pending``, ``failed`` …);
    ``audit_tree_size`` the number of records in the access-record log; ``outbox`` the change-notification
    outbox's ``depth`` (deliveries not yet done), ``dead_letters`` and ``lag_seconds`` (age of the oldest
    due delivery).
    """

    deliveries: Callable[[], Mapping[str, int]] | None = None
    audit_tree_size: Callable[[], int] | None = None
    outbox: Callable[[], Mapping[str, float]] | None = None


OUTBOX_GAUGES = {
    "depth": "Change-notification deliveries not yet done (異動通知の未配信).",
    "dead_letters": "Change-notification deliveries given up, waiting for a replay (配信不能).",
    "lag_seconds": "Age of the oldest due change-notification delivery, in seconds.",
}


class GaugeCollector(Collector):
    """Reads :class:`Gauges` when scraped. A failing callable drops its metric from that scrape (logged),
    so one broken source does not hide the others."""

    def __init__(self, gauges: Gauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        if self._gauges.deliveries is not None:
            try:
                counts = dict(self._gauges.deliveries())
            except Exception:  # a scrape must not fail for one source: log it and drop this metric
                log.exception("metrics: reading the deliveries' counts failed")
            else:
                family = GaugeMetricFamily(
                    "renkei_commons_deliveries", "Commons deliveries by state (配信状態).", labels=["state"]
                )
                for state, count in sorted(counts.items()):
                    family.add_metric([str(state)], float(count))
                yield family
        if self._gauges.audit_tree_size is not None:
            try:
                size = self._gauges.audit_tree_size()
            except Exception:  # as above
                log.exception("metrics: reading the audit tree size failed")
            else:
                yield GaugeMetricFamily(
                    "renkei_audit_tree_size", "Records in the access-record log (tree size).", value=size
                )
        if self._gauges.outbox is not None:
            try:
                outbox = dict(self._gauges.outbox())
            except Exception:  # as above
                log.exception("metrics: reading the outbox failed")
            else:
                for name, help_text in OUTBOX_GAUGES.items():
                    yield GaugeMetricFamily(f"renkei_outbox_{name}", help_text, value=float(outbox[name]))

    def describe(self) -> Iterator[Metric]:
        # Nothing described up front: registering must not call the app's callables.
        return iter(())


class Metrics:
    """The collectors of one app, on ``registry`` (a fresh :class:`CollectorRegistry` unless given).

    ``services`` are the service ids the exchange counter may name; any other becomes ``<other>``, so a
    caller cannot grow the label set by inventing services.

    ``multiprocess_dir``: this is one of several processes serving the deployment (``renkei serve
    --workers``), whose counters and histograms meet in that directory (prometheus_client's multiprocess
    mode, which the supervisor switches on before the process starts: ``settings.share_metrics``);
    :meth:`exposition` then sums every process's, so a scrape that any one of them answers sees them all.
    The gauges are read from the database at scrape time, so they are the deployment's already.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        gauges: Gauges | None = None,
        services: Collection[str] = (),
        multiprocess_dir: Path | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._exposed = self.registry
        if multiprocess_dir is not None:
            if not multiprocess_values():
                raise RuntimeError(
                    "metrics shared between processes need prometheus_client's multiprocess mode, "
                    "switched on before the process starts (settings.share_metrics)"
                )
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
        self._services = frozenset(services)
        self.requests = Counter(
            "renkei_http_requests",
            "HTTP requests by route template, method and status class.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "renkei_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.exchanges = Counter(
            "renkei_exchanges",
            "Queries through the hub (照会応答) by service and outcome (allowed, denied, error).",
            ["service", "outcome"],
            registry=self.registry,
        )
        if gauges is not None:
            self._exposed.register(GaugeCollector(gauges))

    def observe(self, route: RouteMatch, method: str, status: int, seconds: float) -> None:
        """Record one finished request (and, on the query route, one exchange)."""
        verb = method if method in METHODS else "OTHER"
        self.requests.labels(route.template, verb, status_class(status)).inc()
        self.latency.labels(route.template, verb).observe(seconds)
        if route.template == SERVICE_PATH:
            service = str(route.params.get("service", ""))
            label = service if service in self._services else OTHER_SERVICE
            self.exchanges.labels(label, exchange_outcome(status)).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (every process's, with ``multiprocess_dir``)."""
        return generate_latest(self._exposed)


class MetricsMiddleware:
    """Pure ASGI middleware: times each HTTP request and records it in ``metrics`` once it has finished.

    ``app.add_middleware(MetricsMiddleware, metrics=metrics)``. A request whose handler raises before
    answering counts as 500.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_resolver(scope)
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(route(), str(scope.get("method", "")), status, elapsed)


def metrics_router(metrics: Metrics) -> APIRouter:
    """A router serving ``GET /metrics`` from ``metrics`` (built per app: no module-level registry)."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    def scrape() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
