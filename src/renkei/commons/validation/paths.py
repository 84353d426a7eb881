"""XPath-like element paths for findings: ``/alert/info[1]/area[2]/polygon[1]``.

Steps use local names; an index is written for every element whose name may repeat under its parent
(CAP/EDXL ``maxOccurs > 1``), so the same element always has the same path.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

REPEATABLE: Final = frozenset(
    {
        "info",
        "area",
        "polygon",
        "circle",
        "geocode",
        "parameter",
        "eventCode",
        "resource",
        "code",
        "category",
        "responseType",
        "contentObject",
        "targetArea",
        "localGovernmentCode",
        "senderRole",
        "keyword",
        "recipientRole",
        "embeddedXMLContent",
        "keyXMLContent",
        "item",
        "subdivision",
        "country",
    }
)


def step(element: etree._Element) -> str:
    """One path step for ``element``."""
    name = etree.QName(element).localname
    if name not in REPEATABLE:
        return name
    parent = element.getparent()
    if parent is None:
        return name
    index = 1 + sum(1 for sibling in element.itersiblings(preceding=True) if sibling.tag == element.tag)
    return f"{name}[{index}]"


def path_of(element: etree._Element) -> str:
    """The path of ``element`` from its document root."""
    steps = []
    current: etree._Element | None = element
    while current is not None:
        steps.append(step(current))
        current = current.getparent()
    return "/" + "/".join(reversed(steps))
