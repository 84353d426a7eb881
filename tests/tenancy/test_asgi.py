"""The pieces behind peer identity, without a network: the TLS scope extension, the per-certificate cache,
and a route that asks for the peer where no middleware put it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from renkei.storage.clock import FixedClock, SystemClock
from renkei.tenancy.asgi import PeerIdentifier, TlsScopeApp, peer_of, presented_certificate, tls_extension
from renkei.tenancy.errors import TenancyError
from tests.tenancy.harness import Site


def test_no_tls_no_extension() -> None:
    assert tls_extension(None) is None
    assert presented_certificate({"type": "http"}) is None
    assert presented_certificate({"extensions": {"tls": {"client_cert_chain": ["not a PEM"]}}}) is None
    failed = {"client_cert_chain": ["x"], "client_cert_error": "unknown ca"}
    assert presented_certificate({"extensions": {"tls": failed}}) is None


def test_the_extension_reaches_http_scopes_only() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))

    wrapped = TlsScopeApp(app, {"tls_version": 0x0304})

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        return None

    asyncio.run(wrapped({"type": "lifespan"}, nothing, ignore))
    asyncio.run(wrapped({"type": "http", "extensions": {"other": {}}}, nothing, ignore))
    assert "extensions" not in seen[0]
    assert seen[1]["extensions"] == {"other": {}, "tls": {"tls_version": 0x0304}}


def test_peer_of_refuses_to_guess_without_the_middleware() -> None:
    app = FastAPI()

    @app.get("/who")
    def who(request: Request) -> str:
        return str(peer_of(request))

    with TestClient(app) as client, pytest.raises(TenancyError, match="PeerIdentityMiddleware"):
        client.get("/who")


def test_identities_are_remembered_for_the_ttl(sites: tuple[Site, Site], clock: SystemClock) -> None:
    dc1, dc2 = sites
    certificate = dc1.tls.credentials().certificate
    later = FixedClock(clock.now())
    identifier = PeerIdentifier(dc2.peers, later, ttl=timedelta(seconds=30), size=1)
    found = identifier.identify(certificate)
    assert found is not None and found.deployment == "DC1"
    dc2.federation.forget("DC1")
    assert identifier.identify(certificate) == found  # remembered
    later.advance(timedelta(seconds=31))
    assert identifier.identify(certificate) is None
    # DC2's own hub certificate is from DC2's CA: not a peer (and it evicts DC1's entry: size 1).
    assert identifier.identify(dc2.tls.credentials().certificate) is None
