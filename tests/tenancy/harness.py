"""Two deployments in one test: each with its own data directory, database, CA, registry and federation
identity, and a hub-to-hub listener served by a real uvicorn with mutual TLS on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Request

from renkei.registry.ca import CertificateAuthority
from renkei.registry.keystore import CA_DIRECTORY, FileAuthorityStore
from renkei.registry.service import Registry
from renkei.spec.models import Spec
from renkei.storage.ports import Clock, Storage
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.registry import SqlRegistryRepository
from renkei.storage.sql.tenancy import SqlPeerDirectory
from renkei.tenancy.asgi import PeerIdentifier, PeerIdentityMiddleware, peer_of
from renkei.tenancy.federation import Federation
from renkei.tenancy.models import Peer
from renkei.tenancy.serve import federation_server_options
from renkei.tenancy.tls import TLS_DIRECTORY, HubTls

CHIYODA = "131016"  # 千代田区: city A, hosted in DC1
CHUO = "131024"  # 中央区: city B, hosted in DC2


@dataclass
class Site:
    """One deployment: its services on its own storage and data directory."""

    name: str
    data_dir: Path
    storage: Storage
    authority: CertificateAuthority
    registry: Registry
    peers: SqlPeerDirectory
    federation: Federation
    tls: HubTls
    port: int
    sock: socket.socket
    database_url: str = ""

    @property
    def hub_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()
        self.storage.close()


def listening_socket() -> socket.socket:
    """A loopback socket bound to a free port, handed to uvicorn (so the port is known beforehand)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def build_site(
    name: str,
    root: Path,
    spec: Spec,
    clock: Clock,
    *,
    database_url: str | None = None,
    configure: bool = True,
) -> Site:
    data_dir = root / name.lower()
    data_dir.mkdir(parents=True)
    database_url = database_url or f"sqlite:///{data_dir / 'renkei.db'}"
    storage = create_storage(database_url)
    source = connection_source(storage)
    authority = CertificateAuthority(
        FileAuthorityStore(data_dir / CA_DIRECTORY), clock, name=f"renkei {name} CA"
    )
    registry = Registry(spec, SqlRegistryRepository(source), clock, authority=authority)
    peers = SqlPeerDirectory(source)
    federation = Federation(peers, registry, authority, clock)
    sock = listening_socket()
    port = int(sock.getsockname()[1])
    if configure:
        federation.configure(name, f"https://127.0.0.1:{port}")
    tls = HubTls(federation, authority, data_dir / TLS_DIRECTORY, clock)
    return Site(
        name, data_dir, storage, authority, registry, peers, federation, tls, port, sock, database_url
    )


def peer_app(site: Site, clock: Clock, *, ttl: float = 30.0) -> FastAPI:
    """A stand-in for the hub's federation routes: answers who called (the peer, as the hub sees it)."""
    from datetime import timedelta

    app = FastAPI()

    @app.post("/federation/whoami")
    async def whoami(request: Request, peer: Annotated[Peer | None, Depends(peer_of)]) -> dict[str, Any]:
        tls = request.scope.get("extensions", {}).get("tls")
        return {
            "peer": None if peer is None else peer.deployment,
            "body": (await request.body()).decode("utf-8"),
            "client_cert_name": None if tls is None else tls["client_cert_name"],
            "tls_version": None if tls is None else tls["tls_version"],
            "cipher_suite": None if tls is None else tls["cipher_suite"],
        }

    identifier = PeerIdentifier(site.peers, clock, ttl=timedelta(seconds=ttl))
    app.add_middleware(PeerIdentityMiddleware, identifier=identifier)
    return app


@contextmanager
def serving(site: Site, app: FastAPI, **overrides: Any) -> Iterator[str]:
    """``app`` behind ``site``'s hub-to-hub listener (mutual TLS), in a thread; yields its base URL."""
    options = {**federation_server_options(site.tls), **overrides}
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [site.sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hub listener did not start")
        time.sleep(0.01)
    try:
        yield site.hub_url
    finally:
        server.should_exit = True
        thread.join(10)
