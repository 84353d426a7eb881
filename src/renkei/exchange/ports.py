"""The ports the exchange hub needs: its store (message log, idempotency keys, async results), its
journal (what exchanges leave, written for many exchanges per transaction) and the transport to providers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from renkei.exchange.models import Finished, LogEntry, NonceClaim, StoredReply


class ExchangeStore(Protocol):
    """Implemented by ``renkei.storage.sql.exchange.SqlExchangeStore`` (SQLite and PostgreSQL)."""

    def log(self, entry: LogEntry) -> None:
        """Append one message-log row."""
        ...

    def entries(self, *, client: str | None = None, limit: int = 100) -> list[LogEntry]:
        """The latest rows, newest first."""
        ...

    def remembered(self, client: str, key: str, now: datetime) -> StoredReply | None:
        """The unexpired reply stored under ``(client, key)`` (an Idempotency-Key)."""
        ...

    def remember(self, reply: StoredReply) -> StoredReply:
        """Store ``reply`` under its ``(client, key)`` unless one is there; return the one kept."""
        ...

    def open_result(self, reply: StoredReply) -> None:
        """Create a pending asynchronous result (``key`` is the 処理通番)."""
        ...

    def finish_result(self, key: str, status: int, body: str, problem: bool) -> None:
        """Complete the asynchronous result ``key``."""
        ...

    def result(self, key: str, now: datetime) -> StoredReply | None:
        """The unexpired asynchronous result ``key`` (pending or finished)."""
        ...


class ExchangeJournal(Protocol):
    """Writes what exchanges leave: the nonces they claim, their access records and their log rows.

    The hub hands it the claims and endings of every exchange that arrived while the previous write ran
    (group commit), from a worker thread; one call at a time. Implemented by
    ``renkei.storage.sql.exchange.SqlExchangeJournal`` (one transaction per call) and, for stores that
    cannot share a transaction, :class:`renkei.exchange.journal.SeparateJournal`.
    """

    def write(self, claims: Sequence[NonceClaim], finished: Sequence[Finished], now: datetime) -> list[bool]:
        """Claim ``claims`` and write ``finished`` (records, then row); durable when it returns.

        Returns, per claim, True when it was fresh and is now remembered, False when the nonce was already
        claimed and has not expired (a replay) or repeats an earlier claim of the same call. Raises when
        anything could not be written; then nothing of the call is kept (``SqlExchangeJournal``) or only
        whole endings are (``SeparateJournal``: an ending's records may stay without its row).
        """
        ...


@dataclass(frozen=True, slots=True)
class ProviderReply:
    status: int
    body: bytes


class Transport(Protocol):
    """POSTs a forwarded request to a provider; raises ``exchange.provider.unreachable`` / ``.timeout``."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> ProviderReply: ...

    async def aclose(self) -> None: ...
