"""Composition root: the one place that wires settings → storage → services → HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from renkei import __version__
from renkei.api import audit as audit_api
from renkei.api import browser, health
from renkei.api import commons as commons_api
from renkei.api import directory as directory_api
from renkei.api import exchange as exchange_api
from renkei.api import files as files_api
from renkei.api import linkage as linkage_api
from renkei.api import masterdata as masterdata_api
from renkei.api import notifications as notifications_api
from renkei.api import soap as soap_api
from renkei.api import spec as spec_api
from renkei.api.deps import Platform
from renkei.api.errors import install_error_handlers
from renkei.api.exchange import query_path
from renkei.api.health import key_file
from renkei.api.logging import AccessLogMiddleware, RequestIds
from renkei.api.metrics import Gauges, Metrics, MetricsMiddleware, metrics_router
from renkei.audit.heads import Ed25519HeadSigner, key_location
from renkei.audit.publisher import publish_heads
from renkei.audit.service import AuditLog
from renkei.commons.service import CommonsService
from renkei.demo.members import EventInbox, MemberSystems, build_member_app
from renkei.demo.seed import MEMBERS_PATH, demo_directory, load_manifest
from renkei.demo.soapmember import SOAP_MEMBERS_PATH, build_soap_member_app
from renkei.exchange.federated import PeerForwarder
from renkei.exchange.notifications.service import NotificationHub
from renkei.exchange.service import ExchangeHub
from renkei.exchange.signing import HUB_KEY_NAME, HubSigner
from renkei.exchange.transport import HttpTransport
from renkei.identity.federated import FederatedLinkage, RemoteLinkage
from renkei.identity.keys import FileKeyStore
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService, LinkageBase
from renkei.leadership import LeaderLock, run_once
from renkei.masterdata.access import MasterDataReader
from renkei.masterdata.intake import INTAKE_KEYS, intake_lifespan, open_intakes
from renkei.masterdata.service import MasterData
from renkei.net.http import HttpClient
from renkei.registry.auth import RequestAuthenticator
from renkei.registry.ca import CertificateAuthority
from renkei.registry.directory import Directory
from renkei.registry.keystore import CA_DIRECTORY, FileAuthorityStore
from renkei.registry.service import Registry
from renkei.settings import Settings
from renkei.spec.loader import load_spec
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.ports import Clock
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.exchange import SqlExchangeJournal, SqlExchangeStore
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.masterdata import SqlIntakeStore, SqlMasterDataStore
from renkei.storage.sql.notifications import SqlNotificationStore
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore
from renkei.storage.sql.tenancy import SqlPeerDirectory
from renkei.tenancy.asgi import PeerIdentifier, PeerIdentityMiddleware
from renkei.tenancy.federation import Federation
from renkei.tenancy.link import PeerLink
from renkei.tenancy.tls import TLS_DIRECTORY, HubTls

#: How often the access-record log publishes a signed tree head (seconds).
HEAD_INTERVAL = 60.0


def build_platform(
    settings: Settings, *, spec: Spec | None = None, clock: Clock | None = None, migrate: bool = True
) -> Platform:
    """Load the spec, open (and, with ``migrate``, migrate) the database, record the spec version in force,
    wire services. ``migrate=False`` for the worker processes of ``renkei serve --workers``: the supervisor
    has migrated once before starting them."""
    clock = clock or SystemClock()
    spec = spec or load_spec()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = create_storage(settings.effective_database_url, migrate=migrate)
    storage.spec_releases.record(spec.version, spec.digest, clock.now())
    source = connection_source(storage)
    authority = CertificateAuthority(FileAuthorityStore(settings.data_dir / CA_DIRECTORY), clock)
    registry = Registry(spec, SqlRegistryRepository(source), clock, authority=authority)
    identity_repository = SqlIdentityRepository(source)
    identity_keys = FileKeyStore(settings.data_dir / "keys")
    signer = Ed25519HeadSigner.from_file(key_location(settings.data_dir), create=True)
    authenticator = RequestAuthenticator(registry, SqlReplayStore(source), clock)
    audit = AuditLog(SqlAuditStore(source), signer, clock)
    # Where another deployment is the linkage base, 符号 are only ever acquired from it, never derived here.
    linkage = LinkageBase(identity_repository, identity_keys, clock, issuing=settings.linkage_base is None)
    peer_directory = SqlPeerDirectory(source)
    federation = Federation(peer_directory, registry, authority, clock)
    hub_tls = HubTls(federation, authority, settings.data_dir / TLS_DIRECTORY, clock)
    # Peer hubs over mutual TLS: each verified against its own CA, each seeing this hub's certificate
    # (answers up to 1 MiB: a batch of 符号 from the linkage base is ~35 KiB).
    peer_client = HttpClient(ssl_context_for=hub_tls.context_for, max_body=1 << 20)
    base = settings.linkage_base
    remote_linkage = (
        None
        if base is None
        else RemoteLinkage(PeerLink(peer_client), lambda: federation.peer(base), local=linkage)
    )
    exchange_store = SqlExchangeStore(source)
    hub_signer = HubSigner(identity_keys.secret(HUB_KEY_NAME, 32))
    exchange = ExchangeHub(
        registry,
        authenticator,
        linkage,
        audit,
        exchange_store,
        HttpTransport(connect_timeout=2.0, read_timeout=10.0),
        hub_signer,
        clock,
        journal=SqlExchangeJournal(source, lambda bound: AuditLog(SqlAuditStore(bound), signer, clock)),
        peers=PeerForwarder(federation, PeerLink(peer_client)),
        remote_linkage=remote_linkage,
    )
    notifications = NotificationHub(
        registry,
        authenticator,
        linkage,
        audit,
        SqlNotificationStore(source),
        hub_signer,
        clock,
        message_log=exchange_store,
    )
    return Platform(
        settings=settings,
        spec=spec,
        storage=storage,
        clock=clock,
        registry=registry,
        directory=Directory(registry),
        authenticator=authenticator,
        audit=audit,
        identity=IdentityService(identity_repository, NumberCodec(identity_keys), clock),
        linkage=linkage,
        commons=CommonsService(SqlCommonsStore(source), clock),
        exchange=exchange,
        notifications=notifications,
        masterdata=MasterData(SqlMasterDataStore(source), spec, clock),
        peer_directory=peer_directory,
        federation=federation,
        hub_tls=hub_tls,
        peer_client=peer_client,
    )


def _outbox_gauges(notifications: NotificationHub) -> dict[str, float]:
    stats = notifications.stats()
    return {"depth": stats.depth, "dead_letters": stats.dead_letters, "lag_seconds": stats.lag_seconds}


class PlatformApp(FastAPI):
    """The deployment's application: FastAPI, with the hub's query route (``POST``/``GET /r1/…/{service}``)
    answered ahead of FastAPI's own middleware stack and router by ``query_lane``, wrapped in the same user
    middleware as every other request (each added before the first request; the lane has instances of its
    own). That machinery cost about a sixth of the hub's CPU per exchange (``bench/hub_vs_direct.py``;
    docs/exchange.md "Benchmark").

    What the lane skips of FastAPI's own stack: routing and dependency solving (the route's work is done by
    the lane), ``ExceptionMiddleware`` (the hub turns every failure into a typed fault itself),
    ``ServerErrorMiddleware`` (an exception escaping the lane gets uvicorn's plain 500), and the parts that
    are off in this app — a ``root_path``, a ``max_body_size``, FastAPI's native OpenTelemetry. Should one
    of those be on when the stack is built, the lane stays out of the way and FastAPI serves the route.
    """

    _lane: ASGIApp | None = None

    def build_middleware_stack(self) -> ASGIApp:
        telemetry = getattr(self, "_native_telemetry", None)  # FastAPI's, when this version has it
        if (
            self.root_path
            or self.max_body_size is not None
            or (telemetry is not None and telemetry.enabled())
        ):
            self._lane = None
        else:
            lane: ASGIApp = exchange_api.query_lane
            for cls, args, kwargs in reversed(self.user_middleware):
                lane = cls(lane, *args, **kwargs)
            self._lane = lane
        return super().build_middleware_stack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and query_path(scope) is not None:
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            if self._lane is not None:
                scope["app"] = self
                await self._lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def build_app(
    settings: Settings,
    *,
    platform: Platform | None = None,
    leader_lock: Path | None = None,
    metrics_dir: Path | None = None,
) -> PlatformApp:
    """The HTTP application of one deployment, with its background jobs in the lifespan.

    For one of several processes serving the deployment (``renkei serve --workers``, ``workers.py``):
    ``leader_lock`` names the lock file whose holder alone runs the background jobs (``leadership.py``),
    and ``metrics_dir`` the directory where every process's counters meet for ``/metrics``.
    """
    wired = platform or build_platform(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lock = LeaderLock(leader_lock) if leader_lock is not None else None
        try:
            async with run_once(lock, jobs) as role:
                app.state.role = role
                yield
        finally:
            await wired.exchange.aclose()
            await wired.peer_client.aclose()
            wired.storage.database.close()

    @asynccontextmanager
    async def jobs() -> AsyncIterator[None]:
        # The integrated DB of every tenant whose subscriber is enrolled (at start) reads 住基 異動 through
        # the hub; opened before any task starts, so that a failure here leaves nothing running.
        intakes = open_intakes(
            wired.masterdata,
            wired.notifications,
            wired.registry,
            wired.linkage,
            SqlIntakeStore(connection_source(wired.storage)),
            settings.data_dir / INTAKE_KEYS,
        )
        stop = asyncio.Event()
        heads = asyncio.create_task(publish_heads(wired.audit, stop, HEAD_INTERVAL))
        try:
            async with (
                commons_api.delivery_lifespan(wired.commons),
                notifications_api.delivery_lifespan(
                    wired.notifications, lease=timedelta(seconds=settings.delivery_lease_s)
                ),
                intake_lifespan(intakes),
            ):
                yield
        finally:
            stop.set()
            await heads

    meta: dict[str, Any] = {
        "title": "renkei 地域情報プラットフォーム",
        "version": __version__,
        "summary": "Regional Information Platform: the standard as data, the exchange hub, and more.",
    }
    app = PlatformApp(**meta, docs_url=None, redoc_url=None, lifespan=lifespan)
    # Swagger UI and ReDoc served from the package, without a CDN: fastapi_offline's pages, adopted.
    offline = FastAPIOffline(**meta, static_url="/_static/docs")
    app.router.routes.extend(
        r for r in offline.router.routes if getattr(r, "path", None) != offline.openapi_url
    )
    app.state.platform = wired
    app.state.audit_log = wired.audit
    app.state.commons = wired.commons
    app.state.exchange = wired.exchange
    app.state.notifications = wired.notifications
    app.state.outbox_stats = wired.notifications.stats
    app.state.key_checks = {
        HUB_KEY_NAME: key_file(settings.data_dir / "keys" / f"{HUB_KEY_NAME}.key", 32),
        "audit.head-signing": lambda: Ed25519HeadSigner.from_file(key_location(settings.data_dir)),
    }
    # The linkage base's service to peer deployments (符号取得, ID conversion), when this deployment is it.
    app.state.federated_linkage = FederatedLinkage(wired.linkage, is_base=settings.linkage_base is None)
    app.state.masterdata = MasterDataReader(wired.masterdata, wired.authenticator, wired.audit, wired.clock)
    app.state.templates = browser.templates()
    install_error_handlers(app)
    metrics = Metrics(
        CollectorRegistry(),
        gauges=Gauges(
            deliveries=lambda: {
                str(k): v for k, v in wired.commons.store.deliveries.count_by_state().items()
            },
            audit_tree_size=lambda: wired.audit.latest_head().tree_size,
            outbox=lambda: _outbox_gauges(wired.notifications),
        ),
        services={str(s.id) for _, s in wired.spec.services()},
        multiprocess_dir=metrics_dir,
    )
    request_ids = RequestIds()
    app.state.metrics = metrics
    app.state.request_ids = request_ids
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AccessLogMiddleware, request_ids=request_ids)
    # Names the calling peer deployment from its client certificate on the hub-to-hub mTLS listener.
    app.add_middleware(PeerIdentityMiddleware, identifier=PeerIdentifier(wired.peer_directory, wired.clock))
    app.include_router(metrics_router(metrics))
    for router in (
        health.router,
        spec_api.router,
        spec_api.exports,
        directory_api.router,
        # After the directory: its listMethods / allowedMethods share the query route's shape.
        exchange_api.router,
        notifications_api.router,
        files_api.router,
        soap_api.router,
        audit_api.router,
        masterdata_api.router,
        linkage_api.router,
        commons_api.router,
        commons_api.pages,
        browser.router,
    ):
        app.include_router(router)
    # The demo municipality's simulated member systems, when `renkei demo seed` has enrolled one.
    manifest = load_manifest(settings.data_dir)
    if manifest is not None:
        systems = MemberSystems(wired.spec, wired.linkage, manifest.generate())
        inbox = EventInbox(demo_directory(settings.data_dir) / "events")
        # A simulation inside the deployment: each simulated member checks with its own hub key.
        hub_keys = HubSigner(FileKeyStore(settings.data_dir / "keys").secret(HUB_KEY_NAME, 32)).key_for
        members = build_member_app(
            systems, inbox, hub_keys=hub_keys, authenticate=wired.authenticator.authenticate
        )
        app.mount(MEMBERS_PATH, members)
        app.mount(SOAP_MEMBERS_PATH, build_soap_member_app(systems, hub_keys=hub_keys, clock=wired.clock))
    return app
