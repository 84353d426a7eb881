"""The hub's SOAP client side (``renkei.exchange.soapforward``) and the SOAP-only demo member system.

* every query operation of the WSDL: the request :func:`encode_request` writes validates against the WSDL's
  schema and equals what zeep (a WSDL-driven client) builds; an answer validates and decodes back;
* a Fault, hostile XML (entities, bombs, external DTDs, depth, size) and answers that break the WSDL become
  ``exchange.provider.failed`` in bounded time, never carrying a value or the provider's fault text;
* a real loopback uvicorn server runs the SOAP-only member (``renkei.demo.soapmember``) on a seeded demo
  deployment and answers requests built by :func:`encode_request` and signed as the hub signs;
* through the hub (once ``ExchangeHub._provide`` forwards SOAP, see docs/files.md): a REST caller and a SOAP
  caller get the SOAP-only provider's answer, filtered by the purpose, with access records at both ends.
"""

from __future__ import annotations

import datetime as dt
import inspect
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from fastapi import FastAPI
from lxml import etree

from renkei.api import soap as soap_api
from renkei.api.deps import Platform
from renkei.app import build_app, build_platform
from renkei.audit.models import Side
from renkei.demo.members import MemberSystems, member_id
from renkei.demo.population import DEFAULT_MUNICIPALITY, SECOND_MUNICIPALITY, Population, generate_population
from renkei.demo.records import population_records
from renkei.demo.seed import member_key_directory, seed_demo
from renkei.demo.soapmember import SOAP_MEMBERS_PATH, build_soap_member_app
from renkei.exchange import service as hub_service
from renkei.exchange.errors import BadRequest, ServiceFailed
from renkei.exchange.models import LogOutcome
from renkei.exchange.service import subject_of
from renkei.exchange.signing import HUB_KEY_NAME, HUB_SIGNATURE_HEADER, HubSigner
from renkei.exchange.soapcodec import SOAP_ENV, fault_envelope, operation, write_request, write_response
from renkei.exchange.soapforward import decode_response, encode_request
from renkei.identity.keys import FileKeyStore
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.identifiers import MemberId
from renkei.settings import Settings
from renkei.spec.export.naming import SERVICE_NAMESPACE
from renkei.spec.export.typemap import sample_value
from renkei.spec.export.wsdl import build_service_xsd, build_wsdl
from renkei.spec.loader import load_spec
from renkei.spec.models import InformationKind, ItemType, Service, ServiceKind, Spec
from renkei.storage.clock import SystemClock
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.exchange import SqlExchangeStore
from renkei.types import InformationId
from tests.exchange.harness import serve

QUERIES = [(k.id, s.id) for k, s in load_spec().services() if s.kind is ServiceKind.QUERY]
X_ROAD = {
    "X-Road-Id": "msg-1",
    "X-Road-Client": "JP/LG/131016/u17",
    "X-Road-Service": "JP/LG/131024/u06/income-certificate",
    "X-Road-Issue": "infant-medical-subsidy",
    "X-Road-UserId": "operator-7",
    "X-Road-Request-Hash": "aGFzaA==",
}
PERSONAL = "山田花子"  # planted in faults and bad values: must never come back in an error


@pytest.fixture(scope="module")
def service_schema(spec: Spec) -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(build_service_xsd(spec).encode("utf-8")))


