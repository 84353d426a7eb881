"""The integrated DB's storage on SQLAlchemy Core: assertions, bitemporal versions and supersessions.

Every table has a ``tenant`` column that leads its primary key, its foreign keys and its indexes, and every
statement here constrains it: ``tenant = :tenant`` on each table a statement reads (in its WHERE or, for an
outer join, its ON clause), and the scope's tenant in every row it inserts. A store is used through
:meth:`SqlMasterDataStore.scoped`, which fixes the tenant once; callers cannot name another. Nothing is ever
updated or deleted (``tests/masterdata/test_tenant_scoping.py`` checks both, statement by statement).

The scope is the shared :class:`~renkei.storage.sql.tenantscope.TenantScope` (``docs/tenancy.md``): it
checks the tenant code once, pins each table a statement reads and stamps each row inserted.

The intake's bookkeeping (``renkei.masterdata.intake``) lives here too, under the same rules:
``masterdata_intake_cursor`` (one row per advance of a feed's cursor; the cursor is the greatest) and
``masterdata_intake_rejection`` (the events the master refused), through :class:`SqlIntakeStore`.

Composition: ``SqlMasterDataStore(connection_source(storage))``, ``SqlIntakeStore(…)``; the tables register
on ``tables.metadata`` when this module is imported (``storage/sql/schema.py`` imports it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from renkei.masterdata.errors import MasterDataError, TenantMismatch
from renkei.masterdata.models import Assertion, NewVersion, ResidentClass, TenantCode, Version
from renkei.masterdata.ports import Feed, Rejection
from renkei.storage.sql.repositories import ConnectionSource, insert_or_ignore
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.sql.tenantscope import TENANT_LENGTH, TenantScope

NUMBER_LENGTH = 15
EVENT_MAX = 128
TOPIC_MAX = 64
CODE_MAX = 10
LOCK_TAG = b"renkei-masterdata-person\x00"

masterdata_assertion = Table(
    "masterdata_assertion",
    metadata,
    Column("tenant", String(TENANT_LENGTH), primary_key=True, comment="全国地方公共団体コード"),
    Column("event_id", String(EVENT_MAX), primary_key=True),
    Column("atena_number", String(NUMBER_LENGTH), nullable=False, comment="宛名番号"),
    Column("position", Integer, nullable=False, comment="arrival order among the person's events"),
    Column("topic", String(TOPIC_MAX), nullable=False),
    Column("event_type", String(CODE_MAX), nullable=False, comment="異動事由 / 住登外異動区分"),
    Column("valid_from", Date, nullable=False, comment="異動日: start of valid time"),
    Column("occurred", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False, comment="when the master learned it"),
    Column("resident_class", String(16), nullable=False, comment="住民区分: resident / non_resident"),
    Column("household_number", String(NUMBER_LENGTH), nullable=True, comment="世帯番号"),
    Column("active", Boolean, nullable=False, comment="住民 / 転出予定者 / 住登外登録中 on its days"),
    Column("publisher", String(EVENT_MAX), nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("items", Text, nullable=False, comment="the person's record after the change (JSON)"),
    UniqueConstraint("tenant", "atena_number", "position"),
    Index("ix_masterdata_assertion_tenant_household_number", "tenant", "household_number"),
    comment="統合DB: applied 異動 events, one assertion each (append-only)",
)

masterdata_version = Table(
    "masterdata_version",
    metadata,
    Column("tenant", String(TENANT_LENGTH), primary_key=True),
    Column("atena_number", String(NUMBER_LENGTH), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True, comment="exclusive; NULL: open"),
    Column("recorded_at", UtcDateTime, nullable=False, comment="start of recorded time"),
    Column("event_id", String(EVENT_MAX), nullable=False, comment="the assertion that tells it"),
    ForeignKeyConstraint(
        ["tenant", "event_id"],
        ["masterdata_assertion.tenant", "masterdata_assertion.event_id"],
        name="fk_masterdata_version_assertion",
    ),
    Index("ix_masterdata_version_tenant_event_id", "tenant", "event_id"),
    comment="統合DB: bitemporal versions of each person (append-only)",
)

masterdata_supersession = Table(
    "masterdata_supersession",
    metadata,
    Column("tenant", String(TENANT_LENGTH), primary_key=True),
    Column("atena_number", String(NUMBER_LENGTH), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("superseded_at", UtcDateTime, nullable=False, comment="end of the version's recorded time"),
    Column("event_id", String(EVENT_MAX), nullable=False, comment="the event whose arrival closed it"),
    ForeignKeyConstraint(
        ["tenant", "atena_number", "seq"],
        ["masterdata_version.tenant", "masterdata_version.atena_number", "masterdata_version.seq"],
        name="fk_masterdata_supersession_version",
    ),
    ForeignKeyConstraint(
        ["tenant", "event_id"],
        ["masterdata_assertion.tenant", "masterdata_assertion.event_id"],
        name="fk_masterdata_supersession_assertion",
    ),
    comment="統合DB: the closing of a version's recorded interval, added once (append-only)",
)

masterdata_intake_cursor = Table(
    "masterdata_intake_cursor",
    metadata,
    Column("tenant", String(TENANT_LENGTH), primary_key=True),
    Column("subscriber", String(EVENT_MAX), primary_key=True, comment="the 統合DB member system"),
    Column("publisher", String(EVENT_MAX), primary_key=True, comment="the member system whose feed it is"),
    Column("topic", String(TOPIC_MAX), primary_key=True),
    Column("cursor", BigInteger, primary_key=True, autoincrement=False, comment="hub sequence taken up to"),
    Column("advanced_at", UtcDateTime, nullable=False),
    Column("applied", Integer, nullable=False, comment="events applied since the previous cursor"),
    Column("rejected", Integer, nullable=False, comment="events refused since the previous cursor"),
    comment="統合DB intake: each advance of a hub feed's cursor; the greatest is the cursor (append-only)",
)

masterdata_intake_rejection = Table(
    "masterdata_intake_rejection",
    metadata,
    Column("tenant", String(TENANT_LENGTH), primary_key=True),
    Column("event_id", String(EVENT_MAX), primary_key=True, comment="the hub's event id"),
    Column("subscriber", String(EVENT_MAX), nullable=False),
    Column("publisher", String(EVENT_MAX), nullable=False),
    Column("topic", String(TOPIC_MAX), nullable=False),
    Column("code", String(TOPIC_MAX), nullable=False, comment="masterdata.* error code"),
    Column("field", String(TOPIC_MAX), nullable=True, comment="the item or argument refused"),
    Column("rejected_at", UtcDateTime, nullable=False),
    Index("ix_masterdata_intake_rejection_tenant_rejected_at", "tenant", "rejected_at"),
    comment="統合DB intake: events the master refused, skipped with this record (append-only)",
)

TABLES = (
    masterdata_assertion,
    masterdata_version,
    masterdata_supersession,
    masterdata_intake_cursor,
    masterdata_intake_rejection,
)

_a = masterdata_assertion
_v = masterdata_version
_s = masterdata_supersession


class SqlMasterDataStore:
    """:class:`~renkei.masterdata.ports.MasterDataStore` on a connection source."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def scoped(self, tenant: TenantCode) -> SqlTenantMaster:
        return SqlTenantMaster(self._source, tenant)


