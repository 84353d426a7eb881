"""One deployment as the linkage base (情報連携基盤) of another, over real mutual TLS on loopback.

DC1 (千代田区) is the base; DC2 (中央区) acquires its organisation's 符号 from DC1 by 住民票コード, adopts
them, converts through DC1, and the base's own conversion of DC1's 符号 lands on exactly what DC2 adopted (the
cross-deployment join). A peer asking for an organisation it does not host, a plain-HTTP caller and a
member certificate are refused; a deployment that is not the base says so; a base that is down is
``tenancy.peer.unreachable``; no 住民票コード reaches a log. SQLite and PostgreSQL (the ``sites`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from renkei.api import linkage as linkage_api
from renkei.api.errors import install_error_handlers
from renkei.cli.federation import federation_app
from renkei.identity.errors import LinkageRefused
from renkei.identity.federated import ACQUIRE_PATH, AcquireReport, FederatedLinkage, RemoteLinkage
from renkei.identity.keys import FileKeyStore
from renkei.identity.models import BasicInfo, PersonKey, Sex
from renkei.identity.numbering import NumberCodec
from renkei.identity.service import IdentityService, LinkageBase
from renkei.net.http import HttpClient
from renkei.settings import Settings
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.tenancy.asgi import PeerIdentifier, PeerIdentityMiddleware
from renkei.tenancy.errors import PeerUnreachable
from renkei.tenancy.link import PeerLink
from tests.tenancy.harness import CHIYODA, CHUO, Site, serving

ORG_A = f"JP/LG/{CHIYODA}"  # hosted by DC1, the base
ORG_B = f"JP/LG/{CHUO}"  # hosted by DC2
CODE = "24727059608"
UNKNOWN = "31415926535"


def identity_of(site: Site) -> tuple[IdentityService, LinkageBase]:
    repository = SqlIdentityRepository(connection_source(site.storage))
    keys = FileKeyStore(site.data_dir / "keys")
    clock = SystemClock()
    return IdentityService(repository, NumberCodec(keys), clock), LinkageBase(repository, keys, clock)


def resident(identity: IdentityService, linkage: LinkageBase, org: str, atena: str, code: str) -> PersonKey:
    info = BasicInfo("中央 花子", "東京都中央区築地1-1-1", date(1990, 2, 3), Sex.FEMALE)
    person = identity.enrol(info).person_key
    linkage.register_local_id(org, atena, person)
    linkage.register_resident_code(person, code)
    return person


def linkage_app(site: Site, linkage: LinkageBase, *, is_base: bool = True) -> FastAPI:
    """What the lead's app mounts: the router, the service in app.state, the peer middleware."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(linkage_api.router)
    app.state.federated_linkage = FederatedLinkage(linkage, is_base=is_base)
    app.add_middleware(PeerIdentityMiddleware, identifier=PeerIdentifier(site.peers, SystemClock()))
    return app


@asynccontextmanager
async def remote_of(site: Site, base: str, local: LinkageBase | None) -> AsyncIterator[RemoteLinkage]:
    async with HttpClient(ssl_context_for=site.tls.context_for, max_body=1 << 20) as client:
        yield RemoteLinkage(PeerLink(client, timeout=5.0), lambda: site.federation.peer(base), local=local)


@pytest.fixture
def scene(sites: tuple[Site, Site]) -> tuple[Site, Site, LinkageBase, LinkageBase]:
    """DC1 knows the resident (org A) and is the base; DC2 has its own record of them (org B)."""
    dc1, dc2 = sites
    id1, base = identity_of(dc1)
    id2, local = identity_of(dc2)
    base.register_organisation(ORG_A)
    local.register_organisation(ORG_B)
    resident(id1, base, ORG_A, "000000000017", CODE)
    resident(id2, local, ORG_B, "100000000001", CODE)
    resident(id2, local, ORG_B, "100000000002", UNKNOWN)  # the base has no such resident
    return dc1, dc2, base, local


