"""The Commons use cases (公共情報コモンズ): intake → validate → store → lifecycle → render → deliver.

An accepted revision, its lifecycle effects on earlier revisions, its feed entry and one delivery per
interested subscriber are written in ONE transaction: once :meth:`CommonsService.submit` returns, nothing
of it can be lost by a restart, and the delivery worker (:mod:`renkei.commons.delivery.worker`) pushes it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from renkei.commons.cap import parse_cap
from renkei.commons.delivery.errors import (
    AlertNotFound,
    AlertRejected,
    DeliveryNotFound,
    SubscriberInvalid,
)
from renkei.commons.delivery.fallback import (
    Problem,
    Rendering,
    basic_renderings,
    label,
)
from renkei.commons.delivery.matching import area_codes, wants
from renkei.commons.delivery.signal import ChangeSignal
from renkei.commons.edxl import parse_edxl
from renkei.commons.errors import CommonsError
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
    DeliveryRecord,
    DeliveryState,
    FeedEntry,
    LifecycleState,
    SubscriberRecord,
)
from renkei.commons.validation import validate, validate_alert
from renkei.storage.ports import Clock

Validator = Callable[[Alert], list[Problem]]


def profile_problems(alert: Alert) -> list[Problem]:
    """Every error :func:`renkei.commons.validation.validate_alert` finds (CAP 1.2 + Japanese profile)."""
    return [Problem(f.path, f.message_ja, f.message_en, f.rule) for f in validate_alert(alert).errors]


Renderer = Callable[[Alert], list[Rendering]]
GEOCODE = "地方公共団体コード"


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
    drill_label: str


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
        return DisasterHQContent(details.get("本部種別", "災害対策本部"), action)
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
        renderer: Renderer = basic_renderings,
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
        """The CAP alert in ``data`` (CAP 1.2, or an EDXL-DE distribution carrying one).

        Raises :class:`AlertRejected` listing the problem when it cannot be read at all.
        """
        try:
            if b"EDXLDistribution" in data[:2048]:
                distribution = parse_edxl(data)
                alerts = [c.payload for c in distribution.contents if isinstance(c.payload, Alert)]
                if not alerts:
                    raise AlertRejected(
                        "EDXL-DE に CAP alert が含まれていません",
                        errors=[_problem_dict(Problem("EDXLDistribution", "CAP がありません", "no alert"))],
                    )
                return alerts[0]
            return parse_cap(data)
        except CommonsError as error:
            if isinstance(error, AlertRejected):
                raise
            path = str(error.detail.get("path", "/"))
            problem = Problem(path, error.message, error.message, rule=error.code)
            raise AlertRejected(
                "文書を読み取れません (the document cannot be read)", errors=[_problem_dict(problem)]
            ) from None

    def submit(self, data: bytes) -> Accepted:
        """Validate, store, chain, render and queue a CAP or EDXL-DE document; all or nothing.

        An invalid document raises :class:`AlertRejected` listing every error found, and nothing is stored.
        """
        report = validate(data)
        if not report.ok:
            errors = [Problem(f.path, f.message_ja, f.message_en, f.rule) for f in report.errors]
            raise AlertRejected(
                f"{len(errors)} 件の誤りがあります (the document is invalid)",
                errors=[_problem_dict(p) for p in errors],
            )
        return self.submit_alert(self.read_document(data))

    def submit_draft(self, draft: Draft) -> Accepted:
        """Accept what staff authored (form or JSON)."""
        return self.submit_alert(self.alert_from_draft(draft))

    def submit_alert(self, alert: Alert) -> Accepted:
        problems = self._validator(alert)
        if problems:
            raise AlertRejected(
                f"{len(problems)} 件の誤りがあります (the alert is invalid)",
                errors=[_problem_dict(p) for p in problems],
            )
        now = self._clock.now()
        renderings = {r.channel: r for r in self._renderer(alert)}
        subscribers = [s for s in self._store.subscribers.all(active_only=True) if wants(s, alert)]
        info = alert.infos[0]
        with self._store.transaction() as tx:
            alert_id, revision, earlier = self._chain(tx.alerts.get, alert)
            state = LifecycleState.CANCELLED if alert.msg_type is MsgType.CANCEL else LifecycleState.ACTIVE
            record = AlertRecord(
                message_id=alert.identifier,
                alert_id=alert_id,
                revision=revision,
                sender=alert.sender,
                sender_code=_sender_code(alert),
                sent=alert.sent,
                status=alert.status.value,
                msg_type=alert.msg_type.value,
                kind=(info.kind.value if info.kind else info.event)[:64],
                headline=label(alert) + (info.headline or info.event),
                area_codes=area_codes(alert),
                state=state,
                received_at=now,
                raw_xml=renderings[Channel.CAP].body,
                expires=info.expires,
            )
            tx.alerts.add(record)
            for previous in earlier:
                tx.alerts.set_state(previous.message_id, _after(previous.state, state))
            seq = tx.feed.append(
                FeedEntry(
                    0,
                    record.message_id,
                    alert_id,
                    revision,
                    record.msg_type,
                    record.status,
                    record.headline,
                    renderings[Channel.TV].body,
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
                    media_type=renderings[s.channel].media_type,
                    body=renderings[s.channel].body,
                    state=DeliveryState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                for s in subscribers
            ]
            tx.deliveries.add_many(deliveries)
        self.signal.notify()
        return Accepted(record, seq, len(deliveries))

    def _chain(
        self, get: Callable[[str], AlertRecord | None], alert: Alert
    ) -> tuple[str, int, list[AlertRecord]]:
        """The chain an alert joins: (alert_id, revision, the earlier revisions it affects)."""
        if alert.msg_type not in (MsgType.UPDATE, MsgType.CANCEL):
            return alert.identifier, 1, []
        found = [r for r in (get(ref.identifier) for ref in alert.references) if r is not None]
        if not found:
            problem = Problem(
                "alert/references",
                "参照先の情報が見つかりません",
                "none of the referenced messages was received here",
            )
            raise AlertRejected("参照先の情報が見つかりません", errors=[_problem_dict(problem)])
        chain = found[-1].alert_id
        revisions = self._store.alerts.revisions(chain)
        return chain, max(r.revision for r in revisions) + 1, revisions

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

    def preview(self, draft: Draft) -> tuple[Alert, list[Problem], list[Rendering]]:
        """What a draft would become, its problems and every channel's rendering; nothing is stored."""
        alert = self.alert_from_draft(draft)
        return alert, self._validator(alert), self._renderer(alert)

    def render(self, alert: Alert) -> list[Rendering]:
        return self._renderer(alert)

    # --- reading ------------------------------------------------------------------------------------------

    def alerts(self, *, limit: int = 100, offset: int = 0) -> list[tuple[AlertRecord, LifecycleState]]:
        """The newest revision of each chain with its state now (expiry applied), newest first."""
        return [(r, self._state_now(r)) for r in self._store.alerts.latest(limit=limit, offset=offset)]

    def alert(self, alert_id: str) -> AlertView:
        revisions = self._store.alerts.revisions(alert_id)
        if not revisions:
            found = self._store.alerts.get(alert_id)  # a message id names its chain too
            revisions = self._store.alerts.revisions(found.alert_id) if found else []
        if not revisions:
            raise AlertNotFound(f"情報 {alert_id!r} はありません", alert_id=alert_id)
        current = revisions[-1]
        alert = parse_cap(current.raw_xml.encode("utf-8"))
        return AlertView(tuple(revisions), current, alert, self._state_now(current), label(alert))

    def _state_now(self, record: AlertRecord) -> LifecycleState:
        if (
            record.state is LifecycleState.ACTIVE
            and record.expires is not None
            and record.expires <= self._clock.now()
        ):
            return LifecycleState.EXPIRED
        return record.state

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


def _after(previous: LifecycleState, new: LifecycleState) -> LifecycleState:
    if new is LifecycleState.CANCELLED:
        return LifecycleState.CANCELLED
    return LifecycleState.SUPERSEDED if previous is LifecycleState.ACTIVE else previous


def _sender_code(alert: Alert) -> str:
    codes = area_codes(alert)
    return codes[0] if codes else ""


def _problem_dict(problem: Problem) -> dict[str, str]:
    return {
        "path": problem.path,
        "rule": problem.rule,
        "message": problem.message_ja,
        "message_en": problem.message_en,
    }
