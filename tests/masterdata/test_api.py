"""The read API over real HTTP (uvicorn on loopback): signed requests, tenant and unit rules, records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI

from renkei.api import masterdata as masterdata_api
from renkei.api.errors import install_error_handlers
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.models import Side
from renkei.audit.service import AuditLog
from renkei.identity.scan import find_individual_numbers
from renkei.masterdata.access import MasterDataReader, readable_classes, subject_of
from renkei.masterdata.models import JST, NON_RESIDENT_TOPIC, ResidentClass
from renkei.masterdata.service import MasterData
from renkei.registry.auth import SIGNATURE_HEADER, RequestAuthenticator, sign_request
from renkei.registry.keys import private_key_pem, public_key_kid, public_key_pem
from renkei.registry.service import Registry
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.sql import create_storage
from renkei.storage.sql.audit import SqlAuditStore
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import SqlMasterDataStore
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore
from tests.loopback import serve
from tests.masterdata.builders import CHIYODA, CHUO, atena, household, non_resident, resident

ENTRY = date(2020, 4, 1)
RENAMED = date(2021, 6, 1)
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Member:
    """A member system registered with a bare Ed25519 key (``kid`` = SHA-256 of the public key)."""

    id: str
    private_key_pem: bytes


def _clean_key(seed: int) -> tuple[ed25519.Ed25519PrivateKey, int]:
    """A deterministic key whose hex ``kid`` holds nothing the 個人番号 leak scan would flag (a random
    certificate's kid now and then does, which would make the scan of the registry table flaky)."""
    while True:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(f"masterdata-{seed}".encode()).digest()
        )
        if not find_individual_numbers(public_key_kid(key.public_key())):
            return key, seed
        seed += 1


def _register(registry: Registry, organisation: str, unit: int, seed: int) -> Member:
    key, _ = _clean_key(seed)
    member = registry.add_member(organisation, unit)
    now = SystemClock().now()
    registry.register_credential(
        member.id,
        public_key_pem(key.public_key()),
        not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(days=1),
    )
    return Member(str(member.id), private_key_pem(key))


