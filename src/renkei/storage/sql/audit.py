"""The ``audit`` context's storage (:class:`renkei.audit.ports.AuditStore`) on SQLAlchemy Core.

Tables: ``audit_record`` (one row per leaf; ``position`` is the leaf index, dense and unique; the body
and person key are cleared by retention, the leaf hash never), ``audit_node`` (hashes of complete
subtrees of level ≥ 1, written as appends complete them, so that any proof is one batched look-up) and
``audit_head`` (published signed tree heads). Appends and head publication hold the append lock:
SQLite's write lock (``BEGIN IMMEDIATE``), on PostgreSQL a transaction-scoped advisory lock.

The append path (``entries`` → ``size`` → ``nodes`` → ``add_entries``, once per batch of the hub) runs
plain SQL on the driver's own cursor (:class:`DriverCursor`), SQLAlchemy's per-statement machinery costing
more than SQLite takes to run the statements: one reads the ids already logged, the size and the frontier;
then the rows and subtrees are inserted (SQLite: an ``executemany`` each; PostgreSQL: one statement).
"""

from __future__ import annotations

import functools
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
    select,
    update,
)
from sqlalchemy.engine import Connection

from renkei.audit.merkle import NodeKey
from renkei.audit.models import SignedTreeHead
from renkei.audit.ports import NewEntry, StoredEntry
from renkei.storage.sql.driver import DriverCursor, db_time, from_db_time
from renkei.storage.sql.repositories import ConnectionSource
from renkei.storage.sql.tables import UtcDateTime, metadata

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
    "INSERT INTO audit_record (position, record_id, subject, withheld, recorded_at, body, leaf_hash)"
)
_INSERT_NODE = "INSERT INTO audit_node (level, position, hash)"
# The log's size n and the hashes of its frontier (merkle.frontier: for each set bit L of n the complete
# subtree (L, (n >> L) - 1); level 0 is the last leaf), a primary-key probe per level: rows (-1, n, NULL)
# then (level, position, hash), padded with NULL columns to go after another SELECT in a UNION ALL.
_TREE = (
    "WITH RECURSIVE s(n) AS (SELECT coalesce(max(position) + 1, 0) FROM audit_record), "
    "l(level) AS (SELECT 1 UNION ALL SELECT level + 1 FROM l, s WHERE (n >> (level + 1)) > 0) "
    "{head}SELECT -1, n, NULL{pad} FROM s "
    "UNION ALL SELECT 0, position, leaf_hash{pad} FROM s, audit_record WHERE n & 1 = 1 AND position = n - 1 "
    "UNION ALL SELECT l.level, position, hash{pad} FROM s, l, audit_node "
    "WHERE (n >> l.level) & 1 = 1 AND audit_node.level = l.level AND position = (n >> l.level) - 1"
)
_SIZE_AND_FRONTIER = _TREE.format(head="", pad="")
_ENTRIES = (
    "SELECT position, record_id, leaf_hash, recorded_at, body FROM audit_record WHERE record_id IN ({})"
)
# An append's first look: which of its records are logged already (rows (-2, position, leaf hash,
# recorded_at, body, record_id)), the size and the frontier, in one statement (one round trip).
_ENTRIES_AND_TREE = _TREE.format(
    head=(
        "SELECT -2, position, leaf_hash, recorded_at, body, record_id FROM audit_record "
        "WHERE record_id IN ({marks}) UNION ALL "
    ),
    pad=", NULL, NULL, NULL",
)


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