@pytest.fixture(scope="module")
def zeep_client(spec: Spec, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("wsdl") / "renkei.wsdl"
    path.write_text(build_wsdl(spec), encoding="utf-8")
    return zeep.Client(str(path))  # type: ignore[no-untyped-call]


def _service(spec: Spec, service_id: str) -> tuple[InformationKind, Service]:
    return spec.service(service_id)


def _payload(envelope_bytes: bytes) -> etree._Element:
    root = etree.fromstring(envelope_bytes)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    (body,) = root
    assert body.tag == f"{{{SOAP_ENV}}}Body"
    (payload,) = body
    return etree.fromstring(etree.tostring(payload))  # standalone, for schema validation


def _python(spec: Spec, kind: InformationKind, item_id: str, value: Any) -> Any:
    """The value zeep takes for an item (dates as date objects)."""
    item = spec.request_item(kind, item_id)
    if item.type is ItemType.DATE:
        return dt.date.fromisoformat(value)
    if item.type is ItemType.DATETIME:
        return dt.datetime.fromisoformat(value)
    return value


# --- encode / decode against the WSDL, for every operation -------------------------------------------------


@pytest.mark.parametrize(("information", "service_id"), QUERIES, ids=[s for _, s in QUERIES])
def test_every_request_is_the_wsdls_request_element(
    spec: Spec, service_schema: etree.XMLSchema, zeep_client: Any, information: str, service_id: str
) -> None:
    kind, service = _service(spec, service_id)
    items: dict[str, Any] = {r: sample_value(spec, spec.request_item(kind, r)) for r in service.request}

    body, headers = encode_request(spec, kind, service, items, {**X_ROAD, "content-type": "application/json"})

    payload = _payload(body)
    service_schema.assertValid(etree.ElementTree(payload))
    assert payload.tag == f"{{{SERVICE_NAMESPACE}}}{operation(spec, kind, service).name}"
    # zeep, driven by the WSDL alone, builds the same element with the same item texts in the same order.
    built = zeep_client.create_message(
        zeep_client.service,
        operation(spec, kind, service).name,
        **{k: _python(spec, kind, k, v) for k, v in items.items()},
    )
    expected = built.find(f"{{{SOAP_ENV}}}Body")[0]
    assert [(c.tag, c.text) for c in payload] == [(c.tag, c.text) for c in expected]
    assert headers["Content-Type"] == "text/xml; charset=utf-8"
    assert headers["SOAPAction"] == f'"urn:renkei:service:{service_id}"'
    assert "content-type" not in headers
    assert {k: headers[k] for k in X_ROAD} == X_ROAD


@pytest.mark.parametrize(("information", "service_id"), QUERIES, ids=[s for _, s in QUERIES])
def test_every_answer_decodes_to_its_items(
    spec: Spec, service_schema: etree.XMLSchema, zeep_client: Any, information: str, service_id: str
) -> None:
    kind, service = _service(spec, service_id)
    record: dict[str, Any] = {r: sample_value(spec, kind.item(r)) for r in service.response}
    answer = write_response(operation(spec, kind, service), record)

    service_schema.assertValid(etree.ElementTree(_payload(answer)))
    read = zeep_client.service._binding._operations[operation(spec, kind, service).name]
    assert read.output.deserialize(etree.fromstring(answer)) is not None  # zeep reads it by the WSDL
    assert decode_response(spec, kind, service, answer) == record
    # A purpose-filtered answer (some items left out) is still the operation's response.
    first = service.response[0]
    assert decode_response(spec, kind, service, write_response(operation(spec, kind, service), {})) == {}
    assert decode_response(
        spec, kind, service, write_response(operation(spec, kind, service), {first: record[first]})
    ) == {first: record[first]}


def test_an_item_the_wsdl_does_not_define_is_not_sent(spec: Spec) -> None:
    kind, service = _service(spec, "income-certificate")
    with pytest.raises(BadRequest):
        encode_request(spec, kind, service, {"atena_number": "000000000000019", "fiscal_year": 2025}, X_ROAD)


# --- failures of the provider's answer ---------------------------------------------------------------------


def test_a_fault_is_service_failed_with_the_providers_code_only(spec: Spec) -> None:
    kind, service = _service(spec, "income-certificate")
    fault = fault_envelope("demo.record.unknown", "RecordUnknown", f"{PERSONAL} はいません", client=True)

    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, fault, status=500)

    error = caught.value
    assert error.code == "exchange.provider.failed"
    assert error.detail["provider_code"] == "demo.record.unknown"
    assert error.detail["provider_fault"] == "Client"
    assert PERSONAL not in str(error) and PERSONAL not in str(dict(error.detail))


def test_a_fault_code_that_is_not_a_renkei_code_is_not_passed_on(spec: Spec) -> None:
    kind, service = _service(spec, "income-certificate")
    fault = fault_envelope(f"<{PERSONAL}>", "X", "boom", client=False)
    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, fault, status=500)
    assert "provider_code" not in caught.value.detail
    assert caught.value.detail["provider_fault"] == "Server"
    assert PERSONAL not in str(caught.value)