class SqlTenantMaster:
    """One tenant's master: every statement carries ``tenant = :tenant``."""

    def __init__(self, source: ConnectionSource, tenant: TenantCode) -> None:
        self._source = source
        self._scope = TenantScope.of(tenant, TenantMismatch)
        self._tenant = TenantCode(self._scope.tenant)

    @property
    def tenant(self) -> TenantCode:
        return self._tenant

    @contextmanager
    def writing(self, atena_number: str) -> Iterator[SqlPersonWriter]:
        with self._source(True) as connection:
            if connection.dialect.name == "postgresql":
                # SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL needs the person's lock.
                key = _lock_key(self._tenant, atena_number)
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield SqlPersonWriter(connection, self._scope, atena_number)

    def event(self, event_id: str) -> Assertion | None:
        with self._source(False) as connection:
            return _event(connection, self._scope, event_id)

    def version_at(self, atena_number: str, valid_at: date, known_at: datetime) -> Version | None:
        query = _versions(self._scope).where(
            _v.c.atena_number == atena_number, *_valid_on(valid_at), *_known_at(self._scope, known_at)
        )
        with self._source(False) as connection:
            rows = connection.execute(query).all()
        if len(rows) > 1:  # pragma: no cover - the writer keeps the believed line a partition of time
            raise MasterDataError(
                "統合DBの版が重複しています (overlapping versions)", tenant=self._tenant, rows=len(rows)
            )
        return _version(rows[0]) if rows else None

    def versions(self, atena_number: str) -> list[Version]:
        query = (
            _versions(self._scope)
            .where(_v.c.atena_number == atena_number)
            .order_by(_v.c.valid_from, _v.c.recorded_at, _v.c.seq)
        )
        with self._source(False) as connection:
            return [_version(row) for row in connection.execute(query)]

    def household_at(
        self, household_number: str, valid_at: date, known_at: datetime, *, active_only: bool = True
    ) -> list[Version]:
        query = _versions(self._scope).where(
            _a.c.household_number == household_number,
            *_valid_on(valid_at),
            *_known_at(self._scope, known_at),
        )
        if active_only:
            query = query.where(_a.c.active.is_(True))
        query = query.order_by(_v.c.atena_number)
        with self._source(False) as connection:
            return [_version(row) for row in connection.execute(query)]


