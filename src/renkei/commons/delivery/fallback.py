"""Stand-in validation and channel renderings, used until ``renkei.commons.validation`` and
``renkei.commons.render`` are wired into :class:`~renkei.commons.service.CommonsService` (their owner's
modules are the real ones; these only keep the pipeline whole and honest about drills).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

from renkei.commons.cap import to_cap_xml
from renkei.commons.model import Alert, Status, format_cap_datetime
from renkei.commons.ports import Channel

DRILL_LABELS = {Status.EXERCISE: "【訓練】", Status.TEST: "【テスト】", Status.SYSTEM: "【システム】"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a document is refused: where, and what, in Japanese and English."""

    path: str
    message_ja: str
    message_en: str
    rule: str = "commons"


@dataclass(frozen=True, slots=True)
class Rendering:
    """One channel's form of an alert."""

    channel: Channel
    media_type: str
    body: str


def label(alert: Alert) -> str:
    """【訓練】 / 【テスト】 for anything not real, empty for an actual alert: drills never look real."""
    return DRILL_LABELS.get(alert.status, "")


def basic_problems(alert: Alert) -> list[Problem]:
    """Every Commons rule this stand-in checks (all of them, not the first)."""
    problems: list[Problem] = []
    if not alert.infos:
        problems.append(Problem("alert/info", "info がありません", "an alert needs at least one info"))
    for i, info in enumerate(alert.infos, start=1):
        if not info.areas:
            problems.append(
                Problem(f"alert/info[{i}]/area", "対象地域がありません", "an info needs at least one area")
            )
        if not (info.headline or "").strip():
            problems.append(Problem(f"alert/info[{i}]/headline", "見出しがありません", "headline is missing"))
        for j, area in enumerate(info.areas, start=1):
            for code in area.local_government_codes():
                if not (code.isascii() and code.isdigit() and len(code) in (5, 6)):
                    problems.append(
                        Problem(
                            f"alert/info[{i}]/area[{j}]/geocode",
                            f"地方公共団体コード {code!r} が正しくありません",
                            f"local government code {code!r} is not 5 or 6 digits",
                        )
                    )
    if alert.msg_type.value in ("Update", "Cancel") and not alert.references:
        problems.append(
            Problem("alert/references", "更新・取消には参照が必要です", "Update/Cancel need references")
        )
    return problems


def _text(alert: Alert) -> tuple[str, str, str]:
    info = alert.infos[0] if alert.infos else None
    headline = (info.headline if info else None) or (info.event if info else "")
    areas = "・".join(a.area_desc for a in info.areas) if info else ""
    parts = (info.description, info.instruction) if info else ()
    body = " ".join(x for x in parts if x)
    return label(alert) + headline, areas, body


def basic_renderings(alert: Alert) -> list[Rendering]:
    """Each channel's rendering of ``alert`` (drills and tests carry their label in every one)."""
    headline, areas, body = _text(alert)
    sender = next((i.sender_name for i in alert.infos if i.sender_name), alert.sender)
    tv = f"{headline}　{areas}　{body}".strip()
    radio = f"{label(alert)}{sender}からお知らせします。{headline}。対象地域は{areas}です。{body}"
    mail = f"{headline}\n{areas}\n{body}"[:200]
    page = (
        f'<article lang="ja"><h1>{html.escape(headline)}</h1><p>{html.escape(areas)}</p>'
        f"<p>{html.escape(body)}</p><p>{html.escape(sender)} {format_cap_datetime(alert.sent)}</p></article>"
    )
    return [
        Rendering(Channel.TV, "text/plain; charset=utf-8", tv),
        Rendering(Channel.RADIO, "text/plain; charset=utf-8", radio),
        Rendering(Channel.CARRIER_MAIL, "text/plain; charset=utf-8", mail),
        Rendering(Channel.WEB, "text/html; charset=utf-8", page),
        Rendering(Channel.CAP, "application/cap+xml", to_cap_xml(alert).decode("utf-8")),
    ]


def alert_summary_json(alert: Alert) -> str:
    """A small JSON form (for lists and the stream)."""
    headline, areas, body = _text(alert)
    return json.dumps(
        {"identifier": alert.identifier, "headline": headline, "areas": areas, "text": body},
        ensure_ascii=False,
    )
