"""Two deployments over mutual TLS on loopback: each hub identifies the other from its certificate; a caller
without a certificate, with one from an untrusted CA, with an expired one, or impersonating a peer is not a
peer; a peer that is down, slow or presents the wrong certificate gives a typed error — all in bounded time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from renkei.net.http import HttpClient, HttpTransportError
from renkei.registry.ca import CertificateAuthority, IssuedKey, build_leaf_certificate, deployment_urn
from renkei.registry.identifiers import MemberId
from renkei.registry.keys import generate_private_key, private_key_pem, read_private_key
from renkei.registry.keystore import CA_DIRECTORY, FileAuthorityStore
from renkei.registry.models import KeyType
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock, SystemClock
from renkei.tenancy.errors import PeerTimeout, PeerUnreachable, PeerUntrusted
from renkei.tenancy.link import PeerLink
from renkei.tenancy.models import Remote
from renkei.tenancy.serve import TlsH11Protocol, TlsHttpProtocol, federation_server_options, serve_together
from tests.tenancy.harness import Site, build_site, listening_socket, peer_app, serving

BOUND = 5.0
"""Seconds within which every refusal must be decided."""
WHOAMI = "/federation/whoami"
REQUEST = f"POST {WHOAMI} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"


def write_credentials(path: Path, issued: IssuedKey) -> Path:
    path.write_bytes(issued.certificate_pem + issued.private_key_pem)
    return path


def client_context(trusting: str, credentials: Path | None) -> ssl.SSLContext:
    """A TLS client verifying the server against ``trusting`` (a CA PEM), presenting ``credentials``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=trusting)
    if credentials is not None:
        context.load_cert_chain(credentials)
    return context


def raw_exchange(port: int, context: ssl.SSLContext) -> bytes:
    """Send one request over TLS with a blocking socket and read until the server closes: the bytes the
    server answered (empty when it refused), or the handshake's ``ssl.SSLError``. Bounded by ``BOUND``."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=BOUND) as plain,
        context.wrap_socket(plain, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(REQUEST.encode("ascii"))
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
        return received


@contextmanager
def bounded() -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < BOUND


def answer(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    document: dict[str, Any] = json.loads(body)
    return document


def ca_pem(site: Site) -> str:
    return site.authority.certificate_pem().decode("ascii")


def _post(site: Site, url: str, body: bytes = b"hi") -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        async with HttpClient(ssl_context_for=site.tls.context_for) as client:
            first = await client.post(url + WHOAMI, body, {"Content-Type": "text/plain"})
            again = await client.post(url + WHOAMI, body, {"Content-Type": "text/plain"})
        assert first.status == again.status == 200, first.body
        document: dict[str, Any] = json.loads(first.body)
        return document

    return asyncio.run(call())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("http", [TlsHttpProtocol, TlsH11Protocol], ids=["httptools", "h11"])
def test_each_hub_identifies_the_other_from_its_certificate(
    sites: tuple[Site, Site], clock: SystemClock, loop: str, http: type[asyncio.Protocol]
) -> None:
    dc1, dc2 = sites
    with (
        serving(dc1, peer_app(dc1, clock), loop=loop, http=http) as dc1_url,
        serving(dc2, peer_app(dc2, clock), loop=loop, http=http) as dc2_url,
    ):
        seen_by_dc2 = _post(dc1, dc2_url, "乳幼児医療".encode())
        seen_by_dc1 = _post(dc2, dc1_url)
    assert seen_by_dc2["peer"] == "DC1"
    assert seen_by_dc2["body"] == "乳幼児医療"
    assert seen_by_dc2["client_cert_name"] == "CN=renkei hub DC1"
    assert seen_by_dc2["tls_version"] in (0x0303, 0x0304)
    assert isinstance(seen_by_dc2["cipher_suite"], int)
    assert seen_by_dc1["peer"] == "DC2"


def test_a_query_for_a_member_of_the_peer_is_routed_there_over_mutual_tls(
    sites: tuple[Site, Site], clock: SystemClock
) -> None:
    dc1, dc2 = sites
    route = dc1.federation.route(MemberId.parse("JP/LG/131024/u06"))
    assert isinstance(route, Remote) and route.peer.deployment == "DC2"
    assert route.peer.hub_url == dc2.hub_url

    async def call() -> dict[str, Any]:
        async with HttpClient(ssl_context_for=dc1.tls.context_for) as client:
            response = await PeerLink(client).post(route.peer, WHOAMI, b"{}", {})
        assert response.status == 200
        document: dict[str, Any] = json.loads(response.body)
        return document

    with serving(dc2, peer_app(dc2, clock)):
        assert asyncio.run(call())["peer"] == "DC1"


def test_a_caller_without_a_certificate_is_refused(sites: tuple[Site, Site], clock: SystemClock) -> None:
    dc1, dc2 = sites
    anonymous = client_context(ca_pem(dc2), None)
    with serving(dc2, peer_app(dc2, clock)):
        # Control: the same request with DC1's hub certificate is answered.
        assert answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), dc1.tls.credentials().path)))
        with bounded():
            assert raw_exchange(dc2.port, anonymous) == b""  # closed, no HTTP answer
        capped = client_context(ca_pem(dc2), None)
        capped.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.2 decides inside the handshake
        with bounded(), pytest.raises(ssl.SSLError):
            raw_exchange(dc2.port, capped)

        async def through_the_link(context: ssl.SSLContext) -> None:
            async with HttpClient(ssl_context=context) as client:
                await PeerLink(client).post(dc1.federation.peer("DC2"), WHOAMI, b"{}", {})

        with bounded(), pytest.raises(PeerUnreachable) as closed:
            asyncio.run(through_the_link(anonymous))
        assert closed.value.detail["reason"] == "no_answer"
        with bounded(), pytest.raises(PeerUnreachable) as reset:
            asyncio.run(through_the_link(capped))
        assert reset.value.detail["reason"] == "reset"


def test_a_certificate_from_an_untrusted_ca_is_refused(
    sites: tuple[Site, Site], clock: SystemClock, tmp_path: Path, spec: Spec
) -> None:
    _, dc2 = sites
    dc3 = build_site("DC3", tmp_path, spec, clock)  # never linked with DC2
    try:
        stranger = client_context(ca_pem(dc2), dc3.tls.credentials().path)
        with serving(dc2, peer_app(dc2, clock)), bounded():
            assert raw_exchange(dc2.port, stranger) == b""
    finally:
        dc3.close()


def test_an_expired_certificate_of_a_trusted_peer_is_refused(
    sites: tuple[Site, Site], clock: SystemClock, tmp_path: Path
) -> None:
    dc1, dc2 = sites
    # DC1's own CA, but its clock 400 days back: a hub certificate that expired a year ago.
    past = FixedClock(clock.now() - timedelta(days=400))
    authority = CertificateAuthority(FileAuthorityStore(dc1.data_dir / CA_DIRECTORY), past)
    expired = write_credentials(
        tmp_path / "expired.pem", authority.issue_hub("DC1", validity=timedelta(days=30))
    )
    with serving(dc2, peer_app(dc2, clock)):
        assert answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), dc1.tls.credentials().path)))
        with bounded():
            assert raw_exchange(dc2.port, client_context(ca_pem(dc2), expired)) == b""


def _leaf(issuer: Site, tmp_path: Path, name: str, uris: list[str], *, server: bool = True) -> Path:
    """A certificate signed by ``issuer``'s CA key with the given SAN URIs (to forge claims)."""
    ca_key = read_private_key((issuer.data_dir / CA_DIRECTORY / "ca.key").read_bytes())
    ca_certificate = issuer.authority.ensure()
    key = generate_private_key(KeyType.P256)
    now = SystemClock().now()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    certificate = build_leaf_certificate(
        ca_key,
        ca_certificate,
        key.public_key(),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
        now - timedelta(minutes=1),
        now + timedelta(days=1),
        usages=usages,
        names=[x509.DNSName("localhost"), *(x509.UniformResourceIdentifier(u) for u in uris)],
    )
    path = tmp_path / f"{name.replace(' ', '-')}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + private_key_pem(key))
    return path


