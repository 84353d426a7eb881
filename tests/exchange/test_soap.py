"""The SOAP 1.1 edge (``POST /soap``, ``GET /soap?wsdl``) over real HTTP on loopback, called by zeep.

The hub, its provider and the SOAP edge are uvicorn servers; zeep loads the WSDL from the hub and signs
every POST over the exact envelope bytes it sends (a requests auth hook), as a REST caller signs its body.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import zeep
import zeep.exceptions
import zeep.transports
from lxml import etree

from renkei.api import soap as soap_api
from renkei.exchange.models import LogOutcome
from renkei.exchange.provider import income_provider
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.service import Enrolment
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import create_storage
from tests.exchange.harness import (
    CHUO,
    PROVIDER_KEY,
    PURPOSE,
    PURPOSE_ITEMS,
    ROW,
    World,
    build_world,
    hub_app,
    serve,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:renkei:service"
PROVIDER = f"{CHUO}/u06"
ACTION = "urn:renkei:service:income-certificate"


class Signed(requests.auth.AuthBase):
    """Signs each POST over its exact body bytes (what zeep sends), with the REST headers."""

    def __init__(self, member: Enrolment, purpose: str = PURPOSE, service: str = PROVIDER) -> None:
        self.member = member
        self.headers = {
            "X-Road-Client": str(member.member.id),
            "X-Road-Issue": purpose,
            "X-Road-Service": service,
        }

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if r.method == "POST":
            body = r.body if isinstance(r.body, bytes) else str(r.body or "").encode("utf-8")
            r.headers[SIGNATURE_HEADER] = sign_request(
                self.member.private_key_pem,
                self.member.member.id,
                "POST",
                r.path_url,
                body,
                SystemClock().now(),
                certificate=self.member.certificate_pem,
            )
            r.headers.update(self.headers)
        return r


@pytest.fixture
def world(tmp_path: Path, spec: Spec) -> Iterator[World]:
    """The harness's provider and hub, the hub's app also carrying the SOAP router (app.py wires both)."""
    table: dict[str, dict[str, Any]] = {}
    seen: list[dict[str, Any]] = []
    with (
        create_storage(f"sqlite:///{tmp_path / 'hub.db'}") as storage,
        serve(income_provider(table, hub_key=PROVIDER_KEY, seen=seen)) as provider_url,
    ):
        made = build_world(tmp_path, spec, provider_url, storage=storage)
        made.seen = seen
        table[made.provider_fugo] = dict(ROW)
        app = hub_app(made.hub)
        app.include_router(soap_api.router)
        with serve(app) as hub_url:
            made.hub_url = hub_url
            yield made


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as made:
        yield made


def client(world: World, session: requests.Session, auth: Signed | None = None) -> Any:
    session.auth = auth or Signed(world.client)
    transport = zeep.transports.Transport(  # type: ignore[no-untyped-call]
        session=session, timeout=10, operation_timeout=10
    )
    # zeep's strict mode: answers the purpose filtered down still conform (response items are optional).
    return zeep.Client(world.hub_url + "/soap?wsdl", transport=transport)  # type: ignore[no-untyped-call]


def test_wsdl_is_served_with_this_servers_address(world: World) -> None:
    response = httpx.get(world.hub_url + "/soap?wsdl", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == world.hub_url + "/soap"


def test_zeep_calls_income_certificate_through_the_hub(world: World, session: requests.Session) -> None:
    answer = client(world, session).service.incomeCertificate(person_fugo=world.caller_fugo, fiscal_year=2025)

    assert answer.fiscal_year == 2025
    assert answer.total_income == 2_500_000 and answer.taxable_income == 1_200_000
    assert getattr(answer, "tax_amount", None) is None  # outside the purpose: filtered out, as over REST
    # The provider got its own organisation's 符号 (converted by the hub), never the caller's.
    assert world.seen[-1]["body"]["person_fugo"] == world.provider_fugo
    (entry,) = world.store.entries()
    assert (entry.outcome, entry.service) == (LogOutcome.PROVIDED, "income-certificate")
    assert entry.purpose == PURPOSE
    assert all(getattr(answer, item) is not None for item in PURPOSE_ITEMS)


def test_a_denied_call_is_a_fault_with_the_code(world: World, session: requests.Session) -> None:
    soap = client(world, session, Signed(world.client, purpose="health-check"))
    with pytest.raises(zeep.exceptions.Fault) as caught:
        soap.service.incomeCertificate(person_fugo=world.caller_fugo, fiscal_year=2025)

    fault = caught.value
    assert fault.code.endswith("Client")
    assert fault.detail is not None
    assert fault.detail.findtext(f"{{{NS}}}renkeiFault/{{{NS}}}code") == "exchange.client.unauthorised"
    assert world.seen == []  # the provider was not asked
    (entry,) = world.store.entries()
    assert (entry.outcome, entry.code) == (LogOutcome.DENIED, "exchange.client.unauthorised")


def test_a_signature_over_other_bytes_is_refused(world: World) -> None:
    envelope = _envelope(world.caller_fugo)
    headers = _signed(world, envelope.replace(b"2025", b"2024"))
    response = httpx.post(world.hub_url + "/soap", content=envelope, headers=headers, timeout=10)
    assert response.status_code == 500
    assert _fault(response) == ("soap:Client", "exchange.client.unauthenticated")


def test_a_provider_that_is_not_registered_is_denied(world: World) -> None:
    envelope = _envelope(world.caller_fugo)
    headers = _signed(world, envelope, service="JP/LG/131024/u15")
    response = httpx.post(world.hub_url + "/soap", content=envelope, headers=headers, timeout=10)
    assert _fault(response)[1] == "exchange.client.unauthorised"


def test_a_wrong_soap_action_is_refused(world: World) -> None:
    envelope = _envelope(world.caller_fugo)
    headers = {**_signed(world, envelope), "SOAPAction": '"urn:renkei:service:resident-record"'}
    response = httpx.post(world.hub_url + "/soap", content=envelope, headers=headers, timeout=10)
    assert _fault(response) == ("soap:Client", "exchange.request.invalid")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<incomeCertificate xmlns="urn:renkei:service"><person_fugo>&lol9;</person_fugo></incomeCertificate>
</soap:Body></soap:Envelope>"""


