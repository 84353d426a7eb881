"""Serving the hub-to-hub listener with uvicorn: mutual TLS, and the client certificate in the scope.

:func:`federation_server_options` gives the ``uvicorn.Config`` keyword arguments of the listener peers
connect to: this hub's certificate, client certificates required (the SSL context of
:meth:`HubTls.server_context <renkei.tenancy.tls.HubTls.server_context>`, through uvicorn's
``ssl_context_factory``), and an HTTP protocol class that records each TLS connection's client
certificate in ``scope["extensions"]["tls"]`` (:class:`TlsHttpToolsProtocol` or :class:`TlsH11Protocol`:
uvicorn's own classes, plus one step at ``connection_made``, which asyncio calls once the handshake is
done). :func:`serve_together` runs that listener beside the plain one, on one event loop, so both serve
the same application object and its lifespan resources.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from uvicorn import Server
from uvicorn.protocols.http.h11_impl import H11Protocol

from renkei.tenancy.asgi import TlsScopeApp, tls_extension
from renkei.tenancy.tls import HubTls

if TYPE_CHECKING:
    from uvicorn.config import Config


class _Serving(Protocol):
    app: Any


def _record_tls(protocol: _Serving, transport: asyncio.BaseTransport) -> None:
    # The protocol's ``app`` is per connection, so wrapping it scopes the extension to this connection.
    extension = tls_extension(transport.get_extra_info("ssl_object"))
    if extension is not None:
        protocol.app = TlsScopeApp(protocol.app, extension)


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the ASGI TLS extension in every request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _record_tls(self, transport)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
    TlsHttpProtocol: type[asyncio.Protocol] = TlsH11Protocol
else:

    class TlsHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, with the ASGI TLS extension in every request's scope."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _record_tls(self, transport)

    TlsHttpProtocol = TlsHttpToolsProtocol


def federation_server_options(hub_tls: HubTls) -> dict[str, Any]:
    """``uvicorn.Config(app, host=…, port=…, **federation_server_options(hub_tls))``: the hub-to-hub
    listener. The hub certificate is issued (or renewed) now; the trust set is read now."""
    credentials = hub_tls.credentials()
    context = hub_tls.server_context()

    def factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return context

    return {
        "ssl_certfile": str(credentials.path),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_context_factory": factory,
        "http": TlsHttpProtocol,
    }


async def serve_together(servers: Sequence[Server], *, poll: float = 0.1) -> None:
    """Serve ``servers`` on this event loop until any of them stops (a signal, a failed start), then stop
    them all and wait for each to finish.

    Give the lifespan to one server only (``lifespan="off"`` on the others): they share one application.
    uvicorn's signal handlers nest (the last server started receives the signal first), so one Ctrl+C or
    SIGTERM stops every server.
    """
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        while not any(s.should_exit for s in servers) and not any(t.done() for t in tasks):
            await asyncio.sleep(poll)
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks)
