"""Text channels: TV L字 banner, data broadcast, radio read-out script, 緊急速報メール.

All lengths are in full-width characters (全角換算, half-width = 0.5; :mod:`.width`). Every channel starts
with :func:`~renkei.commons.lifecycle.status_label` so 訓練/テスト are never shown as real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from renkei.commons.errors import RenderTooLong
from renkei.commons.lifecycle import status_label
from renkei.commons.model import (
    Alert,
    DamageContent,
    DisasterHQContent,
    EvacuationContent,
    Info,
    LandslideContent,
    MsgType,
    NoticeContent,
    ShelterContent,
    content_of,
)
from renkei.commons.render.width import cut, fullwidth_length
from renkei.japanese.wareki import to_wareki

ELLIPSIS: Final = "…"


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """Per-channel length limits, in full-width characters (半角 = 0.5).

    ``mail_overflow``: ``split`` sends a too-long 緊急速報メール body as numbered parts (at most
    ``mail_max_parts``), ``refuse`` raises :class:`RenderTooLong` instead.
    """

    tv_banner: float = 60
    data_broadcast: float = 400
    mail_title: float = 15
    mail_body: float = 200
    mail_overflow: Literal["split", "refuse"] = "split"
    mail_max_parts: int = 5


def primary_info(alert: Alert) -> Info | None:
    """The info channels show: the first Japanese one, else the first."""
    return next(
        (i for i in alert.infos if i.language.lower().startswith("ja")),
        alert.infos[0] if alert.infos else None,
    )


def _fit(text: str, limit: float) -> str:
    if fullwidth_length(text) <= limit:
        return text
    head, _ = cut(text, limit - 1)
    return head + ELLIPSIS


def _areas(info: Info) -> str:
    return "、".join(a.area_desc for a in info.areas)


def _verb(alert: Alert) -> str:
    return {MsgType.UPDATE: "【更新】", MsgType.CANCEL: "【解除・取消】"}.get(alert.msg_type, "")


def written_datetime(moment: datetime) -> str:
    """A date and time in 和暦 as written: 令和6年7月1日 9時30分."""
    wareki = to_wareki(moment.date())
    year = "元" if wareki.year == 1 else str(wareki.year)
    return f"{wareki.era.kanji}{year}年{moment.month}月{moment.day}日 {moment.hour}時{moment.minute:02d}分"


def content_lines(info: Info) -> list[str]:
    """Type-specific content as short Japanese lines (used by data broadcast, mail and web)."""
    content = content_of(info)
    if isinstance(content, EvacuationContent):
        lines = []
        for e in content.entries:
            people = "".join(
                part
                for part in (
                    f" {e.households}世帯" if e.households is not None else "",
                    f" {e.persons}人" if e.persons is not None else "",
                )
            )
            lines.append(
                f"{e.district}: {e.level.value}（警戒レベル{e.level.alert_level}）{e.action.value}{people}"
            )
        return lines
    if isinstance(content, ShelterContent):
        return [
            f"{s.name}: {'開設' if s.is_open else '閉鎖'}"
            + (f" 避難者{s.head_count}人" if s.head_count is not None else "")
            + (f"/定員{s.capacity}人" if s.capacity is not None else "")
            for s in content.shelters
        ]
    if isinstance(content, DisasterHQContent):
        return [f"{content.headquarters}を{'設置' if content.action.value == '発令' else '廃止'}"]
    if isinstance(content, DamageContent):
        return [
            f"死者{content.dead}人 行方不明者{content.missing}人 負傷者{content.injured}人",
            f"全壊{content.destroyed}棟 半壊{content.half_destroyed}棟 "
            f"床上浸水{content.flooded_above_floor}棟 床下浸水{content.flooded_below_floor}棟",
        ]
    if isinstance(content, LandslideContent):
        return [f"土砂災害警戒情報 {content.action.value}: {'、'.join(content.municipalities)}"]
    if isinstance(content, NoticeContent) and content.venue:
        return [f"会場: {content.venue}"]
    return []


def tv_banner(alert: Alert, limits: ChannelLimits | None = None) -> str:
    """One line for the TV L字 banner, cut with … at ``limits.tv_banner``."""
    limits = limits or ChannelLimits()
    info = primary_info(alert)
    if info is None:
        return _fit(f"{status_label(alert)}{_verb(alert)}{alert.note or ''}", limits.tv_banner)
    prefix = f"{status_label(alert)}{_verb(alert)}"
    text = f"{prefix}{info.sender_name or ''} {info.headline or info.event} {_areas(info)}"
    return _fit(" ".join(text.split()), limits.tv_banner)


def data_broadcast(alert: Alert, limits: ChannelLimits | None = None) -> str:
    """データ放送 text: headline, time in 和暦, sender, areas, content, text; cut at the limit."""
    limits = limits or ChannelLimits()
    info = primary_info(alert)
    lines = [f"{status_label(alert)}{_verb(alert)}{(info.headline or info.event) if info else ''}"]
    lines.append(f"発表: {written_datetime(alert.sent)}")
    if info is not None:
        if info.sender_name:
            lines.append(f"発信: {info.sender_name}")
        if info.areas:
            lines.append(f"対象地域: {_areas(info)}")
        lines += content_lines(info)
        lines += [t for t in (info.description, info.instruction) if t]
    if alert.note:
        lines.append(alert.note)
    return _fit("\n".join(lines), limits.data_broadcast)


# --- radio ----------------------------------------------------------------------------------------------

_DIGITS: Final = "〇一二三四五六七八九"
_SMALL_UNITS: Final = ((1000, "千"), (100, "百"), (10, "十"))
_LARGE_UNITS: Final = ((10**12, "兆"), (10**8, "億"), (10**4, "万"))


def _below_10000(n: int) -> str:
    out = ""
    for value, unit in _SMALL_UNITS:
        digit, n = divmod(n, value)
        if digit:
            out += ("" if digit == 1 else _DIGITS[digit]) + unit
    return out + (_DIGITS[n] if n else "")


def kanji_number(n: int) -> str:
    """An integer in kanji numerals as read aloud: 1200 → 千二百, 25000 → 二万五千, 0 → 〇."""
    if n == 0:
        return _DIGITS[0]
    if n < 0:
        return "マイナス" + kanji_number(-n)
    out = ""
    for value, unit in _LARGE_UNITS:
        part, n = divmod(n, value)
        if part:
            out += _below_10000(part) + unit
    return out + _below_10000(n)


def spoken_datetime(moment: datetime) -> str:
    """A date and time as an announcer reads it: 令和六年七月一日 午前九時三十分."""
    wareki = to_wareki(moment.date())
    year = "元" if wareki.year == 1 else kanji_number(wareki.year)
    half = "午前" if moment.hour < 12 else "午後"
    hour = moment.hour % 12
    minute = "" if moment.minute == 0 else f"{kanji_number(moment.minute)}分"
    return (
        f"{wareki.era.kanji}{year}年{kanji_number(moment.month)}月{kanji_number(moment.day)}日 "
        f"{half}{kanji_number(hour)}時{minute}"
    )


def _spoken_numbers(text: str) -> str:
    out, digits = [], ""
    for char in text + " ":
        if char.isascii() and char.isdigit():
            digits += char
            continue
        if digits:
            out.append(kanji_number(int(digits)))
            digits = ""
        out.append(char)
    return "".join(out)[:-1]


def spoken_label(alert: Alert) -> str:
    """The label read aloud: これは訓練です。/ これはテストです。, then 訂正します。/ 取り消します。."""
    written = status_label(alert)
    spoken = ""
    if "訓練" in written:
        spoken += "これは訓練です。"
    if "テスト" in written:
        spoken += "これはテストです。"
    if "訂正" in written:
        spoken += "先にお伝えした情報を訂正します。"
    if "取消" in written:
        spoken += "先にお伝えした情報は誤りでした。"
    return spoken


def radio_script(alert: Alert) -> str:
    """A read-out script for radio: label, sender, time in 和暦, message, numbers in kanji, repeated once."""
    info = primary_info(alert)
    label = spoken_label(alert)
    opening = f"{label}こちらは{info.sender_name if info and info.sender_name else '防災担当'}です。"
    body = [f"{spoken_datetime(alert.sent)}、"]
    if info is not None:
        if alert.msg_type is MsgType.CANCEL:
            body.append(f"先にお伝えした{info.event}は取り消されました。")
        elif info.areas:
            body.append(f"{_areas(info)}に{info.event}が出されました。")
        else:
            body.append(f"{info.headline or info.event}。")
        body += [f"{line}。" for line in content_lines(info)]
        body += [t for t in (info.instruction,) if t]
    message = _spoken_numbers("".join(body)).replace("【", "").replace("】", "、")
    closing = f"\n{label.rstrip()}" if label else ""
    return f"{opening}{message}\n繰り返します。{message}{closing}"


# --- 緊急速報メール ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaMail:
    """One 緊急速報メール (エリアメール) message; ``part``/``parts`` when the body was split."""

    title: str
    body: str
    part: int = 1
    parts: int = 1


def _split(text: str, limit: float) -> list[str]:
    parts = []
    rest = text
    while rest:
        head, tail = cut(rest, limit)
        if tail:
            # Prefer to break after 。 or a newline in the second half of the window.
            for mark in ("\n", "。"):
                index = head.rfind(mark)
                if index >= len(head) // 2:
                    head, tail = head[: index + 1], head[index + 1 :] + tail
                    break
        parts.append(head.strip("\n"))
        rest = tail.lstrip("\n")
    return parts


def area_mail(alert: Alert, limits: ChannelLimits | None = None) -> tuple[AreaMail, ...]:
    """緊急速報メール: title and body within the limits; split into numbered parts or refuse (see limits)."""
    limits = limits or ChannelLimits()
    info = primary_info(alert)
    event = info.event if info else "お知らせ"
    sender = info.sender_name if info and info.sender_name else ""
    title = f"{status_label(alert)}{event}" + (f"（{sender}）" if sender else "")
    lines = []
    if info is not None:
        lines += [t for t in (info.headline,) if t]
        lines += content_lines(info)
        lines += [t for t in (info.description, info.instruction) if t]
    if alert.note:
        lines.append(alert.note)
    body = "\n".join(lines)
    refuse = limits.mail_overflow == "refuse"
    if fullwidth_length(title) > limits.mail_title:
        if refuse:
            raise RenderTooLong(
                f"緊急速報メール title {fullwidth_length(title):g} > {limits.mail_title:g} (全角換算)",
                channel="area_mail",
                field="title",
            )
        title = _fit(title, limits.mail_title)
    if fullwidth_length(body) <= limits.mail_body:
        return (AreaMail(title, body),)
    if refuse:
        raise RenderTooLong(
            f"緊急速報メール body {fullwidth_length(body):g} > {limits.mail_body:g} (全角換算)",
            channel="area_mail",
            field="body",
        )
    # The part marker "(n/m)" goes in front of the body and counts against the body limit.
    marker_width = fullwidth_length(f"({limits.mail_max_parts}/{limits.mail_max_parts})")
    chunks = _split(body, limits.mail_body - marker_width)
    if len(chunks) > limits.mail_max_parts:
        raise RenderTooLong(
            f"緊急速報メール needs {len(chunks)} parts, more than {limits.mail_max_parts}",
            channel="area_mail",
            field="parts",
        )
    total = len(chunks)
    return tuple(
        AreaMail(title, f"({n}/{total}){chunk}", n, total) for n, chunk in enumerate(chunks, start=1)
    )
