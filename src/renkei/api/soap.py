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

from fastapi import APIRouter, Request
from fastapi.responses import Response

from renkei.api.errors import soap_fault
from renkei.api.exchange import exchange_hub, read_body
from renkei.errors import RenkeiError
from renkei.exchange.errors import BadRequest, BodyTooLarge, ExchangeError, HubFailed
from renkei.exchange.models import Exchanged, Incoming
from renkei.exchange.soapcodec import SOAP_CONTENT_TYPE, Operation, operations, read_request, write_response
from renkei.registry.auth import request_target
from renkei.spec.export.wsdl import build_wsdl
from renkei.spec.models import Spec

router = APIRouter(tags=["exchange"])

SOAP_PATH = "/soap"
_DROPPED = frozenset({"prefer", "content-type", "content-length", "soapaction"})


def _operations_of(request: Request, spec: Spec) -> dict[str, Operation]:
    """The hub's SOAP operations, built once per app (kept on ``app.state``, not in a module global)."""
    cached = getattr(request.app.state, "soap_operations", None)
    if cached is None or cached[0] is not spec:
        cached = (spec, operations(spec, atena=True))  # the caller's 宛名番号, as over REST
        request.app.state.soap_operations = cached
    known: dict[str, Operation] = cached[1]
    return known


def _fault(error: RenkeiError, headers: dict[str, str] | None = None) -> Response:
    return soap_fault(error.http_status, error.code, type(error).__name__, error.message, headers)


def _provider_path(headers: Mapping[str, str], operation: Operation) -> tuple[str, ...]:
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


def _render(operation: Operation, done: Exchanged) -> Response:
    headers = {"X-Road-Id": done.message_id, "X-Road-Request-Hash": done.request_hash}
    reply = done.reply
    if reply.problem:
        fields = reply.body
        return soap_fault(
            reply.status, str(fields["code"]), str(fields["title"]), str(fields.get("detail", "")), headers
        )
    try:
        answer = write_response(operation, reply.body)
    except RenkeiError:
        return _fault(HubFailed("the answer could not be written as SOAP"), headers)
    return Response(answer, status_code=200, media_type=SOAP_CONTENT_TYPE, headers=headers)


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
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _DROPPED}
    target = request_target(request.scope["raw_path"], request.scope["query_string"])
    refused = Incoming(method="POST", target=target, path=(), headers=headers, body=body)
    if body is None:
        error = BodyTooLarge(f"the body exceeds {hub.max_body} bytes", limit=hub.max_body)
        return _refused(await hub.refuse(refused, error))
    try:
        operation, items = read_request(
            hub.spec, _operations_of(request, hub.spec), body, request.headers.get("soapaction")
        )
        path = _provider_path(headers, operation)
    except ExchangeError as error:  # refused before the hub runs: still a row in the message log
        return _refused(await hub.refuse(refused, error))
    except RenkeiError as error:
        return _fault(error)
    incoming = Incoming(method="POST", target=target, path=path, headers=headers, body=body, items=items)
    return _render(operation, await hub.query(incoming))


def _refused(done: Exchanged) -> Response:
    fields = done.reply.body
    headers = {"X-Road-Id": done.message_id, "X-Road-Request-Hash": done.request_hash}
    return soap_fault(
        done.reply.status, str(fields["code"]), str(fields["title"]), str(fields.get("detail", "")), headers
    )
