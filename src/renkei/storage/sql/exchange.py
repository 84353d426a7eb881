"""The exchange's storage on SQLAlchemy Core: the message log, idempotency keys and asynchronous results,
and the journal that writes many exchanges' nonces, access records and log rows in one transaction.

Composition: ``SqlExchangeStore(connection_source(storage))`` and
``SqlExchangeJournal(connection_source(storage), lambda bound: AuditLog(SqlAuditStore(bound), signer,
clock))``; the tables register on ``tables.metadata`` when this module is imported
(``storage/sql/schema.py`` imports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Integer, Row, String, Table, Text, select, update
from sqlalchemy.engine import Connection

from renkei.audit.ports import AccessRecorder
from renkei.exchange.models import Finished, LogEntry, LogOutcome, NonceClaim, StoredReply
from renkei.storage.sql.driver import DriverCursor, db_time
from renkei.storage.sql.registry import claim_nonces
from renkei.storage.sql.repositories import ConnectionSource, insert_or_ignore
from renkei.storage.sql.tables import UtcDateTime, metadata

ID_MAX = 128
HASH_MAX = 128
KEY_MAX = 200

exchange_message = Table(
    "exchange_message",
    metadata,
    Column("id", String(36), primary_key=True, comment="row id (UUID)"),
    Column("message_id", String(ID_MAX), nullable=False, index=True, comment="X-Road-Id"),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("client", String(ID_MAX), nullable=False, index=True),
    Column("service", String(ID_MAX), nullable=False),
    Column("provider", String(ID_MAX), nullable=False),
    Column("purpose", String(ID_MAX), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("code", String(ID_MAX), nullable=True, comment="error code of a refused or failed exchange"),
    Column("request_hash", String(HASH_MAX), nullable=False),
    Column("response_hash", String(HASH_MAX), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    comment="交換記録: one row per exchange through the hub, metadata and hashes only (no bodies)",
)

exchange_reply = Table(
    "exchange_reply",
    metadata,
    Column("kind", String(8), primary_key=True, comment="'idem' (Idempotency-Key) or 'async' (処理通番)"),
    Column("client", String(ID_MAX), primary_key=True),
    Column("key", String(KEY_MAX), primary_key=True),
    Column("fingerprint", String(HASH_MAX), nullable=False),
    Column("message_id", String(ID_MAX), nullable=False),
    Column("request_hash", String(HASH_MAX), nullable=False),
    Column("status", Integer, nullable=False, comment="HTTP status; 0 while an async query runs"),
    Column("body", Text, nullable=True),
    Column("problem", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    comment="Replies kept for Idempotency-Key retries and asynchronous results, until they expire",
)

IDEMPOTENCY = "idem"
ASYNC = "async"


class SqlExchangeStore:
    """:class:`~renkei.exchange.ports.ExchangeStore` on a connection source."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    def log(self, entry: LogEntry) -> None:
        with self._source(True) as connection:
            _log(connection, [entry])

    def entries(self, *, client: str | None = None, limit: int = 100) -> list[LogEntry]:
        query = select(exchange_message).order_by(exchange_message.c.at.desc()).limit(limit)
        if client is not None:
            query = query.where(exchange_message.c.client == client)
        with self._source(False) as connection:
            return [_entry(row) for row in connection.execute(query)]

    def remembered(self, client: str, key: str, now: datetime) -> StoredReply | None:
        return self._get(IDEMPOTENCY, client, key, now)

    def remember(self, reply: StoredReply) -> StoredReply:
        with self._source(True) as connection:
            values = _values(IDEMPOTENCY, reply)
            connection.execute(
                insert_or_ignore(connection, exchange_reply, values, ("kind", "client", "key"))
            )
            row = connection.execute(_select(IDEMPOTENCY, reply.client, reply.key)).one()
            return _reply(row)

    def open_result(self, reply: StoredReply) -> None:
        with self._source(True) as connection:
            connection.execute(exchange_reply.insert().values(_values(ASYNC, reply)))

    def finish_result(self, key: str, status: int, body: str, problem: bool) -> None:
        with self._source(True) as connection:
            connection.execute(
                update(exchange_reply)
                .where(exchange_reply.c.kind == ASYNC, exchange_reply.c.key == key)
                .values(status=status, body=body, problem=problem)
            )

    def result(self, key: str, now: datetime) -> StoredReply | None:
        query = select(exchange_reply).where(exchange_reply.c.kind == ASYNC, exchange_reply.c.key == key)
        return self._one(query, now)

    def _get(self, kind: str, client: str, key: str, now: datetime) -> StoredReply | None:
        return self._one(_select(kind, client, key), now)

    def _one(self, query: Any, now: datetime) -> StoredReply | None:
        with self._source(False) as connection:
            row = connection.execute(query).first()
        if row is None or row.expires_at <= now:
            return None
        return _reply(row)


