"""The ``identity`` context's tables and :class:`~renkei.identity.ports.IdentityRepository` on SQL.

The numbering table (``identity_number``) holds issuance sequence values, not 個人番号: a number is
``FF1(sequence)`` plus check digit, so without the key the database alone reveals no number. No other table
holds a number either; persons are linked by a random internal key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Integer,
    Row,
    String,
    Table,
    UniqueConstraint,
    and_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from renkei.identity.errors import (
    LocalIdConflict,
    ResidentCodeConflict,
    SequenceExhausted,
    UnknownCard,
    UnknownPerson,
)
from renkei.identity.models import (
    ADDRESS_MAX,
    ATENA_MAX,
    NAME_MAX,
    ORG_MAX,
    AtenaNumber,
    BasicInfo,
    BasicInfoRecord,
    CardState,
    Fugo,
    FugoRecord,
    NumberRecord,
    Organisation,
    OrgId,
    PersonKey,
    ResidentCodeRecord,
    Sex,
)
from renkei.storage.errors import StorageConflict, StorageError
from renkei.storage.sql.repositories import ConnectionSource, insert_or_ignore
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.values import check_text, to_utc

KEY_LENGTH = 32
SERIAL_MAX = 32
NONCE_MAX = 64

identity_sequence = Table(
    "identity_sequence",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
    comment="Issuance sequence counters (個人番号, 法人番号); a value is never handed out twice",
)

identity_person = Table(
    "identity_person",
    metadata,
    Column("person_key", String(KEY_LENGTH), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    comment="Persons by their random internal key (never derived from a number)",
)

identity_number = Table(
    "identity_number",
    metadata,
    Column("sequence_value", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "person_key", String(KEY_LENGTH), ForeignKey("identity_person.person_key"), nullable=False, index=True
    ),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
    Column("replaces_sequence", BigInteger, nullable=True),
    UniqueConstraint("replaces_sequence"),
    comment="個人番号 issuance by sequence value (number = FF1(sequence) + check digit); 番号変更 links",
)

identity_basic_info = Table(
    "identity_basic_info",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_key", String(KEY_LENGTH), ForeignKey("identity_person.person_key"), nullable=False),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("address", String(ADDRESS_MAX), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(1), nullable=False),
    UniqueConstraint("person_key", "valid_from"),
    comment="基本4情報 (氏名, 住所, 生年月日, 性別) with history",
)

identity_organisation = Table(
    "identity_organisation",
    metadata,
    Column("org", String(ORG_MAX), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("rotated_at", UtcDateTime, nullable=True),
    Column("previous_valid_until", UtcDateTime, nullable=True),
    comment="Organisations of the linkage base and their current 符号 generation",
)

identity_fugo = Table(
    "identity_fugo",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_key", String(KEY_LENGTH), ForeignKey("identity_person.person_key"), nullable=False),
    Column("org", String(ORG_MAX), ForeignKey("identity_organisation.org"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("fugo", String(32), nullable=False),
    Column("valid_from", UtcDateTime, nullable=False),
    UniqueConstraint("org", "generation", "fugo"),
    UniqueConstraint("person_key", "org", "generation"),
    comment="符号 (機関別符号) per person, organisation and generation",
)

identity_local_id = Table(
    "identity_local_id",
    metadata,
    Column("org", String(ORG_MAX), ForeignKey("identity_organisation.org"), primary_key=True),
    Column("atena_number", String(ATENA_MAX), primary_key=True),
    Column("person_key", String(KEY_LENGTH), ForeignKey("identity_person.person_key"), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    UniqueConstraint("org", "person_key"),
    comment="宛名番号 of each organisation, linked to the internal person key",
)

identity_card = Table(
    "identity_card",
    metadata,
    Column("serial", String(SERIAL_MAX), primary_key=True),
    Column(
        "person_key", String(KEY_LENGTH), ForeignKey("identity_person.person_key"), nullable=False, index=True
    ),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("pin_failures", Integer, nullable=False),
    Column("locked_at", UtcDateTime, nullable=True),
    comment="Simulated IC cards: holder and PIN retry state",
)

identity_login_nonce = Table(
    "identity_login_nonce",
    metadata,
    Column("nonce", String(NONCE_MAX), primary_key=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    comment="Card login challenges: single use, with expiry",
)

_IN_CHUNK = 500
"""Values per ``IN (…)`` list: well under SQLite's bound-parameter limit."""
DIGEST_LENGTH = 64
SEALED_MAX = 96

