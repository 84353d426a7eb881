"""The hub's SOAP client side: forwarding a query to a provider registered with protocol ``soap``.

A member system that speaks only SOAP 1.1 registers its endpoint with ``--protocol soap``
(``renkei registry service add JP/LG/131024/u06 income-certificate --endpoint URL --protocol soap``). The
hub then POSTs to that URL as it is (one address for every operation, like the WSDL's ``soap:address``)
an envelope holding the operation's request element exactly as the spec's WSDL defines it, with the same
X-Road headers and hub signature a REST provider gets (the signature covers the envelope bytes), and
reads the answer back into the JSON items the rest of the hub works with:

* :func:`encode_request` — the converted request items (the provider organisation's 符号, never a
  宛名番号 or 個人番号) → envelope bytes and the HTTP headers;
* :func:`decode_response` — the provider's status and envelope → the response items, or
  :class:`~renkei.exchange.errors.ServiceFailed` for a SOAP Fault (its ``renkeiFault`` code passed on as
  ``provider_code``, its text never), hostile or malformed XML, or an answer that breaks the WSDL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from renkei.errors import RenkeiError
from renkei.exchange.errors import BadRequest, ServiceFailed
from renkei.exchange.soapcodec import (
    RESPONSE_MAX,
    SOAP_CONTENT_TYPE,
    fault_of,
    open_envelope,
    operation,
    read_items,
    write_request,
)
from renkei.spec.export.naming import SERVICE_NAMESPACE
from renkei.spec.models import InformationKind, Service, Spec
from renkei.spec.xmlcodec import local_name

_REPLACED = frozenset({"content-type", "soapaction", "content-length"})


def encode_request(
    spec: Spec,
    kind: InformationKind,
    service: Service,
    items: Mapping[str, Any],
    headers: Mapping[str, str],
) -> tuple[bytes, dict[str, str]]:
    """The SOAP 1.1 request for ``service`` carrying ``items``, and the headers to send with it.

    ``headers`` are the ones the REST forwarding sends (``X-Road-Id``, ``X-Road-Client``,
    ``X-Road-Service``, ``X-Road-Issue``, ``X-Road-UserId``, ``X-Road-Request-Hash``); they are kept, and
    ``Content-Type: text/xml; charset=utf-8`` and the operation's quoted ``SOAPAction`` replace any
    content type. Sign the returned body (the hub signature covers the bytes sent).
    """
    op = operation(spec, kind, service)
    try:
        body = write_request(op, items)
    except RenkeiError as error:
        raise BadRequest(f"the request cannot be written as SOAP: {error.message}") from None
    sent = {k: v for k, v in headers.items() if k.lower() not in _REPLACED}
    sent["Content-Type"] = SOAP_CONTENT_TYPE
    sent["SOAPAction"] = f'"{op.action}"'
    return body, sent


def decode_response(
    spec: Spec, kind: InformationKind, service: Service, body: bytes, *, status: int = 200
) -> dict[str, Any]:
    """The response items of a provider's SOAP answer (HTTP ``status``, envelope ``body``).

    Raises :class:`ServiceFailed` when the answer is a Fault (``provider_fault`` = ``Client``/``Server``,
    ``provider_code`` = its ``renkeiFault`` code), is not HTTP 200 (500 is allowed for a Fault only),
    is hostile or malformed XML, is another element than the operation's response, or holds items the
    WSDL does not allow (each named by line and item id, never by value).
    """
    op = operation(spec, kind, service)
    if status not in (200, 500):
        raise ServiceFailed(f"the provider answered HTTP {status}", provider_status=status)
    payload = open_envelope(body, ServiceFailed, max_bytes=RESPONSE_MAX)
    fault = fault_of(payload)
    if fault is not None:
        # Only the fault's class and a well-formed renkei code pass on: its text may carry anything.
        side = "Client" if fault.faultcode.rpartition(":")[2] == "Client" else "Server"
        detail: dict[str, Any] = {"provider_status": status, "provider_fault": side}
        if fault.code is not None:
            detail["provider_code"] = fault.code
        named = f"{side}, {fault.code}" if fault.code else side
        raise ServiceFailed(f"the provider answered a SOAP Fault ({named})", **detail)
    if status != 200:
        raise ServiceFailed(
            f"the provider answered HTTP {status} without a SOAP Fault", provider_status=status
        )
    if payload.tag != f"{{{SERVICE_NAMESPACE}}}{op.response_name}":
        raise ServiceFailed(
            f"the provider answered {local_name(payload)[:64]!r}, not {op.response_name}",
            expected=op.response_name,
        )
    return dict(read_items(spec, op.response, payload, ServiceFailed))