BOMB = f"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>
<incomeCertificateResponse xmlns="urn:renkei:service"><fiscal_year>&lol9;</fiscal_year>
</incomeCertificateResponse></soap:Body></soap:Envelope>""".encode()
QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "'
    + b"A" * 50_000
    + b'">]><soap:Envelope xmlns:soap="'
    + SOAP_ENV.encode()
    + b'"><soap:Body><x>'
    + b"&a;" * 50_000
    + b"</x></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    "document",
    [
        BOMB,
        QUADRATIC,
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&xxe;</x>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/">]><x>&xxe;</x>',
        b"<a>" * 5000 + b"</a>" * 5000,
        b"<soap:Envelope xmlns:soap='" + SOAP_ENV.encode() + b"'><soap:Body><x",
        b"<x>" + b" " * (4 * 1024 * 1024) + b"</x>",
        "<?xml version='1.0' encoding='UTF-16'?><x/>".encode("utf-16"),
        b"not xml at all",
        b"",
    ],
    ids=[
        "billion-laughs",
        "quadratic",
        "external-dtd",
        "external-entity",
        "deep",
        "malformed",
        "huge",
        "utf16",
        "text",
        "empty",
    ],
)
def test_hostile_or_broken_xml_fails_quickly(spec: Spec, document: bytes) -> None:
    kind, service = _service(spec, "income-certificate")
    started = time.monotonic()
    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, document)
    assert time.monotonic() - started < 1.0
    assert caught.value.code == "exchange.provider.failed"


def _answer(inner: str, tag: str = "incomeCertificateResponse") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<{tag} xmlns="{SERVICE_NAMESPACE}">{inner}</{tag}></soap:Body></soap:Envelope>'
    ).encode()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_answer(f"<fiscal_year>2025</fiscal_year><total_income>{PERSONAL}</total_income>"), "total_income"),
        (_answer(f"<tax_status>{PERSONAL}</tax_status>"), "tax_status"),
        (_answer(f"<my_number>{PERSONAL}</my_number>"), "my_number"),
        (_answer("<total_income>1</total_income><total_income>2</total_income>"), "total_income"),
        (_answer("<total_income>1</total_income><fiscal_year>2025</fiscal_year>"), "fiscal_year"),
        (_answer("<total_income><b>1</b></total_income>"), "total_income"),
    ],
    ids=["bad-amount", "bad-code", "unknown-item", "repeated", "out-of-order", "nested"],
)
def test_an_answer_that_breaks_the_wsdl_is_named_without_its_values(
    spec: Spec, document: bytes, field: str
) -> None:
    kind, service = _service(spec, "income-certificate")
    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, document)
    errors = caught.value.detail["errors"]
    assert any(e["field"] == field and e["line"] == 1 for e in errors)
    assert PERSONAL not in str(caught.value) and PERSONAL not in str(dict(caught.value.detail))


@pytest.mark.parametrize(
    ("document", "status", "reason"),
    [
        (_answer("<fiscal_year>2025</fiscal_year>"), 404, "HTTP 404"),
        (_answer("<fiscal_year>2025</fiscal_year>"), 500, "without a SOAP Fault"),
        (
            _answer("<person_fugo>x</person_fugo>", tag="incomeCertificate"),
            200,
            "not incomeCertificateResponse",
        ),
        (_answer("", tag="nhiInquiryResponse"), 200, "not incomeCertificateResponse"),
        (b"<x xmlns='urn:other'/>", 200, "not a SOAP 1.1 Envelope"),
    ],
    ids=["status-404", "500-without-fault", "request-element", "other-operation", "not-an-envelope"],
)
def test_a_wrong_answer_is_service_failed(spec: Spec, document: bytes, status: int, reason: str) -> None:
    kind, service = _service(spec, "income-certificate")
    with pytest.raises(ServiceFailed, match=reason):
        decode_response(spec, kind, service, document, status=status)


# --- the SOAP-only member system on a real loopback server -------------------------------------------------


SERVICES = [
    ("u01", "resident-record-inquiry", {"as_of": "2025-07-01"}),
    ("u06", "income-certificate", {"fiscal_year": 2025}),
    ("u10", "nhi-inquiry", {"as_of": "2025-07-01"}),
    ("u15", "allowance-inquiry", {"as_of": "2025-07-01"}),
    ("u17", "medical-subsidy-inquiry", {"as_of": "2025-07-01"}),
]
CHUO = "131024"


@pytest.fixture(scope="module")
def populations() -> list[Population]:
    return [
        generate_population(30, seed=7, municipality=DEFAULT_MUNICIPALITY),
        generate_population(40, seed=7, municipality=SECOND_MUNICIPALITY),
    ]


def _seeded(data_dir: Path, spec: Spec, populations: list[Population]) -> Platform:
    platform = build_platform(Settings(data_dir=data_dir), spec=spec, clock=SystemClock())
    seed_demo(platform, populations, data_dir=data_dir, base_url="http://127.0.0.1:9")
    return platform


def _hub_key(data_dir: Path) -> bytes:
    return FileKeyStore(data_dir / "keys").secret(HUB_KEY_NAME, 32)


@pytest.fixture(scope="module")
def member(
    spec: Spec, populations: list[Population], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Platform, str, bytes]]:
    """A seeded deployment and its SOAP-only member systems served (mounted as the platform would)."""
    data_dir = tmp_path_factory.mktemp("soap-member") / "var"
    platform = _seeded(data_dir, spec, populations)
    key = _hub_key(data_dir)
    host = FastAPI()
    systems = MemberSystems(spec, platform.linkage, populations)
    host.mount(
        SOAP_MEMBERS_PATH,
        build_soap_member_app(systems, hub_keys=HubSigner(key).key_for, clock=SystemClock()),
    )
    try:
        with serve(host) as url:
            yield platform, url + SOAP_MEMBERS_PATH, key
    finally:
        platform.storage.close()


def _fugo(platform: Platform, population: Population, atena: str) -> str:
    org = population.organisation
    return platform.linkage.convert(org, atena, org).fugo


def _post(url: str, key: bytes, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST as the hub does: the hub's HMAC over the path, time, X-Road ids and the envelope bytes."""
    path = httpx.URL(url).path
    signed = dict(headers)
    code, subsystem = path.rstrip("/").split("/")[-2:]
    signed[HUB_SIGNATURE_HEADER] = HubSigner(key).sign(
        "POST",
        path,
        int(time.time()),
        headers["X-Road-Id"],
        headers["X-Road-Client"],
        headers["X-Road-Service"],
        body,
        recipient=member_id(code, subsystem),
    )
    return httpx.post(url, content=body, headers=signed, timeout=10)


