"""The schema as SQLAlchemy Core tables. Migrations in :mod:`renkei.storage.migrations` must produce exactly
this (the contract suite compares them on every backend)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Dialect, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.types import TypeDecorator

from renkei.storage.values import to_utc

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

VERSION_MAX = 128
DIGEST_MAX = 128


class UtcDateTime(TypeDecorator[datetime]):
    """A tz-aware instant, read back as tz-aware UTC on every backend, to the microsecond.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: the value is stored as naive UTC text in
    SQLAlchemy's fixed-width ``YYYY-MM-DD HH:MM:SS.ffffff`` form, which also sorts chronologically.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = to_utc("timestamp", value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


spec_release = Table(
    "spec_release",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(VERSION_MAX), nullable=False),
    Column("digest", String(DIGEST_MAX), nullable=False),
    Column("activated_at", UtcDateTime, nullable=False, index=True),
    UniqueConstraint("version"),
    comment="Versions of the standard put in force on this deployment (仕様の版)",
)
