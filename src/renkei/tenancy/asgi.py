"""Who is calling over TLS: the ASGI TLS extension on the server side, and the peer behind a certificate.

uvicorn does not put the client certificate into the ASGI scope. :func:`tls_extension` builds the
``scope["extensions"]["tls"]`` dictionary the ASGI TLS extension (asgiref ``specs/tls.rst``, 0.2) defines,
from a connection's ``ssl_object``, and :class:`TlsScopeApp` adds it to every request of that connection
(:mod:`renkei.tenancy.serve` installs it per connection in uvicorn's HTTP protocol). Then
:class:`PeerIdentityMiddleware` maps the presented certificate to a trusted
:class:`~renkei.tenancy.models.Peer` and routes read it with :func:`peer_of`.

A certificate identifies a peer when it names exactly one deployment (SAN URI ``urn:renkei:deployment:DC2``),
that deployment is trusted, the certificate is signed by *that* peer's CA (not just any trusted CA: TLS
accepted it against the union), is valid now and allows client authentication. Anything else — no
certificate, plain HTTP, a member system's certificate from this deployment's CA — is not a peer (None).
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from starlette.requests import Request

from renkei.registry.ca import DEPLOYMENT_URN, san_uris
from renkei.storage.ports import Clock
from renkei.tenancy.errors import TenancyError
from renkei.tenancy.models import Peer
from renkei.tenancy.ports import PeerDirectory

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where :class:`PeerIdentityMiddleware` leaves the calling peer (or None) in the request scope.
PEER_SCOPE_KEY: Final = "renkei.federation.peer"
_TLS_VERSIONS: Final = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# IANA numbers of the suites OpenSSL negotiates with ECDSA certificates (ASGI wants the number).
_CIPHER_SUITES: Final = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "ECDHE-ECDSA-AES128-GCM-SHA256": 0xC02B,
    "ECDHE-ECDSA-AES256-GCM-SHA384": 0xC02C,
    "ECDHE-ECDSA-CHACHA20-POLY1305": 0xCCA9,
}


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI ``tls`` extension of a connection, or None when it is not TLS (then the extension must
    be absent). The client certificate chain holds the peer's leaf certificate only: that is what
    Python's ``ssl`` exposes (``getpeercert``), and verification already happened in the handshake."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        certificate = x509.load_der_x509_certificate(der)
        chain.append(certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))
        name = certificate.subject.rfc4514_string()
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,  # the listener requires a verified certificate or refuses the handshake
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else _CIPHER_SUITES.get(cipher[0]),
    }


class TlsScopeApp:
    """Wraps the ASGI app of one TLS connection, adding that connection's ``tls`` extension to the scope
    of each HTTP and WebSocket request."""

    __slots__ = ("_app", "_tls")

    def __init__(self, app: App, tls: dict[str, Any]) -> None:
        self._app = app
        self._tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": self._tls}
        await self._app(scope, receive, send)


def presented_certificate(scope: Scope) -> x509.Certificate | None:
    """The client certificate of the request's TLS connection, if it presented one."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, dict) or tls.get("client_cert_error") is not None:
        return None
    chain = list(tls.get("client_cert_chain") or ())
    if not chain:
        return None
    try:
        return x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
    except ValueError:
        return None


class PeerIdentifier:
    """Maps a client certificate to the trusted peer it belongs to (or None). Answers are remembered for
    ``ttl`` per certificate, so a hub busy with one peer reads the directory twice a minute, not per
    request; forgetting a peer takes effect within ``ttl``."""

    def __init__(
        self, peers: PeerDirectory, clock: Clock, *, ttl: timedelta = timedelta(seconds=30), size: int = 1024
    ) -> None:
        self._peers = peers
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, tuple[datetime, Peer | None]] = OrderedDict()

    def identify(self, certificate: x509.Certificate) -> Peer | None:
        """The trusted peer whose hub presented ``certificate``, or None."""
        now = self._clock.now()
        key = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                return hit[1]
        peer = self._identify(certificate, now)
        with self._lock:
            self._cache[key] = (now + self._ttl, peer)
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return peer

    def _identify(self, certificate: x509.Certificate, now: datetime) -> Peer | None:
        deployments = [
            u[len(DEPLOYMENT_URN) :] for u in san_uris(certificate) if u.startswith(DEPLOYMENT_URN)
        ]
        if len(deployments) != 1:
            return None
        peer = self._peers.peer(deployments[0])
        if peer is None:
            return None
        try:
            certificate.verify_directly_issued_by(peer.ca_certificate)
        except (InvalidSignature, ValueError, TypeError):
            return None
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return None
        try:
            usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return None
        return peer if ExtendedKeyUsageOID.CLIENT_AUTH in usages else None


class PeerIdentityMiddleware:
    """ASGI middleware: puts the calling peer (or None) into every HTTP request's scope for
    :func:`peer_of`. Install it on the app the hub-to-hub listener serves."""

    def __init__(self, app: App, identifier: PeerIdentifier) -> None:
        self._app = app
        self._identifier = identifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            certificate = presented_certificate(scope)
            scope[PEER_SCOPE_KEY] = None if certificate is None else self._identifier.identify(certificate)
        await self._app(scope, receive, send)


def peer_of(request: Request) -> Peer | None:
    """The trusted peer deployment whose hub made this request over mutual TLS, or None (a FastAPI
    dependency: ``peer: Annotated[Peer | None, Depends(peer_of)]``)."""
    if PEER_SCOPE_KEY not in request.scope:
        raise TenancyError(
            "PeerIdentityMiddleware is not installed: the calling peer cannot be known",
            reason="middleware",
        )
    peer: Peer | None = request.scope[PEER_SCOPE_KEY]
    return peer