def test_the_base_issues_dc2_converts_and_the_join_holds(
    scene: tuple[Site, Site, LinkageBase, LinkageBase], caplog: pytest.LogCaptureFixture
) -> None:
    dc1, dc2, base, local = scene
    caplog.set_level(logging.DEBUG)
    (dc2_person, _), (stranger, _) = sorted(local.resident_codes_at(ORG_B), key=lambda p: p[1] != CODE)
    base_person = base.person_by_resident_code(CODE)
    assert base_person is not None

    async def scenario() -> None:
        async with remote_of(dc2, "DC1", local) as remote:
            report = await remote.acquire_for(ORG_B, local.resident_codes_at(ORG_B))
            assert report == AcquireReport(acquired=1, unknown_at_base=1)
            adopted = local.fugo_for(ORG_B, dc2_person)
            assert local.resolve(ORG_B, adopted) == dc2_person
            assert local.held_fugo(ORG_B, stranger) is None
            assert await remote.acquire(ORG_B, CODE) == adopted
            # the base issued it: its own 符号 of org B for the resident is the adopted one
            assert base.fugo_for(ORG_B, base_person) == adopted
            # the cross-deployment join: DC1's org-A 符号 → org B at the base = what DC2 holds
            fugo_a = base.fugo_for(ORG_A, base_person)
            assert base.convert_fugo(ORG_A, fugo_a, ORG_B) == adopted
            # DC2 converts through the base (what the hub calls for a provider in DC1)
            assert await remote.convert_fugo(ORG_B, adopted, ORG_A) == fugo_a
            again = await remote.acquire_for(ORG_B, local.resident_codes_at(ORG_B))
            assert again == AcquireReport(already_held=1, unknown_at_base=1)
            with pytest.raises(LinkageRefused) as unknown:
                await remote.acquire(ORG_B, UNKNOWN)
            assert unknown.value.detail["base_code"] == "identity.linkage.unknown_resident"

    with serving(dc1, linkage_app(dc1, base)):
        asyncio.run(scenario())
    assert CODE not in caplog.text and UNKNOWN not in caplog.text
    assert "linkage acquire_many for JP/LG/131024 by DC2: 1 issued, 1 unknown" in caplog.text


def test_a_peer_is_served_only_for_organisations_it_hosts(
    scene: tuple[Site, Site, LinkageBase, LinkageBase],
) -> None:
    dc1, dc2, base, local = scene
    fugo_a = base.fugo_for(ORG_A, PersonKey(str(base.person_by_resident_code(CODE))))

    async def scenario() -> list[tuple[str | None, int | None]]:
        refusals = []
        async with remote_of(dc2, "DC1", local) as remote:
            for call in (
                remote.acquire(ORG_A, CODE),
                remote.acquire_many(ORG_A, [CODE]),
                remote.convert_fugo(ORG_A, fugo_a, ORG_B),
            ):
                with pytest.raises(LinkageRefused) as refused:
                    await call
                refusals.append((refused.value.detail["base_code"], refused.value.detail["status"]))
        return refusals

    with serving(dc1, linkage_app(dc1, base)):
        refusals = asyncio.run(scenario())
    assert refusals == [("identity.linkage.forbidden", 403)] * 3


def test_plain_http_and_member_certificates_are_not_peers(
    scene: tuple[Site, Site, LinkageBase, LinkageBase], tmp_path: Path
) -> None:
    dc1, _, base, _ = scene
    app = linkage_app(dc1, base)
    body = {"org": ORG_B, "resident_code": CODE}
    with TestClient(app) as plain:
        answer = plain.post(ACQUIRE_PATH, json=body)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "identity.linkage.forbidden"
    assert CODE not in answer.text

    enrolment = dc1.registry.enrol(ORG_A, 10)
    credentials = tmp_path / "member.pem"
    credentials.write_bytes(enrolment.certificate_pem + enrolment.private_key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=dc1.authority.certificate_pem().decode("ascii"))
    context.load_cert_chain(credentials)

    async def as_member() -> tuple[int, dict[str, object]]:
        async with HttpClient(ssl_context=context) as client:
            payload = json.dumps(body).encode()
            response = await client.post(
                dc1.hub_url + ACQUIRE_PATH, payload, {"content-type": "application/json"}
            )
        return response.status, json.loads(response.body)

    with serving(dc1, app):
        status, problem = asyncio.run(as_member())
    assert (status, problem["code"]) == (403, "identity.linkage.forbidden")


def test_a_deployment_that_is_not_the_base_says_so(
    scene: tuple[Site, Site, LinkageBase, LinkageBase],
) -> None:
    dc1, dc2, base, local = scene

    async def ask_dc2() -> LinkageRefused:
        async with remote_of(dc1, "DC2", base) as remote:
            with pytest.raises(LinkageRefused) as refused:
                await remote.acquire(ORG_A, CODE)  # DC1 hosts org A, but DC2 is not a base
        return refused.value

    with serving(dc2, linkage_app(dc2, local, is_base=False)):
        refused = asyncio.run(ask_dc2())
    assert (refused.detail["base_code"], refused.detail["status"]) == ("identity.linkage.not_base", 409)


