"""The one place where errors become HTTP: ``application/problem+json`` (RFC 9457).

Every :class:`~renkei.errors.RenkeiError` keeps its stable dotted code in the ``code`` member and in the
``type`` URI, so integrators can switch on it. :func:`soap_fault` is the SOAP 1.1 form of the same error.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from renkei.errors import RenkeiError
from renkei.exchange.soapcodec import SOAP_CONTENT_TYPE, fault_envelope

PROBLEM = "application/problem+json"
TYPE_BASE = "urn:renkei:error:"


def problem(status: int, code: str, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


async def _renkei_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RenkeiError)
    return problem(exc.http_status, exc.code, type(exc).__name__, exc.message, **_jsonable(dict(exc.detail)))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(
        exc.status_code, f"http.{exc.status_code}"
    )
    return problem(exc.status_code, code, str(exc.detail))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    return problem(422, "http.request.invalid", "入力が正しくありません (invalid request)", errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RenkeiError, _renkei_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


def soap_fault(
    status: int, code: str, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A SOAP 1.1 Fault for a renkei error (the WSDL's ``renkeiFault``).

    ``faultcode`` is ``soap:Client`` when ``status`` (the error's HTTP status) is below 500, else
    ``soap:Server``; ``faultstring`` is the message; ``detail`` holds ``renkeiFault`` with the stable
    ``code``, the ``title`` and the message. The HTTP status is 500, as SOAP 1.1 over HTTP (WS-I Basic
    Profile R1126) requires for every fault.
    """
    body = fault_envelope(code, title, message, client=status < 500)
    return Response(body, status_code=500, media_type=SOAP_CONTENT_TYPE, headers=headers)
