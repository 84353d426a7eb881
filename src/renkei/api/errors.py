"""The one place where errors become HTTP: ``application/problem+json`` (RFC 9457).

Every :class:`~renkei.errors.RenkeiError` keeps its stable dotted code in the ``code`` member and in the
``type`` URI, so integrators can switch on it. The SOAP Fault mapping will live beside this one.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from renkei.errors import RenkeiError

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
