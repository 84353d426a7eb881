"""HTTP edge of the Commons (公共情報コモンズ): REST, Atom, SSE, receipts, and Japanese pages for staff.

The service is read from ``request.app.state.commons`` (a :class:`~renkei.commons.service.CommonsService`
that ``app.py`` wires); start its delivery worker with :func:`delivery_lifespan`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from renkei.commons.delivery.errors import AlertNotFound, AlertRejected, SubscriberInvalid
from renkei.commons.delivery.worker import DeliveryWorker, delivery_client, running
from renkei.commons.model import Alert, MessageKind, MsgType, Status, format_cap_datetime
from renkei.commons.ports import (
    AlertRecord,
    AreaFilter,
    Channel,
    DeliveryRecord,
    DeliveryState,
    LifecycleState,
)
from renkei.commons.render.text import primary_info
from renkei.commons.service import CommonsService, Draft

router = APIRouter(prefix="/commons", tags=["commons"])
pages = APIRouter(prefix="/commons", include_in_schema=False)

ATOM = "application/atom+xml; charset=utf-8"
STREAM_POLL_S = 1.0

KIND_TEMPLATES: dict[str, tuple[MessageKind, str]] = {
    "evacuation": (MessageKind.EVACUATION, "避難情報"),
    "shelter": (MessageKind.SHELTER, "避難所"),
    "hq": (MessageKind.DISASTER_HQ, "災害対策本部設置"),
    "damage": (MessageKind.DAMAGE, "被害情報"),
    "landslide": (MessageKind.LANDSLIDE_ALERT, "土砂災害警戒情報"),
    "notice": (MessageKind.NOTICE, "お知らせ"),
}
STATE_JA = {"active": "発表中", "superseded": "更新済", "cancelled": "取消", "expired": "期限切れ"}
DELIVERY_JA = {
    "pending": "配信待ち",
    "delivered": "配信済",
    "acknowledged": "受領確認済",
    "failed": "配信失敗",
}
#: Form fields whose repeated CAP parameters (``…[1]``, ``…[2]``) are joined with spaces.
REPEATED_FIELDS = frozenset({"d_対象市町村"})
CHANNEL_JA = {
    "tv": "テレビ",
    "radio": "ラジオ",
    "carrier-mail": "緊急速報メール",
    "web": "ウェブ",
    "cap": "CAP",
}


def commons(request: Request) -> CommonsService:
    found = request.app.state.commons
    assert isinstance(found, CommonsService)
    return found


Dep = Annotated[CommonsService, Depends(commons)]


def templates() -> Environment:
    """The Commons' Jinja2 templates (``api/templates/commons``), autoescaping everything."""
    path = resources.files("renkei.api").joinpath("templates")
    env = Environment(loader=FileSystemLoader(str(path)), autoescape=select_autoescape(default=True))
    env.globals.update(state_ja=STATE_JA, delivery_ja=DELIVERY_JA, channel_ja=CHANNEL_JA)
    env.filters["jst"] = _jst
    return env


def _jst(value: datetime | None) -> str:
    if value is None:
        return "—"
    from datetime import timedelta, timezone

    return value.astimezone(timezone(timedelta(hours=9))).strftime("%Y-%m-%d %H:%M:%S")


