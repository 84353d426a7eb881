"""SOAP 1.1 document/literal messages of the query services, exactly as the spec's WSDL defines them.

One codec for both ends of a SOAP exchange: the hub's SOAP edge (``renkei.api.soap``: reads requests,
writes responses), the hub's forwarding to a SOAP-only provider (:mod:`renkei.exchange.soapforward`: writes
requests, reads responses) and the demo's SOAP-only member system (``renkei.demo.soapmember``).

* The operation of a query service ``income-certificate`` is ``incomeCertificate``; its request element
  ``incomeCertificate`` and response element ``incomeCertificateResponse`` are in the namespace
  ``urn:renkei:service`` and hold one child per item, named by the item id, in the service's order
  (:mod:`renkei.spec.export.wsdl`); ``SOAPAction`` is ``urn:renkei:service:income-certificate``.
* Envelopes are read with the one safe parser (:func:`renkei.spec.xmlcodec.parse_xml`): DTDs and entity
  declarations are refused before parsing, documents are bounded in size and depth.
* A failure is a SOAP 1.1 Fault whose ``detail`` holds ``renkeiFault`` (code, title, detail).

Functions take the exchange error class to raise (:class:`~renkei.exchange.errors.BadRequest` when the
hub reads a caller's envelope, :class:`~renkei.exchange.errors.ServiceFailed` when it reads a provider's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from renkei.errors import RenkeiError
from renkei.exchange.errors import BadRequest, ExchangeError, ServiceNotFound
from renkei.spec.errors import InstanceRefused
from renkei.spec.export.naming import SERVICE_NAMESPACE, soap_action
from renkei.spec.export.typemap import JsonValue, expectation, text_parser
from renkei.spec.export.wsdl import FAULT, operation_name
from renkei.spec.models import DataItem, InformationKind, Service, ServiceKind, Spec
from renkei.spec.xmlcodec import (
    child_elements,
    element_to_record,
    local_name,
    parse_xml,
    record_to_element,
    sourceline,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_DEPTH = 32
"""An envelope nests far less deep than this; deeper documents are refused before they are read."""
RESPONSE_MAX = 4 * 1024 * 1024
"""The largest provider answer the hub reads (the REST transport's limit too)."""
ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+){1,7}$")
"""A renkei error code (``demo.record.unknown``); anything else in a provider's fault is not passed on."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One WSDL operation: a query service with the items its request and response elements hold."""

    kind: InformationKind
    service: Service
    request: tuple[DataItem, ...]
    response: tuple[DataItem, ...]

    @property
    def name(self) -> str:
        """The operation and request element name (``incomeCertificate``)."""
        return operation_name(self.service)

    @property
    def response_name(self) -> str:
        return self.name + "Response"

    @property
    def action(self) -> str:
        """The ``SOAPAction`` of the operation (``urn:renkei:service:income-certificate``)."""
        return soap_action(self.service.id)


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP 1.1 Fault as read from an envelope."""

    faultcode: str
    """``soap:Client`` or ``soap:Server`` (local part ``Client`` / ``Server``)."""
    code: str | None
    """The ``renkeiFault`` code when it is a well-formed renkei error code, else None."""


def operation(spec: Spec, kind: InformationKind, service: Service, *, atena: bool = False) -> Operation:
    """The operation of a query service. ``atena`` also accepts the caller's 宛名番号 in the request (the
    hub's own SOAP edge converts it, as over REST); a provider behind the hub never receives it."""
    if service.kind is not ServiceKind.QUERY:
        raise ServiceNotFound(f"{service.id} は照会サービスではありません (not a query service)")
    request = [spec.request_item(kind, r) for r in service.request]
    if atena and "person_fugo" in service.request:
        request.append(spec.parameter("atena_number"))
    return Operation(kind, service, tuple(request), tuple(kind.item(r) for r in service.response))


def operations(spec: Spec, *, atena: bool = False) -> dict[str, Operation]:
    """Every query service's operation by its name (``incomeCertificate``)."""
    return {
        operation_name(service): operation(spec, kind, service, atena=atena)
        for kind, service in spec.services()
        if service.kind is ServiceKind.QUERY
    }


# --- envelopes ---------------------------------------------------------------------------------------


