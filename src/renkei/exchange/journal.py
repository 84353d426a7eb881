"""Group commit of what exchanges write: nonce claims before the hub acts, endings before it replies.

Each exchange writes twice: its signed request's nonce (``jti``) must be durable before the provider is
asked, and its message-log row with the access records of a provision must be durable before the reply
is sent. Written one exchange at a time, that is three transactions per exchange on the event loop; here
every claim and ending that arrives while the previous write runs waits for the next one, and that one
writes them all through :class:`~renkei.exchange.ports.ExchangeJournal` in a worker thread (the loop
keeps serving). An exchange resumes only once its own write has returned, so nothing is acknowledged
before it is durable. A failed batch is split in halves and retried until the bad item fails alone
(unless the database is unavailable or busy: then the whole batch fails at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from renkei.audit.ports import AccessRecorder
from renkei.exchange.models import Finished, NonceClaim
from renkei.exchange.ports import ExchangeJournal, ExchangeStore
from renkei.registry.identifiers import MemberId
from renkei.registry.ports import ReplayStore
from renkei.storage.errors import StorageUnavailable
from renkei.storage.ports import Clock

log = logging.getLogger(__name__)

MAX_BATCH = 256


class SeparateJournal:
    """:class:`~renkei.exchange.ports.ExchangeJournal` over the three stores, each in transactions of its
    own: claims through the replay store, then per ending its access records (one ``append_many``) and its
    row. For stores that cannot share a transaction; ``SqlExchangeJournal`` writes a batch in one."""

    def __init__(self, replays: ReplayStore, recorder: AccessRecorder, store: ExchangeStore) -> None:
        self._replays = replays
        self._recorder = recorder
        self._store = store

    def write(self, claims: Sequence[NonceClaim], finished: Sequence[Finished], now: datetime) -> list[bool]:
        fresh: list[bool] = []
        seen: set[tuple[str, str]] = set()
        for claim in claims:
            key = (claim.member, claim.jti)
            fresh.append(
                key not in seen
                and self._replays.remember(MemberId.parse(claim.member), claim.jti, claim.keep_until, now)
            )
            seen.add(key)
        for ending in finished:
            if ending.records:
                self._recorder.append_many(ending.records)
            self._store.log(ending.entry)
        return fresh


class GroupCommit:
    """Batches claims and endings of concurrent exchanges into one journal write at a time.

    Use from one event loop; :meth:`aclose` waits for the write in progress and those queued.
    """

    def __init__(self, journal: ExchangeJournal, clock: Clock, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._journal = journal
        self._clock = clock
        self._max = max_batch
        self._claims: list[tuple[NonceClaim, asyncio.Future[bool]]] = []
        self._finished: list[tuple[Finished, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def claim(self, claim: NonceClaim) -> bool:
        """Claim a nonce: True when it was fresh (now durable), False for a replay. Raises if not written."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((claim, future))
        self._wake()
        return await future

    async def finish(self, ending: Finished) -> None:
        """Write an exchange's row and access records; returns once they are durable. Raises if not."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._finished.append((ending, future))
        self._wake()
        await future

    async def aclose(self) -> None:
        """Wait until everything queued is written."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def _wake(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_all())

    async def _write_all(self) -> None:
        while self._claims or self._finished:
            claims, self._claims = self._claims[: self._max], self._claims[self._max :]
            room = self._max - len(claims)
            finished, self._finished = self._finished[:room], self._finished[room:]
            try:
                await self._write(claims, finished)
            except BaseException:  # cancelled at shutdown: nothing waits forever
                for _, future in (*claims, *finished):
                    future.cancel()
                raise

    async def _write(
        self,
        claims: list[tuple[NonceClaim, asyncio.Future[bool]]],
        finished: list[tuple[Finished, asyncio.Future[bool]]],
    ) -> None:
        try:
            fresh = await asyncio.to_thread(
                self._journal.write, [c for c, _ in claims], [f for f, _ in finished], self._clock.now()
            )
        except Exception as error:
            count = len(claims) + len(finished)
            if count == 1 or isinstance(error, StorageUnavailable):
                # A database that is down or locked fails every item alike: no retries to wait through.
                _settle([*claims, *finished], error=error)
                return
            # One bad item must not fail the others: halve the batch until it stands alone.
            log.warning(
                "a batch of %d exchange writes failed (%s); splitting it", count, type(error).__name__
            )
            cut = count // 2
            in_claims = min(len(claims), cut)
            await self._write(claims[:in_claims], finished[: cut - in_claims])
            await self._write(claims[in_claims:], finished[cut - in_claims :])
            return
        if len(fresh) != len(claims):  # pragma: no cover - a journal that breaks its contract
            _settle([*claims, *finished], error=RuntimeError("the journal answered for another batch"))
            return
        for (_, future), ok in zip(claims, fresh, strict=True):
            if not future.done():
                future.set_result(ok)
        _settle(finished)


def _settle(
    waiting: Sequence[tuple[object, asyncio.Future[bool]]], *, error: Exception | None = None
) -> None:
    for _, future in waiting:
        if future.done():
            continue  # the exchange was cancelled; its write stands
        if error is None:
            future.set_result(True)
        else:
            future.set_exception(error)
