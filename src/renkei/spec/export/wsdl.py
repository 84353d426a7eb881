"""One WSDL 1.1 (SOAP 1.1, document/literal wrapped) for every query service.

Each service ``income-certificate`` is the operation ``incomeCertificate`` (lowerCamelCase of the id) with
the request element ``incomeCertificate`` (its request items, all required) and the response element
``incomeCertificateResponse`` (its response items), soapAction ``urn:renkei:service:income-certificate``.
Failures are the SOAP fault ``renkeiFault`` (code, title, detail). The schemas are inline in
``wsdl:types``, so a client needs no other file; :func:`build_service_xsd` gives the same schema alone for
validating SOAP bodies.
"""

from __future__ import annotations

from lxml import etree

from renkei.spec.export.naming import SERVICE_NAMESPACE, lower_camel, soap_action, unique
from renkei.spec.export.typemap import XS, xsd_documentation, xsd_element
from renkei.spec.export.xsd import serialise
from renkei.spec.models import InformationKind, Service, ServiceKind, Spec

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"
DEFAULT_LOCATION = "http://127.0.0.1:8080/soap"
PORT_TYPE = "RenkeiQueryPortType"
BINDING = "RenkeiQueryBinding"
SERVICE = "RenkeiQueryService"
PORT = "RenkeiQueryPort"
FAULT = "renkeiFault"
FAULT_MESSAGE = "RenkeiFault"


def operation_name(service: Service) -> str:
    """The WSDL operation (and request element) of a query service: its id in lowerCamelCase."""
    return lower_camel(service.id)


def _queries(spec: Spec) -> list[tuple[InformationKind, Service]]:
    queries = [(k, s) for k, s in spec.services() if s.kind is ServiceKind.QUERY]
    names = [(s.id, operation_name(s)) for _, s in queries]
    names += [(s.id, operation_name(s) + "Response") for _, s in queries]
    unique([*names, ("renkei-fault", FAULT)], "WSDL の要素 (WSDL element)")
    return queries


def _xs(tag: str) -> str:
    return f"{{{XS}}}{tag}"


def _wrapper(schema: etree._Element, name: str, doc: str) -> etree._Element:
    element = etree.SubElement(schema, _xs("element"), name=name)
    xsd_documentation(element, doc)
    return etree.SubElement(etree.SubElement(element, _xs("complexType")), _xs("sequence"))


def build_service_xsd_element(spec: Spec) -> etree._Element:
    """The ``xs:schema`` of every query service's request and response element and of the fault."""
    schema = etree.Element(
        _xs("schema"),
        {"targetNamespace": SERVICE_NAMESPACE, "elementFormDefault": "qualified", "version": spec.version},
        nsmap={"xs": XS, "tns": SERVICE_NAMESPACE},
    )
    for kind, service in _queries(spec):
        op = operation_name(service)
        request = _wrapper(schema, op, f"{service.name} 照会条件 ({service.name_en}: request)")
        for r in service.request:
            request.append(xsd_element(spec, spec.request_item(kind, r), required=r not in service.optional))
        response = _wrapper(schema, op + "Response", f"{service.name} 応答 ({service.name_en}: response)")
        for r in service.response:
            # Optional in answers: the hub leaves out the items the caller's purpose may not use.
            response.append(xsd_element(spec, kind.item(r), required=False))
    fault = _wrapper(schema, FAULT, "エラー (a renkei error: its stable code, title and detail)")
    for name, required in (("code", True), ("title", True), ("detail", False)):
        element = etree.SubElement(fault, _xs("element"), name=name, type="xs:string")
        if not required:
            element.set("minOccurs", "0")
    return schema


def build_service_xsd(spec: Spec) -> str:
    """The WSDL's inline schema as a standalone XML Schema (for validating SOAP bodies)."""
    return serialise(build_service_xsd_element(spec))


def _w(parent: etree._Element, tag: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{WSDL}}}{tag}", attrib)


def _s(parent: etree._Element, tag: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{SOAP}}}{tag}", attrib)


def build_wsdl(spec: Spec, *, location: str = DEFAULT_LOCATION) -> str:
    """The WSDL of every query service, served at ``location``."""
    queries = _queries(spec)
    root = etree.Element(
        f"{{{WSDL}}}definitions",
        {"name": "RenkeiQuery", "targetNamespace": SERVICE_NAMESPACE},
        nsmap={"wsdl": WSDL, "soap": SOAP, "xs": XS, "tns": SERVICE_NAMESPACE},
    )
    _w(
        root, "documentation"
    ).text = (
        f"renkei: {spec.header.name} {spec.version} 照会サービス (query services, SOAP 1.1 document/literal)"
    )
    _w(root, "types").append(build_service_xsd_element(spec))
    for _, service in queries:
        op = operation_name(service)
        for suffix, element in (("Request", op), ("Response", op + "Response")):
            _w(_w(root, "message", name=op + suffix), "part", name="parameters", element=f"tns:{element}")
    _w(_w(root, "message", name=FAULT_MESSAGE), "part", name="fault", element=f"tns:{FAULT}")

    port_type = _w(root, "portType", name=PORT_TYPE)
    for _, service in queries:
        op = operation_name(service)
        operation = _w(port_type, "operation", name=op)
        _w(operation, "documentation").text = f"{service.name} ({service.name_en})"
        _w(operation, "input", message=f"tns:{op}Request")
        _w(operation, "output", message=f"tns:{op}Response")
        _w(operation, "fault", name=FAULT_MESSAGE, message=f"tns:{FAULT_MESSAGE}")

    binding = _w(root, "binding", name=BINDING, type=f"tns:{PORT_TYPE}")
    _s(binding, "binding", style="document", transport=SOAP_HTTP)
    for _, service in queries:
        operation = _w(binding, "operation", name=operation_name(service))
        _s(operation, "operation", soapAction=soap_action(service.id), style="document")
        _s(_w(operation, "input"), "body", use="literal")
        _s(_w(operation, "output"), "body", use="literal")
        _s(_w(operation, "fault", name=FAULT_MESSAGE), "fault", name=FAULT_MESSAGE, use="literal")

    port = _w(_w(root, "service", name=SERVICE), "port", name=PORT, binding=f"tns:{BINDING}")
    _s(port, "address", location=location)
    return serialise(root)
