"""Two whole deployments in one test: each the real application (``app.build_app``) on its own database,
data directory, keys and CA, served by uvicorn on loopback — the plain listener for member systems and the
hub-to-hub listener with mutual TLS — with trust lists exchanged between them as operators would.

DC1 hosts 千代田区 (131016) and its 乳幼児医療 system (u17) and is the linkage base: it knows the person under
both cities' numbers. DC2 hosts 中央区 (131024) and its 個人住民税 system (u06), a real provider on loopback;
it holds the person under its own key and the 符号 for 中央区 the base issued.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from renkei.api.deps import Platform
from renkei.app import build_app, build_platform
from renkei.exchange.provider import income_provider
from renkei.exchange.signing import HUB_KEY_NAME, member_hub_key
from renkei.exchange.soapcodec import (
    SOAP_CONTENT_TYPE,
    fault_envelope,
    operations,
    read_request,
    write_response,
)
from renkei.identity.keys import FileKeyStore
from renkei.identity.models import BasicInfo, Sex
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.service import Enrolment
from renkei.settings import Settings
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.tenancy.serve import federation_server_options
from tests.exchange.harness import PURPOSE, PURPOSE_ITEMS, ROW, free_port, serve

CHIYODA = "JP/LG/131016"
CHUO = "JP/LG/131024"
MINATO = "JP/LG/131032"  # 港区: its 個人住民税 system (u06) in DC2 speaks SOAP only
ATENA_A = "000000000000011"  # the person's 宛名番号 at 千代田区 (DC1)
ATENA_B = "000000000000029"  # the same person's 宛名番号 at 中央区 (DC2)
SERVICE_PATH = "/r1/JP/LG/131024/u06/income-certificate"
SOAP_SERVICE_PATH = "/r1/JP/LG/131032/u06/income-certificate"
DC1_ONLY_PURPOSE = "dc1-only-subsidy"
"""A purpose DC1's registry holds and DC2's does not: DC1 lets a query through, DC2's own check refuses."""


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@dataclass
class Site:
    """One deployment: its settings and ports; ``start`` builds and serves the application, ``stop`` ends it
    (the lifespan closes the storage), so a restart is a new process's worth of state on the same data."""

    name: str
    settings: Settings
    port: int
    hub_port: int
    platform: Platform | None = None
    _thread: threading.Thread | None = None
    _servers: list[uvicorn.Server] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub_url(self) -> str:
        return f"https://127.0.0.1:{self.hub_port}"

    def setup(self) -> Platform:
        """A platform for enrolment before serving (close its storage when done)."""
        return build_platform(self.settings)

    def start(self) -> None:
        platform = build_platform(self.settings)
        app = build_app(self.settings, platform=platform)
        common: dict[str, Any] = {"log_level": "warning", "access_log": False, "log_config": None}
        plain = uvicorn.Server(uvicorn.Config(app, lifespan="on", **common))
        tls = federation_server_options(platform.hub_tls)
        hub = uvicorn.Server(uvicorn.Config(app, lifespan="off", **common, **tls))
        plain_sock, hub_sock = _bind(self.port), _bind(self.hub_port)

        async def run() -> None:
            plain_task = asyncio.create_task(plain.serve(sockets=[plain_sock]))
            hub_task = asyncio.create_task(hub.serve(sockets=[hub_sock]))
            await serve_together_tasks(plain, hub, plain_task, hub_task)

        thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not (plain.started and hub.started):
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.02)
        self.platform, self._thread, self._servers = platform, thread, [plain, hub]

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(20)
        self.platform, self._thread, self._servers = None, None, []

    @property
    def live(self) -> Platform:
        assert self.platform is not None, f"{self.name} is not running"
        return self.platform


async def serve_together_tasks(
    plain: uvicorn.Server, hub: uvicorn.Server, *tasks: asyncio.Task[None]
) -> None:
    """Like :func:`renkei.tenancy.serve.serve_together`, for servers on sockets bound beforehand (a
    restarted site keeps its ports: the peer's trust list names the hub port)."""
    try:
        while not (plain.should_exit or hub.should_exit) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
    finally:
        plain.should_exit = hub.should_exit = True
        await asyncio.gather(*tasks)


@dataclass
class Pair:
    dc1: Site
    dc2: Site
    client: Enrolment
    """千代田区's 乳幼児医療 system (JP/LG/131016/u17), enrolled at DC1."""
    fugo_b: str
    """The person's 符号 for 中央区, issued by the base (DC1) and adopted by DC2."""
    fugo_c: str
    """… and for 港区, whose SOAP-only system answers at DC2."""
    seen: list[dict[str, Any]]
    """What DC2's provider received."""
    person_a: str
    """The person's key at DC1 (the base); access records there name it hashed."""
    person_b: str
    """The same person's key at DC2."""

    def signed(
        self, body: bytes, *, path: str = SERVICE_PATH, method: str = "POST", **headers: str
    ) -> dict[str, str]:
        token = sign_request(
            self.client.private_key_pem,
            self.client.member.id,
            method,
            path,
            body,
            SystemClock().now(),
            certificate=self.client.certificate_pem,
        )
        return {
            SIGNATURE_HEADER: token,
            "X-Road-Client": str(self.client.member.id),
            "X-Road-Issue": PURPOSE,
            "Content-Type": "application/json",
            **headers,
        }

    def query(self, body: bytes, *, path: str = SERVICE_PATH, **headers: str) -> httpx.Response:
        signed = self.signed(body, path=path, **headers)
        return httpx.post(self.dc1.url + path, content=body, headers=signed, timeout=30)


