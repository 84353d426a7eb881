"""The exchange test harness: a hub and a provider, each a real HTTP server on loopback, on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

import renkei.storage.sql.exchange  # noqa: F401  registers the exchange tables until schema.py imports them
from renkei.api import exchange as exchange_api
from renkei.api.errors import install_error_handlers
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.service import AuditLog
from renkei.exchange.provider import income_provider
from renkei.exchange.service import ExchangeHub
from renkei.exchange.signing import HubSigner, member_hub_key
from renkei.exchange.transport import HttpTransport
from renkei.identity.keys import MemoryKeyStore as IdentityKeys
from renkei.identity.models import BasicInfo, Sex
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService, LinkageBase
from renkei.registry.auth import SIGNATURE_HEADER, RequestAuthenticator, sign_request
from renkei.registry.ca import CertificateAuthority
from renkei.registry.keystore import MemoryAuthorityStore as RegistryKeys
from renkei.registry.service import Enrolment, Registry
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.ports import Storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.exchange import SqlExchangeJournal, SqlExchangeStore
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore
from tests.loopback import free_port as free_port
from tests.loopback import serve as serve

CHIYODA = "JP/LG/131016"
CHUO = "JP/LG/131024"
ATENA = "000000000000011"
PURPOSE = "infant-medical-subsidy"
PURPOSE_ITEMS = ("fiscal_year", "total_income", "taxable_income")
HUB_KEY = bytes(range(32))
PROVIDER_KEY = member_hub_key(HUB_KEY, "JP/LG/131024/u06")
"""The provider's own hub key: what it checks the hub's signature with."""
SERVICE_PATH = "/r1/JP/LG/131024/u06/income-certificate"


@dataclass
class World:
    """Everything a test needs: services, members, the person, and the HTTP endpoints."""

    storage: Storage
    registry: Registry
    linkage: LinkageBase
    audit: AuditLog
    store: SqlExchangeStore
    hub: ExchangeHub
    client: Enrolment
    outsider: Enrolment
    person_key: str
    caller_fugo: str
    provider_fugo: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    hub_url: str = ""

    def signed(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        who: Enrolment | None = None,
        headers: dict[str, str] | None = None,
        client_header: str | None = None,
    ) -> dict[str, str]:
        member = who or self.client
        token = sign_request(
            member.private_key_pem,
            member.member.id,
            method,
            path,
            body,
            SystemClock().now(),
            certificate=member.certificate_pem,
        )
        out = {
            SIGNATURE_HEADER: token,
            "X-Road-Client": client_header or str(member.member.id),
            "X-Road-Issue": PURPOSE,
            "Content-Type": "application/json",
        }
        out.update(headers or {})
        return out


def build_world(
    tmp_path: Path,
    spec: Spec,
    provider_url: str,
    *,
    read_timeout: float = 2.0,
    storage: Storage | None = None,
    joint: bool = True,
) -> World:
    """The hub's world on SQLite; ``joint`` writes claims, records and rows in one transaction per batch
    (``SqlExchangeJournal``, as app.py wires it), else each in its own (the hub's default journal)."""
    clock = SystemClock()
    storage = storage or create_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    source = connection_source(storage)
    registry = Registry(
        spec, SqlRegistryRepository(source), clock, authority=CertificateAuthority(RegistryKeys(), clock)
    )
    registry.add_organisation("LG", "131016", "千代田区")
    registry.add_organisation("LG", "131024", "中央区")
    client = registry.enrol(CHIYODA, 17)
    outsider = registry.enrol(CHIYODA, 19)
    registry.add_member(CHUO, 6, endpoint=provider_url)
    registry.provide(f"{CHUO}/u06", "income-certificate")
    registry.add_purpose(
        PURPOSE, "乳幼児医療費助成", "児童福祉法", {"individual-resident-tax": PURPOSE_ITEMS}
    )
    registry.add_purpose("health-check", "健康管理", "健康増進法", {"resident-record": None})
    identity_repository = SqlIdentityRepository(source)
    keys = IdentityKeys()
    identity = IdentityService(identity_repository, NumberCodec(keys), clock)
    linkage = LinkageBase(identity_repository, keys, clock)
    linkage.register_organisation(CHIYODA)
    linkage.register_organisation(CHUO)
    person = identity.enrol(BasicInfo("山田 花子", "東京都千代田区1-1", date(2020, 5, 1), Sex.FEMALE))
    linkage.register_local_id(CHIYODA, ATENA, person.person_key)
    head_signer = Ed25519HeadSigner(bytes(32))
    audit = AuditLog(SqlAuditStore(source), head_signer, clock)
    store = SqlExchangeStore(source)
    journal = SqlExchangeJournal(source, lambda bound: AuditLog(SqlAuditStore(bound), head_signer, clock))
    hub = ExchangeHub(
        registry,
        RequestAuthenticator(registry, SqlReplayStore(source), clock),
        linkage,
        audit,
        store,
        HttpTransport(connect_timeout=0.2, read_timeout=read_timeout),
        HubSigner(HUB_KEY),
        clock,
        journal=journal if joint else None,
    )
    return World(
        storage=storage,
        registry=registry,
        linkage=linkage,
        audit=audit,
        store=store,
        hub=hub,
        client=client,
        outsider=outsider,
        person_key=person.person_key,
        caller_fugo=linkage.fugo_for(CHIYODA, person.person_key),
        provider_fugo=linkage.fugo_for(CHUO, person.person_key),
    )


def hub_app(hub: ExchangeHub) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.aclose()

    app = FastAPI(lifespan=lifespan)
    app.state.exchange = hub
    install_error_handlers(app)
    app.include_router(exchange_api.router)
    return app


ROW = {"tax_status": "1", "taxable_income": 1_200_000, "total_income": 2_500_000, "tax_amount": 60_000}


@contextmanager
def running_world(
    tmp_path: Path,
    spec: Spec,
    *,
    delay: float = 0.0,
    read_timeout: float = 2.0,
    provider_up: bool = True,
    joint: bool = True,
) -> Iterator[World]:
    """A provider (unless ``provider_up`` is false: nothing listens on its port) and a hub, both served."""
    table: dict[str, dict[str, Any]] = {}
    seen: list[dict[str, Any]] = []
    with create_storage(f"sqlite:///{tmp_path / 'hub.db'}") as storage:
        if provider_up:
            with serve(income_provider(table, hub_key=PROVIDER_KEY, seen=seen, delay=delay)) as provider_url:
                world = build_world(
                    tmp_path, spec, provider_url, read_timeout=read_timeout, storage=storage, joint=joint
                )
                world.seen = seen
                table[world.provider_fugo] = dict(ROW)
                with serve(hub_app(world.hub)) as hub_url:
                    world.hub_url = hub_url
                    yield world
        else:
            url = f"http://127.0.0.1:{free_port()}"
            world = build_world(tmp_path, spec, url, read_timeout=read_timeout, storage=storage, joint=joint)
            with serve(hub_app(world.hub)) as hub_url:
                world.hub_url = hub_url
                yield world


def post(world: World, body: bytes, **kwargs: Any) -> httpx.Response:
    headers = world.signed("POST", SERVICE_PATH, body, **kwargs)
    return httpx.post(world.hub_url + SERVICE_PATH, content=body, headers=headers, timeout=10)