class SqlPersonWriter:
    """:class:`~renkei.masterdata.ports.PersonWriter` inside one write transaction."""

    def __init__(self, connection: Connection, scope: TenantScope, atena_number: str) -> None:
        self._connection = connection
        self._scope = scope
        self._tenant = scope.tenant
        self._atena = atena_number

    def event(self, event_id: str) -> Assertion | None:
        return _event(self._connection, self._scope, event_id)

    def assertions(self) -> list[Assertion]:
        query = (
            select(_a).where(*self._scope.pin(_a), _a.c.atena_number == self._atena).order_by(_a.c.position)
        )
        return [_assertion(row) for row in self._connection.execute(query)]

    def current(self) -> list[Version]:
        query = (
            _versions(self._scope)
            .where(_v.c.atena_number == self._atena, _s.c.seq.is_(None))
            .order_by(_v.c.valid_from, _v.c.seq)
        )
        return [_version(row) for row in self._connection.execute(query)]

    def next_seq(self) -> int:
        query = select(func.max(_v.c.seq)).where(*self._scope.pin(_v), _v.c.atena_number == self._atena)
        last = self._connection.execute(query).scalar()
        return 0 if last is None else int(last) + 1

    def add_assertion(self, assertion: Assertion) -> bool:
        self._scope.admit(assertion.tenant, "assertion")
        if assertion.atena_number != self._atena:
            raise TenantMismatch(
                f"この書込みは宛名番号 {self._atena} のものです "
                f"(a write of one person refuses a row of another person)",
                tenant=self._tenant,
            )
        values = {
            "tenant": assertion.tenant,
            "event_id": assertion.event_id,
            "atena_number": self._atena,
            "position": assertion.position,
            "topic": assertion.topic,
            "event_type": assertion.event_type,
            "valid_from": assertion.valid_from,
            "occurred": assertion.occurred,
            "recorded_at": assertion.recorded_at,
            "resident_class": assertion.resident_class.value,
            "household_number": assertion.household_number,
            "active": assertion.active,
            "publisher": assertion.publisher,
            "fingerprint": assertion.fingerprint,
            "items": json.dumps(dict(assertion.items), ensure_ascii=False, separators=(",", ":")),
        }
        statement = insert_or_ignore(self._connection, _a, self._scope.stamp(values), ("tenant", "event_id"))
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT here.
        return self._connection.execute(statement.returning(_a.c.event_id)).first() is not None

    def supersede(self, seqs: Sequence[int], at: datetime, event_id: str) -> None:
        if not seqs:
            return
        open_now = {v.seq for v in self.current()}
        stray = sorted(set(seqs) - open_now)
        if stray:
            raise MasterDataError(
                "閉じる版がこの宛名の現行版ではありません (only the person's current versions can be closed)",
                tenant=self._tenant,
                seqs=stray,
            )
        rows = [
            self._scope.stamp(
                {"atena_number": self._atena, "seq": seq, "superseded_at": at, "event_id": event_id}
            )
            for seq in seqs
        ]
        self._connection.execute(_s.insert(), rows)

    def add_versions(self, versions: Sequence[NewVersion], at: datetime) -> None:
        if not versions:
            return
        rows = [
            self._scope.stamp(
                {
                    "atena_number": self._atena,
                    "seq": v.seq,
                    "valid_from": v.segment.valid_from,
                    "valid_to": v.segment.valid_to,
                    "recorded_at": at,
                    "event_id": v.segment.event_id,
                }
            )
            for v in versions
        ]
        self._connection.execute(_v.insert(), rows)


