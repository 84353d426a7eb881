"""A query to a member system hosted by another deployment: routed there over mutual TLS, only 符号 crossing,
authorised and recorded at both ends; a peer that is down gives a typed fault and no record of provision,
and the retry completes once it is back (SQLite and PostgreSQL, two real deployments on loopback)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from renkei.audit.models import AccessRecord, Side
from renkei.exchange.service import subject_of
from renkei.net.http import HttpClient, HttpResponse
from renkei.registry.keystore import CA_DIRECTORY
from renkei.tenancy.link import PeerLink
from renkei.tenancy.tls import TLS_DIRECTORY
from tests.exchange.federation_harness import (
    ATENA_A,
    CHUO,
    DC1_ONLY_PURPOSE,
    MINATO,
    SERVICE_PATH,
    SOAP_SERVICE_PATH,
    Pair,
    Site,
    running_pair,
)
from tests.exchange.harness import PURPOSE_ITEMS, ROW
from tests.exchange.notifications_harness import database

BODY = json.dumps({"atena_number": ATENA_A, "fiscal_year": 2025}).encode()
EXPECTED = {i: ({"fiscal_year": 2025} | ROW)[i] for i in PURPOSE_ITEMS}


@pytest.fixture(
    scope="module", params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.pg)]
)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One pair of deployments per backend for the module (starting two is the slow part); tests leave
    both running and look at what their own exchanges added."""

    def pg() -> str:
        return str(request.getfixturevalue("pg_url"))

    root = tmp_path_factory.mktemp("federation")
    (root / "one").mkdir()
    (root / "two").mkdir()
    with (
        database(request.param, root / "one", pg) as one,
        database(request.param, root / "two", pg) as two,
        running_pair(root, (one, two)) as made,
    ):
        yield made


@pytest.fixture(autouse=True)
def _fresh(pair: Pair) -> Iterator[None]:
    pair.seen.clear()
    yield
    if pair.dc2.platform is None:  # a test that stopped DC2 and failed before restarting it
        pair.dc2.start()


def records(site: Site, person_key: str) -> list[AccessRecord]:
    found = site.live.audit.records_of(subject_of(person_key))
    return [r.record for r in found if r.record is not None]


def log(site: Site) -> list[tuple[str, str, str | None]]:
    entries = site.live.exchange._store.entries(limit=50)
    return [(e.client, e.outcome.value, e.code) for e in entries]


def test_a_query_for_a_provider_in_the_other_deployment_is_answered_there_with_only_fugo_crossing(
    pair: Pair,
) -> None:
    before = len(records(pair.dc1, pair.person_a)), len(records(pair.dc2, pair.person_b))
    answer = pair.query(BODY)
    assert answer.status_code == 200, answer.text
    assert answer.json() == EXPECTED
    message_id = answer.headers["x-road-id"]

    # DC2's provider got the 中央区 符号 the base issued, never 千代田区's 宛名番号; the client as DC1
    # asserted it.
    [got] = pair.seen
    assert got["body"] == {"person_fugo": pair.fugo_b, "fiscal_year": 2025}
    assert ATENA_A not in json.dumps(got)
    assert got["headers"]["x-road-client"] == str(pair.client.member.id)
    assert got["headers"]["x-road-id"] == message_id

    # Both ends logged the exchange as provided, and each wrote its own side's access record, naming the
    # person by its own key.
    client = str(pair.client.member.id)
    assert (client, "provided", None) in log(pair.dc1)
    assert (client, "provided", None) in log(pair.dc2)
    [one] = records(pair.dc1, pair.person_a)[before[0] :]
    [two] = records(pair.dc2, pair.person_b)[before[1] :]
    assert (one.side, two.side) == (Side.REQUESTER, Side.PROVIDER)
    for record in (one, two):
        assert record.message_id == message_id
        assert record.requester.member == client
        assert record.provider.member == f"{CHUO}/u06"
        assert {i.id for i in record.items} == set(EXPECTED)
    assert records(pair.dc1, pair.person_b) == [] and records(pair.dc2, pair.person_a) == []
    # The peer keeps its reply under the exchange's id: a retry after a lost answer is not provided twice.
    now = pair.dc2.live.clock.now()
    kept = pair.dc2.live.exchange._store.remembered(client, message_id, now)
    assert kept is not None and kept.message_id == message_id


def test_a_soap_only_provider_in_the_other_deployment_answers_a_rest_caller(pair: Pair) -> None:
    """DC2 converts the forwarded JSON query to the WSDL's SOAP envelope for 港区's SOAP-only system."""
    before = len(records(pair.dc2, pair.person_b))
    answer = pair.query(BODY, path=SOAP_SERVICE_PATH)
    assert answer.status_code == 200, answer.text
    assert answer.json() == EXPECTED
    [got] = pair.seen
    assert got["soap"] and got["body"]["person_fugo"] == pair.fugo_c
    assert got["headers"]["content-type"].startswith("text/xml")
    [two] = records(pair.dc2, pair.person_b)[before:]
    assert (two.side, two.provider.member) == (Side.PROVIDER, f"{MINATO}/u06")