def test_a_trusted_ca_cannot_vouch_for_another_peer(
    sites: tuple[Site, Site], clock: SystemClock, tmp_path: Path, spec: Spec
) -> None:
    dc1, dc2 = sites
    dc3 = build_site("DC3", tmp_path, spec, clock)
    try:
        dc2.federation.trust(dc3.federation.export_trust_list())
        # DC3's CA (trusted by DC2, so TLS accepts) issues a certificate claiming to be DC1's hub.
        forged = _leaf(dc3, tmp_path, "renkei hub DC1", [deployment_urn("DC1")])
        two_names = _leaf(dc3, tmp_path, "two", [deployment_urn("DC3"), deployment_urn("DC1")])
        genuine = _leaf(dc3, tmp_path, "renkei hub DC3", [deployment_urn("DC3")])
        with serving(dc2, peer_app(dc2, clock)):  # DC3 trusted before start: its CA is in the trust set
            assert answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), forged)))["peer"] is None
            assert answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), two_names)))["peer"] is None
            assert answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), genuine)))["peer"] == "DC3"
            assert (
                answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), dc1.tls.credentials().path)))[
                    "peer"
                ]
                == "DC1"
            )
    finally:
        dc3.close()


def test_a_member_certificate_of_this_deployment_is_accepted_but_is_not_a_peer(
    sites: tuple[Site, Site], clock: SystemClock, tmp_path: Path
) -> None:
    _, dc2 = sites
    enrolment = dc2.registry.enrol("JP/LG/131024", 10)
    member = tmp_path / "member.pem"
    member.write_bytes(enrolment.certificate_pem + enrolment.private_key_pem)
    with serving(dc2, peer_app(dc2, clock)):
        seen = answer(raw_exchange(dc2.port, client_context(ca_pem(dc2), member)))
    assert seen["peer"] is None
    assert seen["client_cert_name"] == "CN=JP/LG/131024/u10"