class SqlIntakeStore:
    """:class:`~renkei.masterdata.ports.IntakeStore` on a connection source."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def scoped(self, tenant: TenantCode) -> SqlTenantIntake:
        return SqlTenantIntake(self._source, tenant)


_c = masterdata_intake_cursor
_r = masterdata_intake_rejection


class SqlTenantIntake:
    """One tenant's intake bookkeeping: every statement carries ``tenant = :tenant``; rows are only added."""

    def __init__(self, source: ConnectionSource, tenant: TenantCode) -> None:
        self._source = source
        self._scope = TenantScope.of(tenant, TenantMismatch)
        self._tenant = TenantCode(self._scope.tenant)

    @property
    def tenant(self) -> TenantCode:
        return self._tenant

    def cursor(self, feed: Feed) -> int:
        with self._source(False) as connection:
            return _cursor(connection, self._scope, feed)

    def advance(self, feed: Feed, cursor: int, at: datetime, *, applied: int, rejected: int) -> bool:
        with self._source(True) as connection:
            if cursor <= _cursor(connection, self._scope, feed):
                return False
            values = {
                "subscriber": feed.subscriber,
                "publisher": feed.publisher,
                "topic": feed.topic,
                "cursor": cursor,
                "advanced_at": at,
                "applied": applied,
                "rejected": rejected,
            }
            keys = ("tenant", "subscriber", "publisher", "topic", "cursor")
            statement = insert_or_ignore(connection, _c, self._scope.stamp(values), keys)
            statement = statement.returning(_c.c.cursor)
            return connection.execute(statement).first() is not None

    def reject(self, rejection: Rejection) -> bool:
        values = {
            "tenant": rejection.tenant,
            "event_id": rejection.event_id,
            "subscriber": rejection.feed.subscriber,
            "publisher": rejection.feed.publisher,
            "topic": rejection.feed.topic,
            "code": rejection.code,
            "field": rejection.field,
            "rejected_at": rejection.rejected_at,
        }
        with self._source(True) as connection:
            statement = insert_or_ignore(connection, _r, self._scope.stamp(values), ("tenant", "event_id"))
            return connection.execute(statement.returning(_r.c.event_id)).first() is not None

    def rejections(self, limit: int = 100) -> list[Rejection]:
        query = (
            select(_r)
            .where(*self._scope.pin(_r))
            .order_by(_r.c.rejected_at.desc(), _r.c.event_id)
            .limit(limit)
        )
        with self._source(False) as connection:
            return [
                Rejection(
                    tenant=TenantCode(row.tenant),
                    event_id=row.event_id,
                    feed=Feed(row.subscriber, row.publisher, row.topic),
                    code=row.code,
                    field=row.field,
                    rejected_at=row.rejected_at,
                )
                for row in connection.execute(query)
            ]


