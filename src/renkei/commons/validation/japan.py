"""Layer (c): the Japanese (Commons / L-Alert) profile of CAP 1.2.

* every ``geocode`` named 地方公共団体コード (or an alias in
  :data:`~renkei.commons.model.GEOCODE_LOCAL_GOVERNMENT_ALIASES`) holds a 6-digit 全国地方公共団体コード
  whose check digit is right, and, when a :class:`MunicipalityTable` is given, that exists;
* there is an info in Japanese (``ja`` / ``ja-JP``) whose headline and description contain Japanese;
* the headline fits the channel limit (:attr:`JapaneseProfile.headline_max`, full-width characters);
* the Commons kind and its type-specific parameters are readable; 誤報 markers fit the msgType.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from lxml import etree

from renkei.commons.errors import ContentMalformed
from renkei.commons.model import (
    CAP_NAMESPACE,
    EVENT_CODE_KIND,
    GEOCODE_LOCAL_GOVERNMENT_ALIASES,
    LEGACY_EVACUATION_NAMES,
    PARAMETER_CORRECTION,
    EvacuationLevel,
    MessageKind,
    NamedValue,
    content_from_items,
)
from renkei.commons.render.width import fullwidth_length
from renkei.commons.validation.findings import Finding, finding
from renkei.commons.validation.paths import path_of
from renkei.japanese.checkdigit import local_government_code_check_digit
from renkei.japanese.municipality import MunicipalityTable

_NS: Final = "{" + CAP_NAMESPACE + "}"
_JAPANESE: Final = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_HALFWIDTH_KANA: Final = re.compile(r"[\uff61-\uff9f]")
_CURRENT_LEVELS: Final = frozenset(level.value for level in EvacuationLevel)


@dataclass(frozen=True, slots=True)
class JapaneseProfile:
    """Settings of the Japanese profile.

    ``headline_max`` is in full-width characters (半角 = 0.5, see :mod:`renkei.commons.render.width`);
    ``municipalities``: when given, codes must exist in it.
    """

    headline_max: float = 40
    municipalities: MunicipalityTable | None = None
    require_geocode: bool = True


def _value_pairs(parent: etree._Element, name: str) -> Iterator[tuple[etree._Element, str, str]]:
    for element in parent.iterchildren(_NS + name):
        value_name = element.findtext(_NS + "valueName") or ""
        value = element.findtext(_NS + "value") or ""
        yield element, value_name.strip(), value.strip()


def check_local_government_code(code: str, path: str, profile: JapaneseProfile) -> list[Finding]:
    """Findings for one 全国地方公共団体コード."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return [finding("jp.geocode.malformed", path, code)]
    expected = local_government_code_check_digit(code[:5])
    if code[5] != expected:
        return [finding("jp.geocode.check_digit", path, f"{code}: expected {expected}, got {code[5]}")]
    if profile.municipalities is not None and code not in profile.municipalities:
        return [finding("jp.geocode.unknown_municipality", path, code)]
    return []


def _check_area(area: etree._Element, profile: JapaneseProfile) -> Iterator[Finding]:
    has_code = False
    for element, value_name, value in _value_pairs(area, "geocode"):
        path = path_of(element) + "/value"
        if value_name in GEOCODE_LOCAL_GOVERNMENT_ALIASES:
            has_code = True
            yield from check_local_government_code(value, path, profile)
        else:
            yield finding("jp.geocode.unknown_name", path_of(element) + "/valueName", value_name)
    if profile.require_geocode and not has_code:
        yield finding("jp.area.geocode_missing", path_of(area))


def _check_text(info: etree._Element, profile: JapaneseProfile) -> Iterator[Finding]:
    headline = info.find(_NS + "headline")
    if headline is None or not (headline.text or "").strip():
        yield finding("jp.headline.missing", path_of(info) + "/headline")
    else:
        text = headline.text or ""
        if not _JAPANESE.search(text):
            yield finding("jp.text.not_japanese", path_of(headline), "headline")
        width = fullwidth_length(text)
        if width > profile.headline_max:
            yield finding(
                "jp.headline.too_long", path_of(headline), f"{width:g} > {profile.headline_max:g} (全角換算)"
            )
    description = info.find(_NS + "description")
    if (
        description is not None
        and (description.text or "").strip()
        and not _JAPANESE.search(description.text or "")
    ):
        yield finding("jp.text.not_japanese", path_of(description), "description")
    for name in ("headline", "description", "instruction"):
        element = info.find(_NS + name)
        if element is not None and _HALFWIDTH_KANA.search(element.text or ""):
            yield finding("jp.text.halfwidth_kana", path_of(element), name)
    if info.find(_NS + "senderName") is None:
        yield finding("jp.sender_name.missing", path_of(info) + "/senderName")


def _check_content(info: etree._Element) -> Iterator[Finding]:
    kinds = [(e, v) for e, n, v in _value_pairs(info, "eventCode") if n == EVENT_CODE_KIND]
    for element, value in kinds:
        try:
            kind = MessageKind(value)
        except ValueError:
            yield finding("jp.kind.unknown", path_of(element) + "/value", value)
            continue
        pairs = [(e, n, v) for e, n, v in _value_pairs(info, "parameter")]
        if kind is MessageKind.EVACUATION:
            for parameter, name, level in pairs:
                legacy = level not in _CURRENT_LEVELS and level in LEGACY_EVACUATION_NAMES
                if name.startswith("避難情報:発令区分") and legacy:
                    mapped = LEGACY_EVACUATION_NAMES[level].value
                    yield finding("jp.evacuation.legacy_level", path_of(parameter), f"{level} → {mapped}")
        try:
            content_from_items(kind, tuple(NamedValue(n, v) for _, n, v in pairs))
        except ContentMalformed as error:
            yield finding("jp.content.malformed", path_of(info), error.message)


def _check_correction(alert: etree._Element) -> Iterator[Finding]:
    msg_type = (alert.findtext(_NS + "msgType") or "").strip()
    for info in alert.iterchildren(_NS + "info"):
        for element, name, value in _value_pairs(info, "parameter"):
            if name != PARAMETER_CORRECTION:
                continue
            if value == "訂正" and msg_type != "Update":
                yield finding("jp.correction.msg_type", path_of(element), "訂正は msgType Update で送ります")
            elif value == "取消" and msg_type != "Cancel":
                yield finding("jp.correction.msg_type", path_of(element), "取消は msgType Cancel で送ります")
            elif value not in {"訂正", "取消"}:
                yield finding(
                    "jp.correction.msg_type", path_of(element), f"印「{value}」は 訂正 か 取消 です"
                )


def japan_findings(alert: etree._Element, profile: JapaneseProfile) -> list[Finding]:
    """Every layer (c) finding for a CAP ``<alert>`` element."""
    found: list[Finding] = []
    infos = list(alert.iterchildren(_NS + "info"))
    japanese = [
        i for i in infos if (i.findtext(_NS + "language") or "en-US").strip().lower().startswith("ja")
    ]
    if infos and not japanese:
        found.append(finding("jp.info.japanese_missing", path_of(alert)))
    for info in japanese:
        found += _check_text(info, profile)
    for info in infos:
        found += _check_content(info)
        for area in info.iterchildren(_NS + "area"):
            found += _check_area(area, profile)
    found += _check_correction(alert)
    return found