def test_a_forgotten_peer_is_no_longer_identified(sites: tuple[Site, Site], clock: SystemClock) -> None:
    dc1, dc2 = sites
    with serving(dc2, peer_app(dc2, clock, ttl=0)):
        hub = client_context(ca_pem(dc2), dc1.tls.credentials().path)
        assert answer(raw_exchange(dc2.port, hub))["peer"] == "DC1"
        dc2.federation.forget("DC1")
        # The listener's trust set is fixed at start, so TLS still accepts; the identity is gone at once.
        assert answer(raw_exchange(dc2.port, hub))["peer"] is None


def test_plain_http_to_the_hub_listener_gets_no_answer(sites: tuple[Site, Site], clock: SystemClock) -> None:
    _, dc2 = sites

    async def plain() -> None:
        async with HttpClient() as client:
            await client.post(f"http://127.0.0.1:{dc2.port}{WHOAMI}", b"{}", {})

    with serving(dc2, peer_app(dc2, clock)), bounded(), pytest.raises(HttpTransportError):
        asyncio.run(plain())


def _link_post(site: Site, peer_name: str, *, timeout: float = BOUND, **changes: Any) -> None:
    peer = replace(site.federation.peer(peer_name), **changes)

    async def call() -> None:
        async with HttpClient(ssl_context_for=lambda host, port: site.tls.client_context(peer)) as client:
            await PeerLink(client, timeout=timeout).post(peer, WHOAMI, b"{}", {})

    asyncio.run(call())


def test_a_peer_that_is_down_gives_a_typed_error(sites: tuple[Site, Site], clock: SystemClock) -> None:
    dc1, dc2 = sites
    with serving(dc2, peer_app(dc2, clock)):
        _link_post(dc1, "DC2")
    with bounded(), pytest.raises(PeerUnreachable) as down:
        _link_post(dc1, "DC2")  # the listener has stopped
    assert down.value.detail == {"deployment": "DC2", "reason": "connect"}


def test_a_peer_that_never_answers_times_out(sites: tuple[Site, Site]) -> None:
    dc1, _ = sites
    silent = listening_socket()
    silent.listen()  # accepts TCP, never speaks TLS
    try:
        with bounded(), pytest.raises(PeerTimeout):
            _link_post(dc1, "DC2", hub_url=f"https://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
    finally:
        silent.close()


def test_a_hub_presenting_a_certificate_its_trust_list_does_not_vouch_for_is_refused(
    sites: tuple[Site, Site], clock: SystemClock, tmp_path: Path, spec: Spec
) -> None:
    dc1, _ = sites
    dc3 = build_site("DC3", tmp_path, spec, clock)
    try:
        dc3.federation.trust(dc1.federation.export_trust_list())
        # DC1 believes DC2 is at DC3's address: DC3's certificate does not chain to DC2's CA.
        with serving(dc3, peer_app(dc3, clock)), bounded(), pytest.raises(PeerUntrusted) as refused:
            _link_post(dc1, "DC2", hub_url=dc3.hub_url)
        assert refused.value.detail["reason"] == "peer_certificate"
    finally:
        dc3.close()


def test_the_plain_and_the_hub_listener_serve_one_app_together(
    sites: tuple[Site, Site], clock: SystemClock
) -> None:
    dc1, dc2 = sites
    app = peer_app(dc2, clock)
    lifespans: list[str] = []

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        lifespans.append("start")
        yield
        lifespans.append("stop")

    app.router.lifespan_context = lifespan
    plain_sock = listening_socket()
    plain_port = int(plain_sock.getsockname()[1])
    plain_sock.close()
    dc2.sock.close()  # uvicorn binds the hub port itself here
    common: dict[str, Any] = {"host": "127.0.0.1", "log_level": "warning", "access_log": False}
    plain = uvicorn.Server(uvicorn.Config(app, port=plain_port, lifespan="on", **common))
    hub = uvicorn.Server(
        uvicorn.Config(app, port=dc2.port, lifespan="off", **common, **federation_server_options(dc2.tls))
    )
    thread = threading.Thread(target=asyncio.run, args=(serve_together([plain, hub], poll=0.01),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (plain.started and hub.started):
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.01)

        async def calls() -> tuple[dict[str, Any], dict[str, Any]]:
            async with HttpClient(ssl_context_for=dc1.tls.context_for) as client:
                over_plain = await client.post(f"http://127.0.0.1:{plain_port}{WHOAMI}", b"a", {})
                over_tls = await client.post(f"{dc2.hub_url}{WHOAMI}", b"b", {})
            return json.loads(over_plain.body), json.loads(over_tls.body)

        seen_plain, seen_tls = asyncio.run(calls())
        assert seen_plain["peer"] is None and seen_plain["tls_version"] is None
        assert seen_tls["peer"] == "DC1"
    finally:
        plain.should_exit = True  # one stops: both stop
        thread.join(10)
    assert not thread.is_alive()
    assert lifespans == ["start", "stop"]