@pytest.mark.parametrize(("subsystem", "service_id", "extra"), SERVICES, ids=[s[1] for s in SERVICES])
def test_the_soap_member_answers_a_request_built_by_encode_request(
    member: tuple[Platform, str, bytes],
    populations: list[Population],
    spec: Spec,
    subsystem: str,
    service_id: str,
    extra: dict[str, Any],
) -> None:
    platform, base, key = member
    chuo = populations[1]
    kind, service = spec.service(service_id)
    record = population_records(chuo)[kind.id][0]
    items = {"person_fugo": _fugo(platform, chuo, str(record["atena_number"])), **extra}
    headers = {**X_ROAD, "X-Road-Service": f"JP/LG/{CHUO}/{subsystem}/{service_id}"}

    body, sent = encode_request(spec, kind, service, items, headers)
    response = _post(f"{base}/{CHUO}/{subsystem}", key, body, sent)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    answer = decode_response(spec, kind, service, response.content, status=response.status_code)
    assert answer == {k: record[k] for k in service.response if k in record}


def _income_request(
    platform: Platform, populations: list[Population], spec: Spec
) -> tuple[bytes, dict[str, str]]:
    chuo = populations[1]
    kind, service = spec.service("income-certificate")
    record = population_records(chuo)[kind.id][0]
    items = {"person_fugo": _fugo(platform, chuo, str(record["atena_number"])), "fiscal_year": 2025}
    return encode_request(spec, kind, service, items, X_ROAD)


