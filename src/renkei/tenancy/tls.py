"""This hub's TLS identity and the SSL contexts of hub-to-hub mutual TLS.

* The hub's key and certificate are issued by this deployment's CA (:meth:`CertificateAuthority.issue_hub
  <renkei.registry.ca.CertificateAuthority.issue_hub>`) and kept in ``<data dir>/tenancy/tls/hub.pem``
  (certificate then key, 0600). They are reissued when missing, unreadable, issued by another CA, naming
  another deployment or host, or within ``renew_before`` of expiry.
* :meth:`HubTls.server_context`: the listener peers connect to. It presents the hub certificate and
  *requires* a client certificate that chains to this deployment's own CA (its member systems) or to the CA
  of a trusted peer (its hub). The trust set is read when the context is made: a peer trusted later is
  accepted after the listener restarts; a peer forgotten is no longer *identified* at once
  (:mod:`renkei.tenancy.asgi`).
* :meth:`HubTls.client_context`: calling one peer. It presents the hub certificate and verifies the peer's
  certificate against that peer's CA only (from its trust list), with the host name checked, so one peer
  cannot impersonate another even though every hub certificate names 127.0.0.1.
* :meth:`HubTls.context_for` plugs into :class:`renkei.net.http.HttpClient` (``ssl_context_for=``): the
  client context of the peer at that origin, or None for any other origin (default verification).
"""

from __future__ import annotations

import ssl
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from renkei.registry.ca import deployment_urn, san_uris
from renkei.registry.keystore import write_private
from renkei.storage.ports import Clock
from renkei.tenancy.errors import TlsUnavailable
from renkei.tenancy.federation import Federation
from renkei.tenancy.models import Peer, hub_host
from renkei.tenancy.ports import Authority

TLS_DIRECTORY = Path("tenancy") / "tls"
"""Where the hub's TLS credentials live, relative to the data directory."""
HUB_FILE = "hub.pem"
RENEW_BEFORE = timedelta(days=30)
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


@dataclass(frozen=True, slots=True)
class HubCredentials:
    """The hub's certificate and key, in one PEM file (what ``load_cert_chain`` and uvicorn read)."""

    path: Path
    certificate: x509.Certificate


class HubTls:
    """Makes and keeps this hub's TLS certificate, and builds the SSL contexts of federation."""

    def __init__(
        self,
        federation: Federation,
        authority: Authority,
        directory: Path,
        clock: Clock,
        *,
        hosts: Sequence[str] = (),
        renew_before: timedelta = RENEW_BEFORE,
    ) -> None:
        self._federation = federation
        self._authority = authority
        self._path = directory / HUB_FILE
        self._clock = clock
        self._hosts = tuple(hosts)
        self._renew_before = renew_before
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str, str], ssl.SSLContext] = {}

    # --- the hub's certificate -------------------------------------------------------------------------

    def credentials(self) -> HubCredentials:
        """The hub's current certificate and key file, issuing a fresh pair when needed."""
        deployment = self._federation.deployment()
        hosts = (hub_host(deployment.hub_url), *self._hosts)
        with self._lock:
            current = self._current(deployment.id, hosts)
            if current is not None:
                return current
            issued = self._authority.issue_hub(deployment.id, hosts=hosts)
            try:
                write_private(self._path, issued.certificate_pem + issued.private_key_pem)
            except OSError as exc:
                raise TlsUnavailable(f"cannot write {self._path}: {exc.strerror or exc}") from None
            return HubCredentials(self._path, issued.certificate)

    def _current(self, deployment: str, hosts: Sequence[str]) -> HubCredentials | None:
        try:
            mode = self._path.stat().st_mode
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TlsUnavailable(f"cannot read {self._path}: {exc.strerror or exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise TlsUnavailable(
                f"{self._path} is accessible to group or others (mode {stat.filemode(mode)}); chmod 600 it",
                path=str(self._path),
            )
        try:
            data = self._path.read_bytes()
            certificate = x509.load_pem_x509_certificate(data)
            key = serialization.load_pem_private_key(data, password=None)
        except (OSError, ValueError, TypeError):
            return None  # unreadable or half-made: issue a new pair
        return (
            HubCredentials(self._path, certificate)
            if self._usable(certificate, key, deployment, hosts)
            else None
        )

    def _usable(
        self, certificate: x509.Certificate, key: object, deployment: str, hosts: Sequence[str]
    ) -> bool:
        ca = x509.load_pem_x509_certificate(self._authority.certificate_pem())
        try:
            certificate.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            return False
        public = getattr(key, "public_key", None)
        if public is None or public().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            return False
        if deployment_urn(deployment) not in san_uris(certificate):
            return False
        names = _san_hosts(certificate)
        if any(host not in names for host in hosts):
            return False
        now = self._clock.now()
        return (
            certificate.not_valid_before_utc <= now
            and now + self._renew_before < certificate.not_valid_after_utc
        )

    # --- contexts ------------------------------------------------------------------------------------

    def server_context(self) -> ssl.SSLContext:
        """The hub listener's context: this hub's certificate; client certificates required, verified
        against this deployment's CA and every trusted peer's CA."""
        credentials = self.credentials()
        anchors = [self._authority.certificate_pem().decode("ascii")]
        anchors.extend(peer.ca_certificate_pem for peer in self._federation.peers())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = MINIMUM_VERSION
        context.load_cert_chain(credentials.path)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata="".join(anchors))
        return context

    def client_context(self, peer: Peer) -> ssl.SSLContext:
        """The context for calling ``peer``: this hub's certificate as the client certificate, the peer's
        certificate verified against the peer's CA alone, host name checked."""
        credentials = self.credentials()
        key = (peer.deployment, peer.hub_url, peer.ca_fingerprint, _certificate_id(credentials.certificate))
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None:
                return cached
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
        context.minimum_version = MINIMUM_VERSION
        context.load_verify_locations(cadata=peer.ca_certificate_pem)
        context.load_cert_chain(credentials.path)
        with self._lock:
            # Stale entries (another CA, URL or hub certificate) go: contexts are few and small.
            self._clients = {k: v for k, v in self._clients.items() if k[0] != peer.deployment}
            self._clients[key] = context
        return context

    def context_for(self, host: str, port: int) -> ssl.SSLContext | None:
        """For :class:`~renkei.net.http.HttpClient`: the client context of the trusted peer whose hub is
        at ``host:port``, or None (the client's default context) for any other origin."""
        for peer in self._federation.peers():
            if peer.origin == (host, port):
                return self.client_context(peer)
        return None


def _san_hosts(certificate: x509.Certificate) -> set[str]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {
        *names.get_values_for_type(x509.DNSName),
        *(str(a) for a in names.get_values_for_type(x509.IPAddress)),
    }


def _certificate_id(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")
