"""OASIS CAP 1.2 XML ↔ :class:`~renkei.commons.model.Alert`.

:func:`to_cap_xml` writes elements in the order of the CAP 1.2 data dictionary; :func:`parse_cap` reads
untrusted bytes through :mod:`renkei.commons.xmlsafe` and raises :class:`CapMalformed` for anything the
model cannot hold (a missing required element, an unknown enumeration value, an unreadable date).
Whether a readable alert also follows CAP's rules is :mod:`renkei.commons.validation`'s business.

Free text (``description``, ``note`` …) is kept verbatim; XML itself normalises ``\\r\\n`` to ``\\n``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final, TypeVar

from lxml import etree

from renkei.commons.errors import CapMalformed, InvalidModel
from renkei.commons.model import (
    CAP_NAMESPACE,
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    Info,
    ModelEnum,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
    format_cap_datetime,
    parse_cap_datetime,
)
from renkei.commons.xmlsafe import XmlLimits, parse_untrusted

_NS: Final = "{" + CAP_NAMESPACE + "}"
E = TypeVar("E", bound=ModelEnum)


# --- writing ---------------------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """Write a coordinate or radius so that ``float(text) == value`` (shortest round-tripping repr)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def format_point(point: Point) -> str:
    """``lat,lon`` as CAP writes a WGS 84 point."""
    return f"{format_number(point.lat)},{format_number(point.lon)}"


def format_polygon(polygon: Polygon) -> str:
    """CAP ``polygon`` text: space-separated ``lat,lon`` pairs."""
    return " ".join(format_point(p) for p in polygon.points)


def format_circle(circle: Circle) -> str:
    """CAP ``circle`` text: ``lat,lon radius`` (radius in km)."""
    return f"{format_point(circle.center)} {format_number(circle.radius_km)}"


def format_list(items: Iterable[str]) -> str:
    """CAP space-delimited list (``addresses``, ``incidents``): items with spaces in double quotes."""
    return " ".join(f'"{item}"' if " " in item else item for item in items)


def format_references(references: Iterable[Reference]) -> str:
    """CAP ``references``: space-separated ``sender,identifier,sent`` triples."""
    return " ".join(f"{r.sender},{r.identifier},{format_cap_datetime(r.sent)}" for r in references)


def _sub(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, _NS + name).text = text


def _named(parent: etree._Element, name: str, pair: NamedValue) -> None:
    element = etree.SubElement(parent, _NS + name)
    _sub(element, "valueName", pair.value_name)
    _sub(element, "value", pair.value)


def _when(value: datetime | None) -> str | None:
    return None if value is None else format_cap_datetime(value)


def _number(value: float | None) -> str | None:
    return None if value is None else format_number(value)


def _write_area(parent: etree._Element, area: Area) -> None:
    element = etree.SubElement(parent, _NS + "area")
    _sub(element, "areaDesc", area.area_desc)
    for polygon in area.polygons:
        _sub(element, "polygon", format_polygon(polygon))
    for circle in area.circles:
        _sub(element, "circle", format_circle(circle))
    for geocode in area.geocodes:
        _named(element, "geocode", geocode)
    _sub(element, "altitude", _number(area.altitude))
    _sub(element, "ceiling", _number(area.ceiling))


def _write_resource(parent: etree._Element, resource: Resource) -> None:
    element = etree.SubElement(parent, _NS + "resource")
    _sub(element, "resourceDesc", resource.resource_desc)
    _sub(element, "mimeType", resource.mime_type)
    _sub(element, "size", None if resource.size is None else str(resource.size))
    _sub(element, "uri", resource.uri)
    _sub(element, "derefUri", resource.deref_uri)
    _sub(element, "digest", resource.digest)


def _write_info(parent: etree._Element, info: Info) -> None:
    element = etree.SubElement(parent, _NS + "info")
    _sub(element, "language", info.language)
    for category in info.categories:
        _sub(element, "category", category.value)
    _sub(element, "event", info.event)
    for response in info.response_types:
        _sub(element, "responseType", response.value)
    _sub(element, "urgency", info.urgency.value)
    _sub(element, "severity", info.severity.value)
    _sub(element, "certainty", info.certainty.value)
    _sub(element, "audience", info.audience)
    for code in info.event_codes:
        _named(element, "eventCode", code)
    _sub(element, "effective", _when(info.effective))
    _sub(element, "onset", _when(info.onset))
    _sub(element, "expires", _when(info.expires))
    _sub(element, "senderName", info.sender_name)
    _sub(element, "headline", info.headline)
    _sub(element, "description", info.description)
    _sub(element, "instruction", info.instruction)
    _sub(element, "web", info.web)
    _sub(element, "contact", info.contact)
    for parameter in info.parameters:
        _named(element, "parameter", parameter)
    for resource in info.resources:
        _write_resource(element, resource)
    for area in info.areas:
        _write_area(element, area)


