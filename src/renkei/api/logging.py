"""Structured logs: one JSON object a line, and an access log that never carries personal data.

:func:`configure_logging` installs :class:`JsonFormatter` on the ``renkei`` and ``uvicorn`` loggers and
silences ``uvicorn.access`` (its lines carry the raw path and query string, where a 個人番号 could travel).
:class:`AccessLogMiddleware` logs each request's method, *route template*, status and duration — never the
raw path, query string, body or headers — under a request id that :class:`RequestIds` also stamps on every
other line logged while the request runs.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renkei.api.metrics import route_resolver

ACCESS_LOGGER = "renkei.access"
LOGGERS = ("renkei", "uvicorn")
QUIET = ("httpx", "httpx2", "httpcore")
"""HTTP client loggers that log full URLs at INFO (the hub's calls to providers carry query strings)."""
REQUEST_ID_HEADER = b"x-request-id"


class RequestIds(logging.Filter):
    """The id of the request being served (a fresh UUID per request, never one a client sent), kept in a
    context variable and stamped on every record as ``request_id``. One per app, shared by the access
    middleware (which sets it) and the log handler (which reads it)."""

    def __init__(self) -> None:
        super().__init__()
        self._current: ContextVar[str | None] = ContextVar(f"renkei_request_id_{id(self)}", default=None)

    @property
    def current(self) -> str | None:
        return self._current.get()

    def start(self) -> tuple[str, Any]:
        """A new id, made current; returns it and the token that :meth:`end` takes."""
        request_id = uuid.uuid4().hex
        return request_id, self._current.set(request_id)

    def end(self, token: Any) -> None:
        self._current.reset(token)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = self._current.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id``
    when a request is being served, the mapping passed as ``extra={"fields": …}``, and ``exc`` when an
    exception is logged."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str | int = "info", *, stream: IO[str] | None = None, request_ids: RequestIds | None = None
) -> logging.Handler:
    """Send the ``renkei`` and ``uvicorn`` loggers' records, as JSON lines, to ``stream`` (stderr).

    Idempotent: a handler installed by an earlier call is replaced. ``uvicorn.access`` is disabled — the
    access middleware logs requests instead — and the HTTP client loggers (``httpx``, ``httpcore``), which log
    full URLs at INFO, are held at WARNING. Run uvicorn with ``log_config=None`` so it keeps this set-up.
    Returns the handler (tests and callers may attach it elsewhere or remove it).
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("renkei-json")
    if request_ids is not None:
        handler.addFilter(request_ids)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "renkei-json"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(numeric)
        logger.propagate = False  # one line per record, not a second copy through the root logger
    for child in ("uvicorn.error", "uvicorn.access"):
        # uvicorn's own config may have given these handlers; ours on "uvicorn" is the only one wanted.
        logging.getLogger(child).handlers.clear()
        logging.getLogger(child).propagate = True
        logging.getLogger(child).setLevel(logging.NOTSET)  # an earlier uvicorn.Config's level: ours rules
    logging.getLogger("uvicorn.access").disabled = True
    for name in QUIET:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    return handler


class AccessLogMiddleware:
    """Pure ASGI middleware: one ``renkei.access`` line per HTTP request once it has finished, with
    ``method``, ``route`` (template), ``status`` and ``duration_ms``, and ``X-Request-Id`` on the response.

    ``app.add_middleware(AccessLogMiddleware, request_ids=request_ids)``.
    """

    def __init__(self, app: ASGIApp, request_ids: RequestIds) -> None:
        self.app = app
        self.request_ids = request_ids
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resolve = route_resolver(scope)
        request_id, token = self.request_ids.start()
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            duration = (time.perf_counter() - started) * 1000
            method = str(scope.get("method", ""))
            route = resolve()
            self.log.info(
                "%s %s %d %.1fms",
                method,
                route.template,
                status,
                duration,
                extra={
                    "request_id": request_id,
                    "fields": {
                        "method": method,
                        "route": route.template,
                        "status": status,
                        "duration_ms": round(duration, 3),
                    },
                },
            )
            self.request_ids.end(token)