def _render(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    env = getattr(request.app.state, "commons_templates", None)
    if env is None:
        env = request.app.state.commons_templates = templates()
    return HTMLResponse(env.get_template(name).render(**context), status_code=status)


@asynccontextmanager
async def delivery_lifespan(service: CommonsService, **worker_options: Any) -> AsyncIterator[DeliveryWorker]:
    """Run a delivery worker (with its own HTTP client) for the block; stop it gracefully at the end."""
    async with delivery_client() as client:
        worker = DeliveryWorker(service.store, client, service.clock, signal=service.signal, **worker_options)
        async with running(worker):
            yield worker


# --- REST ----------------------------------------------------------------------------------------------


class DraftIn(BaseModel):
    """An alert authored as JSON: the same fields as the staff form."""

    kind: MessageKind
    sender: str = Field(min_length=1)
    sender_name: str = Field(min_length=1)
    sender_code: str = Field(min_length=5, max_length=6)
    area_desc: str = Field(min_length=1)
    area_codes: list[str] = Field(min_length=1)
    headline: str = Field(min_length=1)
    description: str = ""
    instruction: str = ""
    status: Status = Status.ACTUAL
    msg_type: MsgType = MsgType.ALERT
    replaces: str | None = None
    details: dict[str, str] = Field(default_factory=dict)

    def draft(self) -> Draft:
        values = self.model_dump()
        values["area_codes"] = tuple(self.area_codes)
        return Draft(**values)


class SubscriberIn(BaseModel):
    name: str
    channel: Channel
    webhook_url: str
    prefectures: list[str] = Field(default_factory=list)
    municipalities: list[str] = Field(default_factory=list)
    polygon: list[tuple[float, float]] = Field(default_factory=list)
    message_types: list[str] = Field(default_factory=list)
    secret: str | None = None


def _record_json(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in asdict(record).items():
        if key in {"raw_xml", "secret", "body"}:
            continue
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


@router.post("/alerts", status_code=201, summary="情報の受付 (CAP 1.2 / EDXL-DE XML, or JSON)")
async def post_alert(request: Request, service: Dep) -> JSONResponse:
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/json":
        try:
            draft = DraftIn.model_validate_json(body).draft()
        except ValueError as error:
            errors = json.loads(error.json()) if hasattr(error, "json") else [{"msg": str(error)}]
            problems = [{"path": ".".join(map(str, e.get("loc", ()))), "message": e["msg"]} for e in errors]
            raise AlertRejected("JSON の内容に誤りがあります", errors=problems) from None
        accepted = await asyncio.to_thread(service.submit_draft, draft)
    else:
        accepted = await asyncio.to_thread(service.submit, body)
    record = accepted.record
    return JSONResponse(
        {**_record_json(record), "deliveries": accepted.deliveries, "feed_seq": accepted.feed_seq},
        status_code=201,
        headers={"Location": f"/commons/alerts/{record.alert_id}"},
    )


@router.get("/alerts", summary="情報の一覧 (each chain's newest revision)")
def list_alerts(service: Dep, limit: int = 100, offset: int = 0) -> JSONResponse:
    rows = service.alerts(limit=min(limit, 500), offset=offset)
    return JSONResponse([{**_record_json(r), "state": s.value} for r, s in rows])


@router.get("/alerts/{alert_id}.xml", summary="現行版の CAP XML")
def alert_xml(alert_id: str, service: Dep) -> Response:
    view = service.alert(alert_id)
    return Response(view.current.raw_xml, media_type="application/cap+xml")


@router.get("/alerts/{alert_id}/map.svg", summary="対象地域の地図 (SVG)")
def alert_map(alert_id: str, service: Dep) -> Response:
    view = service.alert(alert_id)
    return Response(service.map_svg(view.alert), media_type="image/svg+xml")


@router.get("/alerts/{alert_id}.json", summary="現行版 (CAP element names, plus real and label)")
def alert_json(alert_id: str, service: Dep) -> JSONResponse:
    return JSONResponse(service.alert_json(service.alert(alert_id).alert))


@router.get(
    "/alerts/{alert_id}.html", response_class=HTMLResponse, summary="現行版の公開ページ (web channel)"
)
def alert_html(alert_id: str, service: Dep) -> HTMLResponse:
    return HTMLResponse(service.web_page(service.alert(alert_id).alert))


@router.get("/alerts/{alert_id}", summary="情報 (every revision, state, deliveries)")
def get_alert(alert_id: str, service: Dep) -> JSONResponse:
    view = service.alert(alert_id)
    return JSONResponse(
        {
            "alert_id": view.current.alert_id,
            "state": view.state.value,
            "drill": None if view.real else view.label,
            "label": view.label,
            "current": _record_json(view.current),
            "revisions": [_record_json(r) for r in view.revisions],
            "deliveries": [_record_json(d) for d in service.deliveries(view.current.alert_id)],
        }
    )


@router.post("/deliveries/{delivery_id}/ack", summary="受領確認 (a subscriber's receipt)")
async def ack(delivery_id: str, request: Request, service: Dep) -> JSONResponse:
    receipt = (await request.body()).decode("utf-8", "replace")[:4000] or None
    record = await asyncio.to_thread(service.acknowledge, delivery_id, receipt)
    return JSONResponse(_record_json(record))


@router.post("/subscribers", status_code=201, summary="購読者 (media subscriber) の登録")
def post_subscriber(body: SubscriberIn, service: Dep) -> JSONResponse:
    record = service.register_subscriber(
        name=body.name,
        channel=body.channel,
        webhook_url=body.webhook_url,
        areas=AreaFilter(tuple(body.prefectures), tuple(body.municipalities), tuple(body.polygon)),
        message_types=body.message_types,
        secret=body.secret,
    )
    # The secret is shown once, at registration, so the subscriber can verify signatures.
    return JSONResponse({**_record_json(record), "secret": record.secret}, status_code=201)


@router.get("/subscribers", summary="購読者の一覧")
def list_subscribers(service: Dep) -> JSONResponse:
    return JSONResponse([_record_json(s) for s in service.subscribers()])


def _atom(service: CommonsService, style: Literal["fat", "thin"], self_url: str) -> Response:
    def cap_url(record: AlertRecord) -> str:
        return f"/commons/alerts/{record.alert_id}.xml"

    def page_url(record: AlertRecord) -> str:
        return f"/commons/view/{record.alert_id}"

    feed = service.atom(self_url=self_url, cap_url=cap_url, page_url=page_url)
    return Response(feed.to_xml(style), media_type=ATOM)


@router.get("/feed.atom", summary="Atom フィード (fat: CAP embedded in each entry)")
def feed(service: Dep) -> Response:
    return _atom(service, "fat", "/commons/feed.atom")


@router.get("/feed.thin.atom", summary="Atom フィード (thin: titles and links only)")
def feed_thin(service: Dep) -> Response:
    return _atom(service, "thin", "/commons/feed.thin.atom")


@router.get("/stream", summary="Server-Sent Events: one event per accepted revision (Last-Event-ID resumes)")
async def stream(request: Request, service: Dep) -> StreamingResponse:
    header = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or ""
    last = int(header) if header.isdigit() else None
    if last is None:
        recent = await asyncio.to_thread(service.feed, limit=1)
        last = recent[0].seq if recent else 0

    start: int = last

    async def events() -> AsyncIterator[bytes]:
        last = start
        wake = service.signal.register()
        try:
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                entries = await asyncio.to_thread(service.feed_since, last)
                for e in entries:
                    data = {
                        "seq": e.seq,
                        "alert_id": e.alert_id,
                        "message_id": e.message_id,
                        "revision": e.revision,
                        "msg_type": e.msg_type,
                        "status": e.status,
                        "title": e.title,
                        "published_at": e.published_at.isoformat(),
                    }
                    payload = json.dumps(data, ensure_ascii=False)
                    yield f"id: {e.seq}\nevent: alert\ndata: {payload}\n\n".encode()
                    last = e.seq
                if not entries:
                    try:
                        await asyncio.wait_for(wake.wait(), STREAM_POLL_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                    wake.clear()
        finally:
            service.signal.unregister(wake)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- pages (Japanese) ------------------------------------------------------------------------------------


def _draft_from_form(form: dict[str, str]) -> Draft:
    kind = KIND_TEMPLATES.get(form.get("template", ""), KIND_TEMPLATES["notice"])[0]
    details = {k[len("d_") :]: v for k, v in form.items() if k.startswith("d_") and v.strip()}
    codes = tuple(c for c in form.get("area_codes", "").replace("、", " ").replace(",", " ").split() if c)
    return Draft(
        kind=kind,
        sender=form.get("sender", "").strip(),
        sender_name=form.get("sender_name", "").strip(),
        sender_code=form.get("sender_code", "").strip(),
        area_desc=form.get("area_desc", "").strip(),
        area_codes=codes,
        headline=form.get("headline", "").strip(),
        description=form.get("description", "").strip(),
        instruction=form.get("instruction", "").strip(),
        status=Status.EXERCISE if form.get("status") == "Exercise" else Status.ACTUAL,
        msg_type=MsgType(form["msg_type"]) if form.get("msg_type") in {"Update", "Cancel"} else MsgType.ALERT,
        replaces=form.get("replaces") or None,
        details=details,
    )


def _form_from_alert(alert: Alert) -> dict[str, str]:
    """The authoring form's fields for an alert (CAP import, or the Update/Cancel of a stored one)."""
    info = primary_info(alert)
    form = {"sender": alert.sender, "status": alert.status.value, "template": "notice"}
    if info is None:
        return form
    form.update(
        sender_name=info.sender_name or "",
        headline=info.headline or "",
        description=info.description or "",
        instruction=info.instruction or "",
        area_desc="・".join(a.area_desc for a in info.areas),
        area_codes=" ".join(c for a in info.areas for c in a.local_government_codes()),
    )
    for key, (kind, _) in KIND_TEMPLATES.items():
        if kind is info.kind or (kind is MessageKind.NOTICE and info.kind is MessageKind.EVENT):
            form["template"] = key
    for parameter in info.parameters:
        if ":" not in parameter.value_name:
            continue
        name = "d_" + parameter.value_name.split(":", 1)[1].split("[")[0]
        if name in REPEATED_FIELDS and form.get(name):
            form[name] += " " + parameter.value
        else:
            form[name] = parameter.value
    codes = form["area_codes"].split()
    form["sender_code"] = codes[0] if codes else ""
    return form


@pages.get("", response_class=HTMLResponse)
def alerts_page(request: Request, service: Dep) -> HTMLResponse:
    return _render(request, "commons/alerts.html", rows=service.alerts())


@pages.get("/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    service: Dep,
    template: str = "evacuation",
    replaces: str | None = None,
    msg_type: str = "Update",
) -> HTMLResponse:
    """The authoring form; ``?replaces=<alert or message id>`` prefills an Update (or, with
    ``msg_type=Cancel``, a Cancel) of that chain's current revision."""
    if not replaces:
        form = {"template": template if template in KIND_TEMPLATES else "evacuation"}
        return _render(
            request, "commons/form.html", templates=KIND_TEMPLATES, form=form, problems=[], previews=[]
        )
    try:
        view = service.alert(replaces)
    except AlertNotFound as error:
        form = {"template": "evacuation", "replaces": replaces}
        problems = [{"path": "replaces", "message": error.message}]
        return _render(
            request,
            "commons/form.html",
            404,
            templates=KIND_TEMPLATES,
            form=form,
            problems=problems,
            previews=[],
        )
    form = _form_from_alert(view.alert)
    form["replaces"] = view.current.message_id
    form["msg_type"] = MsgType.CANCEL.value if msg_type == MsgType.CANCEL.value else MsgType.UPDATE.value
    problems = []
    if view.state is LifecycleState.CANCELLED:
        problems.append({"path": "replaces", "message": "この情報はすでに取り消されています。"})
    return _render(
        request,
        "commons/form.html",
        templates=KIND_TEMPLATES,
        form=form,
        problems=problems,
        previews=[],
        replacing=view,
    )


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    out: dict[str, str] = {}
    for key, value in data.multi_items():
        if isinstance(value, str):
            out[key] = value
        else:
            out[key + "__file"] = (await value.read()).decode("utf-8", "replace")
    return out


@pages.post("/new", response_class=HTMLResponse, response_model=None)
async def new_submit(request: Request, service: Dep) -> HTMLResponse | RedirectResponse:
    form = await _form(request)
    action = form.get("action", "preview")
    if action == "import":
        text = form.get("cap_file__file") or form.get("cap_text", "")
        try:
            alert = service.read_document(text.encode("utf-8"))
        except AlertRejected as error:
            problems = list(error.detail.get("errors", []))
            return _render(
                request,
                "commons/form.html",
                422,
                templates=KIND_TEMPLATES,
                form=form,
                problems=problems,
                previews=[],
            )
        return _render(
            request,
            "commons/form.html",
            templates=KIND_TEMPLATES,
            form=_form_from_alert(alert),
            problems=[],
            previews=[],
        )
    try:
        draft = _draft_from_form(form)
        if action == "submit":
            accepted = await asyncio.to_thread(service.submit_draft, draft)
            return RedirectResponse(f"/commons/view/{accepted.record.alert_id}", status_code=303)
        _, found, renderings = await asyncio.to_thread(service.preview, draft)
        problems = [{"path": p.path, "message": p.message_ja} for p in found]
    except (AlertRejected, SubscriberInvalid) as error:
        problems = list(error.detail.get("errors", [])) or [{"path": "", "message": error.message}]
        renderings = []
    except ValueError as error:
        problems, renderings = [{"path": "", "message": str(error)}], []
    status = 422 if problems and action == "submit" else 200
    return _render(
        request,
        "commons/form.html",
        status,
        templates=KIND_TEMPLATES,
        form=form,
        problems=problems,
        previews=renderings,
    )


@pages.get("/view/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: str, request: Request, service: Dep) -> HTMLResponse:
    view = service.alert(alert_id)
    renderings = service.render(view.alert)
    return _render(request, "commons/alert.html", view=view, renderings=renderings, sent=format_cap_datetime)


@pages.get("/dashboard/{alert_id}", response_class=HTMLResponse)
def dashboard_page(alert_id: str, request: Request, service: Dep) -> HTMLResponse:
    view = service.alert(alert_id)
    deliveries = service.deliveries(view.current.alert_id)
    names = {s.id: s.name for s in service.subscribers()}
    unacked = [d for d in deliveries if d.state is DeliveryState.DELIVERED]
    failed = [d for d in deliveries if d.state is DeliveryState.FAILED]
    return _render(
        request,
        "commons/dashboard.html",
        view=view,
        deliveries=deliveries,
        names=names,
        unacked=unacked,
        failed=failed,
        counts=_counts(deliveries),
    )


def _counts(deliveries: list[DeliveryRecord]) -> dict[str, int]:
    counts = {s.value: 0 for s in DeliveryState}
    for d in deliveries:
        counts[d.state.value] += 1
    return counts
