"""File linkage (ファイル連携): a file-only member system sends and fetches change notifications as CSV files
laid out as the spec's CSV layout for the topic (docs/files.md), through the same hub as REST members:

    POST /r1/{instance}/{class}/{member}/{subsystem}/files/{topic}?encoding=auto|utf-8|cp932
         the file's rows become published events (one batch: the whole file or nothing)
    GET  /r1/{instance}/{class}/{member}/{subsystem}/files/{topic}?since=&limit=&encoding=utf-8|cp932
         the publisher's 差分 after ``since`` as a CSV file; ``X-Renkei-Next-Cursor`` says where to go on

Both are signed requests like every other hub call (the signature covers the file's bytes). The edge only
converts: authentication, authorisation, 個人番号 refusal, ID conversion, access records and the message
log are the notification hub's, exactly as for JSON. A REST publisher's events reach a file-only reader and
a file-only publisher's rows reach REST subscribers' webhooks.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from renkei.api.exchange import render
from renkei.api.notifications import MEMBER_PATH, _incoming, notification_hub
from renkei.exchange.csvfile import CsvEvent, export_events, read_events
from renkei.exchange.errors import ExchangeError
from renkei.exchange.models import Exchanged, Reply
from renkei.exchange.service import problem_body

router = APIRouter(tags=["files"])

NEXT_CURSOR_HEADER = "X-Renkei-Next-Cursor"
CHARSETS = {"utf-8": "utf-8", "cp932": "Shift_JIS"}


def _source_encoding(text: str | None) -> Literal["auto", "utf-8", "cp932"]:
    value = (text or "auto").lower().replace("_", "-")
    if value in ("shift-jis", "sjis", "windows-31j"):
        return "cp932"
    if value in ("auto", "utf-8", "cp932"):
        return value  # type: ignore[return-value]
    return "auto"


def _target_encoding(text: str | None) -> Literal["utf-8", "cp932"]:
    return "cp932" if _source_encoding(text) == "cp932" else "utf-8"


def _event_json(event: CsvEvent, received: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at or received,
        "data": dict(event.data),
    }
    if event.person_fugo is not None:
        out["person_fugo"] = event.person_fugo
    return out


@router.post(MEMBER_PATH + "/files/{topic}", summary="ファイル連携: CSV の取込 (publish a CSV file's rows)")
async def upload(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "events", topic)
    encoding = _source_encoding(incoming.query.get("encoding"))

    def decode(body: bytes) -> dict[str, Any]:
        received = hub.clock.now().isoformat()
        events = read_events(hub.spec, topic, body, encoding)
        return {"events": [_event_json(e, received) for e in events]}

    return render(await run_in_threadpool(lambda: hub.publish(incoming, topic, decode=decode)))


@router.get(MEMBER_PATH + "/files/{topic}", summary="ファイル連携: 差分の CSV 出力 (the feed as a CSV file)")
async def download(request: Request, topic: str) -> Response:
    hub = notification_hub(request)
    incoming = await _incoming(request, hub, "feeds", topic)
    done = await run_in_threadpool(hub.feed, incoming, topic)
    if done.reply.problem:
        return render(done)
    encoding = _target_encoding(incoming.query.get("encoding"))
    try:
        written = export_events(hub.spec, topic, done.reply.body["events"], encoding)
    except ExchangeError as error:  # a character the encoding cannot carry: refused, naming it
        return render(
            Exchanged(
                Reply(error.http_status, problem_body(error), problem=True),
                done.message_id,
                done.request_hash,
            )
        )
    headers = {
        "X-Road-Id": done.message_id,
        "X-Road-Request-Hash": done.request_hash,
        NEXT_CURSOR_HEADER: str(done.reply.body["next"]),
        "Content-Disposition": f'attachment; filename="{topic}-{done.reply.body["next"]}.csv"',
    }
    return Response(written.data, media_type=f"text/csv; charset={CHARSETS[encoding]}", headers=headers)
