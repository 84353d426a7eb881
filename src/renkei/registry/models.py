"""What the directory holds, as plain frozen values (the storage port hands these back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.types import InformationId, ItemId, ServiceId


class ServiceProtocol(StrEnum):
    """How the hub reaches the member system that provides a service."""

    REST = "rest"
    SOAP = "soap"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Organisation:
    """機関: a municipality, a national agency or a private body."""

    id: OrganisationId
    name: str
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class MemberSystem:
    """業務ユニット instance: one business unit of the spec run by one organisation."""

    id: MemberId
    name: str
    """The unit's Japanese name (個人住民税) unless the operator gave another at enrolment."""
    registered_at: datetime
    endpoint: str | None = None
    """Where the hub reaches the system by default; a provided service may name another."""
    protocol: ServiceProtocol | None = None


class KeyType(StrEnum):
    """Key types the hub accepts, with the JWS algorithm each signs with."""

    P256 = "P-256"
    """ECDSA on NIST P-256, JWS ``ES256``: the default, supported by every platform and HSM."""
    ED25519 = "Ed25519"
    """Ed25519, JWS ``Ed25519`` (RFC 9864; formerly ``EdDSA``)."""

    @property
    def jws_algorithm(self) -> str:
        return "ES256" if self is KeyType.P256 else "Ed25519"


@dataclass(frozen=True, slots=True)
class Credential:
    """A member system's public key, usually inside a certificate the deployment's CA issued.

    ``kid`` is the lowercase hex SHA-256 of the certificate's DER (``openssl x509 -fingerprint -sha256``
    without the colons), or of the public key's SubjectPublicKeyInfo DER for a bare key.
    """

    kid: str
    member: MemberId
    key_type: KeyType
    public_key_pem: str
    certificate_pem: str | None
    serial: str | None
    """Certificate serial number (decimal), for the revocation list; None for a bare key."""
    not_before: datetime
    not_after: datetime
    registered_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class ProvidedService:
    """A service of the spec that a member system provides, where and how the hub reaches it."""

    provider: MemberId
    service: ServiceId
    information: InformationId
    endpoint: str
    protocol: ServiceProtocol
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class PurposeUse:
    """The items of one information kind a purpose may use."""

    information: InformationId
    items: tuple[ItemId, ...]


@dataclass(frozen=True, slots=True)
class Purpose:
    """事務: what information is used for, on which legal basis (根拠法令), and which kinds and items it may
    use."""

    id: str
    name: str
    legal_basis: str
    uses: tuple[PurposeUse, ...]
    registered_at: datetime

    def items_of(self, information: str) -> tuple[ItemId, ...]:
        """The items of ``information`` this purpose may use (empty when it may use none)."""
        return next((u.items for u in self.uses if u.information == information), ())
