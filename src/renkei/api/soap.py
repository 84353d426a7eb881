"""The hub's SOAP 1.1 edge: ``POST /soap`` (document/literal, ``text/xml``) and ``GET /soap?wsdl``.

The WSDL is :func:`~renkei.spec.export.wsdl.build_wsdl` with this server's ``/soap`` URL as the address.
A call is the same exchange as ``POST /r1/...``, through the same :class:`ExchangeHub` flow
(authentication, authorisation, ID conversion, forwarding, message log and access records):

* the envelope is parsed with the safe parser (:func:`~renkei.spec.xmlcodec.parse_xml`: DTD and entity
  declarations refused before parsing, at most the hub's body limit (1 MiB), nesting at most 32 deep);
* the operation is the body's element (``incomeCertificate``); a non-empty ``SOAPAction`` must be that
  operation's (``urn:renkei:service:income-certificate``);
* the provider is named by the HTTP header ``X-Road-Service`` (``JP/LG/131024/u06``, or with the service
  id appended, which must then be the operation's);
* the caller authenticates as over REST: ``X-Renkei-Signature`` signed over ``POST``, ``/soap`` and the
  exact envelope bytes, with ``X-Road-Client`` and ``X-Road-Issue`` (and optionally ``X-Road-Id``,
  ``X-Road-UserId``, ``Idempotency-Key``) as HTTP headers. ``Prefer: respond-async`` is ignored: SOAP
  calls are synchronous.

The answer is the operation's response element; every error is a SOAP 1.1 Fault
(:func:`~renkei.api.errors.soap_fault`) with the stable code in ``renkeiFault``. Replies carry
``X-Road-Id`` and ``X-Road-Request-Hash`` (over the envelope bytes) like REST ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from lxml import etree

from renkei.api.errors import SOAP_CONTENT_TYPE, SOAP_ENV, soap_fault
from renkei.api.exchange import exchange_hub, read_body
from renkei.errors import RenkeiError
from renkei.exchange.errors import BadRequest, BodyTooLarge, HubFailed, ServiceNotFound
from renkei.exchange.models import Exchanged, Incoming
from renkei.registry.auth import request_target
from renkei.spec.errors import InstanceRefused
from renkei.spec.export.naming import SERVICE_NAMESPACE, soap_action
from renkei.spec.export.wsdl import build_wsdl, operation_name
from renkei.spec.models import DataItem, InformationKind, Service, ServiceKind, Spec
from renkei.spec.xmlcodec import child_elements, element_to_record, local_name, parse_xml, record_to_element

router = APIRouter(tags=["exchange"])

SOAP_PATH = "/soap"
MAX_DEPTH = 32
_DROPPED = frozenset({"prefer", "content-type", "content-length", "soapaction"})


@dataclass(frozen=True, slots=True)
class _Operation:
    kind: InformationKind
    service: Service
    request: tuple[DataItem, ...]
    response: tuple[DataItem, ...]


def _operations(spec: Spec) -> dict[str, _Operation]:
    found: dict[str, _Operation] = {}
    for kind, service in spec.services():
        if service.kind is not ServiceKind.QUERY:
            continue
        request = [spec.request_item(kind, r) for r in service.request]
        if "person_fugo" in service.request:
            request.append(spec.parameter("atena_number"))  # the caller's 宛名番号, as over REST
        response = tuple(kind.item(r) for r in service.response)
        found[operation_name(service)] = _Operation(kind, service, tuple(request), response)
    return found


def _operations_of(request: Request, spec: Spec) -> dict[str, _Operation]:
    """The hub's SOAP operations, built once per app (kept on ``app.state``, not in a module global)."""
    cached = getattr(request.app.state, "soap_operations", None)
    if cached is None or cached[0] is not spec:
        cached = (spec, _operations(spec))
        request.app.state.soap_operations = cached
    operations: dict[str, _Operation] = cached[1]
    return operations


def _fault(error: RenkeiError, headers: dict[str, str] | None = None) -> Response:
    return soap_fault(error.http_status, error.code, type(error).__name__, error.message, headers)