identity_resident_code = Table(
    "identity_resident_code",
    metadata,
    Column("person_key", String(KEY_LENGTH), ForeignKey("identity_person.person_key"), primary_key=True),
    Column("code_digest", String(DIGEST_LENGTH), nullable=False, unique=True),
    Column("code_sealed", String(SEALED_MAX), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    comment="住民票コード per person: HMAC digest (lookup) and AES-GCM sealed copy, never in clear",
)

LINKAGE_TABLES = (
    identity_sequence,
    identity_person,
    identity_basic_info,
    identity_organisation,
    identity_fugo,
    identity_local_id,
    identity_card,
    identity_login_nonce,
    identity_resident_code,
)
"""Every identity table except the numbering table (what the leak test scans)."""


def _number(row: Row[Any]) -> NumberRecord:
    return NumberRecord(
        sequence=row.sequence_value,
        person_key=PersonKey(row.person_key),
        issued_at=row.issued_at,
        retired_at=row.retired_at,
        replaces_sequence=row.replaces_sequence,
    )


def _organisation(row: Row[Any]) -> Organisation:
    return Organisation(
        org=OrgId(row.org),
        generation=row.generation,
        registered_at=row.registered_at,
        rotated_at=row.rotated_at,
        previous_valid_until=row.previous_valid_until,
    )


def _fugo(row: Row[Any]) -> FugoRecord:
    return FugoRecord(
        person_key=PersonKey(row.person_key),
        org=OrgId(row.org),
        generation=row.generation,
        fugo=Fugo(row.fugo),
        valid_from=row.valid_from,
    )


def _card(row: Row[Any]) -> CardState:
    return CardState(
        serial=row.serial,
        person_key=PersonKey(row.person_key),
        issued_at=row.issued_at,
        pin_failures=row.pin_failures,
        locked_at=row.locked_at,
    )


def _info_values(
    person_key: PersonKey, info: BasicInfo, valid_from: datetime, at: datetime
) -> dict[str, Any]:
    return {
        "person_key": person_key,
        "valid_from": to_utc("valid_from", valid_from),
        "recorded_at": to_utc("recorded_at", at),
        "name": check_text("name", info.name, max_length=NAME_MAX),
        "address": check_text("address", info.address, max_length=ADDRESS_MAX),
        "birth_date": info.birth_date,
        "sex": info.sex.value,
    }


class SqlIdentityRepository:
    """:class:`~renkei.identity.ports.IdentityRepository` on the ``identity_*`` tables."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    # --- sequences ---

    def reserve(self, sequence: str, count: int, limit: int) -> int:
        if count < 1:
            raise StorageError("a reservation takes at least one value")
        with self._source(True) as connection:
            connection.execute(
                insert_or_ignore(connection, identity_sequence, {"name": sequence, "next_value": 0}, ["name"])
            )
            # The UPDATE takes the row lock (PostgreSQL) inside the write transaction (SQLite: BEGIN
            # IMMEDIATE), so concurrent reservations queue and each sees the other's increment.
            connection.execute(
                update(identity_sequence)
                .where(identity_sequence.c.name == sequence)
                .values(next_value=identity_sequence.c.next_value + count)
            )
            end = connection.execute(
                select(identity_sequence.c.next_value).where(identity_sequence.c.name == sequence)
            ).scalar_one()
            if end > limit:
                raise SequenceExhausted(
                    f"the {sequence} sequence has fewer than {count} values left", sequence=sequence
                )
        return int(end) - count

    def peek(self, sequence: str) -> int:
        with self._source(False) as connection:
            value = connection.execute(
                select(identity_sequence.c.next_value).where(identity_sequence.c.name == sequence)
            ).scalar_one_or_none()
        return 0 if value is None else int(value)

    # --- persons, numbers, 基本4情報 ---

    def add_person(self, person_key: PersonKey, sequence: int, info: BasicInfo, at: datetime) -> NumberRecord:
        at = to_utc("at", at)
        with self._source(True) as connection:
            connection.execute(identity_person.insert().values(person_key=person_key, created_at=at))
            connection.execute(
                identity_number.insert().values(sequence_value=sequence, person_key=person_key, issued_at=at)
            )
            connection.execute(identity_basic_info.insert().values(_info_values(person_key, info, at, at)))
        return NumberRecord(sequence, person_key, at, None, None)

    def person_exists(self, person_key: PersonKey) -> bool:
        with self._source(False) as connection:
            found = connection.execute(
                select(identity_person.c.person_key).where(identity_person.c.person_key == person_key)
            ).first()
        return found is not None

    def number_by_sequence(self, sequence: int) -> NumberRecord | None:
        with self._source(False) as connection:
            row = connection.execute(
                select(identity_number).where(identity_number.c.sequence_value == sequence)
            ).first()
        return None if row is None else _number(row)

    def current_number(self, person_key: PersonKey) -> NumberRecord | None:
        query = select(identity_number).where(
            identity_number.c.person_key == person_key, identity_number.c.retired_at.is_(None)
        )
        with self._source(False) as connection:
            row = connection.execute(query).first()
        return None if row is None else _number(row)

    def change_number(self, person_key: PersonKey, old: int, new: int, at: datetime) -> NumberRecord:
        at = to_utc("at", at)
        with self._source(True) as connection:
            retired = connection.execute(
                update(identity_number)
                .where(
                    identity_number.c.sequence_value == old,
                    identity_number.c.person_key == person_key,
                    identity_number.c.retired_at.is_(None),
                )
                .values(retired_at=at)
            )
            if retired.rowcount != 1:
                raise StorageConflict("the number to replace is no longer the person's number in use")
            connection.execute(
                identity_number.insert().values(
                    sequence_value=new, person_key=person_key, issued_at=at, replaces_sequence=old
                )
            )
        return NumberRecord(new, person_key, at, None, old)

    def add_basic_info(
        self, person_key: PersonKey, info: BasicInfo, valid_from: datetime, at: datetime
    ) -> None:
        values = _info_values(person_key, info, valid_from, at)
        with self._source(True) as connection:
            inserted = connection.execute(
                insert_or_ignore(
                    connection, identity_basic_info, values, ["person_key", "valid_from"]
                ).returning(identity_basic_info.c.id)
            ).first()
            if inserted is None:
                raise StorageConflict("a version of these 基本4情報 already starts at that instant")

    def basic_info_history(self, person_key: PersonKey) -> list[BasicInfoRecord]:
        query = (
            select(identity_basic_info)
            .where(identity_basic_info.c.person_key == person_key)
            .order_by(identity_basic_info.c.valid_from)
        )
        with self._source(False) as connection:
            rows = connection.execute(query).all()
        return [
            BasicInfoRecord(
                person_key=person_key,
                info=BasicInfo(row.name, row.address, row.birth_date, Sex(row.sex)),
                valid_from=row.valid_from,
                recorded_at=row.recorded_at,
            )
            for row in rows
        ]

    # --- organisations, 符号, 宛名番号 ---

    def add_organisation(self, org: OrgId, at: datetime) -> Organisation:
        values = {
            "org": check_text("org", org, max_length=ORG_MAX),
            "generation": 1,
            "registered_at": to_utc("at", at),
        }
        with self._source(True) as connection:
            connection.execute(insert_or_ignore(connection, identity_organisation, values, ["org"]))
            row = connection.execute(
                select(identity_organisation).where(identity_organisation.c.org == org)
            ).one()
        return _organisation(row)

    def organisation(self, org: OrgId) -> Organisation | None:
        with self._source(False) as connection:
            row = connection.execute(
                select(identity_organisation).where(identity_organisation.c.org == org)
            ).first()
        return None if row is None else _organisation(row)

    def rotate(
        self, org: OrgId, expected_generation: int, at: datetime, grace_until: datetime
    ) -> Organisation:
        with self._source(True) as connection:
            result = connection.execute(
                update(identity_organisation)
                .where(
                    identity_organisation.c.org == org,
                    identity_organisation.c.generation == expected_generation,
                )
                .values(
                    generation=expected_generation + 1,
                    rotated_at=to_utc("at", at),
                    previous_valid_until=to_utc("grace_until", grace_until),
                )
            )
            if result.rowcount != 1:
                raise StorageConflict("the organisation's 符号 were rotated by someone else first", org=org)
            row = connection.execute(
                select(identity_organisation).where(identity_organisation.c.org == org)
            ).one()
        return _organisation(row)

    def put_fugo(self, record: FugoRecord) -> FugoRecord:
        values = {
            "person_key": record.person_key,
            "org": record.org,
            "generation": record.generation,
            "fugo": record.fugo,
            "valid_from": to_utc("valid_from", record.valid_from),
        }
        with self._source(True) as connection:
            connection.execute(
                insert_or_ignore(connection, identity_fugo, values, ["person_key", "org", "generation"])
            )
            row = connection.execute(
                select(identity_fugo).where(
                    identity_fugo.c.person_key == record.person_key,
                    identity_fugo.c.org == record.org,
                    identity_fugo.c.generation == record.generation,
                )
            ).one()
        return _fugo(row)

    def fugo_of(self, person_key: PersonKey, org: OrgId, generation: int) -> FugoRecord | None:
        with self._source(False) as connection:
            row = connection.execute(
                select(identity_fugo).where(
                    identity_fugo.c.person_key == person_key,
                    identity_fugo.c.org == org,
                    identity_fugo.c.generation == generation,
                )
            ).first()
        return None if row is None else _fugo(row)

    def fugos_of(
        self, person_keys: Sequence[PersonKey], org: OrgId, generation: int
    ) -> dict[PersonKey, FugoRecord]:
        found: dict[PersonKey, FugoRecord] = {}
        unique = sorted(set(person_keys))
        with self._source(False) as connection:
            for start in range(0, len(unique), _IN_CHUNK):
                query = select(identity_fugo).where(
                    identity_fugo.c.org == org,
                    identity_fugo.c.generation == generation,
                    identity_fugo.c.person_key.in_(unique[start : start + _IN_CHUNK]),
                )
                found.update((PersonKey(row.person_key), _fugo(row)) for row in connection.execute(query))
        return found

    def fugo_holders(self, org: OrgId, generation: int, fugos: Sequence[Fugo]) -> dict[Fugo, PersonKey]:
        found: dict[Fugo, PersonKey] = {}
        unique = sorted(set(fugos))
        with self._source(False) as connection:
            for start in range(0, len(unique), _IN_CHUNK):
                query = select(identity_fugo.c.fugo, identity_fugo.c.person_key).where(
                    identity_fugo.c.org == org,
                    identity_fugo.c.generation == generation,
                    identity_fugo.c.fugo.in_(unique[start : start + _IN_CHUNK]),
                )
                found.update((Fugo(row.fugo), PersonKey(row.person_key)) for row in connection.execute(query))
        return found

    def put_fugos(self, records: Sequence[FugoRecord]) -> dict[PersonKey, FugoRecord]:
        if not records:
            return {}
        rows = [
            {
                "person_key": r.person_key,
                "org": r.org,
                "generation": r.generation,
                "fugo": r.fugo,
                "valid_from": to_utc("valid_from", r.valid_from),
            }
            for r in records
        ]
        keys = sorted({r.person_key for r in records})
        stored: dict[PersonKey, FugoRecord] = {}
        with self._source(True) as connection:
            # A bare ON CONFLICT DO NOTHING covers both unique keys; the rows read back tell what stands.
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(identity_fugo).on_conflict_do_nothing(), rows)
            for org, generation in {(r.org, r.generation) for r in records}:
                for start in range(0, len(keys), _IN_CHUNK):
                    query = select(identity_fugo).where(
                        identity_fugo.c.org == org,
                        identity_fugo.c.generation == generation,
                        identity_fugo.c.person_key.in_(keys[start : start + _IN_CHUNK]),
                    )
                    stored.update(
                        (PersonKey(row.person_key), _fugo(row)) for row in connection.execute(query)
                    )
        return stored

    def find_fugo(self, org: OrgId, fugo: Fugo) -> list[FugoRecord]:
        query = (
            select(identity_fugo)
            .where(identity_fugo.c.org == org, identity_fugo.c.fugo == fugo)
            .order_by(identity_fugo.c.generation.desc())
        )
        with self._source(False) as connection:
            return [_fugo(row) for row in connection.execute(query)]

    def put_local_id(self, org: OrgId, atena: AtenaNumber, person_key: PersonKey, at: datetime) -> None:
        values = {
            "org": org,
            "atena_number": check_text("atena_number", atena, max_length=ATENA_MAX),
            "person_key": person_key,
            "registered_at": to_utc("at", at),
        }
        with self._source(True) as connection:
            # A bare ON CONFLICT DO NOTHING covers both unique keys (the 宛名番号, and the person at the org).
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(identity_local_id).values(values).on_conflict_do_nothing())
            row = connection.execute(
                select(identity_local_id).where(
                    identity_local_id.c.org == org,
                    (identity_local_id.c.atena_number == atena)
                    | (identity_local_id.c.person_key == person_key),
                )
            ).all()
        if len(row) != 1 or row[0].person_key != person_key or row[0].atena_number != atena:
            raise LocalIdConflict(
                "this 宛名番号 or this person is already registered with another partner at the organisation",
                org=org,
            )

    def person_by_local_id(self, org: OrgId, atena: AtenaNumber) -> PersonKey | None:
        with self._source(False) as connection:
            value = connection.execute(
                select(identity_local_id.c.person_key).where(
                    identity_local_id.c.org == org, identity_local_id.c.atena_number == atena
                )
            ).scalar_one_or_none()
        return None if value is None else PersonKey(value)

    def local_id_of(self, org: OrgId, person_key: PersonKey) -> AtenaNumber | None:
        with self._source(False) as connection:
            value = connection.execute(
                select(identity_local_id.c.atena_number).where(
                    identity_local_id.c.org == org, identity_local_id.c.person_key == person_key
                )
            ).scalar_one_or_none()
        return None if value is None else AtenaNumber(value)

    # --- 住民票コード ---

    def put_resident_code(self, record: ResidentCodeRecord) -> None:
        values = {
            "person_key": record.person_key,
            "code_digest": check_text("code_digest", record.digest, max_length=DIGEST_LENGTH),
            "code_sealed": check_text("code_sealed", record.sealed, max_length=SEALED_MAX),
            "registered_at": to_utc("registered_at", record.registered_at),
        }
        with self._source(True) as connection:
            # A bare ON CONFLICT DO NOTHING covers both unique keys (the person, and the digest).
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(identity_resident_code).values(values).on_conflict_do_nothing())
            rows = connection.execute(
                select(identity_resident_code.c.person_key, identity_resident_code.c.code_digest).where(
                    (identity_resident_code.c.person_key == record.person_key)
                    | (identity_resident_code.c.code_digest == record.digest)
                )
            ).all()
        if len(rows) != 1 or rows[0].person_key != record.person_key or rows[0].code_digest != record.digest:
            raise ResidentCodeConflict(
                "this 住民票コード is registered to another person, or the person already has another one"
            )

    def persons_by_resident_digests(self, digests: Sequence[str]) -> dict[str, PersonKey]:
        found: dict[str, PersonKey] = {}
        unique = sorted(set(digests))
        with self._source(False) as connection:
            for start in range(0, len(unique), _IN_CHUNK):
                query = select(
                    identity_resident_code.c.code_digest, identity_resident_code.c.person_key
                ).where(identity_resident_code.c.code_digest.in_(unique[start : start + _IN_CHUNK]))
                found.update(
                    (row.code_digest, PersonKey(row.person_key)) for row in connection.execute(query)
                )
        return found

    def resident_codes_at(self, org: OrgId, after: PersonKey | None, limit: int) -> list[ResidentCodeRecord]:
        query = (
            select(identity_resident_code)
            .join(
                identity_local_id,
                and_(
                    identity_local_id.c.person_key == identity_resident_code.c.person_key,
                    identity_local_id.c.org == org,
                ),
            )
            .order_by(identity_resident_code.c.person_key)
            .limit(limit)
        )
        if after is not None:
            query = query.where(identity_resident_code.c.person_key > after)
        with self._source(False) as connection:
            return [
                ResidentCodeRecord(
                    person_key=PersonKey(row.person_key),
                    digest=row.code_digest,
                    sealed=row.code_sealed,
                    registered_at=row.registered_at,
                )
                for row in connection.execute(query)
            ]

    # --- cards and logins ---

    def add_card(self, serial: str, person_key: PersonKey, at: datetime) -> CardState:
        at = to_utc("at", at)
        serial = check_text("serial", serial, max_length=SERIAL_MAX)
        with self._source(True) as connection:
            if (
                connection.execute(
                    select(identity_person.c.person_key).where(identity_person.c.person_key == person_key)
                ).first()
                is None
            ):
                raise UnknownPerson("no person with this key", person_key=person_key)
            connection.execute(
                identity_card.insert().values(
                    serial=serial, person_key=person_key, issued_at=at, pin_failures=0
                )
            )
        return CardState(serial, person_key, at, 0, None)

    def card(self, serial: str) -> CardState | None:
        with self._source(False) as connection:
            row = connection.execute(select(identity_card).where(identity_card.c.serial == serial)).first()
        return None if row is None else _card(row)

    def record_pin_failure(self, serial: str, limit: int, at: datetime) -> CardState:
        at = to_utc("at", at)
        with self._source(True) as connection:
            counted = connection.execute(
                update(identity_card)
                .where(identity_card.c.serial == serial)
                .values(pin_failures=identity_card.c.pin_failures + 1)
            )
            if counted.rowcount != 1:
                raise UnknownCard("no card with this serial", serial=serial)
            connection.execute(
                update(identity_card)
                .where(
                    and_(
                        identity_card.c.serial == serial,
                        identity_card.c.pin_failures >= limit,
                        identity_card.c.locked_at.is_(None),
                    )
                )
                .values(locked_at=at)
            )
            row = connection.execute(select(identity_card).where(identity_card.c.serial == serial)).one()
        return _card(row)

    def reset_pin_failures(self, serial: str) -> None:
        with self._source(True) as connection:
            connection.execute(
                update(identity_card)
                .where(identity_card.c.serial == serial, identity_card.c.locked_at.is_(None))
                .values(pin_failures=0)
            )

    def add_nonce(self, nonce: str, issued_at: datetime, expires_at: datetime) -> None:
        with self._source(True) as connection:
            connection.execute(
                identity_login_nonce.insert().values(
                    nonce=check_text("nonce", nonce, max_length=NONCE_MAX),
                    issued_at=to_utc("issued_at", issued_at),
                    expires_at=to_utc("expires_at", expires_at),
                )
            )

    def consume_nonce(self, nonce: str, at: datetime) -> bool:
        at = to_utc("at", at)
        with self._source(True) as connection:
            result = connection.execute(
                update(identity_login_nonce)
                .where(
                    identity_login_nonce.c.nonce == nonce,
                    identity_login_nonce.c.used_at.is_(None),
                    identity_login_nonce.c.expires_at > at,
                )
                .values(used_at=at)
            )
        return result.rowcount == 1