def alert_to_element(alert: Alert) -> etree._Element:
    """Build the CAP 1.2 ``<alert>`` element (default namespace) for ``alert``."""
    root = etree.Element(_NS + "alert", nsmap={None: CAP_NAMESPACE})  # type: ignore[dict-item]  # lxml-stubs
    _sub(root, "identifier", alert.identifier)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", format_cap_datetime(alert.sent))
    _sub(root, "status", alert.status.value)
    _sub(root, "msgType", alert.msg_type.value)
    _sub(root, "source", alert.source)
    _sub(root, "scope", alert.scope.value)
    _sub(root, "restriction", alert.restriction)
    _sub(root, "addresses", format_list(alert.addresses) if alert.addresses else None)
    for code in alert.codes:
        _sub(root, "code", code)
    _sub(root, "note", alert.note)
    _sub(root, "references", format_references(alert.references) if alert.references else None)
    _sub(root, "incidents", format_list(alert.incidents) if alert.incidents else None)
    for info in alert.infos:
        _write_info(root, info)
    return root


def to_cap_xml(alert: Alert) -> bytes:
    """Serialise ``alert`` as a UTF-8 CAP 1.2 document with an XML declaration."""
    return etree.tostring(alert_to_element(alert), xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- reading ---------------------------------------------------------------------------------------------


def _malformed(path: str, message: str) -> CapMalformed:
    return CapMalformed(f"{path}: {message}", path=path)


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    return list(parent.iterchildren(_NS + name))


def _optional(parent: etree._Element, name: str) -> str | None:
    element = parent.find(_NS + name)
    if element is None:
        return None
    return element.text or ""


def _required(parent: etree._Element, name: str, path: str) -> str:
    value = _optional(parent, name)
    if value is None:
        raise _malformed(f"{path}/{name}", "required element is missing")
    return value


def _convert(path: str, convert: Callable[[str], E], text: str) -> E:
    try:
        return convert(text.strip())
    except InvalidModel as error:
        raise _malformed(path, error.message) from None


def _enum(enum: type[E], parent: etree._Element, name: str, path: str) -> E:
    return _convert(f"{path}/{name}", lambda t: enum(enum.parse(t)), _required(parent, name, path))


def _enums(enum: type[E], parent: etree._Element, name: str, path: str) -> tuple[E, ...]:
    return tuple(
        _convert(f"{path}/{name}[{i}]", lambda t: enum(enum.parse(t)), e.text or "")
        for i, e in enumerate(_children(parent, name), start=1)
    )


def _datetime(text: str, path: str) -> datetime:
    try:
        return parse_cap_datetime(text)
    except InvalidModel as error:
        raise _malformed(path, error.message) from None


def _optional_datetime(parent: etree._Element, name: str, path: str) -> datetime | None:
    text = _optional(parent, name)
    return None if text is None else _datetime(text, f"{path}/{name}")


def _float(text: str, path: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise _malformed(path, f"{text!r} is not a number") from None
    if value != value or value in {float("inf"), float("-inf")}:
        raise _malformed(path, f"{text!r} is not a finite number")
    return value


def parse_point(text: str, path: str = "point") -> Point:
    """Read ``lat,lon``; raise :class:`CapMalformed`."""
    parts = text.split(",")
    if len(parts) != 2:
        raise _malformed(path, f"{text!r} is not a 'lat,lon' pair")
    return Point(_float(parts[0], path), _float(parts[1], path))


def parse_polygon(text: str, path: str = "polygon") -> Polygon:
    """Read a CAP polygon (space-separated points); closure and size are the validator's rules."""
    return Polygon(tuple(parse_point(token, path) for token in text.split()))


def parse_circle(text: str, path: str = "circle") -> Circle:
    """Read ``lat,lon radius``."""
    parts = text.split()
    if len(parts) != 2:
        raise _malformed(path, f"{text!r} is not 'lat,lon radius'")
    return Circle(parse_point(parts[0], path), _float(parts[1], path))


def parse_list(text: str) -> tuple[str, ...]:
    """Read a CAP space-delimited list where items containing spaces are in double quotes."""
    items: list[str] = []
    rest = text.strip()
    while rest:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                end = len(rest)
            items.append(rest[1:end])
            rest = rest[end + 1 :].lstrip()
        else:
            token, _, rest = rest.partition(" ")
            items.append(token)
            rest = rest.lstrip()
    return tuple(items)


def parse_references(text: str, path: str = "references") -> tuple[Reference, ...]:
    """Read CAP ``references`` triples; raise :class:`CapMalformed` for a malformed triple."""
    references = []
    for i, token in enumerate(text.split(), start=1):
        parts = token.split(",")
        if len(parts) != 3:
            raise _malformed(f"{path}[{i}]", f"{token!r} is not 'sender,identifier,sent'")
        references.append(Reference(parts[0], parts[1], _datetime(parts[2], f"{path}[{i}]")))
    return tuple(references)


def _named_values(parent: etree._Element, name: str, path: str) -> tuple[NamedValue, ...]:
    return tuple(
        NamedValue(
            _required(element, "valueName", f"{path}/{name}[{i}]"),
            _required(element, "value", f"{path}/{name}[{i}]"),
        )
        for i, element in enumerate(_children(parent, name), start=1)
    )


def _read_area(element: etree._Element, path: str) -> Area:
    altitude = _optional(element, "altitude")
    ceiling = _optional(element, "ceiling")
    return Area(
        area_desc=_required(element, "areaDesc", path),
        polygons=tuple(
            parse_polygon(e.text or "", f"{path}/polygon[{i}]")
            for i, e in enumerate(_children(element, "polygon"), start=1)
        ),
        circles=tuple(
            parse_circle(e.text or "", f"{path}/circle[{i}]")
            for i, e in enumerate(_children(element, "circle"), start=1)
        ),
        geocodes=_named_values(element, "geocode", path),
        altitude=None if altitude is None else _float(altitude, f"{path}/altitude"),
        ceiling=None if ceiling is None else _float(ceiling, f"{path}/ceiling"),
    )


def _read_resource(element: etree._Element, path: str) -> Resource:
    size = _optional(element, "size")
    if size is not None and not size.strip().isdigit():
        raise _malformed(f"{path}/size", f"{size!r} is not a size in bytes")
    return Resource(
        resource_desc=_required(element, "resourceDesc", path),
        mime_type=_required(element, "mimeType", path),
        size=None if size is None else int(size),
        uri=_optional(element, "uri"),
        deref_uri=_optional(element, "derefUri"),
        digest=_optional(element, "digest"),
    )


def _read_info(element: etree._Element, path: str) -> Info:
    return Info(
        language=(_optional(element, "language") or "en-US").strip(),
        categories=_enums(Category, element, "category", path),
        event=_required(element, "event", path),
        response_types=_enums(ResponseType, element, "responseType", path),
        urgency=_enum(Urgency, element, "urgency", path),
        severity=_enum(Severity, element, "severity", path),
        certainty=_enum(Certainty, element, "certainty", path),
        audience=_optional(element, "audience"),
        event_codes=_named_values(element, "eventCode", path),
        effective=_optional_datetime(element, "effective", path),
        onset=_optional_datetime(element, "onset", path),
        expires=_optional_datetime(element, "expires", path),
        sender_name=_optional(element, "senderName"),
        headline=_optional(element, "headline"),
        description=_optional(element, "description"),
        instruction=_optional(element, "instruction"),
        web=_optional(element, "web"),
        contact=_optional(element, "contact"),
        parameters=_named_values(element, "parameter", path),
        resources=tuple(
            _read_resource(e, f"{path}/resource[{i}]")
            for i, e in enumerate(_children(element, "resource"), start=1)
        ),
        areas=tuple(
            _read_area(e, f"{path}/area[{i}]") for i, e in enumerate(_children(element, "area"), start=1)
        ),
    )


def alert_from_element(root: etree._Element) -> Alert:
    """Read a CAP 1.2 ``<alert>`` element into the model; raise :class:`CapMalformed`."""
    if root.tag != _NS + "alert":
        raise _malformed("/", f"root element is {root.tag!r}, expected {{{CAP_NAMESPACE}}}alert")
    path = "/alert"
    addresses = _optional(root, "addresses")
    references = _optional(root, "references")
    incidents = _optional(root, "incidents")
    return Alert(
        identifier=_required(root, "identifier", path).strip(),
        sender=_required(root, "sender", path).strip(),
        sent=_datetime(_required(root, "sent", path), f"{path}/sent"),
        status=_enum(Status, root, "status", path),
        msg_type=_enum(MsgType, root, "msgType", path),
        scope=_enum(Scope, root, "scope", path),
        source=_optional(root, "source"),
        restriction=_optional(root, "restriction"),
        addresses=() if addresses is None else parse_list(addresses),
        codes=tuple(e.text or "" for e in _children(root, "code")),
        note=_optional(root, "note"),
        references=() if references is None else parse_references(references, f"{path}/references"),
        incidents=() if incidents is None else parse_list(incidents),
        infos=tuple(
            _read_info(e, f"{path}/info[{i}]") for i, e in enumerate(_children(root, "info"), start=1)
        ),
    )


def parse_cap(data: bytes, limits: XmlLimits | None = None) -> Alert:
    """Parse untrusted CAP 1.2 bytes; raise :class:`XmlRefused` (hostile) or :class:`CapMalformed`."""
    return alert_from_element(parse_untrusted(data, limits))