def _envelope(payload: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _call(
    spec: Spec, operations: dict[str, _Operation], body: bytes, action: str | None
) -> tuple[_Operation, dict[str, Any]]:
    """The operation and its request items from an envelope; raises a typed error."""
    try:
        root = parse_xml(body, max_bytes=len(body), max_depth=MAX_DEPTH)
    except InstanceRefused as error:
        raise BadRequest(f"the SOAP envelope is refused: {error.message}") from None
    except RenkeiError as error:
        raise BadRequest(f"the SOAP envelope is not well-formed XML: {error.message}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise BadRequest("the document is not a SOAP 1.1 Envelope")
    bodies = [c for c in child_elements(root) if c.tag == f"{{{SOAP_ENV}}}Body"]
    payloads = child_elements(bodies[0]) if len(bodies) == 1 else []
    if len(payloads) != 1:
        raise BadRequest("the SOAP Body must hold exactly one operation element")
    payload = payloads[0]
    name = local_name(payload)
    operation = operations.get(name)
    if etree.QName(payload).namespace != SERVICE_NAMESPACE or operation is None:
        raise ServiceNotFound(f"{name[:64]!r} is not an operation of this hub ({SERVICE_NAMESPACE})")
    given = (action or "").strip().strip('"')
    if given and given != soap_action(operation.service.id):
        raise BadRequest(f"SOAPAction {given[:128]!r} is not the operation {name}'s", header="SOAPAction")
    try:
        items = element_to_record(spec, operation.request, payload)
    except RenkeiError as error:
        raise BadRequest(f"the {name} element is invalid: {error.message}") from None
    return operation, dict(items)


def _provider_path(headers: Mapping[str, str], operation: _Operation) -> tuple[str, ...]:
    named = headers.get("x-road-service", "").strip("/")
    parts = tuple(named.split("/")) if named else ()
    if len(parts) == 5:
        if parts[4] != operation.service.id:
            raise BadRequest(
                f"X-Road-Service names {parts[4][:64]!r}, the operation is {operation.service.id!r}",
                header="X-Road-Service",
            )
        parts = parts[:4]
    if len(parts) != 4:
        raise BadRequest(
            "X-Road-Service is required: the provider subsystem, e.g. JP/LG/131024/u06",
            header="X-Road-Service",
        )
    return (*parts, operation.service.id)


def _render(operation: _Operation, done: Exchanged) -> Response:
    headers = {"X-Road-Id": done.message_id, "X-Road-Request-Hash": done.request_hash}
    reply = done.reply
    if reply.problem:
        fields = reply.body
        return soap_fault(
            reply.status, str(fields["code"]), str(fields["title"]), str(fields.get("detail", "")), headers
        )
    tag = operation_name(operation.service) + "Response"
    try:
        element = record_to_element(operation.response, reply.body, namespace=SERVICE_NAMESPACE, tag=tag)
    except RenkeiError:
        return _fault(HubFailed("the answer could not be written as SOAP"), headers)
    return Response(_envelope(element), status_code=200, media_type=SOAP_CONTENT_TYPE, headers=headers)


@router.get(SOAP_PATH, summary="The WSDL of the query services (GET /soap?wsdl)")
async def wsdl(request: Request) -> Response:
    if "wsdl" not in {k.lower() for k in request.query_params}:
        return _fault(BadRequest("GET /soap serves only the WSDL: GET /soap?wsdl"))
    location = str(request.url.replace(query=None, fragment=None))
    text = build_wsdl(exchange_hub(request).spec, location=location)
    return Response(text.encode("utf-8"), media_type=SOAP_CONTENT_TYPE)


@router.post(SOAP_PATH, summary="Query a provider through the hub (SOAP 1.1 document/literal)")
async def call(request: Request) -> Response:
    hub = exchange_hub(request)
    body = await read_body(request, hub.max_body)
    if body is None:
        return _fault(BodyTooLarge(f"the body exceeds {hub.max_body} bytes", limit=hub.max_body))
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _DROPPED}
    try:
        operation, items = _call(
            hub.spec, _operations_of(request, hub.spec), body, request.headers.get("soapaction")
        )
        path = _provider_path(headers, operation)
    except RenkeiError as error:
        return _fault(error)
    incoming = Incoming(
        method="POST",
        target=request_target(request.scope["raw_path"], request.scope["query_string"]),
        path=path,
        headers=headers,
        body=body,
        items=items,
    )
    return _render(operation, await hub.query(incoming))