@dataclass
class World:
    url: str
    http: httpx.Client
    masterdata: MasterData
    audit: AuditLog
    infant: Member  # JP/LG/131016/u17 乳幼児医療: reads both masters
    pension: Member  # JP/LG/131016/u11 国民年金: reads 住基情報 only
    finance: Member  # JP/LG/131016/u50 財務会計: reads neither
    neighbour: Member  # JP/LG/131024/u17: another municipality

    def get(
        self,
        target: str,
        *,
        who: Member | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        member = who or self.infant
        if token is None:
            token = self.sign(target, member)
        sent = {SIGNATURE_HEADER: token, **(headers or {})}
        return self.http.get(self.url + target, headers=sent)

    @staticmethod
    def sign(target: str, member: Member) -> str:
        return sign_request(member.private_key_pem, member.id, "GET", target, b"", SystemClock().now())

    def records(self, tenant: str = CHIYODA, number: int = 1) -> list[Any]:
        return [r.record for r in self.audit.records_of(subject_of(tenant, atena(number)))]


@pytest.fixture
def world(tmp_path: Path, spec: Spec) -> Iterator[World]:
    clock = SystemClock()
    storage = create_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    source = connection_source(storage)
    registry = Registry(spec, SqlRegistryRepository(source), clock)
    registry.add_organisation("LG", CHIYODA, "千代田区")
    registry.add_organisation("LG", CHUO, "中央区")
    chiyoda, chuo = f"JP/LG/{CHIYODA}", f"JP/LG/{CHUO}"
    masterdata = MasterData(SqlMasterDataStore(connection_source(storage)), spec, clock)
    audit = AuditLog(SqlAuditStore(source), Ed25519HeadSigner(bytes(32)), clock)
    reader = MasterDataReader(
        masterdata, RequestAuthenticator(registry, SqlReplayStore(source), clock), audit, clock
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(masterdata_api.router)
    app.state.masterdata = reader
    # 山田 花子 moves in, is renamed in 2021; her 氏名変更 reaches the master late, after a 転居 of 2022.
    publisher = f"{chiyoda}/u01"
    events = [
        ("in", resident(1, on=ENTRY)),
        ("in-2", resident(2, on=ENTRY, name="山田 太郎")),
        (
            "moved",
            resident(
                1, reason="301", on=date(2022, 1, 10), address="東京都千代田区神田1-1", name="鈴木 花子"
            ),
        ),
        ("renamed", resident(1, reason="306", on=RENAMED, name="鈴木 花子")),
    ]
    for event_id, items in events:
        day = date.fromisoformat(items["change_date"])
        masterdata.apply(
            CHIYODA,
            event_id,
            items["change_reason"],
            items,
            datetime(day.year, day.month, day.day, 9, tzinfo=JST),
            publisher=publisher,
        )
    masterdata.apply(
        CHIYODA,
        "nr",
        "01",
        non_resident(500, on=ENTRY),
        datetime(2020, 4, 1, tzinfo=JST),
        topic=NON_RESIDENT_TOPIC,
    )
    masterdata.apply(
        CHUO, "in", "101", resident(1, on=ENTRY, name="中央 花子"), datetime(2020, 4, 1, tzinfo=JST)
    )
    with serve(app) as url, httpx.Client(timeout=10) as http:
        yield World(
            url,
            http,
            masterdata,
            audit,
            _register(registry, chiyoda, 17, 1000),
            _register(registry, chiyoda, 11, 2000),
            _register(registry, chiyoda, 50, 3000),
            _register(registry, chuo, 17, 4000),
        )
    storage.close()


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["type"] == f"urn:renkei:error:{code}"
    return body


def test_a_member_of_the_municipality_reads_a_person_and_leaves_access_records(world: World) -> None:
    target = f"/masterdata/{CHIYODA}/persons/{atena(1)}"
    response = world.get(target, headers={"X-Road-Issue": "infant-medical-subsidy", "X-Road-Id": "msg-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    person = body["person"]
    assert (body["tenant"], body["valid_at"]) == (CHIYODA, datetime.now(JST).date().isoformat())
    assert person["items"]["name"] == "鈴木 花子" and person["items"]["address"] == "東京都千代田区神田1-1"
    assert (person["resident_class"], person["household_number"], person["valid_to"]) == (
        "resident",
        household(1),
        None,
    )
    assert person["event"]["id"] == "moved"
    records = world.records()
    assert sorted(r.side for r in records) == [Side.PROVIDER, Side.REQUESTER]
    for record in records:
        assert record.requester.member == f"JP/LG/{CHIYODA}/u17"
        assert record.provider.member == f"JP/LG/{CHIYODA}/u01"  # the 住基 unit keeps the resident master
        assert (record.information, record.purpose, record.message_id) == (
            "resident-record",
            "infant-medical-subsidy",
            "msg-1",
        )
        assert {"name", "address", "birth_date", "atena_number"} <= {i.id for i in record.items}
    assert world.records(number=2) == []  # only the person read


def test_as_of_reads_follow_valid_time_and_recorded_time(world: World) -> None:
    base = f"/masterdata/{CHIYODA}/persons/{atena(1)}"
    before = world.get(f"{base}?valid_at=2021-05-31").json()["person"]
    after = world.get(f"{base}?valid_at=2021-06-01").json()["person"]
    assert (before["items"]["name"], after["items"]["name"]) == ("山田 花子", "鈴木 花子")
    assert (before["valid_to"], after["valid_from"]) == ("2021-06-01", "2021-06-01")
    # Known at the instant the 転居 was recorded, before the late 氏名変更: still 山田 花子 in mid-2021.
    moved = world.masterdata.event(CHIYODA, "moved")
    assert moved is not None
    known = moved.recorded_at.isoformat().replace("+00:00", "Z")
    then = world.get(f"{base}?valid_at=2021-07-01&known_at={known}").json()
    assert (
        then["person"]["items"]["name"] == "山田 花子" and then["known_at"] == moved.recorded_at.isoformat()
    )
    assert then["person"]["recorded_to"] is not None and then["person"]["superseded_by"] == "renamed"
    assert world.get(f"{base}?valid_at=2019-01-01").status_code == 404


def test_history_shows_every_version_with_both_intervals(world: World) -> None:
    response = world.get(f"/masterdata/{CHIYODA}/persons/{atena(1)}/history")
    assert response.status_code == 200, response.text
    versions = response.json()["versions"]
    believed = [
        (v["valid_from"], v["valid_to"], v["event"]["id"]) for v in versions if v["recorded_to"] is None
    ]
    assert believed == [
        ("2020-04-01", "2021-06-01", "in"),
        ("2021-06-01", "2022-01-10", "renamed"),
        ("2022-01-10", None, "moved"),
    ]
    assert any(v["recorded_to"] is not None for v in versions)
    assert len(world.records()) == 2


def test_a_household_lists_its_members(world: World) -> None:
    response = world.get(f"/masterdata/{CHIYODA}/households/{household(1)}?valid_at=2021-01-01")
    assert response.status_code == 200, response.text
    members = response.json()["members"]
    assert [m["atena_number"] for m in members] == [atena(1), atena(2)]
    assert len(world.records(number=1)) == len(world.records(number=2)) == 2
    empty = world.get(f"/masterdata/{CHIYODA}/households/{household(1)}?valid_at=2019-01-01")
    assert empty.status_code == 200 and empty.json()["members"] == []


def test_a_unit_sees_only_the_masters_the_matrix_gives_it(world: World, spec: Spec) -> None:
    assert readable_classes(spec, 11) == {ResidentClass.RESIDENT}
    assert readable_classes(spec, 17) == {ResidentClass.RESIDENT, ResidentClass.NON_RESIDENT}
    target = f"/masterdata/{CHIYODA}/persons/{atena(500)}"
    assert world.get(target).json()["person"]["resident_class"] == "non_resident"
    _problem(world.get(target, who=world.pension), 404, "masterdata.person.unknown")
    assert world.get(f"/masterdata/{CHIYODA}/persons/{atena(1)}", who=world.pension).status_code == 200
    denied = _problem(world.get(target, who=world.finance), 403, "masterdata.access.denied")
    assert "50" in denied["detail"]


def test_another_municipality_is_refused_and_learns_nothing(world: World) -> None:
    before = len(world.records())
    for target in (
        f"/masterdata/{CHIYODA}/persons/{atena(1)}",
        f"/masterdata/{CHIYODA}/persons/{atena(1)}/history",
        f"/masterdata/{CHIYODA}/households/{household(1)}",
        f"/masterdata/{CHIYODA}/persons/{atena(9)}",  # unknown or not: the same answer
    ):
        _problem(world.get(target, who=world.neighbour), 403, "masterdata.tenant.forbidden")
    assert len(world.records()) == before
    own = world.get(f"/masterdata/{CHUO}/persons/{atena(1)}", who=world.neighbour)
    assert own.status_code == 200 and own.json()["person"]["items"]["name"] == "中央 花子"
    _problem(world.get(f"/masterdata/{CHUO}/persons/{atena(1)}"), 403, "masterdata.tenant.forbidden")


def test_requests_without_a_good_signature_are_refused(world: World) -> None:
    target = f"/masterdata/{CHIYODA}/persons/{atena(1)}"
    body = _problem(world.http.get(world.url + target), 401, "masterdata.request.unauthenticated")
    assert body["reason"] == "registry.auth.missing"
    token = world.sign(target, world.infant)
    assert world.get(target, token=token).status_code == 200
    replayed = _problem(world.get(target, token=token), 401, "masterdata.request.unauthenticated")
    assert replayed["reason"] == "registry.auth.replayed"
    # A token for the person read does not open the household, nor another point in time.
    for other in (f"/masterdata/{CHIYODA}/households/{household(1)}", f"{target}?valid_at=2020-04-01"):
        altered = world.get(other, token=world.sign(target, world.infant))
        assert (
            _problem(altered, 401, "masterdata.request.unauthenticated")["reason"] == "registry.auth.altered"
        )
    assert len(world.records()) == 2  # only the one good read


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        (f"/masterdata/131017/persons/{atena(1)}", 400, "masterdata.tenant.invalid"),
        (f"/masterdata/{CHIYODA}/persons/123", 400, "masterdata.query.invalid"),
        (f"/masterdata/{CHIYODA}/persons/{atena(1)}?valid_at=2021-02-30", 400, "masterdata.query.invalid"),
        (f"/masterdata/{CHIYODA}/persons/{atena(1)}?valid_at=yesterday", 400, "masterdata.query.invalid"),
        (
            f"/masterdata/{CHIYODA}/persons/{atena(1)}?known_at=2021-01-01T00:00:00",
            400,
            "masterdata.query.invalid",
        ),
        (f"/masterdata/{CHIYODA}/persons/{atena(1)}?known_at=soon", 400, "masterdata.query.invalid"),
        (f"/masterdata/{CHIYODA}/households/12", 400, "masterdata.query.invalid"),
        (f"/masterdata/{CHIYODA}/persons/{atena(9)}", 404, "masterdata.person.unknown"),
        (f"/masterdata/{CHIYODA}/persons/{atena(9)}/history", 404, "masterdata.person.unknown"),
    ],
)
def test_bad_reads_are_typed_problems(world: World, target: str, status: int, code: str) -> None:
    _problem(world.get(target), status, code)
    assert world.records() == []
