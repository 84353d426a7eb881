"""The intake's bookkeeping on both backends: a feed cursor only moves forward, concurrent advances keep the
greatest, tenants and feeds are kept apart, refused events are recorded once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from renkei.masterdata.models import TenantCode
from renkei.masterdata.ports import Feed, Rejection
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import SqlIntakeStore
from tests.contract.backends import Backend

CHIYODA, CHUO = TenantCode("131016"), TenantCode("131024")
RESIDENTS = Feed("JP/LG/131016/u09", "JP/LG/131016/u01", "resident-changes")
NON_RESIDENTS = Feed("JP/LG/131016/u09", "JP/LG/131016/u30", "non-resident-changes")
T0 = datetime(2026, 4, 1, tzinfo=UTC)


def test_a_cursor_moves_forward_only_per_tenant_and_feed(backend: Backend) -> None:
    store = SqlIntakeStore(connection_source(backend.storage))
    chiyoda, chuo = store.scoped(CHIYODA), store.scoped(CHUO)
    assert chiyoda.cursor(RESIDENTS) == 0
    assert chiyoda.advance(RESIDENTS, 7, T0, applied=7, rejected=0)
    assert not chiyoda.advance(RESIDENTS, 3, T0, applied=3, rejected=0), "never backwards"
    assert not chiyoda.advance(RESIDENTS, 7, T0, applied=0, rejected=0), "never twice"
    assert chiyoda.advance(RESIDENTS, 12, T0 + timedelta(seconds=1), applied=4, rejected=1)
    assert (chiyoda.cursor(RESIDENTS), chiyoda.cursor(NON_RESIDENTS), chuo.cursor(RESIDENTS)) == (12, 0, 0)
    assert chuo.advance(RESIDENTS, 2, T0, applied=2, rejected=0)
    assert (chiyoda.cursor(RESIDENTS), chuo.cursor(RESIDENTS)) == (12, 2)


def test_concurrent_advances_keep_the_greatest_cursor(backend: Backend) -> None:
    """Two intake processes on one tenant (two engines): the cursor is the greatest any of them wrote."""
    other = backend.open()
    stores = [SqlIntakeStore(connection_source(s)).scoped(CHIYODA) for s in (backend.storage, other)]

    def advance(n: int) -> bool:
        return stores[n % 2].advance(RESIDENTS, n, T0, applied=1, rejected=0)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(advance, range(1, 101)))
    assert any(results)
    assert stores[0].cursor(RESIDENTS) == stores[1].cursor(RESIDENTS) == 100


def test_a_rejection_is_recorded_once_and_listed_newest_first(backend: Backend) -> None:
    log = SqlIntakeStore(connection_source(backend.storage)).scoped(CHIYODA)
    first = Rejection(CHIYODA, "ev-a", RESIDENTS, "masterdata.event.invalid", "change_date", T0)
    second = Rejection(
        CHIYODA, "ev-b", NON_RESIDENTS, "masterdata.intake.person_unknown", None, T0 + timedelta(1)
    )
    assert log.reject(first) and log.reject(second)
    assert not log.reject(first), "a re-read page records nothing again"
    assert log.rejections() == [second, first]
    assert log.rejections(limit=1) == [second]
    assert SqlIntakeStore(connection_source(backend.storage)).scoped(CHUO).rejections() == []
