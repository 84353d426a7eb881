"""Layer (b): CAP 1.2 rules the XSD cannot express, checked on the element tree.

The rules work on the raw text of a possibly invalid document (missing elements are simply skipped), so
one pass reports everything. Rule ids are ``cap.<element>.<problem>``; see
:data:`renkei.commons.validation.findings.RULES`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from lxml import etree

from renkei.commons.model import CAP_NAMESPACE
from renkei.commons.validation.findings import Finding, finding
from renkei.commons.validation.geometry import (
    MAX_CHECKED_POINTS,
    XY,
    TooComplex,
    WorkBudget,
    self_intersection,
)
from renkei.commons.validation.paths import path_of

_NS: Final = "{" + CAP_NAMESPACE + "}"
_RESTRICTED: Final = re.compile(r"[\s,<&]")
_CAP_DATETIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
_JAPANESE: Final = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(_NS + name)


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    return list(parent.iterchildren(_NS + name))


def _text(parent: etree._Element, name: str) -> str | None:
    element = _child(parent, name)
    return None if element is None else (element.text or "")


def check_datetime(text: str, path: str) -> tuple[list[Finding], datetime | None]:
    """Findings for one CAP dateTime text, and its value when readable."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        return [finding("cap.datetime.zulu", path, value)], None
    if not _CAP_DATETIME.fullmatch(value):
        return [finding("cap.datetime.format", path, value)], None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return [finding("cap.datetime.format", path, value)], None
    if value.endswith("+00:00"):
        return [finding("cap.datetime.utc_plus", path, value)], parsed
    return [], parsed


def _balanced(text: str) -> bool:
    return text.count('"') % 2 == 0


def _point(token: str) -> XY | None:
    lat_text, comma, lon_text = token.partition(",")
    if not comma or "," in lon_text or "_" in token:
        return None
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return None
    return (lat, lon) if math.isfinite(lat) and math.isfinite(lon) else None


def _in_range(lat: float, lon: float) -> bool:
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


def check_polygon(text: str, path: str, budget: WorkBudget | None = None) -> list[Finding]:
    """CAP polygon rules: format, ≥ 4 points, closed, WGS 84 ranges, not self-intersecting."""
    tokens = text.split()
    points: list[XY] = []
    for token in tokens:
        point = _point(token)
        if point is None:
            return [finding("cap.polygon.format", path, token)]
        points.append(point)
    found = []
    if len(points) < 4:
        found.append(finding("cap.polygon.too_few_points", path, len(points)))
    if points and points[0] != points[-1]:
        found.append(finding("cap.polygon.not_closed", path))
    outside = [f"{lat},{lon}" for lat, lon in points if not _in_range(lat, lon)]
    if outside:
        found.append(finding("cap.polygon.out_of_range", path, " ".join(outside[:3])))
    if found:
        return found
    if len(points) > MAX_CHECKED_POINTS:
        return [finding("cap.polygon.too_complex", path, len(points))]
    # Planar check on (lon, lat).
    try:
        crossing = self_intersection([(lon, lat) for lat, lon in points], budget)
    except TooComplex:
        return [finding("cap.polygon.too_complex", path, len(points))]
    if crossing is not None:
        return [
            finding(
                "cap.polygon.self_intersecting", path, f"segments {crossing[0] + 1} and {crossing[1] + 1}"
            )
        ]
    return []


def check_circle(text: str, path: str) -> list[Finding]:
    """CAP circle rules: ``lat,lon radius`` with the centre in WGS 84 and a non-negative radius."""
    parts = text.split()
    point = _point(parts[0]) if len(parts) == 2 else None
    if point is None or not _NUMBER.fullmatch(parts[1]):
        return [finding("cap.circle.format", path, text.strip())]
    radius = float(parts[1])
    if not _in_range(*point) or radius < 0:
        return [finding("cap.circle.out_of_range", path, text.strip())]
    return []


