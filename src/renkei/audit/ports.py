"""The ports of the ``audit`` context: what the exchange hub writes through, and what the log needs
from storage.

The hub depends only on :class:`AccessRecorder`. :class:`AuditStore` is implemented by
``renkei.storage.sql.audit.SqlAuditStore`` (SQLite and PostgreSQL, one contract suite).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from renkei.audit.merkle import NodeKey
from renkei.audit.models import AccessRecord, RecordReceipt, SignedTreeHead


class AccessRecorder(Protocol):
    """Where the exchange hub writes access records (情報提供等記録).

    Records carry only 符号 / internal person keys, never a 個人番号. An append is durable when it returns,
    and all records of one call commit together or not at all, so the hub writes both ends of an
    exchange (``side`` requester and provider) with one :meth:`append_many`. Appends are idempotent by
    ``record_id``: appending a record already in the log returns its original receipt (so a retry after
    a crash is safe); the same id with other content raises ``audit.record.conflict``.
    """

    def append(self, record: AccessRecord) -> RecordReceipt:
        """Log one record; its receipt gives the leaf index and leaf hash."""
        ...

    def append_many(self, records: Sequence[AccessRecord]) -> list[RecordReceipt]:
        """Log ``records`` in order, in one transaction; receipts in the same order."""
        ...


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One row of the log as storage holds it: ``body`` is ``None`` after retention."""

    index: int
    record_id: str
    leaf_hash: bytes
    recorded_at: datetime
    body: str | None


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A row to append (the service has computed its body and leaf hash for its index)."""

    index: int
    record_id: str
    subject: str
    withheld: bool
    recorded_at: datetime
    body: str
    leaf_hash: bytes


class AuditReader(Protocol):
    """Reads within one transaction (one snapshot where the backend gives one)."""

    def size(self) -> int:
        """How many records the log holds (the next index)."""
        ...

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Hashes of the complete subtrees ``keys`` (level 0: leaf hashes); absent ones are left out."""
        ...

    def entry(self, record_id: str) -> StoredEntry | None: ...

    def entries(self, record_ids: Sequence[str]) -> dict[str, StoredEntry]: ...

    def head(self, tree_size: int) -> SignedTreeHead | None: ...

    def latest_head(self) -> SignedTreeHead | None: ...


class AuditWriter(AuditReader, Protocol):
    """A write transaction that holds the log's append lock: appends are serialised, indices dense."""

    def add_entries(self, entries: Sequence[NewEntry], nodes: Sequence[tuple[NodeKey, bytes]]) -> None:
        """Insert rows (indices ``size() …``) and the complete subtrees they finish."""
        ...

    def add_head(self, head: SignedTreeHead) -> None:
        """Store a published head (one per tree size)."""
        ...


class AuditStore(Protocol):
    """The log's storage."""

    def reading(self) -> AbstractContextManager[AuditReader]:
        """A read transaction."""
        ...

    def writing(self) -> AbstractContextManager[AuditWriter]:
        """A write transaction holding the append lock (``BEGIN IMMEDIATE`` / an advisory lock)."""
        ...

    def heads(self, *, from_size: int = 0, limit: int | None = None) -> list[SignedTreeHead]:
        """Published heads with ``tree_size >= from_size``, smallest first."""
        ...

    def entries_of(
        self, subject: str, *, include_withheld: bool, after: int = -1, limit: int = 100
    ) -> list[StoredEntry]:
        """A person's records (by subject key), index order, those with index > ``after``."""
        ...

    def scan(self, batch: int = 10_000) -> Iterator[tuple[int, bytes | None, bytes]]:
        """Every row in index order as ``(index, body as UTF-8 or None, stored leaf hash)``."""
        ...

    def drop_bodies(self, recorded_before: datetime) -> int:
        """Retention: clear body and subject of rows recorded before the instant; how many were cleared."""
        ...
