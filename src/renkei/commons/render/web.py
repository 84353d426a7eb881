"""Web, JSON and CAP renderings of an alert.

The HTML page uses a Jinja2 template with autoescaping on; the only markup inserted unescaped is the SVG
map, which :func:`renkei.commons.mapsvg.map_svg` builds with every text escaped.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from renkei.commons.cap import format_circle, format_polygon, to_cap_xml
from renkei.commons.lifecycle import is_real, status_label
from renkei.commons.mapsvg import map_svg
from renkei.commons.model import Alert, Info, NamedValue, format_cap_datetime
from renkei.commons.render.text import content_lines, primary_info, written_datetime
from renkei.japanese.municipality import MunicipalityTable


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("renkei.commons.render", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def web_page(alert: Alert, municipalities: MunicipalityTable | None = None, *, with_map: bool = True) -> str:
    """A standalone HTML page for ``alert`` (autoescaped; 【訓練】/【テスト】 labelled)."""
    info = primary_info(alert)
    template = _environment().get_template("alert.html")
    return template.render(
        label=status_label(alert),
        status=alert.status.value.lower(),
        headline=(info.headline or info.event) if info else (alert.note or alert.identifier),
        sent=written_datetime(alert.sent),
        sent_iso=format_cap_datetime(alert.sent),
        sender_name=info.sender_name if info else None,
        areas="、".join(a.area_desc for a in info.areas) if info else "",
        expires=written_datetime(info.expires) if info and info.expires else None,
        lines=content_lines(info) if info else [],
        description=info.description if info else None,
        instruction=info.instruction if info else None,
        note=alert.note,
        web=info.web if info else None,
        map=Markup(map_svg(alert, municipalities)) if with_map and info and info.areas else None,
    )


def _pairs(values: tuple[NamedValue, ...]) -> list[dict[str, str]]:
    return [{"valueName": v.value_name, "value": v.value} for v in values]


def _when_or_none(value: Any) -> str | None:
    return None if value is None else format_cap_datetime(value)


def _info_json(info: Info) -> dict[str, Any]:
    return {
        "language": info.language,
        "category": [c.value for c in info.categories],
        "event": info.event,
        "responseType": [r.value for r in info.response_types],
        "urgency": info.urgency.value,
        "severity": info.severity.value,
        "certainty": info.certainty.value,
        "audience": info.audience,
        "eventCode": _pairs(info.event_codes),
        "effective": _when_or_none(info.effective),
        "onset": _when_or_none(info.onset),
        "expires": _when_or_none(info.expires),
        "senderName": info.sender_name,
        "headline": info.headline,
        "description": info.description,
        "instruction": info.instruction,
        "web": info.web,
        "contact": info.contact,
        "parameter": _pairs(info.parameters),
        "resource": [
            {
                "resourceDesc": r.resource_desc,
                "mimeType": r.mime_type,
                "size": r.size,
                "uri": r.uri,
                "derefUri": r.deref_uri,
                "digest": r.digest,
            }
            for r in info.resources
        ],
        "area": [
            {
                "areaDesc": a.area_desc,
                "polygon": [format_polygon(p) for p in a.polygons],
                "circle": [format_circle(c) for c in a.circles],
                "geocode": _pairs(a.geocodes),
                "altitude": a.altitude,
                "ceiling": a.ceiling,
            }
            for a in info.areas
        ],
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as JSON-ready data with CAP element names, plus ``real`` and ``label`` for displays."""
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": format_cap_datetime(alert.sent),
        "status": alert.status.value,
        "msgType": alert.msg_type.value,
        "source": alert.source,
        "scope": alert.scope.value,
        "restriction": alert.restriction,
        "addresses": list(alert.addresses),
        "code": list(alert.codes),
        "note": alert.note,
        "references": [
            {"sender": r.sender, "identifier": r.identifier, "sent": format_cap_datetime(r.sent)}
            for r in alert.references
        ],
        "incidents": list(alert.incidents),
        "info": [_info_json(i) for i in alert.infos],
        "real": is_real(alert),
        "label": status_label(alert),
    }


def cap_xml(alert: Alert) -> bytes:
    """The CAP 1.2 channel: the alert as CAP XML (UTF-8)."""
    return to_cap_xml(alert)
