"""The hub's journal write alone: CPU per exchange of ``SqlExchangeJournal.write`` at batch sizes 1, 6, 32.

    .venv/bin/python bench/journal_write.py [--exchanges 3000] [--database-url postgresql+psycopg://…]

One batch of ``n`` exchanges is what the hub's group commit hands the journal when ``n`` exchanges run
concurrently: ``n`` nonce claims (fresh ``jti``) and ``n`` endings, each a message-log row and the two
access records (requester and provider side) of a provision, shaped as ``ExchangeHub._entry`` and
``ExchangeHub._records`` make them. Everything is built before the clock starts; only ``write`` is timed,
in CPU time of this process (``time.process_time``: the machine is shared, wall time would measure the
neighbours). On SQLite the database engine runs in this process, so its work is counted; on PostgreSQL
(``--database-url``, a database the bench may write to) only the client side is.

Prints one line per batch size and, as the last line, the figure at batch 6.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.service import AuditLog
from renkei.exchange.models import Finished, LogEntry, LogOutcome, NonceClaim
from renkei.ids import time_ordered_id
from renkei.storage.clock import SystemClock
from renkei.storage.ports import Storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.exchange import SqlExchangeJournal

SIZES = (1, 6, 32)
WARMUP_BATCHES = 20
ROUNDS = 5
CLIENT = "JP/LG/131016/u17"
PROVIDER = "JP/LG/131024/u06"
REQUESTER_PARTY = Party("JP/LG/131016", CLIENT)
PROVIDER_PARTY = Party("JP/LG/131024", PROVIDER)
ITEMS = (
    InformationItem("fiscal_year", "年度"),
    InformationItem("total_income", "総所得金額"),
    InformationItem("taxable_income", "課税所得額"),
)
PURPOSE = "infant-medical-subsidy"


def _hash(seed: str) -> str:
    return base64.b64encode(hashlib.sha512(seed.encode()).digest()).decode("ascii")


def exchange(now: datetime) -> tuple[NonceClaim, Finished]:
    """One provision as the hub writes it: its claim, then its row and both ends' access records."""
    message_id = str(uuid.uuid4())
    request_hash = _hash("request" + message_id)
    subject = hashlib.sha256(b"bench" + message_id.encode()).hexdigest()
    entry = LogEntry(
        id=time_ordered_id(now),
        message_id=message_id,
        at=now,
        client=CLIENT,
        service="income-certificate",
        provider=PROVIDER,
        purpose=PURPOSE,
        outcome=LogOutcome.PROVIDED,
        code=None,
        request_hash=request_hash,
        response_hash=_hash("response" + message_id),
        duration_ms=3,
    )
    records = tuple(
        AccessRecord(
            record_id=time_ordered_id(now),
            side=side,
            requester=REQUESTER_PARTY,
            provider=PROVIDER_PARTY,
            requested_at=now,
            provided_at=now + timedelta(milliseconds=2),
            information="individual-resident-tax",
            items=ITEMS,
            purpose=PURPOSE,
            withheld=False,
            subject=subject,
            message_id=message_id,
            request_hash=request_hash,
            outcome=Outcome.PROVIDED,
        )
        for side in (Side.REQUESTER, Side.PROVIDER)
    )
    claim = NonceClaim(CLIENT, secrets.token_urlsafe(18), now + timedelta(seconds=301))
    return claim, Finished(entry, records)


def batch(size: int, now: datetime) -> tuple[list[NonceClaim], list[Finished]]:
    pairs = [exchange(now) for _ in range(size)]
    return [c for c, _ in pairs], [f for _, f in pairs]


@contextmanager
def storage_at(url: str | None) -> Iterator[Storage]:
    if url is not None:
        with create_storage(url, migrate=True) as storage:
            yield storage
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        create_storage(f"sqlite:///{Path(tmp) / 'bench.db'}") as storage,
    ):
        yield storage


def measure(journal: SqlExchangeJournal, size: int, exchanges: int, clock: SystemClock) -> float:
    """CPU µs per exchange in batches of ``size``: the median of ``ROUNDS`` rounds of ``exchanges /
    ROUNDS`` exchanges each, after a warm-up (the median, because the machine is shared)."""
    now = clock.now()
    for _ in range(WARMUP_BATCHES):
        claims, finished = batch(size, now)
        journal.write(claims, finished, now)
    per_round = max(1, exchanges // ROUNDS // size)
    figures: list[float] = []
    for _ in range(ROUNDS):
        batches = [batch(size, now) for _ in range(per_round)]
        gc.collect()
        started = time.process_time()
        for claims, finished in batches:
            fresh = journal.write(claims, finished, now)
            if not all(fresh):  # pragma: no cover - a bench that stopped measuring what it says
                raise SystemExit("a fresh nonce was refused")
        figures.append((time.process_time() - started) / (per_round * size) * 1e6)
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--exchanges", type=int, default=3000, help="exchanges per batch size")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL (or SQLite) URL; default temp SQLite"
    )
    args = parser.parse_args()
    clock = SystemClock()
    signer = Ed25519HeadSigner(bytes(32))
    figures: dict[int, float] = {}
    with storage_at(args.database_url) as storage:
        source = connection_source(storage)
        journal = SqlExchangeJournal(source, lambda bound: AuditLog(SqlAuditStore(bound), signer, clock))
        backend = storage.database.dialect
        for size in SIZES:
            figures[size] = measure(journal, size, args.exchanges, clock)
            print(f"{backend} batch {size:>2}: {figures[size]:7.1f} µs CPU per exchange")
    print(f"journal write: {figures[6]:.0f} µs CPU per exchange (batch 6)")


if __name__ == "__main__":
    main()
