"""Layer (a): validation against the CAP 1.2 and EDXL-DE 1.0 XSDs in ``renkei/commons/schemas``."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from lxml import etree

from renkei.commons.validation.findings import Finding, finding
from renkei.commons.validation.paths import path_of


@cache
def schema(name: str) -> etree.XMLSchema:
    """Load one of our XSDs (``cap12.xsd``, ``edxl-de-1.0.xsd``) once; imports resolve beside it."""
    with resources.as_file(resources.files("renkei.commons").joinpath("schemas", name)) as path:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        return etree.XMLSchema(etree.parse(str(path), parser))


def schema_findings(root: etree._Element, name: str, rule: str) -> list[Finding]:
    """Every XSD error of ``root`` as a finding of ``rule`` (``xsd.cap`` / ``xsd.edxl``)."""
    xsd = schema(name)
    tree = etree.ElementTree(root)
    if xsd.validate(tree):
        return []
    findings = []
    for error in xsd.error_log:  # type: ignore[attr-defined]  # lxml-stubs: _ErrorLog is iterable
        located = tree.xpath(error.path) if error.path else []
        element = located[0] if isinstance(located, list) and located else None
        path = path_of(element) if isinstance(element, etree._Element) else error.path or "/"
        findings.append(finding(rule, path, f"line {error.line}: {_message(error.message)}"))
    return findings


def _message(text: str) -> str:
    """Drop libxml2's ``Element '{namespace}name': `` prefix, which the path already says."""
    return re.sub(r"^Element '\{[^}]*\}([^']*)': ", r"\1: ", text)
