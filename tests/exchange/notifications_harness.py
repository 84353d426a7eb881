"""The change-notification test harness: a hub (uvicorn, its delivery worker in the lifespan) and webhook
receivers (uvicorn) on loopback, over SQLite or PostgreSQL, with a registry, a linkage base and persons."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import renkei.storage.sql.exchange
import renkei.storage.sql.notifications  # noqa: F401
from renkei.api import files as files_api
from renkei.api import notifications as notifications_api
from renkei.api.errors import install_error_handlers
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.service import AuditLog
from renkei.exchange.notifications.service import NotificationHub
from renkei.exchange.notifications.worker import NotificationWorker
from renkei.exchange.signing import HubSigner, member_hub_key, verify_hub_signature
from renkei.identity.keys import MemoryKeyStore as IdentityKeys
from renkei.identity.models import BasicInfo, Sex
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService, LinkageBase
from renkei.japanese.checkdigit import generate_atena_number, generate_household_number
from renkei.net.retry import RetryPolicy
from renkei.registry.auth import SIGNATURE_HEADER, RequestAuthenticator, sign_request
from renkei.registry.ca import CertificateAuthority
from renkei.registry.keystore import MemoryAuthorityStore as RegistryKeys
from renkei.registry.service import Enrolment, Registry
from renkei.spec.models import Spec
from renkei.storage.ports import Clock, Storage
from renkei.storage.sql.audit import SqlAuditStore, audit_record
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.exchange import SqlExchangeStore
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.notifications import SqlNotificationStore
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore
from tests.contract.pgcluster import admin_execute
from tests.loopback import bound_socket as bound_socket
from tests.loopback import serve as serve

CHIYODA = "JP/LG/131016"
CHUO = "JP/LG/131024"
PUBLISHER = f"{CHIYODA}/u01"
TOPIC = "resident-changes"
HUB_KEY = bytes(range(1, 33))
NARROW_ITEMS = ("name", "address", "change_reason", "change_date")
FAST = RetryPolicy(max_attempts=4, base_s=0.05, cap_s=0.2, timeout_s=2.0)
_databases = itertools.count(1)


def hook_member(name: str) -> str:
    """The subscriber a receiver's hook stands for, whose own hub key it checks pushes with: ``u06`` is
    千代田区's u06, ``chuo-u06`` 中央区's; ``new-u15`` is 千代田区's u15 at a new URL."""
    name = name.removeprefix("new-")
    if name.startswith("chuo-"):
        return f"{CHUO}/{name.removeprefix('chuo-')}"
    return f"{CHIYODA}/{name}"


@dataclass
class Hit:
    """One webhook POST a receiver got."""

    hook: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    signed: bool
    status: int


@dataclass
class Receivers:
    """Webhook receivers on one server: ``POST /hook/{name}``. ``script[(name, event_type)]`` lists the
    statuses to answer, one per attempt, before the default 204 (``refuse[name]``: always that status);
    status 0 takes the event (a 204) but only after hanging ``hang_s`` seconds."""

    clock: Clock
    script: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    refuse: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    hang_s: float = 5.0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            name = request.path_params["name"]
            raw = await request.body()
            signed = verify_hub_signature(
                member_hub_key(HUB_KEY, hook_member(name)),
                dict(request.headers),
                "POST",
                request.url.path,
                raw,
                int(self.clock.now().timestamp()),
            )
            body = json.loads(raw)
            with self.lock:
                pending = self.script.get((name, body["event_type"]), [])
                status = pending.pop(0) if pending else self.refuse.get(name, 204)
                hang, status = status == 0, status or 204
                self.hits.append(Hit(name, dict(request.headers), body, raw, signed, status))
            if hang:
                await asyncio.sleep(self.hang_s)
            if status == 204:
                return Response(status_code=204)
            return JSONResponse({"status": status}, status_code=status)

        return Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"])])

    def hook(self, name: str) -> str:
        return f"{self.url}/hook/{name}"

    def of(self, name: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.hook == name]

    def delivered(self, name: str) -> list[dict[str, Any]]:
        """What ``name`` accepted (2xx), once per event id (a receiver's de-duplication), in arrival order."""
        seen: dict[str, dict[str, Any]] = {}
        for hit in self.of(name):
            if hit.status < 300:
                seen.setdefault(hit.body["event_id"], hit.body)
        return list(seen.values())


@dataclass
class Person:
    key: str
    atena: str
    household: str
    name: str


