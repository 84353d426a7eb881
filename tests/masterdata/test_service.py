"""The integrated DB's service on SQLite: bitemporal semantics, idempotency, validation, tenancy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from renkei.errors import RenkeiError
from renkei.japanese.checkdigit import individual_number_check_digit
from renkei.masterdata.errors import MasterDataError, TenantMismatch
from renkei.masterdata.models import NON_RESIDENT_TOPIC, ResidentClass, TenantCode
from renkei.masterdata.service import MasterData
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import TABLES, SqlMasterDataStore
from tests.masterdata.builders import (
    CHIYODA,
    CHUO,
    atena,
    household,
    later,
    non_resident,
    occurred,
    resident,
)
from tests.masterdata.conftest import Master

APRIL = date(2026, 4, 1)
MID_APRIL = date(2026, 4, 15)
MAY = date(2026, 5, 1)


@pytest.fixture
def m(master: Master) -> Master:
    return master


def _apply(m: Master, event_id: str, items: dict[str, Any], *, tenant: str = CHIYODA, hour: int = 10) -> Any:
    later(m.clock)
    day = date.fromisoformat(items["change_date"])
    return m.service.apply(tenant, event_id, items["change_reason"], items, occurred(day, hour))


def _name(m: Master, day: date, known_at: datetime | None = None, *, tenant: str = CHIYODA) -> str | None:
    found = m.service.person(tenant, atena(1), valid_at=day, known_at=known_at)
    return None if found is None else str(found.items["name"])


def _rows(m: Master) -> set[tuple[str, tuple[Any, ...]]]:
    with connection_source(m.storage)(False) as connection:
        return {(t.name, tuple(row)) for t in TABLES for row in connection.execute(select(t))}


# --- bitemporal semantics ---------------------------------------------------------------------------


def test_a_person_is_known_from_the_day_of_the_change_and_the_instant_it_was_recorded(m: Master) -> None:
    applied = _apply(m, "e1", resident(1, on=APRIL))
    assert (applied.duplicate, applied.added, applied.superseded) == (False, 1, 0)
    assert applied.recorded_at == m.clock.now()
    assert _name(m, APRIL) == "山田 花子"
    assert _name(m, APRIL - timedelta(days=1)) is None  # not yet true in the world
    assert _name(m, APRIL, applied.recorded_at - timedelta(microseconds=1)) is None  # not yet known
    found = m.service.person(CHIYODA, atena(1), valid_at=APRIL)
    assert found is not None
    assert found.resident_class is ResidentClass.RESIDENT and found.household_number == household(1)
    assert (found.valid_to, found.recorded_to, found.superseded_by) == (None, None, None)


def test_a_late_event_with_an_earlier_change_date_slots_into_the_past(m: Master) -> None:
    _apply(m, "moved-in", resident(1, on=APRIL))
    moved = _apply(m, "moved", resident(1, reason="301", on=MAY, address="東京都千代田区神田1-1"))
    # The 氏名変更 of 15 April arrives after the 転居 of 1 May was recorded.
    renamed = _apply(m, "renamed", resident(1, reason="306", on=MID_APRIL, name="鈴木 花子"))
    assert renamed.superseded == 1  # [1 Apr, 1 May) told by the 転入 is replaced by two shorter versions
    assert _name(m, date(2026, 4, 20)) == "鈴木 花子"
    assert _name(m, date(2026, 4, 20), moved.recorded_at) == "山田 花子"  # as known before it arrived
    assert _name(m, APRIL) == "山田 花子"
    may = m.service.person(CHIYODA, atena(1), valid_at=MAY)
    assert may is not None and may.items["address"] == "東京都千代田区神田1-1"
    history = m.service.history(CHIYODA, atena(1))
    closed = [v for v in history if v.recorded_to is not None]
    assert [(v.valid_from, v.valid_to, v.superseded_by) for v in closed] == [
        (APRIL, None, "moved"),
        (APRIL, MAY, "renamed"),
    ]
    believed = [(v.valid_from, v.valid_to, v.assertion.event_id) for v in history if v.recorded_to is None]
    assert believed == [(APRIL, MID_APRIL, "moved-in"), (MID_APRIL, MAY, "renamed"), (MAY, None, "moved")]


def test_a_correction_of_the_same_day_wins_whatever_order_the_events_arrive_in(m: Master) -> None:
    correction = resident(1, reason="310", on=APRIL, name="山田 華子")
    m.service.apply(CHIYODA, "fix", "310", correction, occurred(MAY))  # 誤記修正, decided in May
    m.service.apply(CHIYODA, "entry", "101", resident(1, on=APRIL), occurred(APRIL))  # the 転入 itself, late
    assert _name(m, APRIL) == "山田 華子"
    assert len(m.service.history(CHIYODA, atena(1))) == 1  # the late 転入 never held for any day


def test_a_later_correction_closes_the_recorded_interval_and_keeps_what_was_believed(m: Master) -> None:
    first = _apply(m, "entry", resident(1, on=APRIL, name="山田 花子"))
    later(m.clock)
    fixed = m.service.apply(
        CHIYODA, "fix", "310", resident(1, reason="310", on=APRIL, name="山田 華子"), occurred(MAY)
    )
    assert (fixed.added, fixed.superseded) == (1, 1)
    assert _name(m, APRIL) == "山田 華子"
    assert _name(m, APRIL, first.recorded_at) == "山田 花子"
    old, new = m.service.history(CHIYODA, atena(1))
    assert (old.recorded_from, old.recorded_to, old.superseded_by) == (
        first.recorded_at,
        fixed.recorded_at,
        "fix",
    )
    assert (new.recorded_from, new.recorded_to) == (fixed.recorded_at, None)


def test_nothing_is_updated_or_deleted(m: Master) -> None:
    seen = _rows(m)
    for number, items in enumerate(
        [
            resident(1, on=APRIL),
            resident(1, reason="301", on=MAY, address="東京都千代田区神田1-1"),
            resident(1, reason="306", on=MID_APRIL, name="鈴木 花子"),
            resident(1, reason="310", on=APRIL, name="山田 華子"),
            resident(1, reason="201", on=date(2026, 6, 1), status="3"),
        ]
    ):
        _apply(m, f"e{number}", items)
        now = _rows(m)
        assert seen < now  # every row there before is still there, unchanged; new rows were added
        seen = now


def test_recorded_time_never_runs_backwards_for_a_person(m: Master) -> None:
    one = m.service.apply(CHIYODA, "a", "101", resident(1, on=APRIL), occurred(APRIL))
    renamed = resident(1, reason="306", on=MAY, name="鈴木 花子")
    two = m.service.apply(CHIYODA, "b", "306", renamed, occurred(MAY))  # the same instant
    assert one.recorded_at == two.recorded_at
    assert _name(m, MAY) == "鈴木 花子"  # a read "now" sees both
    m.clock.set(m.clock.now() - timedelta(hours=1))
    moved = resident(1, reason="301", on=MAY, name="鈴木 花子", address="東京都千代田区神田1-1")
    three = m.service.apply(CHIYODA, "c", "301", moved, occurred(MAY, 11))
    assert three.recorded_at == two.recorded_at  # not an hour before what it corrects
    found = m.service.person(CHIYODA, atena(1), valid_at=MAY, known_at=three.recorded_at)
    assert found is not None and found.items["address"] == "東京都千代田区神田1-1"
    assert m.service.person(CHIYODA, atena(1), valid_at=MAY, known_at=m.clock.now()) is None


def test_valid_at_defaults_to_today_in_japan(m: Master) -> None:
    m.clock.set(datetime(2026, 3, 31, 15, 30, tzinfo=UTC))  # 1 April 00:30 in Japan
    m.service.apply(CHIYODA, "e1", "101", resident(1, on=APRIL), occurred(APRIL))
    assert m.service.today() == APRIL
    assert m.service.person(CHIYODA, atena(1)) is not None
    m.clock.set(datetime(2026, 3, 31, 14, 30, tzinfo=UTC))  # still 31 March in Japan
    assert m.service.person(CHIYODA, atena(1), known_at=datetime(2026, 4, 2, tzinfo=UTC)) is None


# --- idempotency ----------------------------------------------------------------------------------------


def test_the_same_event_again_changes_nothing(m: Master) -> None:
    first = _apply(m, "e1", resident(1, on=APRIL))
    rows = _rows(m)
    again = _apply(m, "e1", resident(1, on=APRIL))
    assert again.duplicate and (again.added, again.superseded) == (0, 0)
    assert again.recorded_at == first.recorded_at
    assert _rows(m) == rows


def test_the_same_event_id_with_other_content_is_refused(m: Master) -> None:
    _apply(m, "e1", resident(1, on=APRIL))
    rows = _rows(m)
    with pytest.raises(RenkeiError) as raised:
        _apply(m, "e1", resident(1, on=APRIL, name="別人"))
    assert (raised.value.code, raised.value.http_status) == ("masterdata.event.conflict", 409)
    with pytest.raises(RenkeiError) as other_person:
        _apply(m, "e1", resident(2, on=APRIL))
    assert other_person.value.code == "masterdata.event.conflict"
    assert _rows(m) == rows


# --- households and the 住登外 master ---------------------------------------------------------------


def test_a_household_lists_its_members_as_of_a_day(m: Master) -> None:
    _apply(m, "p1", resident(1, on=APRIL, home=1))
    _apply(m, "p2", resident(2, on=APRIL, home=1, name="山田 太郎"))
    _apply(m, "p3", resident(3, on=APRIL, home=2, name="田中 次郎"))
    # 2 is leaving: 転出予定者 until 1 May, 転出者 from then (the 転出's 異動日 is the planned date).
    _apply(m, "p2-notice", resident(2, reason="201", on=MID_APRIL, home=1, status="2", name="山田 太郎"))
    _apply(m, "p2-out", resident(2, reason="201", on=MAY, home=1, status="3", name="山田 太郎"))
    # 3 joins household 1 on 15 April (世帯合併).
    _apply(m, "p3-join", resident(3, reason="303", on=MID_APRIL, home=1, name="田中 次郎"))

    def members(day: date, number: int = 1) -> list[str]:
        return [v.atena_number for v in m.service.household(CHIYODA, household(number), valid_at=day)]

    assert members(APRIL) == [atena(1), atena(2)]
    assert members(MID_APRIL) == [atena(1), atena(2), atena(3)]
    assert members(MAY) == [atena(1), atena(3)]
    assert members(APRIL, 2) == [atena(3)] and members(MAY, 2) == []
    assert members(date(2026, 3, 1)) == []


def test_the_non_resident_master_takes_its_own_topic(m: Master) -> None:
    registered = non_resident(500, on=date(2026, 2, 1))
    m.service.apply(CHIYODA, "n1", "01", registered, occurred(date(2026, 2, 1)), topic=NON_RESIDENT_TOPIC)
    died = non_resident(500, on=date(2026, 6, 30), status="2", death_date="2026-06-20")
    m.service.apply(CHIYODA, "n2", "04", died, occurred(date(2026, 6, 30)), topic=NON_RESIDENT_TOPIC)
    alive = m.service.person(CHIYODA, atena(500), valid_at=date(2026, 6, 19))
    dead = m.service.person(CHIYODA, atena(500), valid_at=date(2026, 6, 20))  # valid from the death date
    assert alive is not None and alive.resident_class is ResidentClass.NON_RESIDENT
    assert alive.household_number is None and alive.assertion.active
    assert dead is not None and dead.items["non_resident_status"] == "2" and not dead.assertion.active


# --- what the master refuses --------------------------------------------------------------------------


def _refused(master: MasterData, items: Any, **kwargs: Any) -> RenkeiError:
    arguments: dict[str, Any] = {
        "tenant": CHIYODA,
        "event_id": "bad",
        "event_type": "101",
        "items": items,
        "occurred": occurred(APRIL),
    } | kwargs
    with pytest.raises(RenkeiError) as raised:
        master.apply(**arguments)
    return raised.value


@pytest.mark.parametrize(
    ("items", "kwargs", "code", "field"),
    [
        (resident(1), {"topic": "income-changes"}, "masterdata.event.invalid", "topic"),
        (resident(1), {"event_type": "01"}, "masterdata.event.invalid", "event_type"),
        (resident(1, reason="301"), {}, "masterdata.event.invalid", "change_reason"),
        (
            {k: v for k, v in resident(1).items() if k != "change_date"},
            {},
            "masterdata.event.invalid",
            "change_date",
        ),
        ({k: v for k, v in resident(1).items() if k != "name"}, {}, "masterdata.event.invalid", "items"),
        (resident(1, my_number="0"), {}, "masterdata.event.invalid", "my_number"),
        (resident(1, birth_date="1990-02-30"), {}, "masterdata.event.invalid", "birth_date"),
        (resident(1, sex="9"), {}, "masterdata.event.invalid", "sex"),
        (resident(1, atena_number="000000000000010"), {}, "masterdata.event.invalid", "atena_number"),
        (resident(1, household_number="900000000000010"), {}, "masterdata.event.invalid", "household_number"),
        (resident(1, address="東京都\x00千代田区"), {}, "masterdata.event.invalid", "address"),
        (["not", "a", "mapping"], {}, "masterdata.event.invalid", "items"),
        (resident(1), {"occurred": datetime(2026, 4, 1, 10)}, "masterdata.event.invalid", "occurred"),
        (resident(1), {"event_id": "two words"}, "masterdata.event.invalid", "event_id"),
        (resident(1), {"event_id": "x" * 129}, "masterdata.event.invalid", "event_id"),
        (resident(1), {"tenant": "131017"}, "masterdata.tenant.invalid", None),
        (resident(1), {"tenant": "13101"}, "masterdata.tenant.invalid", None),
        (resident(1), {"publisher": "JP/LG/131024/u01"}, "masterdata.tenant.mismatch", None),
        (resident(1), {"publisher": "JP/COM/9234567890123/u01"}, "masterdata.tenant.mismatch", None),
        (resident(1), {"publisher": "not a member"}, "masterdata.event.invalid", "publisher"),
    ],
)
def test_bad_events_are_refused_with_a_typed_error_and_nothing_is_written(
    m: Master, items: Any, kwargs: dict[str, Any], code: str, field: str | None
) -> None:
    before = _rows(m)
    error = _refused(m.service, items, **kwargs)
    assert error.code == code
    if field is not None:
        assert error.detail["field"] == field
    assert _rows(m) == before
    # The error names the item and the rule, never a personal value that was sent.
    said = f"{error.message} {error.detail}"
    for value in ("山田", "千代田区千代田", "1990-02-30", "1990-05-01"):
        assert value not in said


def test_an_individual_number_anywhere_is_refused_without_being_echoed(m: Master) -> None:
    number = "12345678901" + individual_number_check_digit("12345678901")
    for place in ("address", "name", "address_extra"):
        extra: dict[str, Any] = {place: f"東京都千代田区 {number}"}
        error = _refused(m.service, resident(1, **extra))
        assert (error.code, error.detail["field"], error.http_status) == (
            "masterdata.event.individual_number",
            place,
            400,
        )
        assert number not in f"{error.message} {error.detail}"
    assert _rows(m) == set()


def test_a_publisher_of_the_tenant_is_accepted_and_kept(m: Master) -> None:
    m.service.apply(CHIYODA, "e1", "101", resident(1), occurred(APRIL), publisher="JP/LG/131016/u01")
    event = m.service.event(CHIYODA, "e1")
    assert event is not None and event.publisher == "JP/LG/131016/u01"


def test_a_person_fugo_in_the_items_is_dropped_not_stored(m: Master) -> None:
    m.service.apply(CHIYODA, "e1", "101", resident(1, person_fugo="F" * 43), occurred(APRIL))
    found = m.service.person(CHIYODA, atena(1), valid_at=APRIL)
    assert found is not None and "person_fugo" not in found.items


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.person(CHIYODA, "123"), "atena_number"),
        (lambda s: s.person(CHIYODA, "000000000000010"), "atena_number"),
        (lambda s: s.history(CHIYODA, "abc"), "atena_number"),
        (lambda s: s.household(CHIYODA, "900000000000010"), "household_number"),
        (lambda s: s.person(CHIYODA, atena(1), known_at=datetime(2026, 4, 1)), "known_at"),
    ],
)
def test_bad_reads_are_refused(m: Master, call: Any, field: str) -> None:
    with pytest.raises(RenkeiError) as raised:
        call(m.service)
    assert (raised.value.code, raised.value.detail["field"]) == ("masterdata.query.invalid", field)


# --- tenancy ----------------------------------------------------------------------------------------------


def test_tenants_do_not_see_each_other(m: Master) -> None:
    _apply(m, "e1", resident(1, on=APRIL, name="千代田 花子"))
    _apply(m, "e1", resident(1, on=APRIL, name="中央 花子"), tenant=CHUO)  # same id, other municipality
    _apply(m, "e2", resident(1, reason="306", on=MAY, name="千代田 華子"))
    assert _name(m, MAY) == "千代田 華子"
    assert _name(m, MAY, tenant=CHUO) == "中央 花子"
    assert len(m.service.history(CHUO, atena(1))) == 1
    assert [v.atena_number for v in m.service.household(CHUO, household(1), valid_at=MAY)] == [atena(1)]
    assert m.service.event(CHUO, "e2") is None
    assert m.service.person("271276", atena(1), valid_at=MAY) is None  # a tenant with no data at all


def test_the_store_refuses_a_row_of_another_tenant(m: Master) -> None:
    store = SqlMasterDataStore(connection_source(m.storage))
    m.service.apply(CHUO, "e1", "101", resident(1), occurred(APRIL))
    theirs = m.service.event(CHUO, "e1")
    assert theirs is not None
    before = _rows(m)
    with (
        pytest.raises(TenantMismatch) as raised,
        store.scoped(TenantCode(CHIYODA)).writing(atena(1)) as writer,
    ):
        writer.add_assertion(theirs)
    assert raised.value.code == "masterdata.tenant.mismatch"
    with pytest.raises(MasterDataError), store.scoped(TenantCode(CHIYODA)).writing(atena(1)) as writer:
        writer.supersede([0], m.clock.now(), "e1")  # CHUO's version 0 of this 宛名番号 is not CHIYODA's
    assert _rows(m) == before


def test_a_scope_needs_a_tenant_code(m: Master) -> None:
    store = SqlMasterDataStore(connection_source(m.storage))
    with pytest.raises(TenantMismatch):
        store.scoped(TenantCode("13101' OR '1'='1"))
