"""The query flow over real HTTP on loopback: hub and provider are uvicorn servers, storage is SQLite."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response

from renkei.exchange.errors import ExchangeError
from renkei.exchange.models import LogOutcome
from renkei.exchange.service import subject_of
from renkei.exchange.transport import HttpTransport
from renkei.identity.scan import contains_individual_number
from renkei.registry.auth import SIGNATURE_HEADER
from renkei.spec.models import Spec
from renkei.storage.sql.engine import connection_source
from tests.exchange.harness import (
    ATENA,
    PURPOSE_ITEMS,
    SERVICE_PATH,
    World,
    build_world,
    hub_app,
    post,
    running_world,
    serve,
)

BODY = json.dumps({"atena_number": ATENA, "fiscal_year": 2025}).encode()
VALID_INDIVIDUAL_NUMBER = "123456789018"
FULL_WIDTH_NUMBER = VALID_INDIVIDUAL_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


@pytest.fixture
def world(tmp_path: Path, spec: Spec) -> Iterator[World]:
    with running_world(tmp_path, spec) as made:
        yield made


def _records(world: World) -> list[object]:
    from renkei.storage.sql.audit import audit_record

    with connection_source(world.storage)(False) as connection:
        return list(connection.execute(audit_record.select()))


def test_an_allowed_query_converts_the_person_and_records_both_ends(world: World) -> None:
    response = post(world, BODY, headers={"X-Road-Id": "msg-1", "X-Road-UserId": "operator-7"})

    assert response.status_code == 200, response.text
    assert response.json() == {"fiscal_year": 2025, "taxable_income": 1_200_000, "total_income": 2_500_000}
    assert set(response.json()) <= set(PURPOSE_ITEMS)  # tax_amount is outside the purpose: filtered out
    assert response.headers["X-Road-Id"] == "msg-1"
    assert len(response.headers["X-Road-Request-Hash"]) == 88  # base64 of 64 bytes
    (received,) = world.seen
    assert received["body"] == {"person_fugo": world.provider_fugo, "fiscal_year": 2025}
    assert received["headers"]["x-road-client"] == "JP/LG/131016/u17"
    assert received["headers"]["x-road-userid"] == "operator-7"
    assert ATENA not in json.dumps(received) and world.caller_fugo not in json.dumps(received)
    rows = _records(world)
    assert len(rows) == 2
    bodies = [json.loads(r.body) for r in rows]  # type: ignore[attr-defined]
    assert {b["record"]["side"] for b in bodies} == {"requester", "provider"}
    assert all(b["record"]["subject"] == subject_of(world.person_key) for b in bodies)
    assert all(b["record"]["message_id"] == "msg-1" for b in bodies)
    (entry,) = world.store.entries()
    assert entry.outcome is LogOutcome.PROVIDED
    assert entry.client == "JP/LG/131016/u17" and entry.provider == "JP/LG/131024/u06"
    assert entry.request_hash == response.headers["X-Road-Request-Hash"] and entry.response_hash


def test_the_caller_may_send_its_own_fugo(world: World) -> None:
    body = json.dumps({"person_fugo": world.caller_fugo, "fiscal_year": 2025}).encode()
    response = post(world, body)
    assert response.status_code == 200, response.text
    assert world.seen[0]["body"]["person_fugo"] == world.provider_fugo


def test_get_takes_the_request_items_from_the_query(world: World) -> None:
    path = f"{SERVICE_PATH}?atena_number={ATENA}&fiscal_year=2025"
    response = httpx.get(world.hub_url + path, headers=world.signed("GET", path), timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["taxable_income"] == 1_200_000


def _problem(response: httpx.Response, status: int, code: str, xroad: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    found: dict[str, object] = response.json()
    assert found["code"] == code and found["xroad_code"] == xroad
    assert response.headers["X-Road-Id"]
    return found


def _denied_without_records(world: World, outcome: LogOutcome = LogOutcome.DENIED) -> None:
    assert _records(world) == []
    assert world.seen == []
    assert [e.outcome for e in world.store.entries()] == [outcome]


def test_out_of_matrix_is_denied_by_the_matrix(world: World) -> None:
    response = post(world, BODY, who=world.outsider)
    found = _problem(response, 403, "exchange.client.unauthorised", "Client.AccessDenied")
    assert found["rule"] == "spec.matrix"
    _denied_without_records(world)


@pytest.mark.parametrize("purpose", ["no-such-purpose", "health-check"])
def test_a_purpose_that_is_unknown_or_does_not_cover_the_kind_is_denied(world: World, purpose: str) -> None:
    response = post(world, BODY, headers={"X-Road-Issue": purpose})
    assert _problem(response, 403, "exchange.client.unauthorised", "Client.AccessDenied")["rule"] == (
        "registry.purpose"
    )
    _denied_without_records(world)


def test_unsigned_altered_and_replayed_requests_are_refused(world: World) -> None:
    headers = world.signed("POST", SERVICE_PATH, BODY)
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
    r = httpx.post(world.hub_url + SERVICE_PATH, content=BODY, headers=unsigned)
    assert _problem(r, 401, "exchange.client.unauthenticated", "Client.InvalidSignature")["reason"] == (
        "registry.auth.missing"
    )
    altered = BODY.replace(b"2025", b"2024")
    r = httpx.post(world.hub_url + SERVICE_PATH, content=altered, headers=headers)
    assert _problem(r, 401, "exchange.client.unauthenticated", "Client.InvalidSignature")["reason"] == (
        "registry.auth.altered"
    )
    assert httpx.post(world.hub_url + SERVICE_PATH, content=BODY, headers=headers).status_code == 200
    r = httpx.post(world.hub_url + SERVICE_PATH, content=BODY, headers=headers)
    assert _problem(r, 401, "exchange.client.unauthenticated", "Client.InvalidSignature")["reason"] == (
        "registry.auth.replayed"
    )
    assert len(_records(world)) == 2  # the one accepted exchange only


def test_the_client_header_must_name_the_signer(world: World) -> None:
    response = post(world, BODY, client_header="JP/LG/131016/u19")
    _problem(response, 400, "exchange.client.invalid", "Client.InvalidClientIdentifier")
    _denied_without_records(world)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"atena_number": ', "exchange.request.malformed"),
        (b"[1, 2]", "exchange.request.invalid"),
        (json.dumps({"atena_number": ATENA}).encode(), "exchange.request.invalid"),
        (
            json.dumps({"atena_number": ATENA, "fiscal_year": 2025, "x": 1}).encode(),
            "exchange.request.invalid",
        ),
        (
            json.dumps(
                {"atena_number": ATENA, "fiscal_year": 2025, "note": VALID_INDIVIDUAL_NUMBER}
            ).encode(),
            "exchange.request.individual_number",
        ),
        # Hidden from a scan of the bytes by JSON escapes: ASCII digits, and full-width ones.
        (
            b'{"atena_number": "%s", "fiscal_year": 2025, "note": "%s"}'
            % (ATENA.encode(), "".join(f"\\u{ord(c):04x}" for c in VALID_INDIVIDUAL_NUMBER).encode()),
            "exchange.request.individual_number",
        ),
        (
            json.dumps(
                {"atena_number": ATENA, "fiscal_year": 2025, "note": FULL_WIDTH_NUMBER}, ensure_ascii=True
            ).encode(),
            "exchange.request.individual_number",
        ),
        (  # … and by an exponent
            b'{"atena_number": "%s", "fiscal_year": 2025, "note": 1.23456789018e11}' % ATENA.encode(),
            "exchange.request.individual_number",
        ),
    ],
)
def test_bad_bodies_get_typed_errors(world: World, body: bytes, code: str) -> None:
    response = post(world, body)
    found = _problem(response, 400, code, "Client.BadRequest")
    assert VALID_INDIVIDUAL_NUMBER not in response.text and ATENA not in json.dumps(found)
    _denied_without_records(world)


HIDDEN = "".join(f"%{ord(c):02X}" for c in VALID_INDIVIDUAL_NUMBER)


@pytest.mark.parametrize(
    "query", [f"fiscal_year=2025&atena_number={ATENA}&note={HIDDEN}", f"fiscal_year=2025&{HIDDEN}=1"]
)
def test_a_percent_encoded_number_in_a_get_query_is_refused(world: World, query: str) -> None:
    path = f"{SERVICE_PATH}?{query}"
    response = httpx.get(world.hub_url + path, headers=world.signed("GET", path), timeout=10)
    found = _problem(response, 400, "exchange.request.individual_number", "Client.BadRequest")
    assert VALID_INDIVIDUAL_NUMBER not in response.text and ATENA not in json.dumps(found)
    _denied_without_records(world)


def test_an_oversized_body_is_refused_in_bounded_time(world: World) -> None:
    big = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    response = post(world, big)
    assert time.monotonic() - started < 5
    _problem(response, 413, "exchange.request.too_large", "Client.BadRequest")
    _denied_without_records(world)


def test_an_unknown_person_is_a_typed_error(world: World) -> None:
    response = post(world, json.dumps({"atena_number": "000000000000099", "fiscal_year": 2025}).encode())
    _problem(response, 404, "exchange.person.unknown", "Client.PersonUnknown")


def test_idempotency_key_replays_the_stored_reply_and_refuses_another_body(world: World) -> None:
    first = post(world, BODY, headers={"Idempotency-Key": "k-1"})
    again = post(world, BODY, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(world.seen) == 1 and len(_records(world)) == 2  # the provider was asked once
    other = json.dumps({"atena_number": ATENA, "fiscal_year": 2024}).encode()
    _problem(
        post(world, other, headers={"Idempotency-Key": "k-1"}),
        409,
        "exchange.idempotency.conflict",
        "Client.IdempotencyConflict",
    )
    outcomes = [e.outcome for e in world.store.entries()]
    assert sorted(outcomes) == sorted([LogOutcome.PROVIDED, LogOutcome.REPLAYED, LogOutcome.DENIED])


def test_async_query_gives_a_result_to_its_client_only(world: World) -> None:
    accepted = post(world, BODY, headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["Location"]
    assert location.startswith("/r1/results/") and accepted.headers["X-Road-Id"]
    deadline = time.monotonic() + 10
    while True:
        got = httpx.get(world.hub_url + location, headers=world.signed("GET", location))
        if got.status_code != 202 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got.status_code == 200, got.text
    assert got.json()["taxable_income"] == 1_200_000
    assert got.headers["X-Road-Id"] == accepted.headers["X-Road-Id"]
    stranger = httpx.get(world.hub_url + location, headers=world.signed("GET", location, who=world.outsider))
    _problem(stranger, 404, "exchange.result.unknown", "Client.ResultNotFound")


def test_a_provider_that_is_down_is_unreachable_and_leaves_no_record(tmp_path: Path, spec: Spec) -> None:
    with running_world(tmp_path, spec, provider_up=False) as world:
        response = post(world, BODY)
        _problem(response, 502, "exchange.provider.unreachable", "Server.Unreachable")
        _denied_without_records(world, LogOutcome.ERROR)


def test_a_slow_provider_times_out_and_leaves_no_record(tmp_path: Path, spec: Spec) -> None:
    with running_world(tmp_path, spec, delay=2.0, read_timeout=0.3) as world:
        started = time.monotonic()
        response = post(world, BODY)
        assert time.monotonic() - started < 1.5
        _problem(response, 504, "exchange.provider.timeout", "Server.Timeout")
        assert _records(world) == []
        assert [e.outcome for e in world.store.entries()] == [LogOutcome.ERROR]


def test_the_default_journal_writes_each_store_on_its_own(tmp_path: Path, spec: Spec) -> None:
    """Without ``SqlExchangeJournal`` (how app.py wires the hub until it passes one) the same holds."""
    with running_world(tmp_path, spec, joint=False) as world:
        headers = world.signed("POST", SERVICE_PATH, BODY)
        assert httpx.post(world.hub_url + SERVICE_PATH, content=BODY, headers=headers).status_code == 200
        again = httpx.post(world.hub_url + SERVICE_PATH, content=BODY, headers=headers)
        assert _problem(again, 401, "exchange.client.unauthenticated", "Client.InvalidSignature")[
            "reason"
        ] == ("registry.auth.replayed")
        assert len(_records(world)) == 2
        assert sorted(e.outcome for e in world.store.entries()) == [LogOutcome.DENIED, LogOutcome.PROVIDED]


def test_concurrent_exchanges_each_leave_their_records_and_a_replay_passes_once(world: World) -> None:
    """32 exchanges at once share transactions (group commit); each still gets its own row and records,
    and one signed request sent 8 times at once is answered once."""
    replayed = world.signed("POST", SERVICE_PATH, BODY)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=world.hub_url, timeout=20) as client:
            fresh = [
                client.post(SERVICE_PATH, content=BODY, headers=world.signed("POST", SERVICE_PATH, BODY))
                for _ in range(24)
            ]
            copies = [client.post(SERVICE_PATH, content=BODY, headers=replayed) for _ in range(8)]
            return list(await asyncio.gather(*fresh, *copies))

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses[:24]] == [200] * 24
    assert sorted(r.status_code for r in responses[24:]) == [200] + [401] * 7
    rows = world.store.entries(limit=100)
    assert len(rows) == 32 and len({r.message_id for r in rows}) == 32
    assert sorted(r.outcome for r in rows).count(LogOutcome.PROVIDED) == 25
    assert len(_records(world)) == 2 * 25
    assert len(world.seen) == 25  # the provider was asked once per accepted request, never for a replay
    assert world.audit.verify().ok


def test_a_provider_answer_over_the_limit_or_not_http_is_a_typed_fault() -> None:
    """The transport reads at most ``max_response`` bytes; garbage or a cut answer is unreachable."""
    answers = {
        "/big": b"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n" + b"x" * 2048,
        "/exact": b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n" + b"y" * 1024,
        "/garbage": b"SMTP ready\r\n\r\n",
        "/cut": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    }

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        writer.write(answers[head.split(b" ")[1].decode()])
        await writer.drain()
        writer.close()

    async def scenario() -> dict[str, object]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        transport = HttpTransport(connect_timeout=0.5, read_timeout=0.5, max_response=1024)
        found: dict[str, object] = {}
        try:
            for path in answers:
                try:
                    found[path] = (await transport.post(base + path, {"X-Road-Id": "t"}, b"{}")).body
                except ExchangeError as error:
                    found[path] = error.code
        finally:
            await transport.aclose()
            server.close()
            await server.wait_closed()
        return found

    found = asyncio.run(scenario())
    assert found == {
        "/big": "exchange.provider.failed",
        "/exact": b"y" * 1024,
        "/garbage": "exchange.provider.unreachable",
        "/cut": "exchange.provider.unreachable",
    }


def test_an_escaped_number_in_the_answer_is_not_passed_on(tmp_path: Path, spec: Spec) -> None:
    """A provider whose JSON encoder escapes non-ASCII (many do): its answer's full-width digits are a
    valid 個人番号 only once decoded, and the hub refuses the answer all the same."""
    answer = json.dumps(
        {"fiscal_year": 2025, "tax_status": FULL_WIDTH_NUMBER, "taxable_income": 1, "total_income": 2},
        ensure_ascii=True,
    )
    assert "\\uff11" in answer and not contains_individual_number(answer.encode())
    provider = FastAPI()

    @provider.post("/income-certificate")
    async def escaping() -> Response:
        return Response(answer, media_type="application/json")

    with serve(provider) as provider_url:
        world = build_world(tmp_path, spec, provider_url)
        with serve(hub_app(world.hub)) as hub_url:
            world.hub_url = hub_url
            response = post(world, BODY)
    found = _problem(response, 502, "exchange.provider.failed", "Server.ServiceFailed")
    assert "個人番号" in str(found["detail"]) and "１" not in response.text
    assert _records(world) == []  # nothing was provided
