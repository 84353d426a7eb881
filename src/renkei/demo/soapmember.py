"""A SOAP-only simulated member system: the demo's member systems, answering in SOAP 1.1 only.

It stands in for a vendor's system that predates REST: it offers the spec's query operations exactly as
the spec's WSDL defines them and nothing else, so the hub must convert (``renkei.exchange.soapforward``).
The answers are the same records as the REST simulated systems (:class:`~renkei.demo.members.MemberSystems`),
and every request must carry a valid, fresh hub signature (``X-Renkei-Hub-Signature`` over the envelope
bytes and this URL's path): a system behind the hub trusts nothing else. Mounted under
``/demo/soap-members``::

    POST /demo/soap-members/{団体コード}/{subsystem}        a SOAP 1.1 envelope, e.g. incomeCertificate
    GET  /demo/soap-members/{団体コード}/{subsystem}?wsdl   the WSDL with this address

One address per member system serves every operation (the envelope's element and ``SOAPAction`` say
which), as the WSDL's ``soap:address`` does; register it with
``renkei registry service add JP/LG/131024/u06 income-certificate --endpoint URL --protocol soap``.
Failures are SOAP Faults (HTTP 500) with the demo's codes in ``renkeiFault``: ``demo.request.invalid``
(unsigned, malformed or an item the WSDL does not define), ``demo.service.unknown``, ``demo.record.unknown``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from renkei.demo.errors import DemoError, RequestInvalid, ServiceUnknown
from renkei.demo.members import MemberSystems, member_id
from renkei.exchange.errors import ExchangeError, ServiceNotFound
from renkei.exchange.signing import DEFAULT_WINDOW_SECONDS, verify_hub_signature
from renkei.exchange.soapcodec import (
    SOAP_CONTENT_TYPE,
    fault_envelope,
    operations,
    read_request,
    write_response,
)
from renkei.spec.export.wsdl import build_wsdl
from renkei.storage.ports import Clock

SOAP_MEMBERS_PATH: Final = "/demo/soap-members"
BODY_MAX: Final = 64 * 1024


def _fault(error: DemoError) -> Response:
    body = fault_envelope(error.code, type(error).__name__, error.message, client=error.http_status < 500)
    return Response(body, status_code=500, media_type=SOAP_CONTENT_TYPE)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX:
        raise RequestInvalid(f"the envelope exceeds {BODY_MAX} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_MAX:
            raise RequestInvalid(f"the envelope exceeds {BODY_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def build_soap_member_app(
    systems: MemberSystems,
    *,
    hub_keys: Callable[[str], bytes],
    clock: Clock,
    window: int = DEFAULT_WINDOW_SECONDS,
) -> FastAPI:
    """The SOAP-only member systems (mount at ``/demo/soap-members``); ``hub_keys`` gives a member's hub
    key by its member id (``HubSigner.key_for``: each checks the signature with its own), ``window`` how
    far (seconds) a signature's time may be from ``clock``."""
    spec = systems.spec
    known = operations(spec)  # exactly the WSDL: the hub converts a caller's 宛名番号 before forwarding
    app = FastAPI(
        title="renkei demo: SOAP-only member systems", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.exception_handler(DemoError)
    async def _demo_error(_: Request, exc: DemoError) -> Response:
        return _fault(exc)

    @app.get("/{code}/{subsystem}")
    def wsdl(code: str, subsystem: str, request: Request) -> Response:
        systems.municipality(code)
        systems.kind_of(subsystem)
        if "wsdl" not in {k.lower() for k in request.query_params}:
            raise RequestInvalid("GET serves only the WSDL: ?wsdl")
        location = str(request.url.replace(query=None, fragment=None))
        return Response(build_wsdl(spec, location=location).encode("utf-8"), media_type=SOAP_CONTENT_TYPE)

    @app.post("/{code}/{subsystem}")
    async def call(code: str, subsystem: str, request: Request) -> Response:
        systems.municipality(code)
        systems.kind_of(subsystem)
        body = await _body(request)
        now = int(clock.now().timestamp())
        key = hub_keys(member_id(code, subsystem))
        if not verify_hub_signature(key, request.headers, "POST", request.url.path, body, now, window=window):
            raise RequestInvalid(
                "ハブの署名がありません、または正しくありません "
                "(X-Renkei-Hub-Signature is missing, stale or wrong)"
            )
        try:
            op, items = read_request(spec, known, body, request.headers.get("soapaction"))
        except ServiceNotFound as error:
            raise ServiceUnknown(error.message) from None
        except ExchangeError as error:
            raise RequestInvalid(error.message) from None
        systems.service(subsystem, op.service.id)
        # the linkage base is synchronous storage: keep it off the event loop
        record = await run_in_threadpool(systems.answer, code, subsystem, op.service.id, items)
        return Response(write_response(op, record), media_type=SOAP_CONTENT_TYPE)

    return app
