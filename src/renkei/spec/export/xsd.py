"""XML Schema of each information kind.

A document is either one record — the root element named by the kind id (``<individual-resident-tax>``,
the id rather than a lowerCamel form so that every format uses the same name) — or a ``<records>`` root
holding any number of them. Both are in the kind's namespace ``urn:renkei:spec:<kind-id>`` (qualified);
inside a record there is one element per item, named by the item id, in item order.
"""

from __future__ import annotations

from lxml import etree

from renkei.spec.export.naming import kind_namespace, resolve
from renkei.spec.export.typemap import XS, carried_items, xsd_documentation, xsd_element
from renkei.spec.models import InformationKind, Spec

RECORDS = "records"
"""Local name of the list root."""
RECORD_TYPE = "Record"


def _xs(tag: str) -> str:
    return f"{{{XS}}}{tag}"


def serialise(element: etree._Element) -> str:
    """Pretty-printed XML with a UTF-8 declaration (encode the text as UTF-8 before parsing it)."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")


def build_xsd_element(spec: Spec, kind: InformationKind | str) -> etree._Element:
    """The ``xs:schema`` element of a kind (see :func:`build_xsd`)."""
    kind = resolve(spec, kind)
    ns = kind_namespace(kind)
    schema = etree.Element(
        _xs("schema"),
        {"targetNamespace": ns, "elementFormDefault": "qualified", "version": spec.version},
        nsmap={"xs": XS, "tns": ns},
    )
    xsd_documentation(schema, f"{kind.name} ({kind.name_en}): renkei spec {spec.version}")
    record = etree.SubElement(schema, _xs("complexType"), name=RECORD_TYPE)
    sequence = etree.SubElement(record, _xs("sequence"))
    for item in carried_items(kind):
        sequence.append(xsd_element(spec, item))
    element = etree.SubElement(schema, _xs("element"), name=kind.id, type=f"tns:{RECORD_TYPE}")
    xsd_documentation(element, f"{kind.name} 1件 (one record)")
    records = etree.SubElement(schema, _xs("element"), name=RECORDS)
    xsd_documentation(records, f"{kind.name} の一覧 (a list of records)")
    listing = etree.SubElement(etree.SubElement(records, _xs("complexType")), _xs("sequence"))
    etree.SubElement(listing, _xs("element"), ref=f"tns:{kind.id}", minOccurs="0", maxOccurs="unbounded")
    return schema


def build_xsd(spec: Spec, kind: InformationKind | str) -> str:
    """The XML Schema of one information kind, as text with an XML declaration."""
    return serialise(build_xsd_element(spec, kind))