class SqlExchangeJournal:
    """:class:`~renkei.exchange.ports.ExchangeJournal` in one transaction per call: the access records
    (through the audit log, under its append lock), the nonce claims (``registry_replay``) and the
    message-log rows commit together or not at all.

    ``recorder_on(source)`` builds the access recorder on a connection source; it is given one that hands
    out this call's connection, so the audit log appends inside the same transaction (composition:
    ``lambda bound: AuditLog(SqlAuditStore(bound), signer, clock)``).
    """

    def __init__(
        self, source: ConnectionSource, recorder_on: Callable[[ConnectionSource], AccessRecorder]
    ) -> None:
        self._source = source
        self._recorder_on = recorder_on

    def write(self, claims: Sequence[NonceClaim], finished: Sequence[Finished], now: datetime) -> list[bool]:
        records = [record for ending in finished for record in ending.records]
        with self._source(True) as connection:
            # Records first: on PostgreSQL the audit log's advisory lock is then always taken before any
            # nonce row is locked, so two hub processes cannot deadlock on a nonce replayed across them.
            if records:
                self._recorder_on(_bound(connection)).append_many(records)
            fresh = claim_nonces(connection, [(c.member, c.jti, c.keep_until) for c in claims], now)
            if finished:
                _log(connection, [ending.entry for ending in finished])
        return fresh


def _bound(connection: Connection) -> ConnectionSource:
    """A connection source that hands out ``connection`` (its transaction is the caller's)."""

    @contextmanager
    def source(_write: bool) -> Iterator[Connection]:
        yield connection

    return source


_INSERT_MESSAGE = (
    "INSERT INTO exchange_message (id, message_id, at, client, service, provider, purpose, outcome, code, "
    "request_hash, response_hash, duration_ms)"
)


def _log(connection: Connection, entries: Sequence[LogEntry]) -> None:
    """Insert message-log rows on the driver's cursor, as the audit log's rows: SQLAlchemy's bind
    processing of a handful of rows costs more than the database takes to insert them."""
    with DriverCursor(connection) as cursor:
        cursor.insert((_INSERT_MESSAGE, [_message(entry, cursor.sqlite) for entry in entries]))


def _message(entry: LogEntry, sqlite: bool) -> tuple[Any, ...]:
    """``entry`` as its ``exchange_message`` row, bound as the column types would bind it."""
    return (
        entry.id,
        entry.message_id,
        db_time(entry.at, sqlite, "at"),
        entry.client,
        entry.service,
        entry.provider,
        entry.purpose,
        entry.outcome.value,
        entry.code,
        entry.request_hash,
        entry.response_hash,
        entry.duration_ms,
    )


def _select(kind: str, client: str, key: str) -> Any:
    return select(exchange_reply).where(
        exchange_reply.c.kind == kind, exchange_reply.c.client == client, exchange_reply.c.key == key
    )


def _values(kind: str, reply: StoredReply) -> dict[str, Any]:
    return {
        "kind": kind,
        "client": reply.client,
        "key": reply.key,
        "fingerprint": reply.fingerprint,
        "message_id": reply.message_id,
        "request_hash": reply.request_hash,
        "status": reply.status,
        "body": reply.body,
        "problem": reply.problem,
        "created_at": reply.created_at,
        "expires_at": reply.expires_at,
    }


def _reply(row: Row[Any]) -> StoredReply:
    return StoredReply(
        client=row.client,
        key=row.key,
        fingerprint=row.fingerprint,
        message_id=row.message_id,
        request_hash=row.request_hash,
        status=row.status,
        body=row.body,
        problem=bool(row.problem),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _entry(row: Row[Any]) -> LogEntry:
    return LogEntry(
        id=row.id,
        message_id=row.message_id,
        at=row.at,
        client=row.client,
        service=row.service,
        provider=row.provider,
        purpose=row.purpose,
        outcome=LogOutcome(row.outcome),
        code=row.code,
        request_hash=row.request_hash,
        response_hash=row.response_hash,
        duration_ms=row.duration_ms,
    )