@pytest.mark.parametrize(
    "document",
    [
        BOMB,
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        b"<a>" * 5000 + b"</a>" * 5000,
        b"<soap:Envelope xmlns:soap='" + SOAP_ENV.encode() + b"'><soap:Body><x",
    ],
    ids=["billion-laughs", "external-dtd", "deep", "malformed"],
)
def test_hostile_xml_is_refused_quickly(world: World, document: bytes) -> None:
    started = time.monotonic()
    response = httpx.post(
        world.hub_url + "/soap", content=document, headers=_signed(world, document), timeout=10
    )
    assert time.monotonic() - started < 2
    assert response.status_code == 500
    assert _fault(response) == ("soap:Client", "exchange.request.invalid")
    assert world.seen == []


def test_a_body_over_the_limit_is_refused_unread(world: World) -> None:
    document = b"<x>" + b" " * (1024 * 1024) + b"</x>"
    response = httpx.post(
        world.hub_url + "/soap", content=document, headers=_signed(world, document), timeout=10
    )
    assert _fault(response) == ("soap:Client", "exchange.request.too_large")


UNKNOWN_OPERATION = (
    f'<?xml version="1.0"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
    f'<noSuchOperation xmlns="{NS}"><person_fugo>x</person_fugo></noSuchOperation>'
    "</soap:Body></soap:Envelope>"
).encode()


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("billion-laughs", "exchange.request.invalid"),
        ("unknown-operation", "exchange.service.unknown"),
        ("no-x-road-service", "exchange.request.invalid"),
        ("too-large", "exchange.request.too_large"),
    ],
)
def test_a_call_refused_before_the_hub_runs_leaves_a_log_row(world: World, case: str, code: str) -> None:
    """Every exchange, allowed or denied, leaves a record: also one the SOAP edge refuses itself."""
    document = {
        "billion-laughs": BOMB,
        "unknown-operation": UNKNOWN_OPERATION,
        "too-large": b"<x>" + b" " * (1024 * 1024) + b"</x>",
    }.get(case, _envelope(world.caller_fugo))
    headers = {**_signed(world, document), "X-Road-Id": f"refused-{case}"}
    if case == "unknown-operation":
        headers.pop("SOAPAction")
    if case == "no-x-road-service":
        headers.pop("X-Road-Service")
    response = httpx.post(world.hub_url + "/soap", content=document, headers=headers, timeout=10)

    assert _fault(response) == ("soap:Client", code)
    assert response.headers["X-Road-Id"] == f"refused-{case}"
    (entry,) = world.store.entries()
    assert (entry.outcome, entry.code, entry.message_id) == (LogOutcome.DENIED, code, f"refused-{case}")
    assert entry.client == str(world.client.member.id)  # as the headers claim it: not authenticated
    assert entry.request_hash == response.headers["X-Road-Request-Hash"] and entry.response_hash
    assert world.seen == []


def _envelope(fugo: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<incomeCertificate xmlns="{NS}"><person_fugo>{fugo}</person_fugo><fiscal_year>2025</fiscal_year>'
        "</incomeCertificate></soap:Body></soap:Envelope>"
    ).encode()


def _signed(world: World, body: bytes, *, service: str = PROVIDER) -> dict[str, str]:
    headers = world.signed("POST", "/soap", body)
    headers.update({"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ACTION}"'})
    headers["X-Road-Service"] = service
    return headers


def _fault(response: httpx.Response) -> tuple[str | None, str | None]:
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text
    assert fault.findtext("faultstring")
    return fault.findtext("faultcode"), fault.findtext(f"detail/{{{NS}}}renkeiFault/{{{NS}}}code")
