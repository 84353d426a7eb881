"""Records ⇄ XML for the information kinds, and the one safe way renkei parses XML.

A record is a ``dict`` of JSON values keyed by item id (what the JSON format carries). Its XML form is
the element named by the kind id in the kind's namespace ``urn:renkei:spec:<kind-id>``, holding one
element per present item in item order; several records travel under a ``<records>`` root (see
:mod:`renkei.spec.export.xsd`). :func:`record_to_element` and :func:`element_to_record` do the same for
any element and item list, e.g. a SOAP request or response wrapper of :mod:`renkei.spec.export.wsdl`.

:func:`parse_xml` refuses DTDs and entity declarations outright (before parsing, so a billion-laughs
bomb costs one scan of the bytes), documents over 10 MiB or nested deeper than 64 elements, and UTF-16/32
(NUL bytes); it never loads anything from the network or the file system.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from lxml import etree

from renkei.spec.errors import InstanceInvalid, InstanceRefused
from renkei.spec.export.naming import kind_namespace
from renkei.spec.export.typemap import JsonValue, carried_items, format_text, text_parser
from renkei.spec.export.xsd import RECORDS
from renkei.spec.models import DataItem, InformationKind, Spec

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64

Record = dict[str, JsonValue]

_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _refused(message: str, **detail: Any) -> InstanceRefused:
    return InstanceRefused(message, format="xml", **detail)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        dtd_validation=False,
        load_dtd=False,
    )


def parse_xml(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> etree._Element:
    """Parse untrusted XML safely; raise InstanceRefused for hostile input, InstanceInvalid if malformed."""
    if len(data) > max_bytes:
        raise _refused(
            f"XML が大きすぎます: {len(data)} バイト (document too large; the limit is {max_bytes} bytes)",
            size=len(data),
            limit=max_bytes,
        )
    if b"\x00" in data:
        raise _refused(
            f"NUL バイトがあります (byte offset {data.index(0)}): UTF-16/UTF-32 の XML は受け付けません "
            "(NUL byte; only ASCII-compatible encodings such as UTF-8 are accepted)",
            offset=data.index(0),
        )
    declaration = _DECLARATION.search(data)
    if declaration is not None:
        raise _refused(
            f"DTD・実体宣言は受け付けません (byte offset {declaration.start()}) "
            "(DOCTYPE and ENTITY declarations are refused)",
            offset=declaration.start(),
        )
    parser = _parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        # The parser's own log: the exception's log is shared by the thread and keeps earlier documents.
        logged = log_entries(parser.error_log)
        entries = [e for e in logged if e.level_name in ("ERROR", "FATAL")] or logged
        if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in entries):
            raise _refused(f"XML が制限を超えています (resource limit exceeded: {exc})") from None
        errors = [
            {
                "message": f"line {e.line}, column {e.column}: XML の構文が正しくありません ({e.message})",
                "line": e.line,
                "column": e.column,
            }
            for e in entries
        ] or [{"message": f"XML の構文が正しくありません ({exc})"}]
        raise InstanceInvalid(
            f"XML として読めません (not well-formed XML): {errors[0]['message']}",
            format="xml",
            errors=errors,
            error_count=len(errors),
        ) from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise _refused("DTD は受け付けません (a DOCTYPE is refused)")
    depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > max_depth:
            raise _refused(
                f"XML の入れ子が深すぎます (nested deeper than {max_depth} elements)", limit=max_depth
            )
    return root


def sourceline(node: etree._Element) -> int | None:
    """The line an element starts on (lxml-stubs leave it untyped)."""
    return cast("int | None", node.sourceline)


def log_entries(log: object) -> list[Any]:
    """The entries of an lxml error log (lxml-stubs leave the log untyped)."""
    return list(cast("Iterable[Any]", log))


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def child_elements(element: etree._Element) -> list[etree._Element]:
    """The element children (not comments or processing instructions)."""
    return [child for child in element if isinstance(child.tag, str)]


def record_to_element(
    items: Sequence[DataItem], record: Mapping[str, object], *, namespace: str, tag: str
) -> etree._Element:
    """``<tag xmlns=namespace>`` with one child per present (not None) item, in item order."""
    known = {item.id for item in items}
    unknown = sorted(k for k in record if k not in known)
    if unknown:
        raise InstanceInvalid(
            f"{tag}: 項目 {unknown} はありません (unknown items)",
            format="xml",
            errors=[{"message": f"{tag}: 項目 {u} はありません (unknown item)", "field": u} for u in unknown],
            error_count=len(unknown),
        )
    element = etree.Element(f"{{{namespace}}}{tag}", nsmap={None: namespace})  # type: ignore[dict-item]
    for item in items:
        value = record.get(item.id)
        if value is None:
            continue
        child = etree.SubElement(element, f"{{{namespace}}}{item.id}")
        try:
            child.text = format_text(item, value)
        except (TypeError, ValueError) as exc:
            message = f"{item.name} ({item.id}): XML で表せない値です (value cannot be written as XML: {exc})"
            raise InstanceInvalid(
                message,
                format="xml",
                errors=[{"message": message, "field": item.id, "name": item.name}],
                error_count=1,
            ) from None
    return element


def element_to_record(
    spec: Spec,
    items: Sequence[DataItem],
    element: etree._Element,
    *,
    parsers: Mapping[str, Callable[[str], JsonValue]] | None = None,
) -> Record:
    """The record an element holds (children named by item id); raise InstanceInvalid naming the line.

    ``parsers`` (item id → :func:`~renkei.spec.export.typemap.text_parser`) saves building them per record.
    """
    by_id: dict[str, DataItem] = {item.id: item for item in items}
    if parsers is None:
        parsers = {item.id: text_parser(spec, item) for item in items}
    record: Record = {}
    errors: list[dict[str, Any]] = []
    for child in child_elements(element):
        name = local_name(child)
        item = by_id.get(name)
        line = sourceline(child)
        if item is None:
            errors.append({"message": f"line {line}, {name}: 項目がありません (unknown item)", "line": line})
            continue
        text = child.text or ""
        try:
            record[item.id] = parsers[item.id](text)
        except ValueError:
            errors.append(
                {
                    "message": f"line {line}, {item.name} ({item.id}): 値が不正です (invalid {text!r})",
                    "line": line,
                    "field": item.id,
                    "name": item.name,
                }
            )
    if errors:
        raise InstanceInvalid(errors[0]["message"], format="xml", errors=errors, error_count=len(errors))
    return record


def _document(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def record_to_xml(spec: Spec, kind: InformationKind | str, record: Mapping[str, object]) -> bytes:
    """One record as an XML document (root: the record element)."""
    kind = kind if isinstance(kind, InformationKind) else spec.kind(kind)
    ns = kind_namespace(kind)
    return _document(record_to_element(carried_items(kind), record, namespace=ns, tag=kind.id))


def records_to_xml(spec: Spec, kind: InformationKind | str, records: Iterable[Mapping[str, object]]) -> bytes:
    """Records as one XML document under a ``<records>`` root."""
    kind = kind if isinstance(kind, InformationKind) else spec.kind(kind)
    ns = kind_namespace(kind)
    root = etree.Element(f"{{{ns}}}{RECORDS}", nsmap={None: ns})  # type: ignore[dict-item]
    for record in records:
        root.append(record_to_element(carried_items(kind), record, namespace=ns, tag=kind.id))
    return _document(root)


def xml_to_records(spec: Spec, kind: InformationKind | str, data: bytes) -> list[Record]:
    """The records of an XML document (a record root or a ``<records>`` root), validated against the kind's
    XSD first: raises InstanceInvalid with every located problem, or InstanceRefused for hostile input."""
    from renkei.spec.instance import read_instance

    kind = kind if isinstance(kind, InformationKind) else spec.kind(kind)
    return read_instance(spec, kind.id, data, fmt="xml")


def tree_records(spec: Spec, kind: InformationKind, root: etree._Element) -> list[Record]:
    """The records under an already validated root (record or ``<records>``)."""
    items = carried_items(kind)
    parsers: dict[str, Callable[[str], JsonValue]] = {item.id: text_parser(spec, item) for item in items}
    elements = child_elements(root) if local_name(root) == RECORDS else [root]
    return [element_to_record(spec, items, element, parsers=parsers) for element in elements]
