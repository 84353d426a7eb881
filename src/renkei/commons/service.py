"""The Commons use cases (公共情報コモンズ): intake → validate → store → lifecycle → render → deliver.

An accepted revision, its lifecycle effects on earlier revisions, its feed entry and one delivery per
interested subscriber are written in ONE transaction: once :meth:`CommonsService.submit` returns, nothing
of it can be lost by a restart, and the delivery worker (:mod:`renkei.commons.delivery.worker`) pushes it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn

from renkei.commons.cap import parse_cap
from renkei.commons.delivery.errors import (
    AlertNotFound,
    AlertRejected,
    DeliveryNotFound,
    SubscriberInvalid,
)
from renkei.commons.delivery.matching import area_codes, wants
from renkei.commons.delivery.signal import ChangeSignal
from renkei.commons.edxl import alert_of, parse_edxl
from renkei.commons.errors import CommonsError, RenderTooLong
from renkei.commons.lifecycle import (
    expiry,
    followed_by,
    initial_state,
    is_real,
    state_at,
    status_label,
)
from renkei.commons.mapsvg import map_svg
from renkei.commons.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Content,
    DamageContent,
    DisasterHQContent,
    EvacuationContent,
    EvacuationEntry,
    Info,
    IssueAction,
    LandslideContent,
    MessageKind,
    MsgType,
    NamedValue,
    NoticeContent,
    Reference,
    ResponseType,
    Scope,
    Severity,
    ShelterContent,
    ShelterEntry,
    Status,
    Urgency,
    evacuation_level,
    with_content,
)
from renkei.commons.ports import (
    AlertRecord,
    AreaFilter,
    Channel,
    CommonsStore,
    CommonsTransaction,
    DeliveryRecord,
    DeliveryState,
    FeedEntry,
    LifecycleState,
    SubscriberRecord,
)
from renkei.commons.render import (
    AtomFeed,
    ChannelLimits,
    alert_json,
    area_mail,
    cap_xml,
    data_broadcast,
    radio_script,
    tv_banner,
    web_page,
)
from renkei.commons.render.text import primary_info
from renkei.commons.validation import Finding, Level, validate, validate_alert
from renkei.storage.ports import Clock

GEOCODE = "地方公共団体コード"
#: How long deliveries handed straight to this process's worker stay leased to it (as a claim would).
HANDOVER_LEASE = timedelta(seconds=120)
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Rendering:
    """One channel's form of an alert, as a subscriber of that channel receives it."""

    channel: Channel
    media_type: str
    body: str


def problem(rule: str, path: str, message_ja: str, message_en: str) -> Finding:
    """An error found by the service itself (unknown reference, unreadable document, too long …)."""
    return Finding(rule, Level.ERROR, path, message_ja, message_en)


def profile_problems(alert: Alert) -> list[Finding]:
    """Every error :func:`renkei.commons.validation.validate_alert` finds (CAP 1.2 + Japanese profile)."""
    return list(validate_alert(alert).errors)


def channel_renderings(alert: Alert, limits: ChannelLimits | None = None) -> list[Rendering]:
    """Every channel's rendering of ``alert`` by :mod:`renkei.commons.render` (drills labelled in each).

    TV gets the L字 banner line, a blank line, then the データ放送 text; 緊急速報メール gets JSON
    ``{"parts": [{"title", "body", "part", "parts"}]}``; web the HTML page with its SVG map; CAP the XML.
    Raises :class:`RenderTooLong` when the 緊急速報メール limits refuse the text.
    """
    mails = area_mail(alert, limits)
    mail = {"parts": [{"title": m.title, "body": m.body, "part": m.part, "parts": m.parts} for m in mails]}
    return [
        Rendering(Channel.TV, TEXT, f"{tv_banner(alert, limits)}\n\n{data_broadcast(alert, limits)}"),
        Rendering(Channel.RADIO, TEXT, radio_script(alert)),
        Rendering(
            Channel.CARRIER_MAIL,
            "application/json; charset=utf-8",
            json.dumps(mail, ensure_ascii=False, indent=1),
        ),
        Rendering(Channel.WEB, "text/html; charset=utf-8", web_page(alert)),
        Rendering(Channel.CAP, "application/cap+xml", cap_xml(alert).decode("utf-8")),
    ]


