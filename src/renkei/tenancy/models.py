"""What federation holds, as plain frozen values: this deployment, its peers, and where a member lives."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.tenancy.errors import DeploymentInvalid

DEPLOYMENT_PATTERN = re.compile(r"[A-Z][A-Z0-9-]{0,31}")
DEPLOYMENT_MAX = 32
URL_MAX = 2048


def check_deployment_id(text: str) -> str:
    """``text`` if it is a deployment id: an upper-case letter, then up to 31 upper-case letters, digits or
    ``-`` (``DC1``, ``TOKYO-2``); else ``tenancy.deployment.invalid``."""
    if not DEPLOYMENT_PATTERN.fullmatch(text):
        raise DeploymentInvalid(
            f"deployment id {text[:40]!r}: an upper-case letter then up to 31 of A-Z, 0-9, '-' (e.g. DC1)",
            field="deployment",
        )
    return text


def check_hub_url(url: str) -> str:
    """The canonical hub base URL (``https://host:port``, no trailing slash), or
    ``tenancy.deployment.invalid``: hubs talk to each other over TLS only, at the root of an origin."""
    if len(url) > URL_MAX:
        raise DeploymentInvalid(f"hub URL longer than {URL_MAX} characters", field="hub_url")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme != "https"
        or not parts.hostname
        or port == -1
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise DeploymentInvalid(
            f"hub URL {url[:80]!r}: expected https://HOST[:PORT] (TLS, no path, query or user)",
            field="hub_url",
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"https://{host}" + (f":{port}" if port is not None else "")


def hub_host(url: str) -> str:
    """The host name or address of a hub URL (``127.0.0.1`` of ``https://127.0.0.1:8443``)."""
    host = urlsplit(url).hostname
    assert host is not None  # check_hub_url made sure
    return host


def hub_origin(url: str) -> tuple[str, int]:
    """``(host, port)`` of a hub URL, the port defaulting to 443."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or 443


def fingerprint(certificate: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the certificate's DER, as ``openssl x509 -fingerprint -sha256`` shows it
    (without the colons): what operators read to each other when they exchange trust lists."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def normalise_fingerprint(text: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → ``abcd…``."""
    return text.replace(":", "").replace(" ", "").strip().lower()


@dataclass(frozen=True, slots=True)
class Deployment:
    """This deployment's federation identity: its id (``DC1``) and the URL its peers reach its hub at."""

    id: str
    hub_url: str
    configured_at: datetime


@dataclass(frozen=True, slots=True)
class Peer:
    """Another deployment this one trusts: its hub, its CA (the trust anchor its hub's certificate must
    chain to) and the organisations and member systems it hosts, as its signed trust list said."""

    deployment: str
    hub_url: str
    ca_certificate_pem: str
    organisations: tuple[OrganisationId, ...]
    members: tuple[MemberId, ...]
    list_issued_at: datetime
    """When the peer's CA signed the trust list this entry came from (an older list is refused later)."""
    trusted_at: datetime

    @property
    def ca_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_certificate_pem.encode("ascii"))

    @property
    def ca_fingerprint(self) -> str:
        return fingerprint(self.ca_certificate)

    @property
    def origin(self) -> tuple[str, int]:
        return hub_origin(self.hub_url)

    def hosts_member(self, member: MemberId) -> bool:
        return member in self.members

    def hosts_organisation(self, organisation: OrganisationId) -> bool:
        return organisation in self.organisations


@dataclass(frozen=True, slots=True)
class Local:
    """The member system is served by this deployment's hub."""


@dataclass(frozen=True, slots=True)
class Remote:
    """The member system is hosted by ``peer``: forward to its hub over mutual TLS."""

    peer: Peer


Route = Local | Remote
