"""The hub's query edge (照会応答): ``POST``/``GET /r1/{instance}/{class}/{member}/{subsystem}/{service}``
in the X-Road message protocol for REST, and ``GET /r1/results/{id}`` for asynchronous results.

The router reads the body under the hub's size limit, hands the request to
:class:`~renkei.exchange.service.ExchangeHub` (``app.state.exchange``) and renders its reply; faults become
problem+json with ``code`` and ``xroad_code``, and every reply carries ``X-Road-Id`` and
``X-Road-Request-Hash``. Include it after the directory router (whose GET metaservices share the shape).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

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
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _incoming(request: Request, path: tuple[str, ...], body: bytes | None) -> Incoming:
    return Incoming(
        method=request.method,
        target=request_target(request.scope["raw_path"], request.scope["query_string"]),
        path=path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=dict(request.query_params),
        # A peer hub on the mutual-TLS listener (PeerIdentityMiddleware named it from its certificate).
        peer=request.scope.get(PEER_SCOPE_KEY),
    )


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
    incoming = _incoming(request, ("results", result_id), await read_body(request, hub.max_body))
    return render(await hub.result(incoming, result_id))


@router.api_route(SERVICE_PATH, methods=["POST", "GET"], summary="Query a provider through the hub")
async def query(
    request: Request, instance: str, member_class: str, member_code: str, subsystem: str, service: str
) -> Response:
    hub = exchange_hub(request)
    body = await read_body(request, hub.max_body)
    path = (instance, member_class, member_code, subsystem, service)
    return render(await hub.query(_incoming(request, path, body)))
