"""The integrated DB fed through the hub: a real NotificationHub (uvicorn on loopback, SQLite and
PostgreSQL) takes 住民異動 events from a signed 住基 over HTTP; the tenant's 統合DB subscriber reads its 差分
feed in-process through the hub's own authentication and authorisation; the master answers as of any date."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renkei.errors import RenkeiError
from renkei.exchange.notifications.models import DeliveryMode
from renkei.identity.keys import MemoryKeyStore
from renkei.identity.models import BasicInfo, Sex
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService
from renkei.japanese.checkdigit import generate_atena_number
from renkei.masterdata.errors import IntakeNotEnrolled, IntakeUnitTaken
from renkei.masterdata.intake import (
    INTAKE_NAME,
    INTAKE_PURPOSE,
    INTAKE_UNIT,
    IntakeReport,
    MasterDataIntake,
    enrol_intake,
    enrolled_subscribers,
    intake_lifespan,
    open_intakes,
)
from renkei.masterdata.models import TenantCode
from renkei.masterdata.ports import Feed, Rejection, TenantIntake
from renkei.masterdata.service import MasterData
from renkei.registry.identifiers import MemberId
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.masterdata import SqlIntakeStore, SqlMasterDataStore
from renkei.storage.sql.tenantscope import Offences
from tests.exchange.notifications_harness import (
    CHIYODA,
    CHUO,
    PUBLISHER,
    Person,
    World,
    database,
    event,
    running_world,
)
from tests.masterdata.test_tenant_scoping import capture

CHIYODA_CODE = "131016"
CHUO_CODE = "131024"
INTAKE = f"{CHIYODA}/u09"
FEED = Feed(INTAKE, PUBLISHER, "resident-changes")
_people = itertools.count(100)


@dataclass
class Fed:
    """A hub world plus the integrated DB on the same database, and where the subscribers' keys live."""

    world: World
    masterdata: MasterData
    store: SqlIntakeStore
    keys: Path

    def enrol(self, tenant: str = CHIYODA_CODE) -> MemberId:
        return enrol_intake(self.world.registry, self.world.hub, tenant, self.keys).member

    def intake(self, tenant: str = CHIYODA_CODE, **options: int) -> MasterDataIntake:
        member = MemberId.parse(f"JP/LG/{tenant}/u09")
        w = self.world
        return MasterDataIntake.open(
            self.masterdata, w.hub, w.registry, w.linkage, self.store, member, self.keys, **options
        )

    def publish(self, *events: dict[str, Any], who: str = PUBLISHER) -> list[dict[str, Any]]:
        response = self.world.publish({"events": list(events)}, who=who)
        assert response.status_code in (200, 202), response.text
        accepted: list[dict[str, Any]] = response.json()["accepted"]
        return accepted

    def new_person(self, org: str = CHIYODA) -> Person:
        """A person enrolled in the linkage base with a fresh 宛名番号 of ``org``."""
        source = connection_source(self.world.storage)
        identity = IdentityService(
            SqlIdentityRepository(source), NumberCodec(MemoryKeyStore()), SystemClock()
        )
        n = next(_people)
        key = identity.enrol(BasicInfo(f"試験 {n}", "東京都千代田区", date(1980, 1, 1), Sex.MALE)).person_key
        atena = generate_atena_number(f"{n:014d}")
        self.world.linkage.register_local_id(org, atena, key)
        return Person(key, atena, self.world.persons["a"].household, f"試験 {n}")


def _fed(world: World, spec: Spec, keys: Path) -> Fed:
    source = connection_source(world.storage)
    masterdata = MasterData(SqlMasterDataStore(source), spec, world.clock)
    return Fed(world, masterdata, SqlIntakeStore(source), keys)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def fed(request: pytest.FixtureRequest, tmp_path: Path, spec: Spec) -> Iterator[Fed]:
    with (
        database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url,
        running_world(url, spec, SystemClock(), worker=False) as world,
    ):
        yield _fed(world, spec, tmp_path / "intake-keys")