def test_the_peer_authorises_again_and_its_denial_names_its_rule(pair: Pair) -> None:
    # DC1's registry lets u17 use this purpose; DC2's does not know it: DC2's own rule denies.
    answer = pair.query(BODY, **{"X-Road-Issue": DC1_ONLY_PURPOSE})
    problem = answer.json()
    assert answer.status_code == 403, problem
    assert problem["code"] == "exchange.remote.refused"
    assert problem["xroad_code"].startswith("Client.")
    assert (problem["deployment"], problem["remote_status"]) == ("DC2", 403)
    assert (problem["remote_code"], problem["remote_rule"]) == (
        "exchange.client.unauthorised",
        "registry.purpose",
    )
    assert pair.seen == []
    client = str(pair.client.member.id)
    assert (client, "denied", "exchange.client.unauthorised") in log(pair.dc2)
    assert (client, "denied", "exchange.remote.refused") in log(pair.dc1)


def test_a_provider_unknown_to_the_peer_is_refused_there(pair: Pair) -> None:
    path = SERVICE_PATH.replace("/u06/", "/u10/")
    body = BODY
    headers = pair.signed(body, path=path)
    answer = httpx.post(pair.dc1.url + path, content=body, headers=headers, timeout=30)
    assert answer.status_code >= 400
    assert answer.json()["code"].startswith("exchange.")


def test_a_peer_that_is_down_gives_a_typed_fault_and_the_retry_completes_when_it_is_back(pair: Pair) -> None:
    before = len(records(pair.dc1, pair.person_a)), len(records(pair.dc2, pair.person_b))
    pair.dc2.stop()
    started = time.monotonic()
    answer = pair.query(BODY, **{"Idempotency-Key": "retry-1"})
    assert time.monotonic() - started < 15
    problem = answer.json()
    assert answer.status_code == 502, problem
    assert problem["code"] == "exchange.peer.unavailable"
    assert problem["xroad_code"].startswith("Server.")
    assert problem["deployment"] == "DC2"
    assert problem["peer_code"].startswith("tenancy.peer.")
    assert len(records(pair.dc1, pair.person_a)) == before[0]  # nothing provided, nothing recorded
    assert (str(pair.client.member.id), "error", "exchange.peer.unavailable") in log(pair.dc1)

    pair.dc2.start()
    again = pair.query(BODY, **{"Idempotency-Key": "retry-1"})
    assert again.status_code == 200, again.text
    assert again.json() == EXPECTED
    assert len(records(pair.dc1, pair.person_a)) == before[0] + 1
    assert len(records(pair.dc2, pair.person_b)) == before[1] + 1


def test_an_asynchronous_query_waits_for_the_peer_and_completes(pair: Pair) -> None:
    before = len(records(pair.dc1, pair.person_a))
    pair.dc2.stop()
    answer = pair.query(BODY, Prefer="respond-async")
    assert answer.status_code == 202, answer.text
    location = answer.json()["location"]
    time.sleep(0.5)
    pair.dc2.start()
    deadline = time.monotonic() + 30
    while True:
        headers = pair.signed(b"", path=location, method="GET")
        result = httpx.get(pair.dc1.url + location, headers=headers, timeout=10)
        if result.status_code != 202:
            break
        assert time.monotonic() < deadline, result.text
        time.sleep(0.3)
    assert result.status_code == 200, result.text
    assert result.json() == EXPECTED
    assert len(records(pair.dc1, pair.person_a)) == before + 1


def test_a_peer_cannot_assert_a_client_it_does_not_host(pair: Pair) -> None:
    """DC2's hub forwards a query naming a 千代田区 member that DC2 does not host: DC1 refuses it."""
    platform = pair.dc2.live
    peer = platform.federation.peer("DC1")
    path = "/r1/JP/LG/131016/u17/income-certificate"
    body = json.dumps({"person_fugo": "x" * 20, "fiscal_year": 2025}).encode()
    headers = {"X-Road-Client": "JP/LG/131016/u06", "X-Road-Issue": "infant-medical-subsidy"}

    async def call() -> HttpResponse:
        async with HttpClient(ssl_context_for=platform.hub_tls.context_for) as client:
            return await PeerLink(client).post(peer, path, body, headers)

    answer = asyncio.run(call())
    assert answer.status == 400, answer.body
    assert json.loads(answer.body)["code"] == "exchange.peer.invalid"


def test_a_peer_presenting_a_certificate_of_another_ca_is_refused_and_nothing_is_recorded(
    pair: Pair,
) -> None:
    """DC2 comes back with a new CA (its hub certificate reissued by it): DC1 pinned the old one, so the
    handshake fails — a typed fault, no record of provision — until DC2 returns with the CA DC1 trusts."""
    before = len(records(pair.dc1, pair.person_a))
    data = pair.dc2.settings.data_dir
    pair.dc2.stop()
    kept = data / "kept-ca"
    (data / CA_DIRECTORY).rename(kept)
    (data / TLS_DIRECTORY / "hub.pem").unlink()
    try:
        pair.dc2.start()  # a fresh CA is generated; the hub certificate is issued by it
        answer = pair.query(BODY)
        problem = answer.json()
        assert answer.status_code == 502, problem
        assert (problem["code"], problem["peer_code"]) == (
            "exchange.peer.unavailable",
            "tenancy.peer.untrusted",
        )
        assert problem["reason"] == "peer_certificate"
        assert pair.seen == []
        assert len(records(pair.dc1, pair.person_a)) == before
    finally:
        pair.dc2.stop()
        shutil.rmtree(data / CA_DIRECTORY)
        kept.rename(data / CA_DIRECTORY)
        (data / TLS_DIRECTORY / "hub.pem").unlink()
        pair.dc2.start()
    assert pair.query(BODY).status_code == 200