def test_a_base_that_is_down_is_unreachable_and_cached_conversions_still_answer(
    scene: tuple[Site, Site, LinkageBase, LinkageBase],
) -> None:
    dc1, dc2, base, local = scene
    base_person = base.person_by_resident_code(CODE)
    assert base_person is not None
    base.ensure_organisation(ORG_B)
    fugo_b = base.fugo_for(ORG_B, base_person)
    fugo_a = base.fugo_for(ORG_A, base_person)

    async def scenario() -> None:
        async with remote_of(dc2, "DC1", local) as remote:
            with serving(dc1, linkage_app(dc1, base)):
                assert await remote.convert_fugo(ORG_B, fugo_b, ORG_A) == fugo_a
            # the base is gone: a cached conversion still answers, anything else is unreachable
            assert await remote.convert_fugo(ORG_B, fugo_b, ORG_A) == fugo_a
            started = time.monotonic()
            with pytest.raises(PeerUnreachable) as down:
                await remote.acquire_for(ORG_B, local.resident_codes_at(ORG_B))
            assert time.monotonic() - started < 5
            assert down.value.code == "tenancy.peer.unreachable"
            assert local.held_fugo(ORG_B, local.resident_codes_at(ORG_B).__next__()[0]) is None

    asyncio.run(scenario())


def test_batches_cross_the_thousand_boundary(
    sites: tuple[Site, Site], capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    """1,200 residents: two batches; prints the measured time (the figure in the report)."""
    dc1, dc2 = sites
    id1, base = identity_of(dc1)
    id2, local = identity_of(dc2)
    base.register_organisation(ORG_A)
    local.register_organisation(ORG_B)
    count = 1200
    codes = [f"{70000000000 + n:011d}" for n in range(count)]
    for n, code in enumerate(codes):
        if n % 100 != 7:  # 12 residents the base does not know
            resident(id1, base, ORG_A, f"A{n:011d}", code)
        resident(id2, local, ORG_B, f"B{n:011d}", code)

    async def scenario() -> AcquireReport:
        async with remote_of(dc2, "DC1", local) as remote:
            return await remote.acquire_for(ORG_B, local.resident_codes_at(ORG_B))

    with serving(dc1, linkage_app(dc1, base)):
        started = time.monotonic()
        report = asyncio.run(scenario())
        elapsed = time.monotonic() - started
    assert report == AcquireReport(acquired=count - 12, unknown_at_base=12)
    with capsys.disabled():
        backend = request.node.callspec.params.get("database")
        print(
            f"\n[linkage] {backend}: acquired {report.acquired} 符号 for {count} residents in {elapsed:.2f} s"
        )


def test_the_cli_acquires_for_every_resident_of_the_org(
    scene: tuple[Site, Site, LinkageBase, LinkageBase],
) -> None:
    dc1, dc2, base, local = scene
    where = ["--data-dir", str(dc2.data_dir), "--database-url", dc2.database_url]
    with serving(dc1, linkage_app(dc1, base)):
        unset = CliRunner().invoke(federation_app, [*where, "acquire", "--org", ORG_B])
        result = CliRunner().invoke(
            federation_app,
            [*where, "acquire", "--org", ORG_B],
            env={"RENKEI_LINKAGE_BASE": "DC1"},
            catch_exceptions=False,
        )
    assert unset.exception is not None and "identity.linkage.not_configured" in str(unset.exception)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "acquired\t1",
        "already held\t0",
        "unknown at base\t1",
        "conflicts\t0",
    ]
    assert CODE not in result.output and UNKNOWN not in result.output
    dc2_person = next(p for p, code in local.resident_codes_at(ORG_B) if code == CODE)
    assert local.held_fugo(ORG_B, dc2_person) == base.fugo_for(ORG_B, base.person_by_resident_code(CODE))  # type: ignore[arg-type]


def test_settings_name_the_linkage_base() -> None:
    assert Settings.from_env({}).linkage_base is None
    assert Settings.from_env({"RENKEI_LINKAGE_BASE": "DC1"}).linkage_base == "DC1"
    with pytest.raises(Exception, match="RENKEI_LINKAGE_BASE"):
        Settings.from_env({"RENKEI_LINKAGE_BASE": "dc1; drop"})
