"""The Commons' EDXL-DE 1.0 envelope ↔ :class:`~renkei.commons.model.Distribution`.

Standard EDXL-DE 1.0 elements are written in the order of the specification. The Commons profile adds,
in the namespace :data:`~renkei.commons.model.COMMONS_NAMESPACE` (prefix ``pc``) at EDXL's extension
points:

* ``contentObject/pc:documentID``, ``pc:documentRevision``, ``pc:previousDocumentRevision`` after
  ``xmlContent`` (the document identity the Commons chains updates with);
* ``targetArea/pc:localGovernmentCode`` (6-digit 全国地方公共団体コード) after the standard children;
* ``xmlContent/embeddedXMLContent/pc:report``: the Commons' own content (:class:`CommonsReport`), when a
  content object carries no CAP ``alert``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, TypeVar

from lxml import etree

from renkei.commons.cap import (
    alert_from_element,
    alert_to_element,
    format_circle,
    format_polygon,
    parse_circle,
    parse_polygon,
)
from renkei.commons.errors import CapMalformed, EdxlMalformed, InvalidModel
from renkei.commons.model import (
    CAP_NAMESPACE,
    COMMONS_NAMESPACE,
    EDXL_NAMESPACE,
    EVENT_CODE_KIND,
    GEOCODE_LOCAL_GOVERNMENT,
    Alert,
    Area,
    Category,
    Certainty,
    CommonsReport,
    ContentObject,
    Distribution,
    DistributionStatus,
    DistributionType,
    Info,
    MessageKind,
    ModelEnum,
    MsgType,
    NamedValue,
    Scope,
    Severity,
    Status,
    TargetArea,
    Urgency,
    format_cap_datetime,
    parse_cap_datetime,
)
from renkei.commons.xmlsafe import XmlLimits, parse_untrusted

_DE: Final = "{" + EDXL_NAMESPACE + "}"
_PC: Final = "{" + COMMONS_NAMESPACE + "}"
_CAP_ALERT: Final = "{" + CAP_NAMESPACE + "}alert"
_NSMAP: Final = {None: EDXL_NAMESPACE, "pc": COMMONS_NAMESPACE}
E = TypeVar("E", bound=ModelEnum)


# --- writing ---------------------------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, tag).text = text


def _value_list(parent: etree._Element, name: str, urn: str, value: str) -> None:
    element = etree.SubElement(parent, _DE + name)
    _sub(element, _DE + "valueListUrn", urn)
    _sub(element, _DE + "value", value)


#: valueListUrn used for senderRole / keyword entries that the model keeps as plain strings.
VALUE_LIST_URN: Final = "urn:renkei:commons:valuelist"


def report_to_element(report: CommonsReport) -> etree._Element:
    """Build the ``pc:report`` element for a :class:`CommonsReport`."""
    root = etree.Element(_PC + "report", nsmap={"pc": COMMONS_NAMESPACE})
    _sub(root, _PC + "kind", report.kind.value)
    publisher = etree.SubElement(root, _PC + "publisher", code=report.publisher_code)
    publisher.text = report.publisher_name
    _sub(root, _PC + "reportedAt", format_cap_datetime(report.reported_at))
    _sub(root, _PC + "title", report.title)
    _sub(root, _PC + "text", report.text)
    for name in report.area_names:
        _sub(root, _PC + "area", name)
    for item in report.items:
        etree.SubElement(root, _PC + "item", name=item.value_name).text = item.value
    return root


def _write_target_area(parent: etree._Element, area: TargetArea) -> None:
    element = etree.SubElement(parent, _DE + "targetArea")
    for circle in area.circles:
        _sub(element, _DE + "circle", format_circle(circle))
    for polygon in area.polygons:
        _sub(element, _DE + "polygon", format_polygon(polygon))
    for country in area.countries:
        _sub(element, _DE + "country", country)
    for subdivision in area.subdivisions:
        _sub(element, _DE + "subdivision", subdivision)
    for code in area.local_government_codes:
        _sub(element, _PC + "localGovernmentCode", code)


def _write_content(parent: etree._Element, content: ContentObject) -> None:
    element = etree.SubElement(parent, _DE + "contentObject")
    _sub(element, _DE + "contentDescription", content.content_description)
    _sub(element, _DE + "incidentID", content.incident_id)
    _sub(element, _DE + "incidentDescription", content.incident_description)
    embedded = etree.SubElement(etree.SubElement(element, _DE + "xmlContent"), _DE + "embeddedXMLContent")
    if isinstance(content.payload, Alert):
        embedded.append(alert_to_element(content.payload))
    else:
        embedded.append(report_to_element(content.payload))
    _sub(element, _PC + "documentID", content.document_id)
    _sub(element, _PC + "documentRevision", str(content.document_revision))
    if content.previous_document_revision is not None:
        _sub(element, _PC + "previousDocumentRevision", str(content.previous_document_revision))


def distribution_to_element(distribution: Distribution) -> etree._Element:
    """Build the ``EDXLDistribution`` element."""
    root = etree.Element(_DE + "EDXLDistribution", nsmap=_NSMAP)  # type: ignore[arg-type]  # lxml-stubs
    _sub(root, _DE + "distributionID", distribution.distribution_id)
    _sub(root, _DE + "senderID", distribution.sender_id)
    _sub(root, _DE + "dateTimeSent", format_cap_datetime(distribution.sent))
    _sub(root, _DE + "distributionStatus", distribution.status.value)
    _sub(root, _DE + "distributionType", distribution.type.value)
    _sub(root, _DE + "combinedConfidentiality", distribution.combined_confidentiality)
    _sub(root, _DE + "language", distribution.language)
    for role in distribution.sender_roles:
        _value_list(root, "senderRole", VALUE_LIST_URN, role)
    for keyword in distribution.keywords:
        _value_list(root, "keyword", VALUE_LIST_URN, keyword)
    for area in distribution.target_areas:
        _write_target_area(root, area)
    for content in distribution.contents:
        _write_content(root, content)
    return root


def to_edxl_xml(distribution: Distribution) -> bytes:
    """Serialise ``distribution`` as a UTF-8 EDXL-DE 1.0 document."""
    return etree.tostring(
        distribution_to_element(distribution), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


_STATUS_FROM_CAP: Final = {
    Status.ACTUAL: DistributionStatus.ACTUAL,
    Status.EXERCISE: DistributionStatus.EXERCISE,
    Status.SYSTEM: DistributionStatus.SYSTEM,
    Status.TEST: DistributionStatus.TEST,
}
_TYPE_FROM_CAP: Final = {
    MsgType.ALERT: DistributionType.REPORT,
    MsgType.UPDATE: DistributionType.UPDATE,
    MsgType.CANCEL: DistributionType.CANCEL,
}


def distribution_for(
    alert: Alert,
    *,
    document_id: str,
    document_revision: int,
    previous_document_revision: int | None = None,
    distribution_id: str | None = None,
    content_description: str | None = None,
) -> Distribution:
    """Wrap a CAP alert in a Commons EDXL-DE envelope (status, type and target areas from the alert).

    Raises :class:`InvalidModel` for a Draft (EDXL has no draft status) or an Ack/Error message.
    """
    if alert.status not in _STATUS_FROM_CAP:
        raise InvalidModel(f"a CAP {alert.status.value} alert cannot be distributed", status=alert.status)
    if alert.msg_type not in _TYPE_FROM_CAP:
        raise InvalidModel(f"a CAP {alert.msg_type.value} is not distributed", msg_type=alert.msg_type)
    codes: list[str] = []
    areas = [a for info in alert.infos for a in info.areas]
    for area in areas:
        codes += [c for c in area.local_government_codes() if c not in codes]
    target = TargetArea(
        local_government_codes=tuple(codes),
        polygons=tuple(p for a in areas for p in a.polygons),
        circles=tuple(c for a in areas for c in a.circles),
    )
    return Distribution(
        distribution_id=distribution_id or alert.identifier,
        sender_id=alert.sender,
        sent=alert.sent,
        status=_STATUS_FROM_CAP[alert.status],
        type=_TYPE_FROM_CAP[alert.msg_type],
        target_areas=(target,) if codes or target.polygons or target.circles else (),
        contents=(
            ContentObject(
                document_id=document_id,
                document_revision=document_revision,
                previous_document_revision=previous_document_revision,
                payload=alert,
                content_description=content_description,
                incident_id=alert.incidents[0] if alert.incidents else None,
            ),
        ),
    )


# --- reading ---------------------------------------------------------------------------------------------


def _malformed(path: str, message: str) -> EdxlMalformed:
    return EdxlMalformed(f"{path}: {message}", path=path)


def _optional(parent: etree._Element, tag: str) -> str | None:
    element = parent.find(tag)
    return None if element is None else element.text or ""


def _required(parent: etree._Element, tag: str, path: str) -> str:
    value = _optional(parent, tag)
    if value is None:
        raise _malformed(f"{path}/{etree.QName(tag).localname}", "required element is missing")
    return value


def _enum(enum: type[E], parent: etree._Element, tag: str, path: str) -> E:
    text = _required(parent, tag, path).strip()
    try:
        return enum(enum.parse(text))
    except InvalidModel as error:
        raise _malformed(f"{path}/{etree.QName(tag).localname}", error.message) from None


def _when(text: str, path: str) -> datetime:
    try:
        return parse_cap_datetime(text)
    except InvalidModel as error:
        raise _malformed(path, error.message) from None


def _int(text: str, path: str) -> int:
    if not text.strip().isascii() or not text.strip().isdigit():
        raise _malformed(path, f"{text!r} is not a revision number")
    return int(text)


def report_from_element(element: etree._Element, path: str = "pc:report") -> CommonsReport:
    """Read a ``pc:report`` element."""
    kind_text = _required(element, _PC + "kind", path).strip()
    try:
        kind = MessageKind(MessageKind.parse(kind_text))
    except InvalidModel as error:
        raise _malformed(f"{path}/kind", error.message) from None
    publisher = element.find(_PC + "publisher")
    if publisher is None or publisher.get("code") is None:
        raise _malformed(f"{path}/publisher", "required element with a code attribute is missing")
    return CommonsReport(
        kind=kind,
        publisher_code=publisher.get("code") or "",
        publisher_name=publisher.text or "",
        reported_at=_when(_required(element, _PC + "reportedAt", path), f"{path}/reportedAt"),
        title=_required(element, _PC + "title", path),
        text=_optional(element, _PC + "text") or "",
        area_names=tuple(e.text or "" for e in element.iterchildren(_PC + "area")),
        items=tuple(
            NamedValue(e.get("name") or "", e.text or "") for e in element.iterchildren(_PC + "item")
        ),
    )


def _read_target_area(element: etree._Element, path: str) -> TargetArea:
    try:
        return TargetArea(
            local_government_codes=tuple(
                (e.text or "").strip() for e in element.iterchildren(_PC + "localGovernmentCode")
            ),
            polygons=tuple(
                parse_polygon(e.text or "", f"{path}/polygon[{i}]")
                for i, e in enumerate(element.iterchildren(_DE + "polygon"), start=1)
            ),
            circles=tuple(
                parse_circle(e.text or "", f"{path}/circle[{i}]")
                for i, e in enumerate(element.iterchildren(_DE + "circle"), start=1)
            ),
            countries=tuple(e.text or "" for e in element.iterchildren(_DE + "country")),
            subdivisions=tuple(e.text or "" for e in element.iterchildren(_DE + "subdivision")),
        )
    except CapMalformed as error:
        raise _malformed(path, error.message) from None


def _read_content(element: etree._Element, path: str) -> ContentObject:
    embedded = element.find(f"{_DE}xmlContent/{_DE}embeddedXMLContent")
    if embedded is None or len(embedded) != 1:
        raise _malformed(f"{path}/xmlContent", "expected one embeddedXMLContent holding one element")
    inner = embedded[0]
    payload: Alert | CommonsReport
    if inner.tag == _CAP_ALERT:
        try:
            payload = alert_from_element(inner)
        except CapMalformed as error:
            raise _malformed(f"{path}/xmlContent/embeddedXMLContent", error.message) from None
    elif inner.tag == _PC + "report":
        payload = report_from_element(inner, f"{path}/xmlContent/embeddedXMLContent/report")
    else:
        raise _malformed(f"{path}/xmlContent", f"unsupported content {inner.tag!r}")
    previous = _optional(element, _PC + "previousDocumentRevision")
    return ContentObject(
        document_id=_required(element, _PC + "documentID", path).strip(),
        document_revision=_int(
            _required(element, _PC + "documentRevision", path), f"{path}/documentRevision"
        ),
        previous_document_revision=None
        if previous is None
        else _int(previous, f"{path}/previousDocumentRevision"),
        payload=payload,
        content_description=_optional(element, _DE + "contentDescription"),
        incident_id=_optional(element, _DE + "incidentID"),
        incident_description=_optional(element, _DE + "incidentDescription"),
    )


def _values(root: etree._Element, name: str) -> tuple[str, ...]:
    return tuple(
        value.text or ""
        for element in root.iterchildren(_DE + name)
        for value in element.iterchildren(_DE + "value")
    )


def distribution_from_element(root: etree._Element) -> Distribution:
    """Read an ``EDXLDistribution`` element; raise :class:`EdxlMalformed`."""
    if root.tag != _DE + "EDXLDistribution":
        raise _malformed("/", f"root element is {root.tag!r}, expected {{{EDXL_NAMESPACE}}}EDXLDistribution")
    path = "/EDXLDistribution"
    return Distribution(
        distribution_id=_required(root, _DE + "distributionID", path).strip(),
        sender_id=_required(root, _DE + "senderID", path).strip(),
        sent=_when(_required(root, _DE + "dateTimeSent", path), f"{path}/dateTimeSent"),
        status=_enum(DistributionStatus, root, _DE + "distributionStatus", path),
        type=_enum(DistributionType, root, _DE + "distributionType", path),
        combined_confidentiality=_required(root, _DE + "combinedConfidentiality", path),
        language=_optional(root, _DE + "language"),
        sender_roles=_values(root, "senderRole"),
        keywords=_values(root, "keyword"),
        target_areas=tuple(
            _read_target_area(e, f"{path}/targetArea[{i}]")
            for i, e in enumerate(root.iterchildren(_DE + "targetArea"), start=1)
        ),
        contents=tuple(
            _read_content(e, f"{path}/contentObject[{i}]")
            for i, e in enumerate(root.iterchildren(_DE + "contentObject"), start=1)
        ),
    )


def parse_edxl(data: bytes, limits: XmlLimits | None = None) -> Distribution:
    """Parse untrusted EDXL-DE 1.0 bytes; raise :class:`XmlRefused` or :class:`EdxlMalformed`."""
    return distribution_from_element(parse_untrusted(data, limits))


_CATEGORY_FOR_KIND: Final = {
    MessageKind.EVACUATION: Category.SAFETY,
    MessageKind.SHELTER: Category.SAFETY,
    MessageKind.DISASTER_HQ: Category.OTHER,
    MessageKind.DAMAGE: Category.RESCUE,
    MessageKind.LANDSLIDE_ALERT: Category.GEO,
    MessageKind.NOTICE: Category.OTHER,
    MessageKind.EVENT: Category.OTHER,
}
_MSG_FOR_TYPE: Final = {
    DistributionType.REPORT: MsgType.ALERT,
    DistributionType.UPDATE: MsgType.UPDATE,
    DistributionType.CANCEL: MsgType.CANCEL,
}


def alert_of(distribution: Distribution, content: ContentObject) -> Alert:
    """The CAP view of a content object: its alert, or a Commons report converted to one.

    A report becomes one ``ja-JP`` info: ``event`` and the kind eventCode = the kind, ``headline`` =
    title, ``description`` = text, parameters = items, one area with the publisher's 地方公共団体コード;
    identifier ``<documentID>-r<revision>``. Renderers and the lifecycle then treat both alike.
    """
    if isinstance(content.payload, Alert):
        return content.payload
    report = content.payload
    info = Info(
        categories=(_CATEGORY_FOR_KIND[report.kind],),
        event=report.kind.value,
        urgency=Urgency.UNKNOWN,
        severity=Severity.UNKNOWN,
        certainty=Certainty.UNKNOWN,
        language="ja-JP",
        event_codes=(NamedValue(EVENT_CODE_KIND, report.kind.value),),
        effective=report.reported_at,
        sender_name=report.publisher_name,
        headline=report.title,
        description=report.text or None,
        parameters=report.items,
        areas=(
            Area(
                area_desc="、".join(report.area_names) or report.publisher_name,
                geocodes=(NamedValue(GEOCODE_LOCAL_GOVERNMENT, report.publisher_code),),
            ),
        ),
    )
    return Alert(
        identifier=f"{content.document_id}-r{content.document_revision}",
        sender=distribution.sender_id,
        sent=report.reported_at,
        status=Status(distribution.status.value),
        msg_type=_MSG_FOR_TYPE[distribution.type],
        scope=Scope.PUBLIC,
        incidents=() if content.incident_id is None else (content.incident_id,),
        infos=(info,),
    )
