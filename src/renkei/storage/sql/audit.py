"""The ``audit`` context's storage (:class:`renkei.audit.ports.AuditStore`) on SQLAlchemy Core.

Tables: ``audit_record`` (one row per leaf; ``position`` is the leaf index, dense and unique; the body
and person key are cleared by retention, the leaf hash never), ``audit_node`` (hashes of complete
subtrees of level ≥ 1, written as appends complete them, so that any proof is one batched look-up) and
``audit_head`` (published signed tree heads). Appends and head publication hold the append lock:
SQLite's write lock (``BEGIN IMMEDIATE``), on PostgreSQL a transaction-scoped advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    LargeBinary,
    Row,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from renkei.audit.merkle import NodeKey
from renkei.audit.models import SignedTreeHead
from renkei.audit.ports import NewEntry, StoredEntry
from renkei.storage.sql.repositories import ConnectionSource
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.values import to_utc

ID_MAX = 256
#: Key of the PostgreSQL advisory lock that serialises appends to the audit log ("audi").
PG_APPEND_LOCK = 0x61756469
_CHUNK = 500  # bind parameters per IN list (SQLite allows 32766; stay well below)

audit_record = Table(
    "audit_record",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(ID_MAX), nullable=False),
    Column("subject", String(ID_MAX), nullable=True),
    Column("withheld", Boolean, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("body", Text, nullable=True),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    UniqueConstraint("record_id"),
    Index("ix_audit_record_subject_position", "subject", "position"),
    comment="情報提供等記録: one Merkle leaf per row, position = leaf index (append-only)",
)

audit_node = Table(
    "audit_node",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    comment="Hashes of complete Merkle subtrees (level >= 1), for proofs in one look-up",
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("key_id", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    comment="Signed tree heads (STH) of the audit log",
)

_ENTRY_COLUMNS = (
    audit_record.c.position,
    audit_record.c.record_id,
    audit_record.c.leaf_hash,
    audit_record.c.recorded_at,
    audit_record.c.body,
)


_INSERT_RECORD = (
    "INSERT INTO audit_record (position, record_id, subject, withheld, recorded_at, body, leaf_hash) "
    "VALUES ({}, {}, {}, {}, {}, {}, {})"
)
_INSERT_NODE = "INSERT INTO audit_node (level, position, hash) VALUES ({}, {}, {})"


def _db_time(at: datetime, sqlite: bool) -> datetime | str:
    utc = to_utc("recorded_at", at)
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else utc


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _entry(row: Row[Any, Any, Any, Any, Any]) -> StoredEntry:
    return StoredEntry(
        index=row.position,
        record_id=row.record_id,
        leaf_hash=bytes(row.leaf_hash),
        recorded_at=row.recorded_at,
        body=row.body,
    )


def _head(row: Row[Any]) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=row.tree_size,
        timestamp_ms=row.timestamp_ms,
        root_hash=bytes(row.root_hash),
        key_id=bytes(row.key_id),
        signature=bytes(row.signature),
    )


class SqlAuditTransaction:
    """:class:`~renkei.audit.ports.AuditWriter` (and reader) on one connection in one transaction."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def size(self) -> int:
        top = self._c.execute(select(func.max(audit_record.c.position))).scalar()
        return 0 if top is None else int(top) + 1

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        # Every proof runs this with a different set of keys; plain SQL with the (integer) keys inlined
        # spares SQLAlchemy compiling a new statement each time, and one primary-key probe per level is
        # what SQLite can use an index for (it does not for a row-value IN list).
        by_level: dict[int, list[str]] = {}
        for level, pos in set(keys):
            by_level.setdefault(int(level), []).append(str(int(pos)))
        found: dict[NodeKey, bytes] = {}
        leaves = by_level.pop(0, [])
        for chunk in _chunks(leaves):
            sql = f"SELECT position, leaf_hash FROM audit_record WHERE position IN ({','.join(chunk)})"
            for pos, digest in self._c.exec_driver_sql(sql):
                found[(0, pos)] = bytes(digest)
        if by_level:
            terms = [f"(level = {level} AND position IN ({','.join(ps)}))" for level, ps in by_level.items()]
            sql = f"SELECT level, position, hash FROM audit_node WHERE {' OR '.join(terms)}"
            for level, pos, digest in self._c.exec_driver_sql(sql):
                found[(level, pos)] = bytes(digest)
        return found

    def entry(self, record_id: str) -> StoredEntry | None:
        row = self._c.execute(select(*_ENTRY_COLUMNS).where(audit_record.c.record_id == record_id)).first()
        return None if row is None else _entry(row)

    def entries(self, record_ids: Sequence[str]) -> dict[str, StoredEntry]:
        # Every append asks this for its whole batch, and almost always none is logged yet: a plain-SQL
        # probe of the unique index (no statement compiled per batch size) finds which ids exist, and only
        # those are read in full.
        mark = "?" if self._c.dialect.name == "sqlite" else "%s"
        present: list[str] = []
        for chunk in _chunks(sorted(set(record_ids))):
            sql = f"SELECT record_id FROM audit_record WHERE record_id IN ({','.join([mark] * len(chunk))})"
            present.extend(row[0] for row in self._c.exec_driver_sql(sql, tuple(chunk)))
        found: dict[str, StoredEntry] = {}
        for chunk in _chunks(present):
            query = select(*_ENTRY_COLUMNS).where(audit_record.c.record_id.in_(chunk))
            for row in self._c.execute(query):
                found[row.record_id] = _entry(row)
        return found

    def head(self, tree_size: int) -> SignedTreeHead | None:
        row = self._c.execute(select(audit_head).where(audit_head.c.tree_size == tree_size)).first()
        return None if row is None else _head(row)

    def latest_head(self) -> SignedTreeHead | None:
        query = select(audit_head).order_by(audit_head.c.tree_size.desc()).limit(1)
        row = self._c.execute(query).first()
        return None if row is None else _head(row)

    def add_entries(self, entries: Sequence[NewEntry], nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
        # The hot path of every append: rows go to the driver as plain tuples (one executemany each),
        # skipping SQLAlchemy's per-row bind processing; the values are converted here as
        # ``UtcDateTime`` would (SQLite: naive UTC text in SQLAlchemy's format; PostgreSQL: timestamptz).
        sqlite = self._c.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        if entries:
            # An append's records share one ``recorded_at``: convert each distinct instant once.
            times: dict[datetime, datetime | str] = {}
            for e in entries:
                if e.recorded_at not in times:
                    times[e.recorded_at] = _db_time(e.recorded_at, sqlite)
            rows = [
                (e.index, e.record_id, e.subject, e.withheld, times[e.recorded_at], e.body, e.leaf_hash)
                for e in entries
            ]
            self._c.exec_driver_sql(_INSERT_RECORD.format(*[mark] * 7), rows)
        if nodes:
            self._c.exec_driver_sql(
                _INSERT_NODE.format(mark, mark, mark),
                [(level, pos, digest) for (level, pos), digest in nodes],
            )

    def add_head(self, head: SignedTreeHead) -> None:
        self._c.execute(
            audit_head.insert().values(
                tree_size=head.tree_size,
                timestamp_ms=head.timestamp_ms,
                root_hash=head.root_hash,
                key_id=head.key_id,
                signature=head.signature,
            )
        )


class SqlAuditStore:
    """:class:`~renkei.audit.ports.AuditStore` on a connection source (``engine.connection_source``)."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    @contextmanager
    def reading(self) -> Iterator[SqlAuditTransaction]:
        with self._source(False) as connection:
            yield SqlAuditTransaction(connection)

    @contextmanager
    def writing(self) -> Iterator[SqlAuditTransaction]:
        with self._source(True) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_APPEND_LOCK})
            yield SqlAuditTransaction(connection)

    def heads(self, *, from_size: int = 0, limit: int | None = None) -> list[SignedTreeHead]:
        query = select(audit_head).where(audit_head.c.tree_size >= from_size).order_by(audit_head.c.tree_size)
        if limit is not None:
            query = query.limit(limit)
        with self._source(False) as connection:
            return [_head(row) for row in connection.execute(query)]

    def entries_of(
        self, subject: str, *, include_withheld: bool, after: int = -1, limit: int = 100
    ) -> list[StoredEntry]:
        query = (
            select(*_ENTRY_COLUMNS)
            .where(audit_record.c.subject == subject, audit_record.c.position > after)
            .order_by(audit_record.c.position)
            .limit(limit)
        )
        if not include_withheld:
            query = query.where(audit_record.c.withheld.is_(False))
        with self._source(False) as connection:
            return [_entry(row) for row in connection.execute(query)]

    def scan(self, batch: int = 10_000) -> Iterator[tuple[int, bytes | None, bytes]]:
        # Bodies come back as UTF-8 bytes straight from the database (no decode and re-encode), and
        # rows skip SQLAlchemy's result processing: verify reads every row of the log.
        with self._source(False) as connection:
            raw = "CAST(body AS BLOB)" if connection.dialect.name == "sqlite" else "convert_to(body, 'UTF8')"
            result = connection.execution_options(yield_per=batch).exec_driver_sql(
                f"SELECT position, {raw}, leaf_hash FROM audit_record ORDER BY position"
            )
            for rows in result.partitions(batch):
                for position, body, leaf_hash in rows:
                    yield position, body, bytes(leaf_hash)

    def drop_bodies(self, recorded_before: datetime) -> int:
        statement = (
            update(audit_record)
            .where(audit_record.c.recorded_at < recorded_before, audit_record.c.body.is_not(None))
            .values(body=None, subject=None)
        )
        with self._source(True) as connection:
            return connection.execute(statement).rowcount