@pytest.mark.parametrize("tamper", ["unsigned", "other-key", "other-member", "altered-body", "other-path"])
def test_the_soap_member_refuses_what_the_hub_did_not_sign(
    member: tuple[Platform, str, bytes], populations: list[Population], spec: Spec, tamper: str
) -> None:
    platform, base, key = member
    body, headers = _income_request(platform, populations, spec)
    url = f"{base}/{CHUO}/u06"
    signer, path, sent, recipient = HubSigner(key), httpx.URL(url).path, body, f"JP/LG/{CHUO}/u06"
    if tamper == "other-key":
        signer = HubSigner(bytes(32))
    elif tamper == "other-member":
        # Signed with the deployment's key, but for another member system: what that member could make
        # with the key it was given. One member's key never signs toward another.
        recipient = f"JP/LG/{CHUO}/u10"
    elif tamper == "altered-body":
        sent = body.replace(b"2025", b"2024")
    elif tamper == "other-path":
        path = path.replace("/u06", "/u17")
    token = signer.sign(
        "POST",
        path,
        int(time.time()),
        "msg-1",
        X_ROAD["X-Road-Client"],
        X_ROAD["X-Road-Service"],
        body,
        recipient=recipient,
    )
    if tamper != "unsigned":
        headers = {**headers, HUB_SIGNATURE_HEADER: token}
    response = httpx.post(url, content=sent, headers=headers, timeout=10)

    assert response.status_code == 500
    kind, service = spec.service("income-certificate")
    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, response.content, status=response.status_code)
    assert caught.value.detail["provider_code"] == "demo.request.invalid"


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ({"person_fugo": "UNKNOWN-FUGO", "fiscal_year": 2025}, "demo.record.unknown"),
        (
            {"person_fugo": "x", "fiscal_year": 2025, "atena_number": "000000000000019"},
            "demo.request.invalid",
        ),
    ],
    ids=["unknown-person", "an-atena-number"],
)
def test_the_soap_member_answers_faults_with_its_codes(
    member: tuple[Platform, str, bytes], spec: Spec, items: dict[str, Any], code: str
) -> None:
    _, base, key = member
    kind, service = spec.service("income-certificate")
    op = operation(spec, kind, service, atena=True)  # a request element with more than the WSDL allows
    body = write_request(op, items)
    headers = {**X_ROAD, "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{op.action}"'}
    response = _post(f"{base}/{CHUO}/u06", key, body, headers)

    assert response.status_code == 500
    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, response.content, status=500)
    assert caught.value.detail["provider_code"] == code


def test_the_soap_member_answers_only_its_own_operations(
    member: tuple[Platform, str, bytes], populations: list[Population], spec: Spec
) -> None:
    platform, base, key = member
    body, headers = _income_request(platform, populations, spec)
    response = _post(f"{base}/{CHUO}/u10", key, body, headers)  # 国保 does not answer income certificates
    kind, service = spec.service("income-certificate")
    with pytest.raises(ServiceFailed) as caught:
        decode_response(spec, kind, service, response.content, status=response.status_code)
    assert caught.value.detail["provider_code"] == "demo.service.unknown"


def test_the_soap_member_serves_its_wsdl(member: tuple[Platform, str, bytes]) -> None:
    _, base, _ = member
    response = httpx.get(f"{base}/{CHUO}/u06?wsdl", timeout=10)
    assert response.status_code == 200
    address = etree.fromstring(response.content).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == f"{base}/{CHUO}/u06"


# --- through the hub: a REST or SOAP caller, a SOAP-only provider ------------------------------------------

WIRED = "soapforward" in inspect.getsource(hub_service)
needs_wiring = pytest.mark.skipif(
    not WIRED, reason="ExchangeHub._provide does not forward SOAP yet (wiring in docs/files.md)"
)
PURPOSE = "infant-medical-subsidy"
SERVICE_RESPONSE = set(load_spec().service("income-certificate")[1].response)


@pytest.fixture
def hub_with_soap_provider(
    spec: Spec, populations: list[Population], tmp_path: Path
) -> Iterator[tuple[Platform, str, Path]]:
    """A seeded deployment served (REST and SOAP edges) whose 中央区 個人住民税 system speaks SOAP only."""
    data_dir = tmp_path / "var"
    platform = _seeded(data_dir, spec, populations)
    systems = MemberSystems(spec, platform.linkage, populations)
    app = build_app(Settings(data_dir=data_dir), platform=platform)  # its lifespan closes the storage
    soap_members = build_soap_member_app(
        systems, hub_keys=HubSigner(_hub_key(data_dir)).key_for, clock=SystemClock()
    )
    app.mount(SOAP_MEMBERS_PATH, soap_members)
    with serve(app) as url:
        platform.registry.provide(
            f"JP/LG/{CHUO}/u06",
            "income-certificate",
            endpoint=f"{url}{SOAP_MEMBERS_PATH}/{CHUO}/u06",
            protocol="soap",
        )
        yield platform, url, data_dir