def change(
    person: Person,
    reason: str,
    on: date,
    *,
    occurred: datetime,
    event_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A 住民異動 event of ``person`` (its record after the change, 異動日 ``on``)."""
    items = {"change_reason": reason, "change_date": on.isoformat(), "notification_date": on.isoformat()}
    built = event(person, reason, data={**items, **data})
    built["occurred_at"] = occurred.isoformat()
    if event_id is not None:
        built["event_id"] = event_id
    return built


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


APR1, APR20, MAY10, JUN1 = date(2026, 4, 1), date(2026, 4, 20), date(2026, 5, 10), date(2026, 6, 1)


# --- enrolment ----------------------------------------------------------------------------------------


def test_enrolment_registers_a_member_its_key_a_purpose_and_poll_subscriptions_once(fed: Fed) -> None:
    first = enrol_intake(fed.world.registry, fed.world.hub, CHIYODA_CODE, fed.keys)
    assert str(first.member) == INTAKE and first.member.unit == INTAKE_UNIT
    assert (first.members, first.key_files, first.purposes, first.subscriptions) == (1, 2, 1, 2)
    again = enrol_intake(fed.world.registry, fed.world.hub, CHIYODA_CODE, fed.keys)
    assert not again.changed, "a second enrolment changes nothing"
    subscriptions = fed.world.hub.subscriptions(subscriber=INTAKE)
    assert {(s.topic, s.mode, s.url, s.purpose, s.source) for s in subscriptions} == {
        ("resident-changes", DeliveryMode.POLL, None, INTAKE_PURPOSE, CHIYODA),
        ("non-resident-changes", DeliveryMode.POLL, None, INTAKE_PURPOSE, CHIYODA),
    }
    assert fed.world.registry.member(INTAKE).name == INTAKE_NAME
    assert enrolled_subscribers(fed.world.hub) == [first.member]
    key = fed.keys / "LG-131016-u09" / "member.key"
    assert key.stat().st_mode & 0o777 == 0o600
    key.unlink()  # a lost key: renewed, not a second member
    renewed = enrol_intake(fed.world.registry, fed.world.hub, CHIYODA_CODE, fed.keys)
    assert (renewed.members, renewed.key_files) == (0, 2) and key.exists()
    # u06 is 千代田区's 個人住民税 system: the 統合DB never takes over another system's member id.
    with pytest.raises(IntakeUnitTaken):
        enrol_intake(fed.world.registry, fed.world.hub, CHIYODA_CODE, fed.keys, unit=6)
    with pytest.raises(RenkeiError) as unknown:
        enrol_intake(fed.world.registry, fed.world.hub, "011002", fed.keys)  # 札幌市: not registered
    assert unknown.value.code == "registry.organisation.unknown"


def test_an_intake_without_enrolment_or_key_is_refused(fed: Fed) -> None:
    with pytest.raises(IntakeNotEnrolled):
        fed.intake()
    fed.enrol()
    fed.world.hub.unsubscribe(INTAKE, "resident-changes")
    fed.world.hub.unsubscribe(INTAKE, "non-resident-changes")
    with pytest.raises(IntakeNotEnrolled):
        fed.intake().run_once()


# --- the feed applied -----------------------------------------------------------------------------------


def test_events_through_the_hub_become_versions_as_of_any_date(fed: Fed) -> None:
    fed.enrol()
    a, b = fed.world.persons["a"], fed.world.persons["b"]
    intake = fed.intake()
    published = fed.publish(
        change(a, "101", APR1, occurred=at(APR1), event_id="j-1", address="東京都千代田区一番町1"),
        change(b, "101", APR1, occurred=at(APR1), event_id="j-2"),
        change(a, "301", MAY10, occurred=at(MAY10), event_id="j-3", address="東京都千代田区三番町3"),
        change(
            a,
            "306",
            JUN1,
            occurred=at(JUN1),
            event_id="j-4",
            address="東京都千代田区三番町3",
            name="鈴木 花子",
        ),
    )
    first = intake.run_once()
    assert (first.read, first.applied, first.duplicates, first.rejected, first.failures) == (4, 4, 0, 0, [])
    believed_before_late = fed.world.clock.now()
    # A late 転居 with an earlier 異動日, and the 住基 re-sending j-3 (the hub answers it as a duplicate).
    late = change(a, "301", APR20, occurred=at(APR20), event_id="j-5", address="東京都千代田区二番町2")
    again = change(a, "301", MAY10, occurred=at(MAY10), event_id="j-3", address="東京都千代田区三番町3")
    accepted = fed.publish(late, again)
    assert [x["duplicate"] for x in accepted] == [False, True]
    second = intake.run_once()
    assert (second.read, second.applied, second.duplicates) == (1, 1, 0)
    assert intake.run_once() == IntakeReport(TenantCode(CHIYODA_CODE), feeds=1), "nothing new: no page read"

    def seen(day: date, known_at: datetime | None = None) -> tuple[str, str] | None:
        found = fed.masterdata.person(CHIYODA_CODE, a.atena, valid_at=day, known_at=known_at)
        return (
            None
            if found is None
            else (str(found.assertion.items["name"]), str(found.assertion.items["address"]))
        )

    assert seen(date(2026, 3, 31)) is None, "not a resident before the 転入"
    assert seen(date(2026, 4, 5)) == (a.name, "東京都千代田区一番町1")
    assert seen(date(2026, 4, 25)) == (a.name, "東京都千代田区二番町2"), "the late 転居 slotted into the past"
    assert seen(date(2026, 4, 25), believed_before_late) == (a.name, "東京都千代田区一番町1")
    assert seen(date(2026, 5, 15)) == (a.name, "東京都千代田区三番町3")
    assert seen(date(2026, 6, 2)) == ("鈴木 花子", "東京都千代田区三番町3")
    history = fed.masterdata.history(CHIYODA_CODE, a.atena)
    a_events = {published[i]["event_id"] for i in (0, 2, 3)} | {accepted[0]["event_id"]}
    assert {v.assertion.event_id for v in history} == a_events, "a's four events, by the hub's ids"
    assert all(v.assertion.publisher == PUBLISHER for v in history)
    assert fed.masterdata.person(CHIYODA_CODE, b.atena, valid_at=APR20) is not None
    # The hub-side facts: every feed read recorded at both ends, nothing more for applying.
    records = [r for r in fed.world.access_records() if r["requester"]["member"] == INTAKE]
    assert len(records) == 2 * 5
    assert {(r["side"], r["provider"]["member"], r["purpose"]) for r in records} == {
        ("requester", PUBLISHER, INTAKE_PURPOSE),
        ("provider", PUBLISHER, INTAKE_PURPOSE),
    }
    assert len(fed.world.access_records()) == 10, "applying to the master writes no access record of its own"
    assert intake.cursor(FEED) == fed.world.store.last_sequence()


def test_a_restart_continues_from_the_cursor_and_a_crash_before_it_applies_nothing_twice(fed: Fed) -> None:
    fed.enrol()
    people = [fed.world.persons[k] for k in "abc"]
    events = [
        change(p, "101", APR1 + timedelta(days=i), occurred=at(APR1 + timedelta(days=i)), event_id=f"r-{i}")
        for i, p in enumerate(people * 2)
    ]
    ids = [x["event_id"] for x in fed.publish(*events)]
    one_page = fed.intake(page_size=2, max_pages=1).run_once()
    assert (one_page.read, one_page.applied, one_page.pages) == (2, 2, 1)
    assert fed.intake().cursor(FEED) == 2

    class CrashBeforeCursor(SqlIntakeStore):
        """The real store, whose cursor write fails once: the crash between apply and cursor."""

        def scoped(self, tenant: TenantCode) -> Any:
            real = super().scoped(tenant)

            class Scoped:
                def __getattr__(self, name: str) -> Any:
                    return getattr(real, name)

                def advance(self, *args: Any, **kwargs: Any) -> bool:
                    raise OSError("disk gone")

            return Scoped()

    w = fed.world
    member = MemberId.parse(INTAKE)
    crashing = MasterDataIntake.open(
        fed.masterdata,
        w.hub,
        w.registry,
        w.linkage,
        CrashBeforeCursor(connection_source(w.storage)),
        member,
        fed.keys,
        page_size=2,
    )
    with pytest.raises(OSError, match="disk gone"):
        crashing.run_once()
    assert fed.intake().cursor(FEED) == 2, "the page was applied but its cursor never written"
    restarted = fed.intake(page_size=2).run_once()  # a new process on the same database
    assert (restarted.read, restarted.duplicates, restarted.applied) == (4, 2, 2)
    assert fed.intake().cursor(FEED) == 6
    for hub_id in ids:
        assert fed.masterdata.event(CHIYODA_CODE, hub_id) is not None
    assertions = [v.assertion.event_id for p in people for v in fed.masterdata.history(CHIYODA_CODE, p.atena)]
    assert sorted(set(assertions)) == sorted(ids)


def test_another_municipalitys_events_never_land_in_this_tenant(fed: Fed) -> None:
    w = fed.world
    chuo_juki = f"{CHUO}/u01"
    w.members[chuo_juki] = w.registry.enrol(CHUO, 1)
    fed.enrol(CHIYODA_CODE)
    fed.enrol(CHUO_CODE)
    a = w.persons["a"]
    chuo_atena = generate_atena_number(f"{900:014d}")  # a's 宛名番号 at 中央区 (the harness registers it)
    chuo_a = Person(a.key, chuo_atena, a.household, a.name)
    fed.publish(change(a, "101", APR1, occurred=at(APR1), address="東京都千代田区一番町1"))
    fed.publish(change(chuo_a, "101", MAY10, occurred=at(MAY10), address="東京都中央区銀座1"), who=chuo_juki)
    intakes = open_intakes(fed.masterdata, w.hub, w.registry, w.linkage, fed.store, fed.keys)
    assert [i.tenant for i in intakes] == [CHIYODA_CODE, CHUO_CODE]
    assert [i.run_once().applied for i in intakes] == [1, 1]
    day = date(2026, 6, 1)
    chiyoda = fed.masterdata.person(CHIYODA_CODE, a.atena, valid_at=day)
    chuo = fed.masterdata.person(CHUO_CODE, chuo_atena, valid_at=day)
    assert chiyoda is not None and chiyoda.assertion.items["address"] == "東京都千代田区一番町1"
    assert chuo is not None and chuo.assertion.items["address"] == "東京都中央区銀座1"
    assert chuo.assertion.publisher == chuo_juki
    assert fed.masterdata.person(CHIYODA_CODE, chuo_atena, valid_at=day) is None
    assert fed.masterdata.person(CHUO_CODE, a.atena, valid_at=day) is None
    # Pointing 千代田区's subscription at 中央区 reads nothing: the intake reads its own organisation only.
    w.hub.subscribe(INTAKE, "resident-changes", mode="poll", purpose=INTAKE_PURPOSE, source=CHUO)
    fed.publish(change(chuo_a, "301", JUN1, occurred=at(JUN1), address="東京都中央区銀座2"), who=chuo_juki)
    chiyoda_intake = fed.intake()
    assert all(f.publisher.startswith(CHIYODA + "/") for f in chiyoda_intake.feeds())
    assert chiyoda_intake.run_once().read == 0
    assert fed.masterdata.history(CHIYODA_CODE, chuo_atena) == []


def test_a_refused_event_is_skipped_with_a_record_and_the_persons_later_events_go_on(fed: Fed) -> None:
    fed.enrol()
    b = fed.world.persons["b"]
    good = change(b, "101", APR1, occurred=at(APR1), event_id="b-1")
    bad = event(
        b, "301", data={"address": "東京都千代田区四番町4"}
    )  # the hub takes it; no 異動日 (change_date)
    del bad["data"]["change_date"]
    bad["occurred_at"] = at(APR20).isoformat()
    later = change(b, "306", JUN1, occurred=at(JUN1), event_id="b-3", name="佐藤 次郎")
    ids = [x["event_id"] for x in fed.publish(good, bad, later)]
    report = fed.intake(page_size=1).run_once()
    assert (report.read, report.applied, report.rejected, report.failures) == (3, 2, 1, [])
    rejections = fed.intake().rejections()
    assert len(rejections) == 1
    rejected = rejections[0]
    assert (rejected.event_id, rejected.code, rejected.field) == (
        ids[1],
        "masterdata.event.invalid",
        "change_date",
    )
    assert rejected.feed == FEED and rejected.tenant == CHIYODA_CODE
    after = fed.masterdata.person(CHIYODA_CODE, b.atena, valid_at=date(2026, 6, 2))
    assert after is not None and after.assertion.items["name"] == "佐藤 次郎", "not held behind the refusal"
    assert fed.masterdata.event(CHIYODA_CODE, ids[1]) is None
    assert fed.intake().cursor(FEED) == 3
    assert fed.intake().run_once().read == 0, "the refused event is not read again"


def test_a_refused_feed_read_moves_nothing_and_is_retried(fed: Fed) -> None:
    fed.enrol()
    fed.publish(change(fed.world.persons["a"], "101", APR1, occurred=at(APR1)))
    intake = fed.intake()
    # The 統合DB's key is revoked: the hub refuses the read (401); the cursor stays, the next pass retries.
    credential = fed.world.registry.credentials(INTAKE)[0]
    fed.world.registry.revoke(credential.kid)
    report = intake.run_once()
    assert report.read == 0 and len(report.failures) == 1
    assert "masterdata.intake.feed_failed (exchange.client.unauthenticated)" in report.failures[0]
    assert intake.cursor(FEED) == 0
    (fed.keys / "LG-131016-u09" / "member.key").unlink()
    assert fed.enrol() == MemberId.parse(INTAKE)  # a new key for the same member
    assert fed.intake().run_once().applied == 1
    assert fed.intake().cursor(FEED) == 1


# --- order, across random interleavings -------------------------------------------------------------------

DAYS = [date(2026, 4, 1) + timedelta(days=7 * i) for i in range(6)]
plans = st.tuples(
    st.permutations(list(range(5))),  # publish order of the five events
    st.lists(st.integers(0, 5), max_size=3),  # after how many publishes the intake runs (besides the end)
    st.integers(1, 3),  # page size
    st.integers(0, 4),  # which event the 住基 sends twice
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans)
def test_any_publish_order_and_paging_gives_the_same_valid_time_line(
    sqlite_fed: Fed, plan: tuple[list[int], list[int], int, int]
) -> None:
    order, runs, page_size, twice = plan
    person = sqlite_fed.new_person()
    tag = person.atena[-6:]
    events = [
        change(
            person,
            "101" if i == 0 else "301",
            DAYS[i],
            occurred=at(DAYS[i]),
            event_id=f"h-{tag}-{i}",
            address=f"東京都千代田区{i + 1}番町",
        )
        for i in range(5)
    ]
    intake = sqlite_fed.intake(page_size=page_size)
    hub_ids: dict[int, str] = {}
    for n, i in enumerate(order, start=1):
        hub_ids[i] = sqlite_fed.publish(events[i])[0]["event_id"]
        if i == twice:
            assert sqlite_fed.publish(events[i])[0]["duplicate"] is True
        if n in runs:
            intake.run_once()
    intake.run_once()
    for day in [date(2026, 3, 31), *DAYS, *(d + timedelta(days=3) for d in DAYS)]:
        found = sqlite_fed.masterdata.person(CHIYODA_CODE, person.atena, valid_at=day)
        expected = max((i for i in range(5) if DAYS[i] <= day), default=None)
        if expected is None:
            assert found is None
        else:
            assert found is not None and found.assertion.event_id == hub_ids[expected], (day, plan)
    assert {v.assertion.event_id for v in sqlite_fed.masterdata.history(CHIYODA_CODE, person.atena)} == set(
        hub_ids.values()
    )


@pytest.fixture(scope="module")
def sqlite_fed(tmp_path_factory: pytest.TempPathFactory, spec: Spec) -> Iterator[Fed]:
    """One hub world on SQLite shared by the property's examples (each example uses a fresh person)."""
    tmp = tmp_path_factory.mktemp("intake-property")
    with running_world(f"sqlite:///{tmp / 'hub.db'}", spec, SystemClock(), worker=False) as world:
        made = _fed(world, spec, tmp / "keys")
        made.enrol()
        yield made


# --- running in the background, and the tenant guard --------------------------------------------------------


def test_the_lifespan_takes_events_as_they_are_published(fed: Fed) -> None:
    fed.enrol()
    a = fed.world.persons["a"]

    async def scenario() -> None:
        async with intake_lifespan([fed.intake()], interval=0.05):
            await asyncio.to_thread(fed.publish, change(a, "101", APR1, occurred=at(APR1)))
            for _ in range(200):
                if fed.masterdata.person(CHIYODA_CODE, a.atena, valid_at=APR20) is not None:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("the intake did not take the event")

    asyncio.run(scenario())


def test_the_intake_bookkeeping_is_scoped_to_its_tenant(fed: Fed) -> None:
    offences = Offences()
    scope = [CHIYODA_CODE]
    now = fed.world.clock.now()
    with capture(scope, offences):
        for tenant in (CHIYODA_CODE, CHUO_CODE):
            scope[0] = tenant
            log: TenantIntake = fed.store.scoped(TenantCode(tenant))
            assert log.cursor(FEED) == 0
            assert log.advance(FEED, 5, now, applied=5, rejected=0)
            assert not log.advance(FEED, 5, now, applied=0, rejected=0), "never backwards or twice"
            assert log.cursor(FEED) == 5
            rejection = Rejection(
                TenantCode(tenant), "ev-x", FEED, "masterdata.event.invalid", "change_date", now
            )
            assert log.reject(rejection) and not log.reject(rejection)
            assert log.rejections() == [rejection]
    assert offences.found == [] and offences.inserts == 6 and offences.selects >= 8
    with pytest.raises(RenkeiError) as foreign:
        fed.store.scoped(TenantCode(CHIYODA_CODE)).reject(
            Rejection(TenantCode(CHUO_CODE), "ev-y", FEED, "masterdata.event.invalid", None, now)
        )
    assert foreign.value.code == "masterdata.tenant.mismatch"


# --- the operator's commands -----------------------------------------------------------------------------


def test_the_cli_enrols_syncs_and_lists_rejections(tmp_path: Path, spec: Spec) -> None:
    import json

    from typer.testing import CliRunner

    from renkei.app import build_platform
    from renkei.cli.masterdata import masterdata_app
    from renkei.settings import Settings

    data_dir = tmp_path / "var"
    platform = build_platform(Settings(data_dir=data_dir), spec=spec)
    try:
        platform.registry.add_organisation("LG", CHIYODA_CODE, "千代田区")
        platform.registry.enrol(CHIYODA, 1)
        platform.linkage.register_organisation(CHIYODA)
    finally:
        platform.storage.close()
    runner = CliRunner()
    where = ["--tenant", CHIYODA_CODE, "--data-dir", str(data_dir)]
    first = runner.invoke(masterdata_app, ["enrol", *where])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) | {"tenant": "-"} == {
        "tenant": "-",
        "member": INTAKE,
        "members": 1,
        "key_files": 2,
        "purposes": 1,
        "subscriptions": 2,
    }
    assert json.loads(runner.invoke(masterdata_app, ["enrol", *where]).output)["members"] == 0
    synced = runner.invoke(masterdata_app, ["sync", *where])
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.output) | {"tenant": CHIYODA_CODE, "feeds": 1, "read": 0, "failures": []} == (
        json.loads(synced.output)
    )
    listed = runner.invoke(masterdata_app, ["rejections", *where])
    assert listed.exit_code == 0 and json.loads(listed.output) == []
