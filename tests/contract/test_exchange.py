"""The exchange store on both backends: message log, idempotency keys, asynchronous results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import renkei.storage.sql.exchange  # noqa: F401  registers the tables until schema.py imports them
from renkei.exchange.models import LogEntry, LogOutcome, StoredReply
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.exchange import SqlExchangeStore
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _reply(key: str, fingerprint: str = "f1", client: str = "JP/LG/131016/u17") -> StoredReply:
    return StoredReply(
        client, key, fingerprint, "m-1", "h" * 88, 200, '{"a":1}', False, T0, T0 + timedelta(hours=1)
    )


def test_the_message_log_keeps_metadata(backend: Backend) -> None:
    store = SqlExchangeStore(connection_source(backend.storage))
    entry = LogEntry(
        "00000000-0000-0000-0000-000000000001",
        "m-1",
        T0,
        "JP/LG/131016/u17",
        "income-certificate",
        "JP/LG/131024/u06",
        "infant-medical-subsidy",
        LogOutcome.DENIED,
        "exchange.client.unauthorised",
        "h" * 88,
        None,
        12,
    )
    store.log(entry)
    assert store.entries() == [entry]
    assert store.entries(client="other") == []


def test_an_idempotency_key_keeps_the_first_reply_until_it_expires(backend: Backend) -> None:
    store = SqlExchangeStore(connection_source(backend.storage))
    first = store.remember(_reply("k"))
    assert store.remember(_reply("k", fingerprint="f2")) == first
    assert store.remembered("JP/LG/131016/u17", "k", T0) == first
    assert store.remembered("JP/LG/131016/u19", "k", T0) is None
    assert store.remembered("JP/LG/131016/u17", "k", T0 + timedelta(hours=2)) is None


def test_an_async_result_is_pending_then_finished(backend: Backend) -> None:
    store = SqlExchangeStore(connection_source(backend.storage))
    store.open_result(
        StoredReply("JP/LG/131016/u17", "r-1", "", "m-1", "h", 0, None, False, T0, T0 + timedelta(hours=1))
    )
    pending = store.result("r-1", T0)
    assert pending is not None and pending.status == 0 and pending.client == "JP/LG/131016/u17"
    store.finish_result("r-1", 200, '{"a":1}', False)
    done = store.result("r-1", T0)
    assert done is not None and (done.status, done.body) == (200, '{"a":1}')
    assert store.result("r-2", T0) is None