@functools.lru_cache(maxsize=512)
def _nodes_sql(leaves: int, nodes: int, mark: str) -> str:
    """The statement reading ``leaves`` leaf hashes and ``nodes`` subtrees of level ≥ 1 by key."""
    parts = []
    if leaves:
        marks = ",".join([mark] * leaves)
        parts.append(f"SELECT 0, position, leaf_hash FROM audit_record WHERE position IN ({marks})")
    if nodes:
        terms = " OR ".join([f"(level = {mark} AND position = {mark})"] * nodes)
        parts.append(f"SELECT level, position, hash FROM audit_node WHERE {terms}")
    return " UNION ALL ".join(parts)


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
    """:class:`~renkei.audit.ports.AuditWriter` (and reader) on one connection in one transaction.

    ``writing``: the transaction holds the append lock, so the size read by :meth:`entries` (an append's
    first question, answered with the size and the frontier in the same statement) stays true until
    :meth:`add_entries`.
    """

    def __init__(self, connection: Connection, *, writing: bool = False) -> None:
        self._c = connection
        self._writing = writing
        self._size: int | None = None
        # Hashes of complete subtrees read in this transaction (the frontier read along with the size).
        # A complete subtree's hash never changes once written, so these stay true.
        self._known: dict[NodeKey, bytes] = {}

    def size(self) -> int:
        if self._size is not None:
            return self._size
        # The size and the frontier in one statement: what an append and a head ask next is
        # ``nodes(frontier(size))``, answered from what this reads.
        with DriverCursor(self._c) as cursor:
            return self._tree(cursor.rows(_SIZE_AND_FRONTIER))

    def _tree(self, rows: Iterable[Sequence[Any]]) -> int:
        size = 0
        for level, pos, digest in rows:
            if level < 0:
                size = int(pos)
            else:
                self._known[(int(level), int(pos))] = bytes(digest)
        if self._writing:
            self._size = size
        return size

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = set(keys)
        known = self._known
        if wanted.issubset(known):
            return {key: known[key] for key in wanted}
        # One statement for a proof's subtrees (a primary-key probe per key), whose text depends only on
        # how many leaves and nodes it asks for, so that the driver keeps it prepared.
        found: dict[NodeKey, bytes] = {}
        with DriverCursor(self._c) as cursor:
            ordered = sorted(wanted)
            for start in range(0, len(ordered), _CHUNK // 2):
                chunk = ordered[start : start + _CHUNK // 2]
                leaves = [pos for level, pos in chunk if level == 0]
                nodes = [value for key in chunk if key[0] != 0 for value in key]
                sql = _nodes_sql(len(leaves), len(nodes) // 2, cursor.mark)
                for level, pos, digest in cursor.rows(sql, leaves + nodes):
                    found[(level, pos)] = bytes(digest)
        return found

    def entry(self, record_id: str) -> StoredEntry | None:
        row = self._c.execute(select(*_ENTRY_COLUMNS).where(audit_record.c.record_id == record_id)).first()
        return None if row is None else _entry(row)

    def entries(self, record_ids: Sequence[str]) -> dict[str, StoredEntry]:
        # Every append asks this for its whole batch, and almost always none is logged yet: a plain-SQL
        # probe of the unique index per chunk, which reads the few rows found in full at the same time;
        # under the append lock the first one also reads the size and the frontier (see the class).
        found: dict[str, StoredEntry] = {}
        tree: list[Sequence[Any]] = []
        with DriverCursor(self._c) as cursor:
            for chunk in _chunks(sorted(set(record_ids))):
                marks = ",".join([cursor.mark] * len(chunk))
                if self._writing and not tree:
                    rows = cursor.rows(_ENTRIES_AND_TREE.format(marks=marks), chunk)
                    tree = [row[:3] for row in rows if row[0] != -2]
                    self._tree(tree)
                    rows = [row[1:] for row in rows if row[0] == -2]
                else:
                    rows = [(p, h, t, b, r) for p, r, h, t, b in cursor.rows(_ENTRIES.format(marks), chunk)]
                for position, leaf_hash, recorded_at, body, record_id in rows:
                    found[record_id] = StoredEntry(
                        int(position), record_id, bytes(leaf_hash), from_db_time(recorded_at), body
                    )
        return found

    def head(self, tree_size: int) -> SignedTreeHead | None:
        row = self._c.execute(select(audit_head).where(audit_head.c.tree_size == tree_size)).first()
        return None if row is None else _head(row)

    def latest_head(self) -> SignedTreeHead | None:
        query = select(audit_head).order_by(audit_head.c.tree_size.desc()).limit(1)
        row = self._c.execute(query).first()
        return None if row is None else _head(row)

    def add_entries(self, entries: Sequence[NewEntry], nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
        # The hot path of every append: rows go to the driver as plain tuples, skipping SQLAlchemy's
        # per-row bind processing; the values are converted here as ``UtcDateTime`` would (SQLite: naive
        # UTC text in SQLAlchemy's format; PostgreSQL: timestamptz).
        self._size = None  # the log grows: read it again when asked
        with DriverCursor(self._c) as cursor:
            rows: list[tuple[Any, ...]] = []
            if entries:
                # An append's records share one ``recorded_at``: convert each distinct instant once.
                times: dict[datetime, datetime | str] = {}
                for e in entries:
                    if e.recorded_at not in times:
                        times[e.recorded_at] = db_time(e.recorded_at, cursor.sqlite)
                rows = [
                    (e.index, e.record_id, e.subject, e.withheld, times[e.recorded_at], e.body, e.leaf_hash)
                    for e in entries
                ]
            cursor.insert(
                (_INSERT_RECORD, rows),
                (_INSERT_NODE, [(level, pos, digest) for (level, pos), digest in nodes]),
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
                with DriverCursor(connection) as cursor:
                    cursor.rows("SELECT pg_advisory_xact_lock(%s)", (PG_APPEND_LOCK,))
            yield SqlAuditTransaction(connection, writing=True)

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
