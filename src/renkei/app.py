"""Composition root: the one place that wires settings → storage → services → HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry

from renkei import __version__
from renkei.api import audit as audit_api
from renkei.api import browser, health
from renkei.api import commons as commons_api
from renkei.api import directory as directory_api
from renkei.api import exchange as exchange_api
from renkei.api import soap as soap_api
from renkei.api import spec as spec_api
from renkei.api.deps import Platform
from renkei.api.errors import install_error_handlers
from renkei.api.logging import AccessLogMiddleware, RequestIds
from renkei.api.metrics import Gauges, Metrics, MetricsMiddleware, metrics_router
from renkei.audit.heads import Ed25519HeadSigner, key_location
from renkei.audit.publisher import publish_heads
from renkei.audit.service import AuditLog
from renkei.commons.service import CommonsService
from renkei.demo.members import EventInbox, MemberSystems, build_member_app
from renkei.demo.seed import MEMBERS_PATH, demo_directory, load_manifest
from renkei.exchange.service import ExchangeHub
from renkei.exchange.signing import HUB_KEY_NAME, HubSigner
from renkei.exchange.transport import HttpTransport
from renkei.identity.keys import FileKeyStore as IdentityKeyStore
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService, LinkageBase
from renkei.registry.auth import RequestAuthenticator
from renkei.registry.ca import CertificateAuthority
from renkei.registry.directory import Directory
from renkei.registry.keystore import CA_DIRECTORY
from renkei.registry.keystore import FileKeyStore as RegistryKeyStore
from renkei.registry.service import Registry
from renkei.settings import Settings
from renkei.spec.loader import load_spec
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.ports import Clock
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.commons import SqlCommonsStore
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.exchange import SqlExchangeStore
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore

#: How often the access-record log publishes a signed tree head (seconds).
HEAD_INTERVAL = 60.0


def build_platform(settings: Settings, *, spec: Spec | None = None, clock: Clock | None = None) -> Platform:
    """Load the spec, open (and migrate) the database, record the spec version in force, wire services."""
    clock = clock or SystemClock()
    spec = spec or load_spec()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = create_storage(settings.effective_database_url)
    storage.spec_releases.record(spec.version, spec.digest, clock.now())
    source = connection_source(storage)
    authority = CertificateAuthority(RegistryKeyStore(settings.data_dir / CA_DIRECTORY), clock)
    registry = Registry(spec, SqlRegistryRepository(source), clock, authority=authority)
    identity_repository = SqlIdentityRepository(source)
    identity_keys = IdentityKeyStore(settings.data_dir / "keys")
    signer = Ed25519HeadSigner.from_file(key_location(settings.data_dir), create=True)
    authenticator = RequestAuthenticator(registry, SqlReplayStore(source), clock)
    audit = AuditLog(SqlAuditStore(source), signer, clock)
    linkage = LinkageBase(identity_repository, identity_keys, clock)
    exchange = ExchangeHub(
        registry,
        authenticator,
        linkage,
        audit,
        SqlExchangeStore(source),
        HttpTransport(connect_timeout=2.0, read_timeout=10.0),
        HubSigner(identity_keys.secret(HUB_KEY_NAME, 32)),
        clock,
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
    )


def build_app(settings: Settings, *, platform: Platform | None = None) -> FastAPI:
    """The HTTP application of one deployment, with its background workers in the lifespan."""
    wired = platform or build_platform(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        heads = asyncio.create_task(publish_heads(wired.audit, stop, HEAD_INTERVAL))
        try:
            async with commons_api.delivery_lifespan(wired.commons):
                yield
        finally:
            stop.set()
            await heads
            await wired.exchange.aclose()
            wired.storage.database.close()

    app = FastAPIOffline(
        title="renkei 地域情報プラットフォーム",
        version=__version__,
        summary="Regional Information Platform: the standard as data, the exchange hub, and more.",
        static_url="/_static/docs",
        lifespan=lifespan,
    )
    app.state.platform = wired
    app.state.audit_log = wired.audit
    app.state.commons = wired.commons
    app.state.exchange = wired.exchange
    app.state.templates = browser.templates()
    install_error_handlers(app)
    metrics = Metrics(
        CollectorRegistry(),
        gauges=Gauges(
            deliveries=lambda: {
                str(k): v for k, v in wired.commons.store.deliveries.count_by_state().items()
            },
            audit_tree_size=lambda: wired.audit.latest_head().tree_size,
        ),
        services={str(s.id) for _, s in wired.spec.services()},
    )
    request_ids = RequestIds()
    app.state.metrics = metrics
    app.state.request_ids = request_ids
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AccessLogMiddleware, request_ids=request_ids)
    app.include_router(metrics_router(metrics))
    for router in (
        health.router,
        spec_api.router,
        spec_api.exports,
        directory_api.router,
        # After the directory: its listMethods / allowedMethods share the query route's shape.
        exchange_api.router,
        soap_api.router,
        audit_api.router,
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
        app.mount(MEMBERS_PATH, build_member_app(systems, inbox))
    return app
