"""In-memory implementations of the registry's ports: for tests and throwaway deployments.

They behave as the SQL adapters do (the contract suite pins those); each method holds a lock, so they are
safe to share between threads.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.models import Credential, MemberSystem, Organisation, ProvidedService, Purpose

K = TypeVar("K")
V = TypeVar("V")


class MemoryRegistryRepository:
    """:class:`~renkei.registry.ports.RegistryRepository` in dictionaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._organisations: dict[OrganisationId, Organisation] = {}
        self._members: dict[MemberId, MemberSystem] = {}
        self._credentials: dict[str, Credential] = {}
        self._services: dict[tuple[MemberId, str], ProvidedService] = {}
        self._purposes: dict[str, Purpose] = {}

    def add_organisation(self, organisation: Organisation) -> bool:
        with self._lock:
            return self._put_new(self._organisations, organisation.id, organisation)

    def organisation(self, organisation_id: OrganisationId) -> Organisation | None:
        return self._organisations.get(organisation_id)

    def organisations(self) -> list[Organisation]:
        with self._lock:
            return sorted(self._organisations.values(), key=lambda o: str(o.id))

    def add_member(self, member: MemberSystem) -> bool:
        with self._lock:
            if member.id.organisation not in self._organisations:
                raise KeyError(f"organisation {member.id.organisation} is not stored")
            return self._put_new(self._members, member.id, member)

    def member(self, member_id: MemberId) -> MemberSystem | None:
        return self._members.get(member_id)

    def members(self, organisation_id: OrganisationId | None = None) -> list[MemberSystem]:
        with self._lock:
            found = [m for m in self._members.values() if organisation_id in (None, m.id.organisation)]
        return sorted(found, key=lambda m: (str(m.id.organisation), m.id.unit))

    def add_credential(self, credential: Credential) -> bool:
        with self._lock:
            if credential.member not in self._members:
                raise KeyError(f"member {credential.member} is not stored")
            return self._put_new(self._credentials, credential.kid, credential)

    def credential(self, kid: str) -> Credential | None:
        return self._credentials.get(kid)

    def credentials(self, member_id: MemberId | None = None) -> list[Credential]:
        with self._lock:
            found = [c for c in self._credentials.values() if member_id in (None, c.member)]
        return sorted(found, key=lambda c: (c.registered_at, c.kid))

    def revoke_credential(self, kid: str, at: datetime, reason: str) -> Credential | None:
        with self._lock:
            found = self._credentials.get(kid)
            if found is not None and found.revoked_at is None:
                found = self._credentials[kid] = replace(found, revoked_at=at, revocation_reason=reason)
            return found

    def put_service(self, service: ProvidedService) -> ProvidedService:
        with self._lock:
            if service.provider not in self._members:
                raise KeyError(f"member {service.provider} is not stored")
            key = (service.provider, service.service)
            old = self._services.get(key)
            stored = service if old is None else replace(service, registered_at=old.registered_at)
            self._services[key] = stored
            return stored

    def remove_service(self, member_id: MemberId, service_id: str) -> bool:
        with self._lock:
            return self._services.pop((member_id, service_id), None) is not None

    def provided_services(self, member_id: MemberId | None = None) -> list[ProvidedService]:
        with self._lock:
            found = [s for s in self._services.values() if member_id in (None, s.provider)]
        return sorted(found, key=lambda s: (str(s.provider), s.service))

    def providers(self, service_id: str) -> list[ProvidedService]:
        with self._lock:
            found = [s for s in self._services.values() if s.service == service_id]
        return sorted(found, key=lambda s: str(s.provider))

    def add_purpose(self, purpose: Purpose) -> bool:
        with self._lock:
            return self._put_new(self._purposes, purpose.id, purpose)

    def purpose(self, purpose_id: str) -> Purpose | None:
        return self._purposes.get(purpose_id)

    def purposes(self) -> list[Purpose]:
        with self._lock:
            return sorted(self._purposes.values(), key=lambda p: p.id)

    @staticmethod
    def _put_new(table: dict[K, V], key: K, value: V) -> bool:
        if key in table:
            return False
        table[key] = value
        return True


class MemoryReplayStore:
    """:class:`~renkei.registry.ports.ReplayStore` in a dictionary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[MemberId, str], datetime] = {}

    def remember(self, member_id: MemberId, jti: str, expires_at: datetime, now: datetime) -> bool:
        with self._lock:
            expiry = self._seen.get((member_id, jti))
            if expiry is not None and expiry > now:
                return False
            self._seen[(member_id, jti)] = expires_at
            return True

    def purge(self, now: datetime) -> int:
        with self._lock:
            gone = [key for key, expiry in self._seen.items() if expiry <= now]
            for key in gone:
                del self._seen[key]
            return len(gone)
