"""The hub's query edge (照会応答): ``POST``/``GET /r1/{instance}/{class}/{member}/{subsystem}/{service}``
in the X-Road message protocol for REST, and ``GET /r1/results/{id}`` for asynchronous results.

The router reads the body under the hub's size limit, hands the request to
:class:`~renkei.exchange.service.ExchangeHub` (``app.state.exchange``) and renders its reply; faults become
problem+json with ``code`` and ``xroad_code``, and every reply carries ``X-Road-Id`` and
``X-Road-Request-Hash``. Include it after the directory router (whose GET metaservices share the shape).

:func:`query_lane` serves the query route without FastAPI's middleware stack, request, routing and
dependency machinery (about a sixth of the hub's CPU per exchange, measured with
``bench/hub_vs_direct.py``): the application (``app.PlatformApp``) sends such requests to it, wrapped in the
same middleware as everything else (metrics, access log, the peer's identity). The route below stays the
documented one, and serves wherever the lane is not installed.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from renkei.api.errors import problem
from renkei.exchange.models import Exchanged, Incoming
from renkei.exchange.service import ExchangeHub
from renkei.registry.auth import request_target
from renkei.tenancy.asgi import PEER_SCOPE_KEY

router = APIRouter(tags=["exchange"])

SERVICE_PATH = "/r1/{instance}/{member_class}/{member_code}/{subsystem}/{service}"


def exchange_hub(request: Request) -> ExchangeHub:
    """The deployment's hub, for every edge that speaks to it (REST here, SOAP in ``api/soap.py``)."""
    hub = request.app.state.exchange
    assert isinstance(hub, ExchangeHub)
    return hub


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds ``limit`` (declared or streamed): reading stops there."""
    return await receive_body(request.headers.get("content-length"), request.receive, limit)


async def receive_body(declared: str | None, receive: Receive, limit: int) -> bytes | None:
    """The body from ASGI ``receive``, or None when it exceeds ``limit`` (the ``Content-Length``
    ``declared``, or what arrived): reading stops there."""
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect  # as Starlette's Request.stream(): a cut body is never a request
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _incoming(scope: Scope, headers: dict[str, str], path: tuple[str, ...], body: bytes | None) -> Incoming:
    query_string: bytes = scope.get("query_string", b"")
    return Incoming(
        method=scope["method"],
        target=request_target(scope.get("raw_path") or scope["path"].encode("utf-8"), query_string),
        path=path,
        headers=headers,
        body=body,
        query=dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)),
        # A peer hub on the mutual-TLS listener (PeerIdentityMiddleware named it from its certificate).
        peer=scope.get(PEER_SCOPE_KEY),
    )


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers with lower-case names (the last of repeated ones), as Starlette reads them."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def render(done: Exchanged) -> Response:
    """The hub's reply as HTTP: JSON or problem+json, with ``X-Road-Id`` and ``X-Road-Request-Hash``."""
    headers = {"X-Road-Id": done.message_id, "X-Road-Request-Hash": done.request_hash}
    if done.location is not None:
        headers["Location"] = done.location
        headers["Retry-After"] = "1"
    reply = done.reply
    if reply.problem:
        fields = dict(reply.body)
        code = str(fields.pop("code"))
        title = str(fields.pop("title"))
        detail = fields.pop("detail", None)
        response: Response = problem(
            reply.status, code, title, None if detail is None else str(detail), **fields
        )
        response.headers.update(headers)
        return response
    return JSONResponse(dict(reply.body), status_code=reply.status, headers=headers)


@router.get("/r1/results/{result_id}", summary="An asynchronous query's result (処理通番)")
async def result(request: Request, result_id: str) -> Response:
    hub = exchange_hub(request)
    body = await read_body(request, hub.max_body)
    return render(
        await hub.result(
            _incoming(request.scope, _headers(request.scope), ("results", result_id), body), result_id
        )
    )


@router.api_route(SERVICE_PATH, methods=["POST", "GET"], summary="Query a provider through the hub")
async def query(
    request: Request, instance: str, member_class: str, member_code: str, subsystem: str, service: str
) -> Response:
    hub = exchange_hub(request)
    body = await read_body(request, hub.max_body)
    path = (instance, member_class, member_code, subsystem, service)
    return render(await hub.query(_incoming(request.scope, _headers(request.scope), path, body)))


#: The route ``query_lane`` answers for: named in ``scope["route"]`` for the metrics and the access log.
QUERY_ROUTE = next(r for r in router.routes if getattr(r, "path_format", None) == SERVICE_PATH)
QUERY_PARAMS = ("instance", "member_class", "member_code", "subsystem", "service")
#: Directory metaservices (``api/directory.py``) whose GET shares the query route's shape, matched first.
DIRECTORY_METHODS = frozenset({"listMethods", "allowedMethods", "getOpenAPI"})


def query_path(scope: Scope) -> tuple[str, ...] | None:
    """The ``(instance, class, member, subsystem, service)`` of a request the app routes to the query route
    (``POST``/``GET /r1/{…}/{…}/{…}/{…}/{…}``, not a directory metaservice), None for any other."""
    method = scope["method"]
    if method != "POST" and method != "GET":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    if not path.startswith("/r1/"):
        return None
    parts = tuple(path[4:].split("/"))
    if len(parts) != 5 or "" in parts or (method == "GET" and parts[4] in DIRECTORY_METHODS):
        return None
    return parts


async def query_lane(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI app answering a request :func:`query_path` accepts: the same reading, hub call and rendering
    as the route, without FastAPI's request, routing and dependency machinery. The application puts it
    ahead of FastAPI (``app.PlatformApp``); ``scope["app"]`` must be the application, with the hub in
    ``state.exchange``."""
    path = query_path(scope)
    assert path is not None, "query_lane serves the query route only"
    hub = scope["app"].state.exchange
    assert isinstance(hub, ExchangeHub)
    scope["route"] = QUERY_ROUTE  # for the metrics and the access log, as the router would
    scope["path_params"] = dict(zip(QUERY_PARAMS, path, strict=True))
    headers = _headers(scope)
    body = await receive_body(headers.get("content-length"), receive, hub.max_body)
    response = render(await hub.query(_incoming(scope, headers, path, body)))
    await response(scope, receive, send)