Validator = Callable[[Alert], list[Finding]]
Renderer = Callable[[Alert], list[Rendering]]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What :meth:`CommonsService.submit` stored: the revision, and how many deliveries it queued."""

    record: AlertRecord
    feed_seq: int
    deliveries: int


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert chain as pages show it: every revision, the current one parsed, and its state now."""

    revisions: tuple[AlertRecord, ...]
    current: AlertRecord
    alert: Alert
    state: LifecycleState
    label: str
    """【訓練】/【テスト】/【訂正】/【取消】 (lifecycle ``status_label``); may be empty."""
    real: bool
    """Only ``Actual`` is real (:func:`renkei.commons.lifecycle.is_real`): pages warn about the rest."""


@dataclass(frozen=True, slots=True)
class Draft:
    """What municipal staff fill in (作成フォーム) or post as JSON: one template per message kind.

    ``details`` holds the kind's fields by their Japanese names (発令区分, 地区, 避難所名 …; see
    :func:`content_from_details`). ``replaces`` names the message an Update or Cancel follows.
    """

    kind: MessageKind
    sender: str
    sender_name: str
    sender_code: str
    area_desc: str
    area_codes: tuple[str, ...]
    headline: str
    description: str = ""
    instruction: str = ""
    status: Status = Status.ACTUAL
    msg_type: MsgType = MsgType.ALERT
    replaces: str | None = None
    details: dict[str, str] = field(default_factory=dict)


def _count(details: dict[str, str], name: str) -> int | None:
    text = details.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise SubscriberInvalid(f"{name} は数値で入力してください ({text!r})", field=name)
    return int(text)


def content_from_details(kind: MessageKind, details: dict[str, str]) -> Content:
    """The typed content of a draft, from the form's fields (named as in the CAP parameters)."""
    action = IssueAction.LIFTED if details.get("発令状況", "発令") == "解除" else IssueAction.ISSUED
    if kind is MessageKind.EVACUATION:
        entry = EvacuationEntry(
            level=evacuation_level(details.get("発令区分", "避難指示")),
            action=action,
            district=details.get("地区", "").strip() or "全域",
            households=_count(details, "対象世帯数"),
            persons=_count(details, "対象人数"),
        )
        return EvacuationContent((entry,), hazard=details.get("災害種別") or None)
    if kind is MessageKind.SHELTER:
        shelter = ShelterEntry(
            name=details.get("避難所名", "").strip() or "避難所",
            is_open=details.get("開設状況", "開設") != "閉鎖",
            capacity=_count(details, "収容人数"),
            head_count=_count(details, "避難者数"),
            address=details.get("所在地") or None,
        )
        return ShelterContent((shelter,))
    if kind is MessageKind.DISASTER_HQ:
        # 設置状況 is the CAP parameter's own name (発令 = 設置, 解除 = 廃止); 発令状況 is accepted too.
        established = details.get("設置状況", details.get("発令状況", "発令")) != "解除"
        return DisasterHQContent(
            details.get("本部種別", "災害対策本部"), IssueAction.ISSUED if established else IssueAction.LIFTED
        )
    if kind is MessageKind.DAMAGE:
        labels = {
            "dead": "死者",
            "missing": "行方不明者",
            "seriously_injured": "重傷者",
            "slightly_injured": "軽傷者",
            "destroyed": "全壊",
            "half_destroyed": "半壊",
            "flooded_above_floor": "床上浸水",
            "flooded_below_floor": "床下浸水",
        }
        return DamageContent(**{attr: _count(details, name) or 0 for attr, name in labels.items()})
    if kind is MessageKind.LANDSLIDE_ALERT:
        return LandslideContent(
            IssueAction.LIFTED if details.get("発表状況") == "解除" else IssueAction.ISSUED,
            tuple(m for m in details.get("対象市町村", "").split() if m),
        )
    return NoticeContent(is_event=kind is MessageKind.EVENT, venue=details.get("会場") or None)


