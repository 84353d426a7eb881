"""The registry's use cases: register organisations, enrol member systems (issuing their credentials),
record the services they provide and the purposes (事務) information may be used for, and answer the
directory queries the hub asks on every exchange.

Every rule comes from the spec: a member system runs a unit the spec has (and that is not superseded), and
provides only services whose information kind its unit sends in the linkage matrix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from renkei.errors import RenkeiError
from renkei.registry.ca import DEFAULT_MEMBER_VALIDITY, CertificateAuthority, Revocation, member_urn
from renkei.registry.errors import (
    CredentialInvalid,
    CredentialUnknown,
    EndpointInvalid,
    MemberExists,
    MemberInvalid,
    MemberUnknown,
    OrganisationExists,
    OrganisationUnknown,
    PurposeExists,
    PurposeInvalid,
    PurposeUnknown,
    RegistryError,
    RegistryInputInvalid,
    ServiceNotProvidable,
    ServiceUnknown,
)
from renkei.registry.identifiers import (
    DEFAULT_INSTANCE,
    MemberClass,
    MemberId,
    OrganisationId,
    check_instance,
)
from renkei.registry.keys import (
    certificate_kid,
    check_public_key,
    key_type_of,
    public_key_kid,
    public_key_pem,
    read_certificate,
    read_public_key,
)
from renkei.registry.models import (
    Credential,
    KeyType,
    MemberSystem,
    Organisation,
    ProvidedService,
    Purpose,
    PurposeUse,
    ServiceProtocol,
)
from renkei.registry.ports import RegistryRepository
from renkei.spec.models import InformationKind, Service, Spec, UnitStatus
from renkei.storage.ports import Clock
from renkei.types import InformationId, ItemId, ServiceId, UnitNumber

NAME_MAX = 200
ENDPOINT_MAX = 2048
LEGAL_BASIS_MAX = 4000
PURPOSE_ID = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
PURPOSE_ID_MAX = 64
_SCHEMES: Mapping[ServiceProtocol, frozenset[str]] = {
    ServiceProtocol.REST: frozenset({"http", "https"}),
    ServiceProtocol.SOAP: frozenset({"http", "https"}),
    ServiceProtocol.FILE: frozenset({"file", "sftp", "https"}),
}


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What enrolling a member system hands back once: the private key is not kept anywhere else."""

    member: MemberSystem
    credential: Credential
    private_key_pem: bytes
    certificate_pem: bytes
    ca_certificate_pem: bytes


def _name(field: str, value: str, max_length: int = NAME_MAX) -> str:
    text = value.strip()
    if not text or len(text) > max_length or "\x00" in text:
        raise RegistryInputInvalid(f"{field} must be 1-{max_length} characters", field=field)
    return text


def check_endpoint(endpoint: str, protocol: ServiceProtocol) -> str:
    """Return ``endpoint`` if it is an absolute URL with a scheme ``protocol`` can use."""
    parts = urlsplit(endpoint)
    schemes = _SCHEMES[protocol]
    if (
        len(endpoint) > ENDPOINT_MAX
        or parts.scheme not in schemes
        or (parts.scheme != "file" and not parts.hostname)
        or any(c.isspace() for c in endpoint)
    ):
        raise EndpointInvalid(
            f"endpoint {endpoint!r}: an absolute {'/'.join(sorted(schemes))} URL"
            f" for protocol {protocol.value}",
            endpoint=endpoint[:ENDPOINT_MAX],
            protocol=protocol.value,
        )
    return endpoint


_T = TypeVar("_T")
DEFAULT_CACHE_TTL = 5.0


