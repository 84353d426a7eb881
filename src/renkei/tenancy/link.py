"""Calling a peer hub: POST over mutual TLS, failures as typed ``tenancy.peer.*`` errors.

:class:`PeerLink` wraps a :class:`~renkei.net.http.HttpPoster` — in production an ``HttpClient`` built with
``ssl_context_for=hub_tls.context_for``, so each peer is verified against its own CA and sees this hub's
certificate — and turns what can go wrong into errors a caller can act on: the peer is down or the
network is (``tenancy.peer.unreachable``), it did not answer in time (``tenancy.peer.timeout``), or TLS
failed (``tenancy.peer.untrusted``: its certificate does not verify against its CA, or the handshake
failed with an alert). Messages name the peer and the reason, never the request path or body.

A peer that refuses *this* hub's certificate cannot always be told from one that failed: asyncio's TLS
server (uvicorn's) closes the connection without sending the alert, so the caller sees a reset during the
handshake (TLS 1.2) or a connection closed before any answer (TLS 1.3). Those are
``tenancy.peer.unreachable`` with ``detail.reason`` ``reset`` or ``no_answer``, and their message says that
a refused certificate looks like this; ``connect`` means nothing accepted the connection at all.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

from renkei.net.http import HttpPoster, HttpResponse, HttpTransportError
from renkei.tenancy.errors import PeerTimeout, PeerUnreachable, PeerUntrusted, TenancyError
from renkei.tenancy.models import Peer

DEFAULT_TIMEOUT = 10.0


class PeerLink:
    """POSTs to peer hubs, each call bounded by ``timeout`` seconds."""

    def __init__(self, client: HttpPoster, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._client = client
        self._timeout = timeout

    async def post(self, peer: Peer, path: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST ``body`` to ``path`` (``/r1/…``) on the peer's hub; any HTTP answer is returned as is."""
        if not path.startswith("/"):
            raise TenancyError("a peer path starts with '/'", reason="path")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._client.post(peer.hub_url + path, body, headers)
        except TimeoutError:
            raise PeerTimeout(
                f"{peer.deployment} did not answer within {self._timeout:g} s", deployment=peer.deployment
            ) from None
        except HttpTransportError as exc:
            raise classify(peer, exc) from None


def classify(peer: Peer, error: HttpTransportError) -> TenancyError:
    """The typed error for a transport failure talking to ``peer``."""
    cause: BaseException | None = error.__cause__
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return PeerUntrusted(
            f"the certificate of {peer.deployment}'s hub does not verify against its trusted CA:"
            f" {cause.verify_message}",
            deployment=peer.deployment,
            reason="peer_certificate",
        )
    if isinstance(cause, ssl.SSLError):
        return PeerUntrusted(
            f"the TLS handshake with {peer.deployment} failed ({cause.reason or 'ssl'}): it may not trust"
            " this hub's certificate",
            deployment=peer.deployment,
            reason="handshake",
            tls_error=str(cause.reason or ""),
        )
    if cause is None:
        # asyncio's TLS server closes a connection whose client certificate it refused without sending the
        # alert, so under TLS 1.3 a refusal looks like this to the client; so does a peer that crashed.
        return PeerUnreachable(
            f"no answer from {peer.deployment}'s hub ({error}); a hub that refuses this hub's certificate"
            " closes the connection this way",
            deployment=peer.deployment,
            reason="no_answer",
        )
    if isinstance(cause, ConnectionResetError):
        return PeerUnreachable(
            f"{peer.deployment}'s hub reset the connection; a hub that refuses this hub's certificate"
            " resets it during the TLS handshake this way",
            deployment=peer.deployment,
            reason="reset",
        )
    return PeerUnreachable(
        f"{peer.deployment}'s hub at {peer.hub_url} cannot be reached: {type(cause).__name__}",
        deployment=peer.deployment,
        reason="connect",
    )
