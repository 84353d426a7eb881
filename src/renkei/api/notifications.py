"""The hub's change-notification edge (異動通知), beside the query route, in the same X-Road REST style:

    POST   /r1/{instance}/{class}/{member}/{subsystem}/events/{topic}              publish (one or a batch)
    GET    /r1/{instance}/{class}/{member}/{subsystem}/feeds/{topic}?since=&limit= 差分 of that publisher
    GET    /r1/{instance}/{class}/{member}/{subsystem}/feeds/{topic}/snapshot      全件 (?cursor=&limit=)
    PUT    /r1/{instance}/{class}/{member}/{subsystem}/subscriptions/{topic}       subscribe (GET, DELETE too)
    GET    /r1/{instance}/{class}/{member}/{subsystem}/dead-letters/{topic}        own dead letters
    POST   /r1/{instance}/{class}/{member}/{subsystem}/dead-letters/{topic}/replay re-queue own dead letters

Every path has six or more segments after ``/r1/``, so none shadows the five-segment query route. The
member in the path is the publisher (events, feeds) or the caller itself (subscriptions, dead letters).
Every call is a signed request (``X-Renkei-Signature``) with ``X-Road-Client``; replies carry ``X-Road-Id``
and ``X-Road-Request-Hash``; faults are problem+json with ``code`` and ``xroad_code``. The service is
``app.state.notifications`` (:class:`~renkei.exchange.notifications.service.NotificationHub`); its
delivery worker runs in :func:`delivery_lifespan`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from renkei.api.exchange import read_body, render
from renkei.exchange.models import Incoming
from renkei.exchange.notifications.service import NotificationHub
from renkei.exchange.notifications.worker import NotificationWorker, running, webhook_client
from renkei.registry.auth import request_target

router = APIRouter(tags=["notifications"])

MEMBER_PATH = "/r1/{instance}/{member_class}/{member_code}/{subsystem}"


def notification_hub(request: Request) -> NotificationHub:
    hub = request.app.state.notifications
    assert isinstance(hub, NotificationHub)
    return hub


@asynccontextmanager
async def delivery_lifespan(hub: NotificationHub, **worker_options: Any) -> AsyncIterator[NotificationWorker]:
    """Run the webhook delivery worker (with its own HTTP client) for the block; stop it gracefully."""
    async with webhook_client() as client:
        worker = NotificationWorker(hub, client, **worker_options)
        async with running(worker):
            yield worker


async def _incoming(request: Request, hub: NotificationHub, *rest: str) -> Incoming:
    params = request.path_params
    path = (params["instance"], params["member_class"], params["member_code"], params["subsystem"], *rest)
    return Incoming(
        method=request.method,
        target=request_target(request.scope["raw_path"], request.scope["query_string"]),
        path=path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await read_body(request, hub.max_body),
        query=dict(request.query_params),
    )


@router.post(MEMBER_PATH + "/events/{topic}", summary="異動通知の発行 (publish change notifications)")
async def publish(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "events", topic)
    return render(await run_in_threadpool(hub.publish, incoming, topic))


@router.get(MEMBER_PATH + "/feeds/{topic}", summary="差分 (the publisher's events after a cursor)")
async def feed(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "feeds", topic)
    return render(await run_in_threadpool(hub.feed, incoming, topic))


@router.get(MEMBER_PATH + "/feeds/{topic}/snapshot", summary="全件 (the latest event per person)")
async def snapshot(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "feeds", topic, "snapshot")
    return render(await run_in_threadpool(hub.snapshot, incoming, topic))


@router.api_route(
    MEMBER_PATH + "/subscriptions/{topic}",
    methods=["PUT", "GET", "DELETE"],
    summary="購読 (the caller's subscription to a topic)",
)
async def subscription(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "subscriptions", topic)
    return render(await run_in_threadpool(hub.subscription_request, incoming, topic))


@router.get(MEMBER_PATH + "/dead-letters/{topic}", summary="配信不能 (the caller's dead letters)")
async def dead_letters(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "dead-letters", topic)
    return render(await run_in_threadpool(hub.dead_letters_request, incoming, topic))


@router.post(
    MEMBER_PATH + "/dead-letters/{topic}/replay", summary="再配信 (re-queue the caller's dead letters)"
)
async def replay(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "dead-letters", topic, "replay")
    return render(await run_in_threadpool(hub.replay_request, incoming, topic))