def _cursor(connection: Connection, scope: TenantScope, feed: Feed) -> int:
    query = select(func.max(_c.c.cursor)).where(
        *scope.pin(_c),
        _c.c.subscriber == feed.subscriber,
        _c.c.publisher == feed.publisher,
        _c.c.topic == feed.topic,
    )
    found = connection.execute(query).scalar()
    return 0 if found is None else int(found)


# --- statements ------------------------------------------------------------------------------------------


def _versions(scope: TenantScope) -> Select[Any]:
    """Versions with their assertion and (outer) supersession, all three pinned to the scope's tenant."""
    joined = _v.join(_a, scope.join_on(_v, _a, _a.c.event_id == _v.c.event_id))
    joined = joined.outerjoin(
        _s, scope.join_on(_v, _s, _s.c.atena_number == _v.c.atena_number, _s.c.seq == _v.c.seq)
    )
    return (
        select(
            _v,
            _s.c.superseded_at,
            _s.c.event_id.label("superseded_by"),
            *[c.label(f"a_{c.name}") for c in _a.c],
        )
        .select_from(joined)
        .where(*scope.pin(_v))
    )


def _valid_on(day: date) -> tuple[ColumnElement[bool], ...]:
    return (_v.c.valid_from <= day, (_v.c.valid_to.is_(None)) | (_v.c.valid_to > day))


def _known_at(scope: TenantScope, at: datetime) -> tuple[ColumnElement[bool], ...]:
    """Recorded by ``at`` and not superseded by then."""
    later = _s.alias("later")
    closed = (
        select(later.c.seq)
        .where(
            # The outer row's pin is redundant once correlated, but it keeps every SELECT pinned on its own.
            *scope.pin(later, _v),
            later.c.tenant == _v.c.tenant,
            later.c.atena_number == _v.c.atena_number,
            later.c.seq == _v.c.seq,
            later.c.superseded_at <= at,
        )
        .exists()
    )
    return (_v.c.recorded_at <= at, ~closed)


def _event(connection: Connection, scope: TenantScope, event_id: str) -> Assertion | None:
    query = select(_a).where(*scope.pin(_a), _a.c.event_id == event_id)
    row = connection.execute(query).first()
    return None if row is None else _assertion(row)


def _lock_key(tenant: str, atena_number: str) -> int:
    digest = hashlib.sha256(LOCK_TAG + f"{tenant}\x00{atena_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _assertion(row: Row[Any], prefix: str = "") -> Assertion:
    m = row._mapping
    return Assertion(
        tenant=TenantCode(m[prefix + "tenant"]),
        event_id=m[prefix + "event_id"],
        topic=m[prefix + "topic"],
        event_type=m[prefix + "event_type"],
        atena_number=m[prefix + "atena_number"],
        valid_from=m[prefix + "valid_from"],
        occurred=m[prefix + "occurred"],
        recorded_at=m[prefix + "recorded_at"],
        position=m[prefix + "position"],
        resident_class=ResidentClass(m[prefix + "resident_class"]),
        household_number=m[prefix + "household_number"],
        active=bool(m[prefix + "active"]),
        publisher=m[prefix + "publisher"],
        fingerprint=m[prefix + "fingerprint"],
        items=json.loads(m[prefix + "items"]),
    )


def _version(row: Row[Any]) -> Version:
    m = row._mapping
    return Version(
        tenant=TenantCode(m["tenant"]),
        atena_number=m["atena_number"],
        seq=m["seq"],
        valid_from=m["valid_from"],
        valid_to=m["valid_to"],
        recorded_from=m["recorded_at"],
        recorded_to=m["superseded_at"],
        superseded_by=m["superseded_by"],
        assertion=_assertion(row, "a_"),
    )
