"""The integrated DB's store on both backends: the reference model, tenancy, append-only, concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import renkei.storage.sql.masterdata  # noqa: F401  registers the tables until schema.py imports them
from renkei.errors import RenkeiError
from renkei.masterdata.models import Applied, TenantCode
from renkei.masterdata.service import MasterData
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock, SystemClock
from renkei.storage.ports import Storage
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import TABLES, SqlMasterDataStore
from tests.contract.backends import Backend, examples
from tests.masterdata.builders import CHIYODA, CHUO, atena, fresh_tenant, household, occurred, resident
from tests.masterdata.reference import Step, run_and_compare, steps

T0 = datetime(2026, 4, 1, tzinfo=UTC)
APRIL = date(2026, 4, 1)
WRITERS = 8


def _master(storage: Storage, spec: Spec, clock: Any) -> MasterData:
    return MasterData(SqlMasterDataStore(connection_source(storage)), spec, clock)


def _rows(storage: Storage) -> set[tuple[str, tuple[Any, ...]]]:
    with connection_source(storage)(False) as connection:
        return {(t.name, tuple(row)) for t in TABLES for row in connection.execute(select(t))}


@settings(examples, max_examples=20)
@given(plan=st.lists(steps, min_size=1, max_size=10))
def test_as_of_reads_agree_with_the_reference_model(backend: Backend, spec: Spec, plan: list[Step]) -> None:
    clock = FixedClock(T0)
    run_and_compare(_master(backend.storage, spec, clock), clock, fresh_tenant(), plan)


def test_tenants_are_kept_apart_and_rows_are_only_added(backend: Backend, spec: Spec) -> None:
    clock = FixedClock(T0)
    master = _master(backend.storage, spec, clock)
    seen = _rows(backend.storage)
    for tenant, name in ((CHIYODA, "千代田 花子"), (CHUO, "中央 花子")):
        clock.advance(timedelta(seconds=1))
        master.apply(tenant, "e1", "101", resident(1, name=name), occurred(APRIL))
        now = _rows(backend.storage)
        assert seen < now
        seen = now
    clock.advance(timedelta(seconds=1))
    renamed = resident(1, reason="306", on=date(2026, 3, 1), name="千代田 華子")  # late, earlier 異動日
    master.apply(CHIYODA, "e2", "306", renamed, occurred(date(2026, 3, 1)))
    assert seen < _rows(backend.storage)
    chiyoda = master.person(CHIYODA, atena(1), valid_at=APRIL)
    chuo = master.person(CHUO, atena(1), valid_at=APRIL)
    assert chiyoda is not None and chiyoda.items["name"] == "千代田 花子"
    assert chuo is not None and chuo.items["name"] == "中央 花子"
    march = master.person(CHIYODA, atena(1), valid_at=date(2026, 3, 15))
    assert march is not None and march.items["name"] == "千代田 華子"
    assert master.person(CHUO, atena(1), valid_at=date(2026, 3, 15)) is None
    assert [v.atena_number for v in master.household(CHUO, household(1), valid_at=APRIL)] == [atena(1)]
    assert len(master.history(CHIYODA, atena(1))) == 2 and len(master.history(CHUO, atena(1))) == 1


def test_the_store_refuses_another_tenants_row(backend: Backend, spec: Spec) -> None:
    master = _master(backend.storage, spec, FixedClock(T0))
    master.apply(CHUO, "e1", "101", resident(1), occurred(APRIL))
    theirs = master.event(CHUO, "e1")
    assert theirs is not None
    before = _rows(backend.storage)
    store = SqlMasterDataStore(connection_source(backend.storage))
    with pytest.raises(RenkeiError) as raised, store.scoped(TenantCode(CHIYODA)).writing(atena(1)) as writer:
        writer.add_assertion(theirs)
    assert raised.value.code == "masterdata.tenant.mismatch"
    assert _rows(backend.storage) == before
    assert store.scoped(TenantCode(CHIYODA)).event("e1") is None


def test_concurrent_events_for_one_person_are_all_applied_once(backend: Backend, spec: Spec) -> None:
    # Two storages: two engines and pools, as two hub processes applying deliveries would have.
    masters = [_master(backend.storage, spec, SystemClock()), _master(backend.open(), spec, SystemClock())]
    barrier = threading.Barrier(WRITERS)
    days = [APRIL + timedelta(days=10 * i) for i in range(WRITERS)]

    def apply(i: int) -> list[Applied | RenkeiError]:
        barrier.wait(timeout=30)
        results: list[Applied | RenkeiError] = []
        items = resident(1, reason="301", on=days[i], address=f"東京都千代田区{i}番")
        # Each event twice (a redelivery), and one id reused by another person: a conflict.
        for event_id, body in ((f"e{i}", items), (f"e{i}", items), ("shared", resident(2 + i % 2))):
            try:
                results.append(
                    masters[i % 2].apply(
                        CHIYODA, event_id, "301" if body is items else "101", body, occurred(days[i])
                    )
                )
            except RenkeiError as error:
                results.append(error)
        return results

    with ThreadPoolExecutor(WRITERS) as pool:
        outcomes = [r for rs in pool.map(apply, range(WRITERS)) for r in rs]
    applied = [r for r in outcomes if isinstance(r, Applied) and not r.duplicate]
    duplicates = [r for r in outcomes if isinstance(r, Applied) and r.duplicate]
    errors = [r for r in outcomes if isinstance(r, RenkeiError)]
    assert {r.event_id for r in applied} == {f"e{i}" for i in range(WRITERS)} | {"shared"}
    assert len(applied) == WRITERS + 1
    assert {e.code for e in errors} <= {"masterdata.event.conflict"}
    assert len(duplicates) + len(errors) == 2 * WRITERS - 1
    history = masters[0].history(CHIYODA, atena(1))
    believed = sorted((v for v in history if v.recorded_to is None), key=lambda v: v.valid_from)
    assert [v.valid_from for v in believed] == days
    assert [v.valid_to for v in believed] == [*days[1:], None]
    for i, day in enumerate(days):
        found = masters[1].person(CHIYODA, atena(1), valid_at=day)
        assert found is not None and found.items["address"] == f"東京都千代田区{i}番"
