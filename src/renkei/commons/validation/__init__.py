"""Validation of CAP 1.2 alerts and Commons EDXL-DE 1.0 distributions, in three layers.

(a) the XSDs in ``renkei/commons/schemas`` (``xsd.cap``, ``xsd.edxl``); (b) CAP 1.2 rules beyond the XSD
(``cap.*``, :mod:`.cap_rules`); (c) the Japanese profile (``jp.*``, :mod:`.japan`); plus the Commons
envelope rules (``edxl.*``). :func:`validate` never raises for bad input and never stops at the first
problem: hostile or unreadable XML becomes an ``xml.refused`` finding.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from renkei.commons.cap import alert_to_element
from renkei.commons.errors import XmlRefused
from renkei.commons.model import CAP_NAMESPACE, COMMONS_NAMESPACE, EDXL_NAMESPACE, Alert
from renkei.commons.validation.cap_rules import cap_findings
from renkei.commons.validation.findings import RULES, Finding, Level, Report, Rule, finding
from renkei.commons.validation.japan import JapaneseProfile, check_local_government_code, japan_findings
from renkei.commons.validation.paths import path_of
from renkei.commons.validation.schema import schema_findings
from renkei.commons.xmlsafe import XmlLimits, parse_untrusted

__all__ = [
    "RULES",
    "Finding",
    "JapaneseProfile",
    "Level",
    "Report",
    "Rule",
    "validate",
    "validate_alert",
    "validate_element",
]

_CAP_ALERT: Final = "{" + CAP_NAMESPACE + "}alert"
_EDXL_ROOT: Final = "{" + EDXL_NAMESPACE + "}EDXLDistribution"
_DE: Final = "{" + EDXL_NAMESPACE + "}"
_PC: Final = "{" + COMMONS_NAMESPACE + "}"
_TYPE_FOR_MSG: Final = {"Alert": "Report", "Update": "Update", "Cancel": "Cancel"}


def _alert_rules(alert: etree._Element, profile: JapaneseProfile | None) -> list[Finding]:
    found = cap_findings(alert)
    if profile is not None:
        found += japan_findings(alert, profile)
    return found


def _edxl_rules(root: etree._Element, profile: JapaneseProfile | None) -> list[Finding]:
    found: list[Finding] = []
    status = (root.findtext(_DE + "distributionStatus") or "").strip()
    kind = (root.findtext(_DE + "distributionType") or "").strip()
    for area in root.iterchildren(_DE + "targetArea"):
        for code in area.iterchildren(_PC + "localGovernmentCode"):
            found += check_local_government_code(
                (code.text or "").strip(), path_of(code), profile or JapaneseProfile()
            )
    contents = list(root.iterchildren(_DE + "contentObject"))
    if not contents:
        found.append(finding("edxl.content.missing", path_of(root)))
    for content in contents:
        revision = (content.findtext(_PC + "documentRevision") or "").strip()
        previous = content.find(_PC + "previousDocumentRevision")
        if kind in {"Update", "Cancel"} and previous is None:
            found.append(finding("edxl.revision.previous_missing", path_of(content), kind))
        if kind == "Report" and previous is not None:
            found.append(finding("edxl.revision.unexpected", path_of(previous)))
        previous_text = "" if previous is None else (previous.text or "").strip()
        in_order = not (revision.isdigit() and previous_text.isdigit()) or int(previous_text) < int(revision)
        if previous is not None and not in_order:
            found.append(finding("edxl.revision.order", path_of(previous), f"{previous_text} >= {revision}"))
        embedded = content.find(f"{_DE}xmlContent/{_DE}embeddedXMLContent")
        inner = embedded[0] if embedded is not None and len(embedded) else None
        if inner is None:
            found.append(finding("edxl.content.unsupported", path_of(content), "no embeddedXMLContent"))
        elif inner.tag == _CAP_ALERT:
            cap_status = (inner.findtext("{" + CAP_NAMESPACE + "}status") or "").strip()
            if cap_status != status:
                found.append(finding("edxl.status.mismatch", path_of(inner), f"{status} ≠ {cap_status}"))
            msg_type = (inner.findtext("{" + CAP_NAMESPACE + "}msgType") or "").strip()
            if _TYPE_FOR_MSG.get(msg_type) != kind:
                found.append(finding("edxl.type.mismatch", path_of(inner), f"{kind} / {msg_type}"))
            found += _alert_rules(inner, profile)
        elif inner.tag == _PC + "report":
            publisher = inner.find(_PC + "publisher")
            if publisher is not None:
                found += check_local_government_code(
                    (publisher.get("code") or "").strip(),
                    path_of(publisher) + "/@code",
                    profile or JapaneseProfile(),
                )
        else:
            found.append(finding("edxl.content.unsupported", path_of(inner), etree.QName(inner).text))
    return found


def validate_element(root: etree._Element, profile: JapaneseProfile | None = None) -> Report:
    """Validate a parsed CAP ``alert`` or ``EDXLDistribution`` element (all three layers)."""
    if root.tag == _CAP_ALERT:
        found = schema_findings(root, "cap12.xsd", "xsd.cap") + _alert_rules(root, profile)
        return Report("cap", tuple(found))
    if root.tag == _EDXL_ROOT:
        found = schema_findings(root, "edxl-de-1.0.xsd", "xsd.edxl") + _edxl_rules(root, profile)
        return Report("edxl", tuple(found))
    return Report("unknown", (finding("xml.root.unknown", "/" + etree.QName(root).localname, root.tag),))


_DEFAULT_PROFILE: Final = JapaneseProfile()


def validate(
    data: bytes, profile: JapaneseProfile | None = _DEFAULT_PROFILE, limits: XmlLimits | None = None
) -> Report:
    """Validate untrusted bytes (CAP 1.2 or EDXL-DE 1.0); ``profile=None`` skips the Japanese layer."""
    try:
        root = parse_untrusted(data, limits)
    except XmlRefused as error:
        reason = error.detail.get("reason", "refused")
        return Report("unknown", (finding("xml.refused", "/", f"{reason}: {error.message}"),))
    return validate_element(root, profile)


def validate_alert(alert: Alert, profile: JapaneseProfile | None = _DEFAULT_PROFILE) -> Report:
    """Validate a model alert (for authoring forms): serialised as CAP and checked like received bytes."""
    return validate_element(alert_to_element(alert), profile)