_KIND_CAP: dict[MessageKind, tuple[Category, ResponseType, Urgency, Severity]] = {
    MessageKind.EVACUATION: (Category.SAFETY, ResponseType.EVACUATE, Urgency.IMMEDIATE, Severity.SEVERE),
    MessageKind.SHELTER: (Category.SAFETY, ResponseType.SHELTER, Urgency.EXPECTED, Severity.MODERATE),
    MessageKind.DISASTER_HQ: (Category.OTHER, ResponseType.MONITOR, Urgency.EXPECTED, Severity.MODERATE),
    MessageKind.DAMAGE: (Category.INFRA, ResponseType.ASSESS, Urgency.PAST, Severity.MODERATE),
    MessageKind.LANDSLIDE_ALERT: (Category.GEO, ResponseType.PREPARE, Urgency.EXPECTED, Severity.SEVERE),
    MessageKind.NOTICE: (Category.OTHER, ResponseType.NONE, Urgency.UNKNOWN, Severity.MINOR),
    MessageKind.EVENT: (Category.OTHER, ResponseType.NONE, Urgency.FUTURE, Severity.MINOR),
}


class CommonsService:
    """The Commons: takes documents in, keeps their chains, renders them and queues their deliveries."""

    def __init__(
        self,
        store: CommonsStore,
        clock: Clock,
        *,
        signal: ChangeSignal | None = None,
        validator: Validator = profile_problems,
        renderer: Renderer = channel_renderings,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._clock = clock
        self.signal = signal or ChangeSignal()
        self._validator = validator
        self._renderer = renderer
        self._new_id = new_id

    @property
    def store(self) -> CommonsStore:
        return self._store

    @property
    def clock(self) -> Clock:
        return self._clock

    # --- intake -------------------------------------------------------------------------------------------

    def read_document(self, data: bytes) -> Alert:
        """The CAP alert in ``data``: CAP 1.2, or the first content of an EDXL-DE distribution (a Commons
        report is read as its CAP view, :func:`renkei.commons.edxl.alert_of`).

        Raises :class:`AlertRejected` listing the problem when it cannot be read at all.
        """
        try:
            if b"EDXLDistribution" in data[:2048]:
                distribution = parse_edxl(data)
                if not distribution.contents:
                    _refuse(
                        "edxl.content.missing",
                        "/EDXLDistribution",
                        "EDXL-DE に情報が含まれていません",
                        "no content",
                    )
                return alert_of(distribution, distribution.contents[0])
            return parse_cap(data)
        except AlertRejected:
            raise
        except CommonsError as error:
            path = str(error.detail.get("path", "/"))
            _refuse(error.code, path, f"文書を読み取れません: {error.message}", error.message)

    def submit(self, data: bytes) -> Accepted:
        """Validate, store, chain, render and queue a CAP or EDXL-DE document; all or nothing.

        An invalid document raises :class:`AlertRejected` listing every error found, and nothing is stored.
        """
        report = validate(data)
        if not report.ok:
            _reject(list(report.errors), "the document is invalid")
        return self._accept(self.read_document(data))

    def submit_draft(self, draft: Draft) -> Accepted:
        """Accept what staff authored (form or JSON)."""
        return self.submit_alert(self.alert_from_draft(draft))

    def submit_alert(self, alert: Alert) -> Accepted:
        """Validate (``validator``), then store, chain, render and queue ``alert``; all or nothing."""
        problems = self._validator(alert)
        if problems:
            _reject(problems, "the alert is invalid")
        return self._accept(alert)

    def _accept(self, alert: Alert) -> Accepted:
        now = self._clock.now()
        renderings, problems = self._render(alert)
        if problems:
            _reject(problems, "the alert cannot be rendered")
        by_channel = {r.channel: r for r in renderings}
        subscribers = [s for s in self._store.subscribers.all(active_only=True) if wants(s, alert)]
        info = primary_info(alert)
        headline = (info.headline or info.event) if info else (alert.note or alert.identifier)
        # With a delivery worker in this process, its deliveries are committed leased to it and handed
        # over after the commit: no claim query before the first push (see ChangeSignal.hand_over).
        hand_over = bool(subscribers) and self.signal.has_taker
        due = now + HANDOVER_LEASE if hand_over else now
        with self._store.transaction() as tx:
            alert_id, revision, earlier = self._chain(tx, alert)
            record = AlertRecord(
                message_id=alert.identifier,
                alert_id=alert_id,
                revision=revision,
                sender=alert.sender,
                sender_code=_sender_code(alert),
                sent=alert.sent,
                status=alert.status.value,
                msg_type=alert.msg_type.value,
                kind=(info.kind.value if info and info.kind else info.event if info else "")[:64],
                headline=status_label(alert) + headline,
                area_codes=area_codes(alert),
                state=initial_state(alert),
                received_at=now,
                raw_xml=by_channel[Channel.CAP].body,
                expires=expiry(alert),
            )
            tx.alerts.add(record)
            for previous in earlier:
                after = followed_by(previous.state, alert.msg_type)
                if after is not previous.state:
                    tx.alerts.set_state(previous.message_id, after)
            seq = tx.feed.append(
                FeedEntry(
                    0,
                    record.message_id,
                    alert_id,
                    revision,
                    record.msg_type,
                    record.status,
                    record.headline,
                    tv_banner(alert),
                    now,
                )
            )
            deliveries = [
                DeliveryRecord(
                    id=self._new_id(),
                    subscriber_id=s.id,
                    message_id=record.message_id,
                    alert_id=alert_id,
                    revision=revision,
                    channel=s.channel,
                    media_type=by_channel[s.channel].media_type,
                    body=by_channel[s.channel].body,
                    state=DeliveryState.PENDING,
                    attempts=0,
                    next_attempt_at=due,
                    created_at=now,
                )
                for s in subscribers
            ]
            tx.deliveries.add_many(deliveries)
        if hand_over:
            self.signal.hand_over(list(zip(deliveries, subscribers, strict=True)))
        self.signal.notify()
        return Accepted(record, seq, len(deliveries))

    def _chain(self, tx: CommonsTransaction, alert: Alert) -> tuple[str, int, list[AlertRecord]]:
        """The chain an alert joins: (alert_id, revision, the earlier revisions it affects).

        An Update or Cancel joins the chain of the messages its ``references`` name (sender and
        identifier, as CAP identifies a message); how each earlier revision's state changes is the
        lifecycle's rule (:func:`renkei.commons.lifecycle.followed_by`).
        """
        if alert.msg_type not in (MsgType.UPDATE, MsgType.CANCEL):
            return alert.identifier, 1, []
        found = [
            r
            for r, ref in ((tx.alerts.get(ref.identifier), ref) for ref in alert.references)
            if r is not None and r.sender == ref.sender
        ]
        if not found:
            _refuse(
                "commons.references.unknown",
                "/alert/references",
                "参照先の情報が見つかりません",
                "none of the referenced messages was received here",
            )
        chain = found[-1].alert_id
        revisions = tx.alerts.revisions(chain)
        return chain, max(r.revision for r in revisions) + 1, revisions

    def _render(self, alert: Alert) -> tuple[list[Rendering], list[Finding]]:
        try:
            return self._renderer(alert), []
        except RenderTooLong as error:
            field_name = str(error.detail.get("field", ""))
            too_long = problem(
                error.code, f"/{error.detail.get('channel', '')}/{field_name}", error.message, error.message
            )
            return [], [too_long]

    # --- authoring ----------------------------------------------------------------------------------------

    def alert_from_draft(self, draft: Draft) -> Alert:
        """Build the CAP alert a draft stands for (an Update/Cancel references the message it replaces)."""
        now = self._clock.now().replace(microsecond=0)
        references: tuple[Reference, ...] = ()
        if draft.replaces:
            previous = self._store.alerts.get(draft.replaces)
            if previous is None:
                message = f"置き換える情報 {draft.replaces!r} はありません"
                raise AlertNotFound(message, message_id=draft.replaces)
            references = (Reference(previous.sender, previous.message_id, previous.sent),)
        category, response, urgency, severity = _KIND_CAP[draft.kind]
        info = Info(
            categories=(category,),
            event=draft.kind.value,
            urgency=urgency,
            severity=severity,
            certainty=Certainty.OBSERVED,
            response_types=(response,),
            sender_name=draft.sender_name,
            headline=draft.headline,
            description=draft.description or None,
            instruction=draft.instruction or None,
            areas=(
                Area(
                    area_desc=draft.area_desc,
                    geocodes=tuple(NamedValue(GEOCODE, code) for code in draft.area_codes),
                ),
            ),
        )
        info = with_content(info, content_from_details(draft.kind, draft.details))
        return Alert(
            identifier=f"urn:renkei:commons:{draft.sender_code}:{self._new_id()}",
            sender=draft.sender,
            sent=now,
            status=draft.status,
            msg_type=draft.msg_type,
            scope=Scope.PUBLIC,
            references=references,
            infos=(info,),
        )

    def preview(self, draft: Draft) -> tuple[Alert, list[Finding], list[Rendering]]:
        """What a draft would become, its problems and every channel's rendering; nothing is stored."""
        alert = self.alert_from_draft(draft)
        renderings, too_long = self._render(alert)
        return alert, self._validator(alert) + too_long, renderings

    def render(self, alert: Alert) -> list[Rendering]:
        """Every channel's rendering of an (accepted) alert."""
        return self._renderer(alert)

    @staticmethod
    def map_svg(alert: Alert) -> str:
        """The alert's areas as an SVG map (:func:`renkei.commons.mapsvg.map_svg`)."""
        return map_svg(alert)

    @staticmethod
    def web_page(alert: Alert) -> str:
        """The alert as a standalone public web page (:func:`renkei.commons.render.web_page`)."""
        return web_page(alert)

    @staticmethod
    def alert_json(alert: Alert) -> dict[str, object]:
        """The alert as JSON-ready data, CAP element names (:func:`renkei.commons.render.alert_json`)."""
        return alert_json(alert)

    # --- reading ------------------------------------------------------------------------------------------

    def alerts(self, *, limit: int = 100, offset: int = 0) -> list[tuple[AlertRecord, LifecycleState]]:
        """The newest revision of each chain with its state now (expiry applied), newest first."""
        return [(r, self._state_now(r)) for r in self._store.alerts.latest(limit=limit, offset=offset)]

    def alert(self, alert_id: str) -> AlertView:
        """A chain by its id, or by the message id of any of its revisions."""
        revisions = self._store.alerts.revisions(alert_id)
        if not revisions:
            found = self._store.alerts.get(alert_id)  # a message id names its chain too
            revisions = self._store.alerts.revisions(found.alert_id) if found else []
        if not revisions:
            raise AlertNotFound(f"情報 {alert_id!r} はありません", alert_id=alert_id)
        current = revisions[-1]
        alert = parse_cap(current.raw_xml.encode("utf-8"))
        return AlertView(
            tuple(revisions), current, alert, self._state_now(current), status_label(alert), is_real(alert)
        )

    def _state_now(self, record: AlertRecord) -> LifecycleState:
        return state_at(record.state, record.expires, self._clock.now())

    def deliveries(self, alert_id: str) -> list[DeliveryRecord]:
        return self._store.deliveries.for_alert(alert_id)

    def acknowledge(self, delivery_id: str, receipt: str | None) -> DeliveryRecord:
        """Record a subscriber's receipt (受領確認) for a delivery; idempotent."""
        found = self._store.deliveries.acknowledge(delivery_id, self._clock.now(), receipt)
        if found is None:
            raise DeliveryNotFound(f"配信 {delivery_id!r} はありません", delivery_id=delivery_id)
        return found

    def feed(self, *, limit: int = 50) -> list[FeedEntry]:
        return self._store.feed.recent(limit=limit)

    def atom(
        self,
        *,
        self_url: str,
        cap_url: Callable[[AlertRecord], str],
        page_url: Callable[[AlertRecord], str] | None = None,
        limit: int = 50,
    ) -> AtomFeed:
        """The newest ``limit`` accepted messages as an append-only :class:`AtomFeed` (one entry each)."""
        entries = self._store.feed.recent(limit=limit)
        with self._store.transaction() as tx:  # one connection for every read
            records = [tx.alerts.get(e.message_id) for e in reversed(entries)]
        feed = AtomFeed("urn:renkei:commons:feed", "公共情報コモンズ 発信情報", self_url)
        for record in records:
            if record is not None:
                feed = feed.append(
                    parse_cap(record.raw_xml.encode("utf-8")),
                    cap_url(record),
                    page_url(record) if page_url else None,
                )
        return feed

    def feed_since(self, seq: int, *, limit: int = 500) -> list[FeedEntry]:
        return self._store.feed.since(seq, limit=limit)

    # --- subscribers --------------------------------------------------------------------------------------

    def register_subscriber(
        self,
        *,
        name: str,
        channel: Channel,
        webhook_url: str,
        areas: AreaFilter | None = None,
        message_types: Sequence[str] = (),
        secret: str | None = None,
    ) -> SubscriberRecord:
        """Register a media subscriber; its HMAC secret is generated unless given (≥ 16 characters)."""
        errors = []
        if not name.strip():
            errors.append("name: 名称を入力してください")
        if not webhook_url.startswith(("http://", "https://")):
            errors.append("webhook_url: http(s) の URL を指定してください")
        if secret is not None and len(secret) < 16:
            errors.append("secret: 16 文字以上にしてください")
        bad_types = [t for t in message_types if t not in {m.value for m in MsgType}]
        if bad_types:
            errors.append(f"message_types: 不明な種別 {bad_types}")
        areas = areas or AreaFilter()
        if areas.polygon and len(areas.polygon) < 3:
            errors.append("polygon: 3 点以上が必要です")
        if errors:
            raise SubscriberInvalid("購読者の登録内容に誤りがあります", errors=errors)
        record = SubscriberRecord(
            id=self._new_id(),
            name=name.strip(),
            channel=channel,
            webhook_url=webhook_url,
            secret=secret or secrets.token_urlsafe(32),
            areas=areas,
            message_types=tuple(message_types),
            created_at=self._clock.now(),
        )
        self._store.subscribers.add(record)
        return record

    def subscribers(self) -> list[SubscriberRecord]:
        return self._store.subscribers.all()


def _sender_code(alert: Alert) -> str:
    codes = area_codes(alert)
    return codes[0] if codes else ""


def _problem_dict(found: Finding) -> dict[str, str]:
    return {
        "path": found.path,
        "rule": found.rule,
        "message": found.message_ja,
        "message_en": found.message_en,
    }


def _reject(problems: Sequence[Finding], why: str) -> NoReturn:
    raise AlertRejected(
        f"{len(problems)} 件の誤りがあります ({why})", errors=[_problem_dict(p) for p in problems]
    )


def _refuse(rule: str, path: str, message_ja: str, message_en: str) -> NoReturn:
    """Refuse with one problem (found by the service itself, not by validation)."""
    raise AlertRejected(message_ja, errors=[_problem_dict(problem(rule, path, message_ja, message_en))])
