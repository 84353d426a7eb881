"""The registry's storage on SQLAlchemy Core: the directory (organisations, member systems, credentials,
provided services, purposes) and the replay store of request nonces.

Composition: ``SqlRegistryRepository(connection_source(storage))`` and
``SqlReplayStore(connection_source(storage))``; the tables register on ``tables.metadata`` when this module
is imported (``storage/sql/schema.py`` imports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection

from renkei.registry.identifiers import MemberId, OrganisationId
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
from renkei.storage.sql.driver import DriverCursor, db_time
from renkei.storage.sql.repositories import ConnectionSource, insert_or_ignore
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.values import check_text, to_utc
from renkei.types import InformationId, ItemId, ServiceId

ID_MAX = 128
NAME_MAX = 200
URL_MAX = 2048
KID_MAX = 64
JTI_MAX = 128

registry_organisation = Table(
    "registry_organisation",
    metadata,
    Column("id", String(ID_MAX), primary_key=True, comment="INSTANCE/CLASS/MEMBER, e.g. JP/LG/131016"),
    Column("instance", String(32), nullable=False),
    Column("member_class", String(8), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    comment="機関: organisations registered with the hub (X-Road members)",
)

registry_member = Table(
    "registry_member",
    metadata,
    Column(
        "id", String(ID_MAX), primary_key=True, comment="INSTANCE/CLASS/MEMBER/uNN, e.g. JP/LG/131016/u06"
    ),
    Column(
        "organisation_id", String(ID_MAX), ForeignKey("registry_organisation.id"), nullable=False, index=True
    ),
    Column("unit", Integer, nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("endpoint", String(URL_MAX), nullable=True),
    Column("protocol", String(8), nullable=True),
    Column("registered_at", UtcDateTime, nullable=False),
    comment="業務ユニット instances: member systems (X-Road subsystems)",
)

registry_credential = Table(
    "registry_credential",
    metadata,
    Column("kid", String(KID_MAX), primary_key=True, comment="SHA-256 hex of the certificate (or key) DER"),
    Column("member_id", String(ID_MAX), ForeignKey("registry_member.id"), nullable=False, index=True),
    Column("key_type", String(16), nullable=False),
    Column("public_key_pem", Text, nullable=False),
    Column("certificate_pem", Text, nullable=True),
    Column("serial", String(64), nullable=True),
    Column("not_before", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revocation_reason", String(NAME_MAX), nullable=True),
    comment="Member systems' public keys and certificates, with validity and revocation",
)

registry_service = Table(
    "registry_service",
    metadata,
    Column("member_id", String(ID_MAX), ForeignKey("registry_member.id"), nullable=False),
    Column("service_id", String(ID_MAX), nullable=False, index=True),
    Column("information", String(ID_MAX), nullable=False),
    Column("endpoint", String(URL_MAX), nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("member_id", "service_id"),
    comment="Services of the spec each member system provides, with endpoint and protocol",
)

registry_purpose = Table(
    "registry_purpose",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    comment="事務: purposes information may be used for, with their legal basis",
)

registry_purpose_use = Table(
    "registry_purpose_use",
    metadata,
    Column("purpose_id", String(64), ForeignKey("registry_purpose.id"), nullable=False),
    Column("information", String(ID_MAX), nullable=False),
    Column("item", String(ID_MAX), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("purpose_id", "information", "item"),
    comment="The information kinds and items each purpose may use",
)

registry_replay = Table(
    "registry_replay",
    metadata,
    Column("member_id", String(ID_MAX), nullable=False),
    Column("jti", String(JTI_MAX), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    PrimaryKeyConstraint("member_id", "jti"),
    comment="Nonces (jti) of accepted signed requests, kept until the token could no longer be accepted",
)


class SqlRegistryRepository:
    """:class:`~renkei.registry.ports.RegistryRepository` on the ``registry_*`` tables."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    # --- organisations ---

    def add_organisation(self, organisation: Organisation) -> bool:
        values = {
            "id": check_text("organisation", str(organisation.id), max_length=ID_MAX),
            "instance": organisation.id.instance,
            "member_class": organisation.id.member_class.value,
            "code": organisation.id.code,
            "name": check_text("name", organisation.name, max_length=NAME_MAX),
            "registered_at": to_utc("registered_at", organisation.registered_at),
        }
        return self._insert(registry_organisation, values, ["id"])

    def organisation(self, organisation_id: OrganisationId) -> Organisation | None:
        query = select(registry_organisation).where(registry_organisation.c.id == str(organisation_id))
        with self._source(False) as connection:
            row = connection.execute(query).first()
        return None if row is None else _organisation(row)

    def organisations(self) -> list[Organisation]:
        query = select(registry_organisation).order_by(registry_organisation.c.id)
        with self._source(False) as connection:
            return [_organisation(row) for row in connection.execute(query)]

    # --- members ---

    def add_member(self, member: MemberSystem) -> bool:
        values = {
            "id": check_text("member", str(member.id), max_length=ID_MAX),
            "organisation_id": str(member.id.organisation),
            "unit": member.id.unit,
            "name": check_text("name", member.name, max_length=NAME_MAX),
            "endpoint": None
            if member.endpoint is None
            else check_text("endpoint", member.endpoint, max_length=URL_MAX),
            "protocol": None if member.protocol is None else member.protocol.value,
            "registered_at": to_utc("registered_at", member.registered_at),
        }
        return self._insert(registry_member, values, ["id"])

    def member(self, member_id: MemberId) -> MemberSystem | None:
        query = select(registry_member).where(registry_member.c.id == str(member_id))
        with self._source(False) as connection:
            row = connection.execute(query).first()
        return None if row is None else _member(row)

    def members(self, organisation_id: OrganisationId | None = None) -> list[MemberSystem]:
        query = select(registry_member).order_by(registry_member.c.organisation_id, registry_member.c.unit)
        if organisation_id is not None:
            query = query.where(registry_member.c.organisation_id == str(organisation_id))
        with self._source(False) as connection:
            return [_member(row) for row in connection.execute(query)]

    # --- credentials ---

    def add_credential(self, credential: Credential) -> bool:
        values = {
            "kid": check_text("kid", credential.kid, max_length=KID_MAX),
            "member_id": str(credential.member),
            "key_type": credential.key_type.value,
            "public_key_pem": check_text("public_key_pem", credential.public_key_pem, max_length=100_000),
            "certificate_pem": None
            if credential.certificate_pem is None
            else check_text("certificate_pem", credential.certificate_pem, max_length=100_000),
            "serial": credential.serial,
            "not_before": to_utc("not_before", credential.not_before),
            "not_after": to_utc("not_after", credential.not_after),
            "registered_at": to_utc("registered_at", credential.registered_at),
            "revoked_at": None
            if credential.revoked_at is None
            else to_utc("revoked_at", credential.revoked_at),
            "revocation_reason": credential.revocation_reason,
        }
        return self._insert(registry_credential, values, ["kid"])

    def credential(self, kid: str) -> Credential | None:
        if len(kid) > KID_MAX:
            return None
        with self._source(False) as connection:
            return self._credential(connection, kid)

    def credentials(self, member_id: MemberId | None = None) -> list[Credential]:
        query = select(registry_credential).order_by(
            registry_credential.c.registered_at, registry_credential.c.kid
        )
        if member_id is not None:
            query = query.where(registry_credential.c.member_id == str(member_id))
        with self._source(False) as connection:
            return [_credential(row) for row in connection.execute(query)]

    def revoke_credential(self, kid: str, at: datetime, reason: str) -> Credential | None:
        statement = (
            update(registry_credential)
            .where(registry_credential.c.kid == kid, registry_credential.c.revoked_at.is_(None))
            .values(
                revoked_at=to_utc("revoked_at", at),
                revocation_reason=check_text("reason", reason, max_length=NAME_MAX),
            )
        )
        with self._source(True) as connection:
            connection.execute(statement)
            return self._credential(connection, kid)

    @staticmethod
    def _credential(connection: Connection, kid: str) -> Credential | None:
        row = connection.execute(select(registry_credential).where(registry_credential.c.kid == kid)).first()
        return None if row is None else _credential(row)

    # --- services ---

    def put_service(self, service: ProvidedService) -> ProvidedService:
        key = {
            "member_id": str(service.provider),
            "service_id": check_text("service", service.service, max_length=ID_MAX),
        }
        changes = {
            "information": check_text("information", service.information, max_length=ID_MAX),
            "endpoint": check_text("endpoint", service.endpoint, max_length=URL_MAX),
            "protocol": service.protocol.value,
        }
        where = (
            registry_service.c.member_id == key["member_id"],
            registry_service.c.service_id == key["service_id"],
        )
        with self._source(True) as connection:
            values = {**key, **changes, "registered_at": to_utc("registered_at", service.registered_at)}
            if not _inserted(connection, registry_service, values, list(key)):
                connection.execute(update(registry_service).where(*where).values(changes))
            row = connection.execute(select(registry_service).where(*where)).one()
        return _service(row)

    def remove_service(self, member_id: MemberId, service_id: str) -> bool:
        statement = delete(registry_service).where(
            registry_service.c.member_id == str(member_id), registry_service.c.service_id == service_id
        )
        with self._source(True) as connection:
            return connection.execute(statement).rowcount > 0

    def provided_services(self, member_id: MemberId | None = None) -> list[ProvidedService]:
        query = select(registry_service).order_by(registry_service.c.member_id, registry_service.c.service_id)
        if member_id is not None:
            query = query.where(registry_service.c.member_id == str(member_id))
        with self._source(False) as connection:
            return [_service(row) for row in connection.execute(query)]

    def providers(self, service_id: str) -> list[ProvidedService]:
        query = (
            select(registry_service)
            .where(registry_service.c.service_id == service_id)
            .order_by(registry_service.c.member_id)
        )
        with self._source(False) as connection:
            return [_service(row) for row in connection.execute(query)]

    # --- purposes ---

    def add_purpose(self, purpose: Purpose) -> bool:
        values = {
            "id": check_text("purpose", purpose.id, max_length=64),
            "name": check_text("name", purpose.name, max_length=NAME_MAX),
            "legal_basis": check_text("legal_basis", purpose.legal_basis, max_length=100_000),
            "registered_at": to_utc("registered_at", purpose.registered_at),
        }
        uses = [
            {
                "purpose_id": purpose.id,
                "information": check_text("information", use.information, max_length=ID_MAX),
                "item": check_text("item", item, max_length=ID_MAX),
                "position": position,
            }
            for use in purpose.uses
            for position, item in enumerate(use.items)
        ]
        with self._source(True) as connection:
            if not _inserted(connection, registry_purpose, values, ["id"]):
                return False
            if uses:
                connection.execute(registry_purpose_use.insert(), uses)
        return True

    def purpose(self, purpose_id: str) -> Purpose | None:
        with self._source(False) as connection:
            found = self._purposes(connection, purpose_id)
        return found[0] if found else None

    def purposes(self) -> list[Purpose]:
        with self._source(False) as connection:
            return self._purposes(connection, None)

    @staticmethod
    def _purposes(connection: Connection, purpose_id: str | None) -> list[Purpose]:
        heads = select(registry_purpose).order_by(registry_purpose.c.id)
        uses = select(registry_purpose_use).order_by(
            registry_purpose_use.c.purpose_id,
            registry_purpose_use.c.information,
            registry_purpose_use.c.position,
        )
        if purpose_id is not None:
            heads = heads.where(registry_purpose.c.id == purpose_id)
            uses = uses.where(registry_purpose_use.c.purpose_id == purpose_id)
        items: dict[str, dict[str, list[ItemId]]] = {}
        for row in connection.execute(uses):
            items.setdefault(row.purpose_id, {}).setdefault(row.information, []).append(ItemId(row.item))
        return [
            Purpose(
                id=row.id,
                name=row.name,
                legal_basis=row.legal_basis,
                uses=tuple(
                    PurposeUse(InformationId(info), tuple(chosen))
                    for info, chosen in items.get(row.id, {}).items()
                ),
                registered_at=row.registered_at,
            )
            for row in connection.execute(heads)
        ]

    def _insert(self, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
        with self._source(True) as connection:
            return _inserted(connection, table, values, keys)


def claim_nonces(
    connection: Connection, claims: Sequence[tuple[str, str, datetime]], now: datetime
) -> list[bool]:
    """Remember each ``(member, jti, expires_at)`` in ``connection``'s transaction, in one statement.

    True where this call recorded the nonce; False where it was already recorded and is not expired (a
    replay), and for a repeat of an earlier claim in ``claims``. An expired entry makes room: it is
    replaced. Atomic per nonce like :meth:`SqlReplayStore.remember`: of two concurrent claims of one
    nonce exactly one gets True.
    """
    if not claims:
        return []
    first: dict[tuple[str, str], int] = {}
    fresh: set[tuple[str, str]] = set()
    with DriverCursor(connection) as cursor:
        sqlite, mark = cursor.sqlite, cursor.mark
        rows: list[tuple[str, str, datetime | str]] = []
        for index, (member, jti, expires_at) in enumerate(claims):
            key = (member, check_text("jti", jti, max_length=JTI_MAX))
            if key not in first:
                first[key] = index
                rows.append((member, jti, db_time(expires_at, sqlite, "expires_at")))
        # Plain SQL on the driver's cursor, values converted as ``UtcDateTime`` would: this runs for every
        # batch of the hub, and SQLAlchemy's per-statement machinery would cost more than the statement.
        # One upsert per chunk both inserts and replaces an expired entry (``DO UPDATE … WHERE expires_at
        # <= now``); RETURNING names the nonces this call recorded, a live entry returns nothing. Rows go
        # in key order, so that concurrent transactions (other hub processes) lock nonce rows in one order.
        rows.sort()
        at = db_time(now, sqlite, "now")
        for start in range(0, len(rows), _CLAIM_CHUNK):
            chunk = rows[start : start + _CLAIM_CHUNK]
            values = ", ".join([f"({mark}, {mark}, {mark})"] * len(chunk))
            sql = (
                f"INSERT INTO registry_replay (member_id, jti, expires_at) VALUES {values} "
                "ON CONFLICT (member_id, jti) DO UPDATE SET expires_at = excluded.expires_at "
                f"WHERE registry_replay.expires_at <= {mark} RETURNING member_id, jti"
            )
            fresh.update((m, j) for m, j in cursor.rows(sql, (*(v for row in chunk for v in row), at)))
    return [first[(m, j)] == i and (m, j) in fresh for i, (m, j, _) in enumerate(claims)]


_CLAIM_CHUNK = 500  # rows per multi-row upsert (3 bind parameters each)


class SqlReplayStore:
    """:class:`~renkei.registry.ports.ReplayStore` on the ``registry_replay`` table."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def remember(self, member_id: MemberId, jti: str, expires_at: datetime, now: datetime) -> bool:
        member = str(member_id)
        jti = check_text("jti", jti, max_length=JTI_MAX)
        at, until = to_utc("now", now), to_utc("expires_at", expires_at)
        with self._source(True) as connection:
            # An expired entry for the same jti no longer protects anything: make room for the new one.
            connection.execute(
                delete(registry_replay).where(
                    registry_replay.c.member_id == member,
                    registry_replay.c.jti == jti,
                    registry_replay.c.expires_at <= at,
                )
            )
            values = {"member_id": member, "jti": jti, "expires_at": until}
            return _inserted(connection, registry_replay, values, ["member_id", "jti"])

    def purge(self, now: datetime) -> int:
        statement = delete(registry_replay).where(registry_replay.c.expires_at <= to_utc("now", now))
        with self._source(True) as connection:
            return connection.execute(statement).rowcount


def _inserted(connection: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """Insert unless a row with the same ``keys`` exists; True when this call inserted it.

    ``RETURNING`` tells, where ``rowcount`` does not: psycopg reports -1 for an ``INSERT … ON CONFLICT``.
    """
    statement = insert_or_ignore(connection, table, values, keys).returning(*(table.c[k] for k in keys))
    return connection.execute(statement).first() is not None


def _organisation(row: Row[Any]) -> Organisation:
    return Organisation(id=OrganisationId.parse(row.id), name=row.name, registered_at=row.registered_at)


def _member(row: Row[Any]) -> MemberSystem:
    return MemberSystem(
        id=MemberId.parse(row.id),
        name=row.name,
        registered_at=row.registered_at,
        endpoint=row.endpoint,
        protocol=None if row.protocol is None else ServiceProtocol(row.protocol),
    )


def _credential(row: Row[Any]) -> Credential:
    return Credential(
        kid=row.kid,
        member=MemberId.parse(row.member_id),
        key_type=KeyType(row.key_type),
        public_key_pem=row.public_key_pem,
        certificate_pem=row.certificate_pem,
        serial=row.serial,
        not_before=row.not_before,
        not_after=row.not_after,
        registered_at=row.registered_at,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
    )


def _service(row: Row[Any]) -> ProvidedService:
    return ProvidedService(
        provider=MemberId.parse(row.member_id),
        service=ServiceId(row.service_id),
        information=InformationId(row.information),
        endpoint=row.endpoint,
        protocol=ServiceProtocol(row.protocol),
        registered_at=row.registered_at,
    )