@dataclass
class World:
    storage: Storage
    clock: Clock
    registry: Registry
    linkage: LinkageBase
    audit: AuditLog
    store: SqlNotificationStore
    message_log: SqlExchangeStore
    hub: NotificationHub
    members: dict[str, Enrolment]
    persons: dict[str, Person]
    receivers: Receivers
    hub_url: str = ""
    app: FastAPI | None = None

    @property
    def worker(self) -> NotificationWorker:
        assert self.app is not None
        worker = self.app.state.worker
        assert isinstance(worker, NotificationWorker)
        return worker

    def signed(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        who: str = PUBLISHER,
        purpose: str | None = None,
        client: str | None = None,
    ) -> dict[str, str]:
        member = self.members[who]
        token = sign_request(
            member.private_key_pem,
            member.member.id,
            method,
            target,
            body,
            self.clock.now(),
            certificate=member.certificate_pem,
        )
        headers = {
            SIGNATURE_HEADER: token,
            "X-Road-Client": client or who,
            "Content-Type": "application/json",
        }
        if purpose is not None:
            headers["X-Road-Issue"] = purpose
        return headers

    def request(
        self,
        method: str,
        target: str,
        payload: Any = None,
        *,
        who: str = PUBLISHER,
        purpose: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = raw if raw is not None else b"" if payload is None else json.dumps(payload).encode()
        sent = self.signed(method, target, body, who=who, purpose=purpose)
        sent.update(headers or {})
        return httpx.request(method, self.hub_url + target, content=body, headers=sent, timeout=10)

    def publish(
        self, payload: Any, *, who: str = PUBLISHER, topic: str = TOPIC, **kwargs: Any
    ) -> httpx.Response:
        return self.request("POST", f"/r1/{who}/events/{topic}", payload, who=who, **kwargs)

    def access_records(self) -> list[dict[str, Any]]:
        with connection_source(self.storage)(False) as connection:
            rows = list(connection.execute(select(audit_record.c.body).order_by(audit_record.c.position)))
        return [json.loads(r.body)["record"] for r in rows]

    def fugo(self, org: str, person: str) -> str:
        return str(self.linkage.fugo_for(org, self.persons[person].key))  # type: ignore[arg-type]


def event(person: Person, event_type: str = "201", **extra: Any) -> dict[str, Any]:
    """A valid 住民異動 event of ``person`` (named by its 宛名番号 in ``data``)."""
    data = {
        "atena_number": person.atena,
        "household_number": person.household,
        "name": person.name,
        "name_kana": "ヤマダ ハナコ",
        "birth_date": "1990-04-01",
        "sex": "2",
        "relationship": "01",
        "head_of_household_name": person.name,
        "address": "東京都千代田区千代田1-1",
        "resident_type": "1",
        "resident_status": "1",
        "change_reason": event_type,
        "change_date": "2026-03-31",
    }
    data.update(extra.pop("data", {}))
    return {"event_type": event_type, "occurred_at": "2026-04-01T09:00:00+09:00", "data": data, **extra}


def _register(registry: Registry) -> dict[str, Enrolment]:
    registry.add_organisation("LG", "131016", "千代田区")
    registry.add_organisation("LG", "131024", "中央区")
    members = {}
    for org, unit in ((CHIYODA, 1), (CHIYODA, 6), (CHIYODA, 7), (CHIYODA, 10), (CHIYODA, 15), (CHIYODA, 17)):
        members[f"{org}/u{unit:02d}"] = registry.enrol(org, unit)
    for org, unit in ((CHUO, 6), (CHUO, 10)):
        members[f"{org}/u{unit:02d}"] = registry.enrol(org, unit)
    registry.add_purpose(
        "resident-tax-assessment", "個人住民税の賦課", "地方税法 第294条", {"resident-record": None}
    )
    registry.add_purpose(
        "nhi-narrow", "国民健康保険 (項目限定)", "国民健康保険法", {"resident-record": list(NARROW_ITEMS)}
    )
    registry.add_purpose("child-allowance", "児童手当の認定", "児童手当法", {"resident-record": None})
    registry.add_purpose("infant-medical-subsidy", "乳幼児医療費助成", "条例", {"resident-record": None})
    registry.add_purpose("tax-only", "税のみ", "地方税法", {"individual-resident-tax": None})
    return members


def _persons(identity: IdentityService, linkage: LinkageBase) -> dict[str, Person]:
    persons = {}
    names = {"a": "山田 花子", "b": "佐藤 太郎", "c": "鈴木 一郎"}
    for n, (label, name) in enumerate(names.items(), start=1):
        enrolled = identity.enrol(BasicInfo(name, "東京都千代田区千代田1-1", date(1990, 4, 1), Sex.FEMALE))
        atena = generate_atena_number(f"{n:014d}")
        linkage.register_local_id(CHIYODA, atena, enrolled.person_key)
        persons[label] = Person(enrolled.person_key, atena, generate_household_number(f"{n + 50:014d}"), name)
    # Person a also lives in 中央区's records under its own 宛名番号 (b and c do not).
    linkage.register_local_id(CHUO, generate_atena_number(f"{900:014d}"), persons["a"].key)  # type: ignore[arg-type]
    return persons


@contextmanager
def database(backend: str, tmp_path: Path, pg_url: Callable[[], str]) -> Iterator[str]:
    """A fresh database for one test: an SQLite file, or a new database on the session's PostgreSQL
    server (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    server = pg_url()
    name = f"renkei_notify_{os.getpid()}_{next(_databases)}"
    admin_execute(server, [f'CREATE DATABASE "{name}"'])
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        admin_execute(server, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


def hub_app(hub: NotificationHub, *, worker: bool = True, **worker_options: Any) -> FastAPI:
    """The hub's notification edge; its delivery worker runs in the lifespan unless ``worker`` is false."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not worker:
            yield
            return
        async with notifications_api.delivery_lifespan(hub, **worker_options) as running:
            app.state.worker = running
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.notifications = hub
    install_error_handlers(app)
    app.include_router(notifications_api.router)
    app.include_router(files_api.router)
    return app


@contextmanager
def running_world(
    url: str, spec: Spec, clock: Clock, *, worker: bool = True, **worker_options: Any
) -> Iterator[World]:
    """Everything served: receivers first, then the hub with its worker (``worker_options``: policy …)."""
    worker_options.setdefault("policy", FAST)
    worker_options.setdefault("poll_interval_s", 0.2)
    with create_storage(url) as storage:
        source = connection_source(storage)
        registry = Registry(
            spec, SqlRegistryRepository(source), clock, authority=CertificateAuthority(RegistryKeys(), clock)
        )
        members = _register(registry)
        identity_repository = SqlIdentityRepository(source)
        keys = IdentityKeys()
        linkage = LinkageBase(identity_repository, keys, clock)
        linkage.register_organisation(CHIYODA)
        linkage.register_organisation(CHUO)
        persons = _persons(IdentityService(identity_repository, NumberCodec(keys), clock), linkage)
        audit = AuditLog(SqlAuditStore(source), Ed25519HeadSigner(bytes(32)), clock)
        store = SqlNotificationStore(source)
        message_log = SqlExchangeStore(source)
        hub = NotificationHub(
            registry,
            RequestAuthenticator(registry, SqlReplayStore(source), clock),
            linkage,
            audit,
            store,
            HubSigner(HUB_KEY),
            clock,
            message_log=message_log,
        )
        receivers = Receivers(clock)
        with serve(receivers.app()) as receivers_url:
            receivers.url = receivers_url
            world = World(
                storage, clock, registry, linkage, audit, store, message_log, hub, members, persons, receivers
            )
            app = hub_app(hub, worker=worker, **worker_options)
            with serve(app) as hub_url:
                world.hub_url, world.app = hub_url, app
                yield world


def subscribe_all(world: World) -> None:
    """u06 / u10 (narrow purpose) / u15 of 千代田区 by webhook, u17 polling; 中央区's u06 by webhook for
    千代田区's events (an operator's cross-organisation subscription), 中央区's u10 for its own."""
    hub, hook = world.hub, world.receivers.hook
    hub.subscribe(f"{CHIYODA}/u06", TOPIC, url=hook("u06"), purpose="resident-tax-assessment")
    hub.subscribe(f"{CHIYODA}/u10", TOPIC, url=hook("u10"), purpose="nhi-narrow")
    hub.subscribe(f"{CHIYODA}/u15", TOPIC, url=hook("u15"), purpose="child-allowance")
    hub.subscribe(f"{CHIYODA}/u17", TOPIC, mode="poll", purpose="infant-medical-subsidy")
    # An operator's cross-organisation subscription: 中央区's u06 takes 千代田区's events (named source).
    hub.subscribe(
        f"{CHUO}/u06", TOPIC, url=hook("chuo-u06"), purpose="resident-tax-assessment", source=CHIYODA
    )
    hub.subscribe(f"{CHUO}/u10", TOPIC, url=hook("chuo-u10"), purpose="nhi-narrow", source=CHUO)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