class _ReadCache:
    """Read-through cache of directory lookups: entries live ``ttl`` seconds (a bound on how stale a
    change made through another process can be); every write through the owning object clears it once
    committed. Absences are not kept: a new entry shows at once."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._generation = 0

    def get(self, key: tuple[str, ...], load: Callable[[], _T | None]) -> _T | None:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return cast(_T, hit[1])
        generation = self._generation
        value = load()
        # A load that raced a write (the cache was cleared meanwhile) may have read the old row: not kept.
        if value is not None and self._ttl > 0 and generation == self._generation:
            self._entries[key] = (now + self._ttl, value)
        return value

    def clear(self) -> None:
        """Called after each write has committed."""
        self._generation += 1
        self._entries = {}


class Registry:
    """The hub's directory over a :class:`~renkei.registry.ports.RegistryRepository`.

    ``authority`` is needed only to enrol (issue keys) and to publish the revocation list; ``instance`` is
    this deployment's X-Road instance (``JP``). Lookups on the hub's request path (credentials, members,
    provided services, purposes) are cached for ``cache_ttl`` seconds; writes through this object clear
    the cache at once (``cache_ttl=0`` turns it off).
    """

    def __init__(
        self,
        spec: Spec,
        repository: RegistryRepository,
        clock: Clock,
        *,
        authority: CertificateAuthority | None = None,
        instance: str = DEFAULT_INSTANCE,
        cache_ttl: float = DEFAULT_CACHE_TTL,
    ) -> None:
        self.spec = spec
        self.instance = check_instance(instance)
        self._repository = repository
        self._clock = clock
        self._authority = authority
        self._cache = _ReadCache(cache_ttl)

    @property
    def authority(self) -> CertificateAuthority:
        if self._authority is None:
            raise RegistryError("this registry was built without a certificate authority")
        return self._authority

    # --- organisations ---------------------------------------------------------------------------------

    def add_organisation(self, member_class: str | MemberClass, code: str, name: str) -> Organisation:
        """Register an organisation; its code is checked for its class (団体コード, 法人番号, agency)."""
        organisation = Organisation(
            id=OrganisationId.of(member_class, code, instance=self.instance),
            name=_name("name", name),
            registered_at=self._clock.now(),
        )
        written = self._repository.add_organisation(organisation)
        self._cache.clear()
        if not written:
            raise OrganisationExists(
                f"{organisation.id} is already registered", organisation=str(organisation.id)
            )
        return organisation

    def organisation(self, organisation_id: OrganisationId | str) -> Organisation:
        oid = _organisation_id(organisation_id)
        found = self._repository.organisation(oid)
        if found is None:
            raise OrganisationUnknown(
                f"機関 {oid} は登録されていません (not registered)", organisation=str(oid)
            )
        return found

    def organisations(self) -> list[Organisation]:
        return self._repository.organisations()

    # --- member systems --------------------------------------------------------------------------------

    def check_unit(self, unit: int) -> UnitNumber:
        """The unit, if the spec has it and it is in force (unit 3 外国人登録 was merged into 1 in 2012)."""
        try:
            found = self.spec.unit(unit)
        except RenkeiError:
            raise MemberInvalid(
                f"業務ユニット {unit} は標準仕様にありません (no such unit)", field="unit", unit=unit
            ) from None
        if found.status is UnitStatus.SUPERSEDED:
            raise MemberInvalid(
                f"業務ユニット {unit} {found.name} は廃止され {found.superseded_by} に統合されました "
                f"(superseded by unit {found.superseded_by})",
                field="unit",
                unit=unit,
                superseded_by=found.superseded_by,
            )
        return found.number

    def add_member(
        self,
        organisation_id: OrganisationId | str,
        unit: int,
        *,
        name: str | None = None,
        endpoint: str | None = None,
        protocol: ServiceProtocol | str | None = None,
    ) -> MemberSystem:
        """Register a member system without issuing it a key (see :meth:`enrol`)."""
        organisation = self.organisation(organisation_id)
        number = self.check_unit(unit)
        chosen = _protocol(protocol) if endpoint is not None or protocol is not None else None
        if endpoint is not None:
            endpoint = check_endpoint(endpoint, chosen or ServiceProtocol.REST)
            chosen = chosen or ServiceProtocol.REST
        member = MemberSystem(
            id=MemberId(organisation.id, number),
            name=_name("name", name if name is not None else self.spec.unit(number).name),
            registered_at=self._clock.now(),
            endpoint=endpoint,
            protocol=chosen if endpoint is not None else None,
        )
        written = self._repository.add_member(member)
        self._cache.clear()
        if not written:
            raise MemberExists(f"{member.id} is already registered", member=str(member.id))
        return member

    def enrol(
        self,
        organisation_id: OrganisationId | str,
        unit: int,
        *,
        name: str | None = None,
        endpoint: str | None = None,
        protocol: ServiceProtocol | str | None = None,
        key_type: KeyType | None = None,
        validity: timedelta = DEFAULT_MEMBER_VALIDITY,
    ) -> Enrolment:
        """Register a member system and issue its key pair and client certificate from the deployment's CA."""
        authority = self.authority
        member = self.add_member(organisation_id, unit, name=name, endpoint=endpoint, protocol=protocol)
        return self._issue(authority, member, key_type=key_type, validity=validity)

    def renew(
        self,
        member_id: MemberId | str,
        *,
        key_type: KeyType | None = None,
        validity: timedelta = DEFAULT_MEMBER_VALIDITY,
    ) -> Enrolment:
        """Issue an enrolled member system another key pair and certificate (the old ones stay valid until
        they expire or are revoked, so the system can switch without downtime)."""
        return self._issue(self.authority, self.member(member_id), key_type=key_type, validity=validity)

    def _issue(
        self,
        authority: CertificateAuthority,
        member: MemberSystem,
        *,
        key_type: KeyType | None,
        validity: timedelta,
    ) -> Enrolment:
        issued = authority.issue(member.id, key_type=key_type, validity=validity)
        credential = self._store_certificate(member.id, issued.certificate)
        return Enrolment(
            member=member,
            credential=credential,
            private_key_pem=issued.private_key_pem,
            certificate_pem=issued.certificate_pem,
            ca_certificate_pem=authority.certificate_pem(),
        )

    def member(self, member_id: MemberId | str) -> MemberSystem:
        """The member system, or ``registry.member.unknown``."""
        mid = _member_id(member_id)
        found = self.find_member(mid)
        if found is None:
            raise MemberUnknown(f"メンバー {mid} は登録されていません (not registered)", member=str(mid))
        return found

    def find_member(self, member_id: MemberId) -> MemberSystem | None:
        """The member system, or None (directory queries answer unknown members with nothing)."""
        return self._cache.get(("member", str(member_id)), lambda: self._repository.member(member_id))

    def members(self, organisation_id: OrganisationId | str | None = None) -> list[MemberSystem]:
        return self._repository.members(
            None if organisation_id is None else _organisation_id(organisation_id)
        )

    # --- credentials -----------------------------------------------------------------------------------

    def register_credential(
        self,
        member_id: MemberId | str,
        pem: bytes,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Credential:
        """Register a certificate this deployment's CA issued to the member, or a bare public key with the
        validity given (``not_before`` defaults to now)."""
        member = self.member(member_id)
        if b"CERTIFICATE" in pem:
            certificate = read_certificate(pem)
            if self._authority is not None and not self._authority.issued_by_me(certificate):
                raise CredentialInvalid("the certificate was not issued by this deployment's CA")
            return self._store_certificate(member.id, certificate)
        key = read_public_key(pem)
        start = not_before or self._clock.now()
        if not_after is None or not_after <= start:
            raise CredentialInvalid("a bare public key needs a validity: not_after later than not_before")
        credential = Credential(
            kid=public_key_kid(key),
            member=member.id,
            key_type=key_type_of(key),
            public_key_pem=public_key_pem(key).decode("ascii"),
            certificate_pem=None,
            serial=None,
            not_before=start,
            not_after=not_after,
            registered_at=self._clock.now(),
        )
        return self._add_credential(credential)

    def _store_certificate(self, member_id: MemberId, certificate: x509.Certificate) -> Credential:
        subject = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        try:
            uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = uris.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            names = []
        if [a.value for a in subject] != [str(member_id)] or member_urn(member_id) not in names:
            raise CredentialInvalid(
                f"the certificate is not issued to {member_id} (CN and SAN URI must name it)",
                member=str(member_id),
            )
        public = check_public_key(certificate.public_key())
        credential = Credential(
            kid=certificate_kid(certificate),
            member=member_id,
            key_type=key_type_of(public),
            public_key_pem=public_key_pem(public).decode("ascii"),
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            serial=str(certificate.serial_number),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            registered_at=self._clock.now(),
        )
        return self._add_credential(credential)

    def _add_credential(self, credential: Credential) -> Credential:
        written = self._repository.add_credential(credential)
        self._cache.clear()
        if not written:
            raise CredentialInvalid(f"credential {credential.kid} is already registered", kid=credential.kid)
        return credential

    def credential(self, kid: str) -> Credential | None:
        """The credential with this ``kid`` (revoked and expired ones too), or None."""
        return self._cache.get(("credential", kid), lambda: self._repository.credential(kid))

    def credentials(self, member_id: MemberId | str | None = None) -> list[Credential]:
        return self._repository.credentials(None if member_id is None else _member_id(member_id))

    def revoke(self, kid: str, reason: str = "unspecified") -> Credential:
        """Revoke a credential from now on: requests signed with it get ``registry.auth.revoked``."""
        found = self._repository.revoke_credential(kid, self._clock.now(), _name("reason", reason))
        self._cache.clear()
        if found is None:
            raise CredentialUnknown(f"no credential has kid {kid!r}", kid=kid)
        return found

    def revocation_list(self) -> bytes:
        """The CA's CRL (PEM) of every revoked certificate."""
        revoked = [
            Revocation(int(c.serial), c.revoked_at)
            for c in self._repository.credentials()
            if c.serial is not None and c.revoked_at is not None
        ]
        return self.authority.revocation_list(revoked)

    # --- services --------------------------------------------------------------------------------------

    def providable_services(self, unit: int) -> list[tuple[InformationKind, Service]]:
        """The spec's services a member system of ``unit`` may provide: those of the information kinds the
        unit sends in the linkage matrix."""
        sent = {t.information for t in self.spec.triples() if t.sender == unit}
        return [(kind, service) for kind, service in self.spec.services() if kind.id in sent]

    def provide(
        self,
        member_id: MemberId | str,
        service_id: str,
        *,
        endpoint: str | None = None,
        protocol: ServiceProtocol | str | None = None,
    ) -> ProvidedService:
        """Record that the member provides ``service_id`` at ``endpoint`` (default: the member's endpoint)."""
        member = self.member(member_id)
        kind = self._providable_kind(member, service_id)
        chosen = _protocol(protocol) if protocol is not None else (member.protocol or ServiceProtocol.REST)
        where = endpoint if endpoint is not None else member.endpoint
        if where is None:
            raise EndpointInvalid(
                f"{member.id} has no default endpoint: give the endpoint of {service_id}",
                member=str(member.id),
            )
        provided = ProvidedService(
            provider=member.id,
            service=ServiceId(service_id),
            information=kind.id,
            endpoint=check_endpoint(where, chosen),
            protocol=chosen,
            registered_at=self._clock.now(),
        )
        stored = self._repository.put_service(provided)
        self._cache.clear()
        return stored

    def _providable_kind(self, member: MemberSystem, service_id: str) -> InformationKind:
        try:
            kind, _ = self.spec.service(service_id)
        except RenkeiError:
            raise ServiceNotProvidable(
                f"サービス {service_id!r} は標準仕様にありません (no such service)", service=service_id
            ) from None
        if not any(t.information == kind.id and t.sender == member.id.unit for t in self.spec.triples()):
            unit = self.spec.unit(member.id.unit)
            raise ServiceNotProvidable(
                f"({unit.number}) {unit.name} は {kind.name} を送信しないため {service_id} を提供できません "
                f"(unit {unit.number} does not send {kind.id} in the linkage matrix)",
                service=service_id,
                information=kind.id,
                unit=unit.number,
            )
        return kind

    def withdraw(self, member_id: MemberId | str, service_id: str) -> None:
        mid = _member_id(member_id)
        written = self._repository.remove_service(mid, service_id)
        self._cache.clear()
        if not written:
            raise ServiceUnknown(
                f"{mid} does not provide {service_id!r}", member=str(mid), service=service_id
            )

    def provided_services(self, member_id: MemberId | str | None = None) -> list[ProvidedService]:
        """The services a member (or every member) provides, with endpoint and protocol."""
        return self._repository.provided_services(None if member_id is None else _member_id(member_id))

    def provided_service(self, member_id: MemberId | str, service_id: str) -> ProvidedService:
        """Where and how the hub reaches ``service_id`` at ``member_id``, or ``registry.service.unknown``."""
        mid = _member_id(member_id)
        listed = self._cache.get(("provided", str(mid)), lambda: self._repository.provided_services(mid))
        for provided in listed or ():
            if provided.service == service_id:
                return provided
        raise ServiceUnknown(f"{mid} does not provide {service_id!r}", member=str(mid), service=service_id)

    def providers(self, service_id: str) -> list[ProvidedService]:
        """Every member system providing ``service_id``."""
        return self._repository.providers(service_id)

    # --- purposes --------------------------------------------------------------------------------------

    def add_purpose(
        self,
        purpose_id: str,
        name: str,
        legal_basis: str,
        uses: Mapping[str, Sequence[str] | None],
    ) -> Purpose:
        """Register a purpose (事務). ``uses`` maps information kinds (id or Japanese name) to the items the
        purpose may use; None means every item a service can carry (never local-only ones)."""
        if len(purpose_id) > PURPOSE_ID_MAX or not PURPOSE_ID.fullmatch(purpose_id):
            raise PurposeInvalid(
                f"purpose id {purpose_id!r}: lowercase letters, digits, '-' or '_'"
                " (e.g. infant-medical-subsidy)",
                field="id",
            )
        if not uses:
            raise PurposeInvalid("a purpose uses at least one information kind", field="uses")
        resolved: dict[InformationId, tuple[ItemId, ...]] = {}
        for information, items in uses.items():
            try:
                kind = self.spec.kind(information)
            except RenkeiError:
                raise PurposeInvalid(
                    f"連携データ {information!r} は標準仕様にありません (no such information kind)",
                    field="uses",
                    information=information,
                ) from None
            resolved[kind.id] = _purpose_items(kind, items)
        purpose = Purpose(
            id=purpose_id,
            name=_name("name", name),
            legal_basis=_name("legal_basis", legal_basis, LEGAL_BASIS_MAX),
            uses=tuple(PurposeUse(info, items) for info, items in sorted(resolved.items())),
            registered_at=self._clock.now(),
        )
        written = self._repository.add_purpose(purpose)
        self._cache.clear()
        if not written:
            raise PurposeExists(f"purpose {purpose_id!r} is already registered", purpose=purpose_id)
        return purpose

    def purpose(self, purpose_id: str) -> Purpose:
        found = self._cache.get(("purpose", purpose_id), lambda: self._repository.purpose(purpose_id))
        if found is None:
            raise PurposeUnknown(
                f"事務 {purpose_id!r} は登録されていません (not registered)", purpose=purpose_id
            )
        return found

    def purposes(self) -> list[Purpose]:
        return self._repository.purposes()


def _purpose_items(kind: InformationKind, items: Sequence[str] | None) -> tuple[ItemId, ...]:
    carried = [i.id for i in kind.items if not i.local_only]
    if items is None:
        return tuple(carried)
    chosen: list[ItemId] = []
    for item in items:
        try:
            found = kind.item(item)
        except KeyError:
            raise PurposeInvalid(
                f"{kind.name} にデータ項目 {item!r} はありません (no such item)",
                field="uses",
                information=kind.id,
                item=item,
            ) from None
        if found.local_only:
            raise PurposeInvalid(
                f"{kind.name} の {found.name} は業務ユニットの外に出せません (local-only item)",
                field="uses",
                information=kind.id,
                item=item,
            )
        if found.id not in chosen:
            chosen.append(found.id)
    if not chosen:
        raise PurposeInvalid(
            f"a purpose uses at least one item of {kind.id}", field="uses", information=kind.id
        )
    return tuple(sorted(chosen, key=carried.index))


def _protocol(value: ServiceProtocol | str | None) -> ServiceProtocol:
    try:
        return ServiceProtocol(value or ServiceProtocol.REST)
    except ValueError:
        raise EndpointInvalid(
            f"protocol {value!r}: one of {', '.join(p.value for p in ServiceProtocol)}", field="protocol"
        ) from None


def _organisation_id(value: OrganisationId | str) -> OrganisationId:
    return value if isinstance(value, OrganisationId) else OrganisationId.parse(value)


def _member_id(value: MemberId | str) -> MemberId:
    return value if isinstance(value, MemberId) else MemberId.parse(value)