def envelope(payload: etree._Element) -> bytes:
    """``payload`` as the only child of a SOAP 1.1 Body, serialised as UTF-8 with an XML declaration."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fault_envelope(code: str, title: str, message: str, *, client: bool) -> bytes:
    """A SOAP 1.1 Fault envelope for a renkei error (the WSDL's ``renkeiFault`` in ``detail``).

    ``faultcode`` is ``soap:Client`` for the caller's errors, else ``soap:Server``; over HTTP a fault
    travels with status 500 (WS-I Basic Profile R1126).
    """
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(root, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soap:Client" if client else "soap:Server"
    etree.SubElement(fault, "faultstring").text = message
    ns = SERVICE_NAMESPACE
    detail = etree.SubElement(
        etree.SubElement(fault, "detail"),
        f"{{{ns}}}{FAULT}",
        nsmap={None: ns},  # type: ignore[dict-item]
    )
    for name, text in (("code", code), ("title", title), ("detail", message)):
        etree.SubElement(detail, f"{{{ns}}}{name}").text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def open_envelope(
    body: bytes,
    error: type[ExchangeError],
    *,
    max_bytes: int | None = None,
    max_depth: int = MAX_DEPTH,
) -> etree._Element:
    """The one element inside the Body of a SOAP 1.1 envelope, read safely; raises ``error`` otherwise."""
    try:
        root = parse_xml(body, max_bytes=len(body) if max_bytes is None else max_bytes, max_depth=max_depth)
    except InstanceRefused as refused:
        raise error(f"the SOAP envelope is refused: {refused.message}") from None
    except RenkeiError as invalid:
        raise error(f"the SOAP envelope is not well-formed XML: {invalid.message}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise error("the document is not a SOAP 1.1 Envelope")
    bodies = [c for c in child_elements(root) if c.tag == f"{{{SOAP_ENV}}}Body"]
    payloads = child_elements(bodies[0]) if len(bodies) == 1 else []
    if len(payloads) != 1:
        raise error("the SOAP Body must hold exactly one element")
    return payloads[0]


def fault_of(payload: etree._Element) -> Fault | None:
    """The Fault a Body element is, or None when it is not ``soap:Fault``."""
    if payload.tag != f"{{{SOAP_ENV}}}Fault":
        return None
    faultcode = (payload.findtext("faultcode") or "").strip()
    code = (
        payload.findtext(f"detail/{{{SERVICE_NAMESPACE}}}{FAULT}/{{{SERVICE_NAMESPACE}}}code") or ""
    ).strip()
    return Fault(faultcode[:64], code if ERROR_CODE.fullmatch(code) else None)


# --- requests and responses ----------------------------------------------------------------------------


def _element(items: Sequence[DataItem], record: Mapping[str, object], tag: str) -> etree._Element:
    return record_to_element(items, record, namespace=SERVICE_NAMESPACE, tag=tag)


def write_request(op: Operation, items: Mapping[str, object]) -> bytes:
    """The envelope of a request (raises ``spec.instance.invalid`` for items the element cannot hold)."""
    return envelope(_element(op.request, items, op.name))


def write_response(op: Operation, record: Mapping[str, object]) -> bytes:
    """The envelope of an answer (raises ``spec.instance.invalid`` for items the element cannot hold)."""
    return envelope(_element(op.response, record, op.response_name))


def read_request(
    spec: Spec, known: Mapping[str, Operation], body: bytes, action: str | None
) -> tuple[Operation, dict[str, Any]]:
    """The operation and request items of a caller's envelope; raises BadRequest / ServiceNotFound.

    A non-empty ``SOAPAction`` must be the operation's.
    """
    payload = open_envelope(body, BadRequest)
    name = local_name(payload)
    op = known.get(name)
    if etree.QName(payload).namespace != SERVICE_NAMESPACE or op is None:
        raise ServiceNotFound(f"{name[:64]!r} is not an operation of this hub ({SERVICE_NAMESPACE})")
    given = (action or "").strip().strip('"')
    if given and given != op.action:
        raise BadRequest(f"SOAPAction {given[:128]!r} is not the operation {name}'s", header="SOAPAction")
    try:
        items = element_to_record(spec, op.request, payload)
    except RenkeiError as invalid:
        raise BadRequest(f"the {name} element is invalid: {invalid.message}") from None
    return op, dict(items)


def read_items(
    spec: Spec, items: Sequence[DataItem], element: etree._Element, error: type[ExchangeError]
) -> dict[str, JsonValue]:
    """The items an element holds, checked against their types; raises ``error`` listing each problem by
    line and item — never the values, which may be personal data the caller may not see."""
    by_id: dict[str, DataItem] = {item.id: item for item in items}
    order: dict[str, int] = {item.id: position for position, item in enumerate(items)}
    record: dict[str, JsonValue] = {}
    problems: list[dict[str, Any]] = []
    last = -1
    for child in child_elements(element):
        name = local_name(child)
        item = by_id.get(name)
        line = sourceline(child)
        if item is None or etree.QName(child).namespace != SERVICE_NAMESPACE:
            problems.append({"line": line, "field": name[:64], "message": "項目がありません (unknown item)"})
            continue
        if item.id in record:
            problems.append({"line": line, "field": item.id, "message": "項目が重複しています (repeated)"})
            continue
        if order[item.id] < last:
            problems.append({"line": line, "field": item.id, "message": "順序が違います (out of order)"})
        last = max(last, order[item.id])
        if len(child):
            problems.append({"line": line, "field": item.id, "message": "要素を含められません (not simple)"})
            continue
        try:
            record[item.id] = text_parser(spec, item)(child.text or "")
        except ValueError:
            ja, en = expectation(spec, item)
            problems.append(
                {"line": line, "field": item.id, "message": f"{ja}でなければなりません (must be {en})"}
            )
    if problems:
        first = problems[0]
        raise error(
            f"{local_name(element)}: line {first['line']}, {first['field']}: {first['message']}",
            errors=problems[:20],
            error_count=len(problems),
        )
    return record
