"""Tenancy end to end: one deployment hosting two municipalities, 千代田区 (131016) and 中央区 (131024).

Each municipality has its 住基 (u01) publishing 住民異動 and its 乳幼児医療 system (u17) reading; both
integrated DBs hold a resident under the *same* 宛名番号 and 世帯番号. Over real HTTP (uvicorn on loopback),
on SQLite and PostgreSQL, for every per-municipality read route — 統合DB person, history and household,
the 差分 feed, the 全件 snapshot, the CSV export — 中央区's member asking for 千代田区's data is refused with
a typed problem whatever it adds in the path, query or headers (and whatever subscription it makes for
itself), no access record names it, and 千代田区's member gets its own (and 中央区's member its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from renkei.api import files as files_api
from renkei.api import masterdata as masterdata_api
from renkei.api import notifications as notifications_api
from renkei.api.errors import install_error_handlers
from renkei.audit.heads import Ed25519HeadSigner
from renkei.audit.service import AuditLog
from renkei.exchange.notifications.service import NotificationHub
from renkei.exchange.signing import HubSigner
from renkei.identity.keys import MemoryKeyStore as IdentityKeys
from renkei.identity.models import BasicInfo, Sex
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService, LinkageBase
from renkei.masterdata.access import MasterDataReader
from renkei.masterdata.models import JST
from renkei.masterdata.service import MasterData
from renkei.registry.auth import SIGNATURE_HEADER, RequestAuthenticator, sign_request
from renkei.registry.ca import CertificateAuthority
from renkei.registry.keystore import MemoryAuthorityStore as RegistryKeys
from renkei.registry.service import Enrolment, Registry
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.sql.audit import SqlAuditStore, audit_record
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.exchange import SqlExchangeStore
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.masterdata import SqlMasterDataStore
from renkei.storage.sql.notifications import SqlNotificationStore
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore
from tests.exchange.notifications_harness import database, event, serve
from tests.masterdata.builders import atena, household, resident

CHIYODA, CHUO = "131016", "131024"
ORGS = {CHIYODA: "千代田区", CHUO: "中央区"}
TOPIC = "resident-changes"
PURPOSE = "infant-medical-subsidy"
NAMES = {CHIYODA: "千代田 花子", CHUO: "中央 太郎"}
PROBLEM = "application/problem+json"


def org(code: str) -> str:
    return f"JP/LG/{code}"


@dataclass(frozen=True)
class Person:
    key: Any
    atena: str
    household: str
    name: str


@dataclass
class Deployment:
    url: str
    clock: SystemClock
    members: dict[str, Enrolment]
    persons: dict[str, Person]
    linkage: LinkageBase
    hub: NotificationHub
    storage: Any

    def get(self, target: str, who: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.call("GET", target, who, headers=headers)

    def call(
        self,
        method: str,
        target: str,
        who: str,
        payload: Any = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        member = self.members[who]
        body = b"" if payload is None else json.dumps(payload).encode()
        token = sign_request(
            member.private_key_pem,
            str(member.member.id),
            method,
            target,
            body,
            self.clock.now(),
            certificate=member.certificate_pem,
        )
        sent = {
            SIGNATURE_HEADER: token,
            "X-Road-Client": who,
            "X-Road-Issue": PURPOSE,
            "Content-Type": "application/json",
            **(headers or {}),
        }
        return httpx.request(method, self.url + target, content=body, headers=sent, timeout=10)

    def access_records(self) -> list[dict[str, Any]]:
        with connection_source(self.storage)(False) as connection:
            rows = list(connection.execute(select(audit_record.c.body).order_by(audit_record.c.position)))
        return [json.loads(r.body)["record"] for r in rows]

    def fugo(self, code: str) -> str:
        return str(self.linkage.fugo_for(org(code), self.persons[code].key))


def _build(url: str, spec: Spec) -> Iterator[Deployment]:
    clock = SystemClock()
    with create_storage(url) as storage:
        source = connection_source(storage)
        registry = Registry(
            spec, SqlRegistryRepository(source), clock, authority=CertificateAuthority(RegistryKeys(), clock)
        )
        members: dict[str, Enrolment] = {}
        for code, name in ORGS.items():
            registry.add_organisation("LG", code, name)
            for unit in (1, 17):
                members[f"{org(code)}/u{unit:02d}"] = registry.enrol(org(code), unit)
        registry.add_purpose(PURPOSE, "乳幼児医療費助成", "条例", {"resident-record": None})

        repository = SqlIdentityRepository(source)
        keys = IdentityKeys()
        linkage = LinkageBase(repository, keys, clock)
        identity = IdentityService(repository, NumberCodec(keys), clock)
        persons: dict[str, Person] = {}
        for code in ORGS:
            linkage.register_organisation(org(code))
            # Two different people, the same 宛名番号 and 世帯番号 in each municipality's own numbering.
            enrolled = identity.enrol(
                BasicInfo(NAMES[code], f"東京都{ORGS[code]}1-1", date(1990, 4, 1), Sex.FEMALE)
            )
            linkage.register_local_id(org(code), atena(1), enrolled.person_key)
            persons[code] = Person(enrolled.person_key, atena(1), household(1), NAMES[code])

        audit = AuditLog(SqlAuditStore(source), Ed25519HeadSigner(bytes(32)), clock)
        authenticator = RequestAuthenticator(registry, SqlReplayStore(source), clock)
        hub = NotificationHub(
            registry,
            authenticator,
            linkage,
            audit,
            SqlNotificationStore(source),
            HubSigner(bytes(range(1, 33))),
            clock,
            message_log=SqlExchangeStore(source),
        )
        masterdata = MasterData(SqlMasterDataStore(source), spec, clock)
        for code in ORGS:
            # As the demo seeds it: each municipality's u17 polls its own 住基 (source = its organisation).
            hub.subscribe(f"{org(code)}/u17", TOPIC, mode="poll", purpose=PURPOSE, source=org(code))
            items = resident(1, on=date(2020, 4, 1), name=NAMES[code])
            masterdata.apply(code, "in", "101", items, datetime(2020, 4, 1, 9, tzinfo=JST))

        app = FastAPI()
        install_error_handlers(app)
        app.state.notifications = hub
        app.state.masterdata = MasterDataReader(masterdata, authenticator, audit, clock)
        app.include_router(notifications_api.router)
        app.include_router(files_api.router)
        app.include_router(masterdata_api.router)
        with serve(app) as served:
            deployment = Deployment(served, clock, members, persons, linkage, hub, storage)
            for code in ORGS:
                publisher = f"{org(code)}/u01"
                person = deployment.persons[code]
                one = event(person, "101")  # type: ignore[arg-type]
                one["data"]["name"] = person.name
                one["data"]["head_of_household_name"] = person.name
                published = deployment.call("POST", f"/r1/{publisher}/events/{TOPIC}", publisher, one)
                assert published.status_code in (200, 202), published.text
            yield deployment


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path, spec: Spec) -> Iterator[Deployment]:
    with database(request.param, tmp_path, lambda: request.getfixturevalue("pg_url")) as url:
        yield from _build(url, spec)


CHIYODA_U17, CHUO_U17 = f"{org(CHIYODA)}/u17", f"{org(CHUO)}/u17"
FEED = f"/r1/{org(CHIYODA)}/u01/feeds/{TOPIC}"
MASTER = f"/masterdata/{CHIYODA}"
ROUTES = {
    # route: (target of 千代田区's data, the code 中央区's member gets)
    "masterdata person": (f"/masterdata/{CHIYODA}/persons/{atena(1)}", "masterdata.tenant.forbidden"),
    "masterdata history": (
        f"/masterdata/{CHIYODA}/persons/{atena(1)}/history",
        "masterdata.tenant.forbidden",
    ),
    "masterdata household": (
        f"/masterdata/{CHIYODA}/households/{household(1)}",
        "masterdata.tenant.forbidden",
    ),
    "feed": (FEED, "exchange.feed.forbidden"),
    "snapshot": (FEED + "/snapshot", "exchange.feed.forbidden"),
    "csv export": (f"/r1/{org(CHIYODA)}/u01/files/{TOPIC}", "exchange.feed.forbidden"),
}
#: What a 中央区 caller may add, hoping to be taken for 千代田区 (query strings and headers).
DISGUISES: list[tuple[str, dict[str, str]]] = [
    ("", {}),
    (f"tenant={CHIYODA}&source={org(CHIYODA)}&publisher={org(CHIYODA)}/u01", {}),
    ("", {"X-Renkei-Tenant": CHIYODA, "X-Road-Service": f"{org(CHIYODA)}/u01/{TOPIC}"}),
    ("", {"X-Road-Client": CHIYODA_U17}),  # claims to be 千代田区's u17, signed as 中央区's
    ("", {"X-Road-Client": CHIYODA_U17, "X-GovStack-Client": CHIYODA_U17}),
]


def _with_query(target: str, query: str) -> str:
    if not query:
        return target
    return target + ("&" if "?" in target else "?") + query


def _refused(response: httpx.Response) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:renkei:error:{body['code']}"
    return body


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_member_of_one_municipality_never_reads_another_municipalitys_data(
    deployment: Deployment, route: str
) -> None:
    target, code = ROUTES[route]
    for query, headers in DISGUISES:
        body = _refused(deployment.get(_with_query(target, query), CHUO_U17, headers))
        if "X-Road-Client" in headers and not route.startswith("masterdata"):
            # The hub refuses a client header that is not the signer before it looks any further.
            assert body["code"].startswith("exchange.client."), (route, headers, body)
        else:
            assert body["code"] == code, (route, query, headers, body)
    # Nothing of 千代田区's person was provided to 中央区: no access record names the reader.
    chuo_reads = [r for r in deployment.access_records() if r["requester"]["member"] == CHUO_U17]
    assert chuo_reads == []


def test_a_member_cannot_subscribe_itself_into_another_municipality(deployment: Deployment) -> None:
    target = f"/r1/{CHUO_U17}/subscriptions/{TOPIC}"
    for source in (org(CHIYODA), f"{org(CHIYODA)}/u01"):
        body = _refused(
            deployment.call("PUT", target, CHUO_U17, {"mode": "poll", "purpose": PURPOSE, "source": source})
        )
        assert body["code"] == "exchange.subscription.source_forbidden"
    # Another member's subscription is not the caller's to change either.
    other = f"/r1/{CHIYODA_U17}/subscriptions/{TOPIC}"
    body = _refused(deployment.call("PUT", other, CHUO_U17, {"mode": "poll", "purpose": PURPOSE}))
    assert body["rule"] == "client.self"
    # What it may do — subscribe without a source — keeps it in 中央区.
    own = deployment.call("PUT", target, CHUO_U17, {"mode": "poll", "purpose": PURPOSE})
    assert own.status_code == 200 and own.json()["source"] == org(CHUO)
    assert _refused(deployment.get(FEED, CHUO_U17))["code"] == "exchange.feed.forbidden"


def test_each_municipalitys_member_reads_its_own(deployment: Deployment) -> None:
    for code, reader in ((CHIYODA, CHIYODA_U17), (CHUO, CHUO_U17)):
        person = deployment.get(f"/masterdata/{code}/persons/{atena(1)}", reader)
        assert person.status_code == 200, person.text
        assert person.json()["person"]["items"]["name"] == NAMES[code]
        history = deployment.get(f"/masterdata/{code}/persons/{atena(1)}/history", reader)
        assert [v["items"]["name"] for v in history.json()["versions"]] == [NAMES[code]]
        members = deployment.get(f"/masterdata/{code}/households/{household(1)}", reader)
        assert [m["items"]["name"] for m in members.json()["members"]] == [NAMES[code]]

        feed = f"/r1/{org(code)}/u01/feeds/{TOPIC}"
        page = deployment.get(feed, reader)
        assert page.status_code == 200, page.text
        events = page.json()["events"]
        assert [(e["person_fugo"], e["data"]["name"]) for e in events] == [
            (deployment.fugo(code), NAMES[code])
        ]
        snapshot = deployment.get(feed + "/snapshot", reader).json()["events"]
        assert [e["data"]["name"] for e in snapshot] == [NAMES[code]]
        csv = deployment.get(f"/r1/{org(code)}/u01/files/{TOPIC}", reader)
        assert csv.status_code == 200 and NAMES[code] in csv.text
        assert NAMES[CHUO if code == CHIYODA else CHIYODA] not in csv.text
    readers = {(r["requester"]["member"], r["provider"]["member"]) for r in deployment.access_records()}
    assert {(a, b) for a, b in readers if a.startswith(org(CHUO))} <= {
        (CHUO_U17, f"{org(CHUO)}/u01"),
    }