def _signed(data_dir: Path, method: str, target: str, body: bytes) -> dict[str, str]:
    client = MemberId.parse("JP/LG/131016/u17")
    directory = member_key_directory(data_dir, client)
    token = sign_request(
        (directory / "member.key").read_bytes(),
        client,
        method,
        target,
        body,
        SystemClock().now(),
        certificate=(directory / "member.crt").read_bytes(),
    )
    return {
        SIGNATURE_HEADER: token,
        "X-Road-Client": str(client),
        "X-Road-Issue": PURPOSE,
        "X-Road-Id": str(uuid.uuid4()),
    }


@needs_wiring
def test_a_rest_caller_gets_a_soap_only_providers_answer(
    hub_with_soap_provider: tuple[Platform, str, Path], populations: list[Population]
) -> None:
    platform, url, data_dir = hub_with_soap_provider
    chiyoda, chuo = populations
    record = population_records(chuo)[InformationId("individual-resident-tax")][0]
    chuo_atena = str(record["atena_number"])
    person = platform.linkage.resolve(chuo.organisation, _fugo(platform, chuo, chuo_atena))
    caller_fugo = platform.linkage.fugo_for(chiyoda.organisation, person)
    target = f"/r1/JP/LG/{CHUO}/u06/income-certificate"
    body = f'{{"person_fugo": "{caller_fugo}", "fiscal_year": 2025}}'.encode()
    headers = {**_signed(data_dir, "POST", target, body), "Content-Type": "application/json"}

    response = httpx.post(url + target, content=body, headers=headers, timeout=10)

    assert response.status_code == 200, response.text
    answer = response.json()
    allowed = set(platform.registry.purpose(PURPOSE).items_of("individual-resident-tax"))
    assert answer == {k: record[k] for k in record if k in allowed and k in SERVICE_RESPONSE}
    assert answer["fiscal_year"] == 2025
    store = SqlExchangeStore(connection_source(platform.storage))
    (entry,) = [e for e in store.entries() if e.message_id == headers["X-Road-Id"]]
    assert (entry.outcome, entry.provider) == (LogOutcome.PROVIDED, f"JP/LG/{CHUO}/u06")
    records = [r.record for r in platform.audit.records_of(subject_of(person))]
    assert {r.side for r in records if r is not None} == {Side.REQUESTER, Side.PROVIDER}


@needs_wiring
def test_a_soap_caller_gets_a_soap_only_providers_answer(
    hub_with_soap_provider: tuple[Platform, str, Path], populations: list[Population]
) -> None:
    platform, url, data_dir = hub_with_soap_provider
    chiyoda, chuo = populations
    record = population_records(chuo)[InformationId("individual-resident-tax")][0]
    person = platform.linkage.resolve(chuo.organisation, _fugo(platform, chuo, str(record["atena_number"])))
    caller_fugo = platform.linkage.fugo_for(chiyoda.organisation, person)
    envelope = (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<incomeCertificate xmlns="{SERVICE_NAMESPACE}"><person_fugo>{caller_fugo}</person_fugo>'
        "<fiscal_year>2025</fiscal_year></incomeCertificate></soap:Body></soap:Envelope>"
    ).encode()
    headers = {
        **_signed(data_dir, "POST", "/soap", envelope),
        "Content-Type": "text/xml; charset=utf-8",
        "X-Road-Service": f"JP/LG/{CHUO}/u06",
    }

    response = httpx.post(url + soap_api.SOAP_PATH, content=envelope, headers=headers, timeout=10)

    assert response.status_code == 200, response.text
    kind, service = platform.spec.service("income-certificate")
    answer = decode_response(platform.spec, kind, service, response.content)
    allowed = set(platform.registry.purpose(PURPOSE).items_of("individual-resident-tax"))
    assert answer == {k: record[k] for k in record if k in allowed and k in SERVICE_RESPONSE}