def _site(name: str, root: Path, database_url: str) -> Site:
    data_dir = root / name.lower()
    settings = Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    return Site(name, settings, free_port(), free_port())


def _purpose(platform: Platform) -> None:
    platform.registry.add_purpose(
        PURPOSE, "乳幼児医療費助成", "児童福祉法", {"individual-resident-tax": PURPOSE_ITEMS}
    )


@contextmanager
def running_pair(root: Path, database_urls: tuple[str, str]) -> Iterator[Pair]:
    """DC1 and DC2 enrolled, trusting each other, both serving; DC2's provider up."""
    dc1, dc2 = _site("DC1", root, database_urls[0]), _site("DC2", root, database_urls[1])
    table: dict[str, dict[str, Any]] = {}
    seen: list[dict[str, Any]] = []
    info = BasicInfo("山田 花子", "東京都千代田区千代田1-1", date(2021, 5, 1), Sex.FEMALE)

    one = dc1.setup()
    try:
        one.registry.add_organisation("LG", "131016", "千代田区")
        client = one.registry.enrol(CHIYODA, 17)
        _purpose(one)
        one.registry.add_purpose(
            DC1_ONLY_PURPOSE, "独自助成", "条例", {"individual-resident-tax": PURPOSE_ITEMS}
        )
        person = one.identity.enrol(info)
        for org in (CHIYODA, CHUO, MINATO):
            one.linkage.register_organisation(org)
        one.linkage.register_local_id(CHIYODA, ATENA_A, person.person_key)
        fugo_b = str(one.linkage.fugo_for(CHUO, person.person_key))
        fugo_c = str(one.linkage.fugo_for(MINATO, person.person_key))
        one.federation.configure("DC1", dc1.hub_url)
    finally:
        one.storage.close()

    two = dc2.setup()
    hub_key = FileKeyStore(dc2.settings.data_dir / "keys").secret(HUB_KEY_NAME, 32)
    provider_key = member_hub_key(hub_key, f"{CHUO}/u06")
    with (
        serve(income_provider(table, hub_key=provider_key, seen=seen)) as provider_url,
        serve(soap_income_provider(two.spec, table, seen)) as soap_url,
    ):
        try:
            two.registry.add_organisation("LG", "131024", "中央区")
            two.registry.add_member(CHUO, 6, endpoint=provider_url)
            two.registry.provide(f"{CHUO}/u06", "income-certificate")
            two.registry.add_organisation("LG", "131032", "港区")
            two.registry.add_member(MINATO, 6, endpoint=soap_url + "/", protocol="soap")
            two.registry.provide(f"{MINATO}/u06", "income-certificate")
            _purpose(two)
            local = two.identity.enrol(info)
            two.linkage.register_organisation(CHUO)
            two.linkage.register_local_id(CHUO, ATENA_B, local.person_key)
            two.linkage.adopt_fugo(CHUO, local.person_key, fugo_b)
            two.linkage.register_organisation(MINATO)
            two.linkage.adopt_fugo(MINATO, local.person_key, fugo_c)
            two.federation.configure("DC2", dc2.hub_url)
        finally:
            two.storage.close()
        table[fugo_b] = table[fugo_c] = dict(ROW)
        _exchange_trust(dc1, dc2)
        pair = Pair(dc1, dc2, client, fugo_b, fugo_c, seen, str(person.person_key), str(local.person_key))
        dc1.start()
        try:
            dc2.start()
            try:
                yield pair
            finally:
                dc2.stop()
        finally:
            dc1.stop()


def soap_income_provider(spec: Spec, table: dict[str, dict[str, Any]], seen: list[dict[str, Any]]) -> FastAPI:
    """A SOAP-only 個人住民税 system: one address, the WSDL's envelopes (read and written by the codec the
    hub's SOAP edge uses), answering ``incomeCertificate`` by its own 符号."""
    known = operations(spec)
    app = FastAPI()

    @app.post("/")
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        op, items = read_request(spec, known, body, request.headers.get("soapaction"))
        seen.append({"body": items, "headers": dict(request.headers), "soap": True})
        row = table.get(str(items.get("person_fugo")))
        if row is None:
            fault = fault_envelope("demo.person.unknown", "PersonUnknown", "no such person", client=True)
            return Response(fault, status_code=500, media_type=SOAP_CONTENT_TYPE)
        answer = write_response(op, {"fiscal_year": items.get("fiscal_year"), **row})
        return Response(answer, media_type=SOAP_CONTENT_TYPE)

    return app


def _exchange_trust(dc1: Site, dc2: Site) -> None:
    """Each side exports its signed trust list; the other imports it, checking the CA fingerprint."""
    one, two = dc1.setup(), dc2.setup()
    try:
        two.federation.trust(
            one.federation.export_trust_list(), expect_fingerprint=one.federation.ca_fingerprint()
        )
        one.federation.trust(
            two.federation.export_trust_list(), expect_fingerprint=two.federation.ca_fingerprint()
        )
    finally:
        one.storage.close()
        two.storage.close()