def _check_area(area: etree._Element, budget: WorkBudget) -> Iterator[Finding]:
    for polygon in _children(area, "polygon"):
        yield from check_polygon(polygon.text or "", path_of(polygon), budget)
    for circle in _children(area, "circle"):
        yield from check_circle(circle.text or "", path_of(circle))
    altitude, ceiling = _text(area, "altitude"), _text(area, "ceiling")
    if ceiling is not None and altitude is None:
        yield finding("cap.area.ceiling_without_altitude", path_of(area) + "/ceiling")
    elif ceiling is not None and altitude is not None:
        try:
            if float(ceiling) < float(altitude):
                yield finding("cap.area.ceiling_below_altitude", path_of(area) + "/ceiling")
        except ValueError:
            pass  # not a number: the XSD layer reports it


def _check_info(info: etree._Element, sent: datetime | None, budget: WorkBudget) -> Iterator[Finding]:
    times: dict[str, datetime] = {}
    for name in ("effective", "onset", "expires"):
        element = _child(info, name)
        if element is not None:
            found, value = check_datetime(element.text or "", path_of(element))
            yield from found
            if value is not None:
                times[name] = value
    start = times.get("effective", sent)
    expires = times.get("expires")
    if expires is not None and start is not None and expires <= start:
        yield finding("cap.expires.before_effective", path_of(info) + "/expires", f"{expires} <= {start}")
    onset = times.get("onset")
    if onset is not None and expires is not None and onset > expires:
        yield finding("cap.onset.after_expires", path_of(info) + "/onset")
    language = (_text(info, "language") or "en-US").strip().lower()
    texts = " ".join(filter(None, (_text(info, n) for n in ("event", "headline", "description"))))
    if language.startswith("en") and _JAPANESE.search(texts) and not re.search(r"[A-Za-z]{3}", texts):
        yield finding("cap.info.language_mismatch", path_of(info) + "/language", f"{language}: Japanese text")
    for area in _children(info, "area"):
        yield from _check_area(area, budget)


def cap_findings(alert: etree._Element) -> list[Finding]:
    """Every layer (b) finding for a CAP ``<alert>`` element."""
    found: list[Finding] = []
    for name, rule in (
        ("identifier", "cap.identifier.restricted_chars"),
        ("sender", "cap.sender.restricted_chars"),
    ):
        element = _child(alert, name)
        if element is not None and _RESTRICTED.search(element.text or ""):
            found.append(finding(rule, path_of(element), repr(element.text)))
    sent: datetime | None = None
    sent_element = _child(alert, "sent")
    if sent_element is not None:
        problems, sent = check_datetime(sent_element.text or "", path_of(sent_element))
        found += problems
    scope = (_text(alert, "scope") or "").strip()
    restriction = _child(alert, "restriction")
    if restriction is not None and scope != "Restricted":
        found.append(finding("cap.restriction.scope", path_of(restriction)))
    if restriction is None and scope == "Restricted":
        found.append(finding("cap.restriction.missing", path_of(alert) + "/restriction"))
    addresses = _child(alert, "addresses")
    if scope == "Private" and (addresses is None or not (addresses.text or "").strip()):
        found.append(finding("cap.addresses.missing", path_of(alert) + "/addresses"))
    for name in ("addresses", "incidents"):
        element = _child(alert, name)
        if element is not None and not _balanced(element.text or ""):
            found.append(finding("cap.list.unbalanced_quotes", path_of(element), element.text))
    msg_type = (_text(alert, "msgType") or "").strip()
    references = _child(alert, "references")
    if references is None or not (references.text or "").strip():
        if msg_type in {"Update", "Cancel", "Ack", "Error"}:
            found.append(finding("cap.references.required", path_of(alert) + "/references", msg_type))
    else:
        for token in (references.text or "").split():
            parts = token.split(",")
            if len(parts) != 3 or not parts[0] or not parts[1]:
                found.append(finding("cap.references.malformed", path_of(references), token))
                continue
            problems, _ = check_datetime(parts[2], path_of(references))
            found += problems
    budget = WorkBudget()
    tags_by_language: dict[str, set[str]] = {}
    for info in _children(alert, "info"):
        found += _check_info(info, sent, budget)
        tag = (_text(info, "language") or "en-US").strip()
        tags_by_language.setdefault(tag.split("-")[0].lower(), set()).add(tag)
    for tags in tags_by_language.values():
        if len(tags) > 1:
            found.append(finding("cap.info.language_inconsistent", path_of(alert), ", ".join(sorted(tags))))
    return found
