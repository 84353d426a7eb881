"""What the registry needs from the outside: a directory store, a replay store, a key store and a clock
(:class:`renkei.storage.ports.Clock`)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.models import Credential, MemberSystem, Organisation, ProvidedService, Purpose


class RegistryRepository(Protocol):
    """The directory (台帳). Each call is one transaction; writes are refused, never merged, on conflict."""

    def add_organisation(self, organisation: Organisation) -> bool:
        """Store ``organisation``; False (and nothing changed) when its id is already registered."""
        ...

    def organisation(self, organisation_id: OrganisationId) -> Organisation | None: ...

    def organisations(self) -> list[Organisation]:
        """Every organisation, ordered by identifier."""
        ...

    def add_member(self, member: MemberSystem) -> bool:
        """Store ``member`` (its organisation must be stored); False when its id is already registered."""
        ...

    def member(self, member_id: MemberId) -> MemberSystem | None: ...

    def members(self, organisation_id: OrganisationId | None = None) -> list[MemberSystem]:
        """Every member system (of one organisation), ordered by identifier."""
        ...

    def add_credential(self, credential: Credential) -> bool:
        """Store ``credential`` (its member must be stored); False when its ``kid`` is already registered."""
        ...

    def credential(self, kid: str) -> Credential | None: ...

    def credentials(self, member_id: MemberId | None = None) -> list[Credential]:
        """Every credential (of one member), oldest first."""
        ...

    def revoke_credential(self, kid: str, at: datetime, reason: str) -> Credential | None:
        """Mark the credential revoked at ``at`` (a second revocation keeps the first time and reason);
        None when no credential has ``kid``."""
        ...

    def put_service(self, service: ProvidedService) -> ProvidedService:
        """Store that a member provides a service; providing it again replaces endpoint and protocol (the
        first ``registered_at`` is kept). Returns what is stored."""
        ...

    def remove_service(self, member_id: MemberId, service_id: str) -> bool: ...

    def provided_services(self, member_id: MemberId | None = None) -> list[ProvidedService]:
        """The services one member (or every member) provides, ordered by member and service id."""
        ...

    def providers(self, service_id: str) -> list[ProvidedService]:
        """Every member system providing ``service_id``, ordered by member id."""
        ...

    def add_purpose(self, purpose: Purpose) -> bool:
        """Store ``purpose`` with its uses; False when its id is already registered."""
        ...

    def purpose(self, purpose_id: str) -> Purpose | None: ...

    def purposes(self) -> list[Purpose]:
        """Every purpose, ordered by id."""
        ...


class ReplayStore(Protocol):
    """Remembers the ``jti`` of every accepted signed request until it could no longer be accepted anyway."""

    def remember(self, member_id: MemberId, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``jti`` for ``member_id`` until ``expires_at``; False when it is already recorded and not
        expired (a replay). Atomic: of two concurrent calls with the same jti exactly one returns True."""
        ...

    def purge(self, now: datetime) -> int:
        """Forget every entry that expired at or before ``now``; returns how many."""
        ...


class KeyStore(Protocol):
    """Where the deployment's CA keeps its private key and certificate (PEM bytes)."""

    def load(self) -> tuple[bytes, bytes] | None:
        """``(private_key_pem, certificate_pem)``, or None when no CA was created yet."""
        ...

    def save(self, private_key_pem: bytes, certificate_pem: bytes) -> None:
        """Store the CA (the private key readable by the owner only)."""
        ...
