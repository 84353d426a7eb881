"""Checks one instance document (JSON, XML or CSV) of an information kind against the spec, reporting
every problem with its line (and column where known), record and item; hostile input is refused in
bounded time and memory.

Formats, with the format taken from ``fmt``, else the file extension, else the first byte:

* JSON (UTF-8, BOM allowed): one record object, or an array of them; validated by the kind's JSON Schema.
* XML: a record element (``<individual-resident-tax>``) or a ``<records>`` list of them, in the kind's
  namespace; validated by the kind's XSD. DTDs and entities are refused (see :mod:`renkei.spec.xmlcodec`).
* CSV: the kind's CSV layout (UTF-8 with or without BOM, or CP932); the header row holds the item names
  (or ids) in layout order.

Limits: 10 MiB per document, nesting 64 deep; checking stops once 1000 problems are found (``truncated``
then says there may be more), so a document full of problems costs no more than a valid one.
"""

from __future__ import annotations

import csv
import io
import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree

from renkei.japanese.charset import decode_cp932, detect_encoding
from renkei.japanese.errors import InvalidEncoding
from renkei.spec.errors import InstanceInvalid, InstanceRefused
from renkei.spec.export.csvlayout import LINE_TERMINATOR
from renkei.spec.export.jsonschema import build_json_schema
from renkei.spec.export.naming import kind_namespace
from renkei.spec.export.typemap import JsonValue, carried_items, explain_value, text_parser
from renkei.spec.export.xsd import RECORDS, build_xsd
from renkei.spec.models import DataItem, InformationKind, Spec
from renkei.spec.xmlcodec import (
    MAX_BYTES,
    MAX_DEPTH,
    child_elements,
    local_name,
    log_entries,
    parse_xml,
    sourceline,
    tree_records,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_ERRORS", "Format", "Problem", "check_instance", "read_instance"]

Format = Literal["json", "xml", "csv"]
MAX_ERRORS = 1000
Record = dict[str, JsonValue]
JsonPath = tuple[str | int, ...]

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_EXTENSIONS: Mapping[str, Format] = MappingProxyType({".json": "json", ".xml": "xml", ".csv": "csv"})
_MISSING = "必須項目がありません (required item is missing)"


@dataclass(frozen=True)
class Problem:
    """One located problem of an instance document."""

    message: str
    """What is wrong (Japanese, with English in parentheses), without the location."""
    line: int | None = None
    column: int | None = None
    """Character column (JSON, XML) or 1-based column position (CSV)."""
    record: int | None = None
    """1-based number of the record in the document."""
    field: str | None = None
    name: str | None = None
    fmt: Format = "json"

    @classmethod
    def of(cls, message: str, item: DataItem | None = None, **where: Any) -> Problem:
        if item is not None:
            where |= {"field": item.id, "name": item.name}
        return cls(message, **where)

    def located(self) -> str:
        parts = [] if self.line is None else [f"line {self.line}"]
        label = None if self.field is None else (f"{self.name} ({self.field})" if self.name else self.field)
        if self.fmt == "csv":
            if label is not None:
                parts.append(f"column {label}")
            elif self.column is not None:
                parts.append(f"column {self.column}")
        else:
            if self.column is not None:
                parts.append(f"column {self.column}")
            if self.record is not None:
                parts.append(f"record {self.record}")
            if label is not None:
                parts.append(label)
        return f"{', '.join(parts)}: {self.message}" if parts else self.message

    def as_dict(self) -> dict[str, Any]:
        """``message`` (located), then whichever of line, column, record, field, name are known."""
        out: dict[str, Any] = {"message": self.located()}
        for key in ("line", "column", "record", "field", "name"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class _Problems:
    """Collects problems, keeping the first MAX_ERRORS and counting all."""

    fmt: Format
    kept: list[Problem] = field(default_factory=list)
    count: int = 0
    stopped: bool = False
    """The checker stopped looking once MAX_ERRORS problems were kept: there may be more."""

    @property
    def full(self) -> bool:
        return len(self.kept) >= MAX_ERRORS

    def add(self, found: Problem | Callable[[], Problem]) -> None:
        """Count a problem; keep it (building it first when given a function) while under the cap."""
        self.count += 1
        if len(self.kept) < MAX_ERRORS:
            made = found if isinstance(found, Problem) else found()
            self.kept.append(replace(made, fmt=self.fmt))


def _refused(fmt: str, message: str, **detail: Any) -> InstanceRefused:
    return InstanceRefused(message, format=fmt, **detail)


def _format(filename: str, data: bytes) -> Format:
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if suffix:
        try:
            return _EXTENSIONS[suffix]
        except KeyError:
            raise _refused(
                suffix,
                f"ファイル形式 {suffix!r} には対応していません (unsupported format; use .json, .xml or .csv)",
            ) from None
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head in (b"{", b"[") else "xml" if head == b"<" else "csv"


def read_instance(
    spec: Spec, information: str, data: bytes, *, filename: str = "", fmt: Format | None = None
) -> list[Record]:
    """The records of a valid instance document; raises like :func:`check_instance`."""
    kind = spec.kind(information)
    chosen = fmt or _format(filename, data[:1024])
    if len(data) > MAX_BYTES:
        raise _refused(
            chosen,
            f"文書が大きすぎます: {len(data)} バイト (document too large; the limit is {MAX_BYTES} bytes)",
            size=len(data),
            limit=MAX_BYTES,
        )
    problems = _Problems(chosen)
    reader = {"json": _read_json, "xml": _read_xml, "csv": _read_csv}[chosen]
    records = reader(spec, kind, data, problems)
    if problems.count:
        problems.kept.sort(key=lambda p: (p.line or 0, p.column or 0))
        first = problems.kept[0].located()
        raise InstanceInvalid(
            f"{kind.name} ({kind.id}) の {chosen.upper()} に {problems.count} 件の問題があります"
            f" ({problems.count} problem(s); first: {first})",
            information=kind.id,
            format=chosen,
            errors=[p.as_dict() for p in problems.kept],
            error_count=problems.count,
            truncated=problems.stopped or problems.count > len(problems.kept),
        )
    return records


def check_instance(
    spec: Spec, information: str, data: bytes, *, filename: str = "", fmt: Format | None = None
) -> None:
    """Validate one instance document of ``information`` (a kind id or Japanese name).

    Raises :class:`InstanceInvalid` whose ``detail["errors"]`` lists every located problem, or
    :class:`InstanceRefused` for hostile or unreadable input (too large, too deep, DTDs, bad encoding).
    """
    read_instance(spec, information, data, filename=filename, fmt=fmt)


# JSON ------------------------------------------------------------------------------------------------

_NEWLINE = re.compile("\n")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_KEY = re.compile(r'"(?:[^"\\]|\\.)*"\s*:', re.DOTALL)
_NON_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")
_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([{}\[\]:,])|([^\s{}\[\]:,"]+))', re.DOTALL)


@dataclass(frozen=True)
class _Positions:
    """Character offsets of the top-level records and their keys in a well-formed JSON text."""

    text: str
    offsets: dict[JsonPath, int]
    duplicates: tuple[tuple[JsonPath, int], ...]
    line_starts: tuple[int, ...]

    @classmethod
    def scan(cls, text: str, needed: set[JsonPath], duplicates_wanted: int) -> _Positions:
        """Scan until every ``needed`` path and ``duplicates_wanted`` repeated keys are found."""
        offsets: dict[JsonPath, int] = {}
        duplicates: list[tuple[JsonPath, int]] = []
        missing = set(needed)
        stack: list[tuple[bool, JsonPath, set[str]]] = []  # (is object, path, keys seen)
        count = 0  # values seen at depth 1 (records of a top-level array)
        previous = ""
        end = len(text)
        for match in _TOKEN.finditer(text):
            string, punct, _ = match.groups()
            start = match.start(1) if string else match.start(2) if punct else match.start(3)
            depth = len(stack)
            if string is not None and stack and stack[-1][0] and previous in ("{", ","):
                key = string[1:-1] if "\\" not in string else json.loads(string)
                path = (*stack[-1][1], key)
                if key in stack[-1][2]:
                    duplicates.append((path, start))
                else:
                    stack[-1][2].add(key)
                    if depth <= 2:
                        offsets.setdefault(path, start)
                        missing.discard(path)
            elif punct in ("}", "]"):
                stack.pop()
            elif punct not in (":", ","):
                if depth == 0:
                    offsets[()] = start
                    missing.discard(())
                elif depth == 1 and not stack[0][0]:
                    offsets[(count,)] = start
                    missing.discard((count,))
                    count += 1
                if punct in ("{", "["):
                    parent: JsonPath = (
                        () if depth == 0 else (count - 1,) if depth == 1 and not stack[0][0] else (-1,)
                    )
                    stack.append((punct == "{", parent, set()))
            previous = punct or "value"
            if not missing and len(duplicates) >= duplicates_wanted:
                end = match.end()
                break
        starts = [0, *(m.end() for m in _NEWLINE.finditer(text, 0, end))]
        return cls(text, offsets, tuple(duplicates), tuple(starts))

    def where(self, path: JsonPath) -> tuple[int | None, int | None]:
        while path not in self.offsets and path:
            path = path[:-1]
        offset = self.offsets.get(path)
        return self.at(offset) if offset is not None else (None, None)

    def at(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1


def _decode_utf8(fmt: Format, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refused(
            fmt,
            f"UTF-8 として読めません (byte offset {exc.start}) (not valid UTF-8 at byte offset {exc.start})",
            offset=exc.start,
        ) from None


def _too_deep(text: str) -> bool:
    """Whether a well-formed JSON text nests deeper than MAX_DEPTH (C-speed regex passes, no recursion)."""
    brackets = _NON_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(MAX_DEPTH):
        if not brackets:
            return False
        brackets = _INNERMOST.sub("", brackets)
    return bool(brackets)


def _repeated_keys(text: str, entries: list[Any]) -> int:
    """How many object keys the parser dropped as repeats (0 when a record holds nested values: those are
    reported anyway, and the located scan names any repeats it meets)."""
    records = [e for e in entries if isinstance(e, dict)]
    if len(records) != len(entries) or any(isinstance(v, dict | list) for r in records for v in r.values()):
        return 0
    return sum(1 for _ in _KEY.finditer(text)) - sum(len(r) for r in records)


def _read_json(spec: Spec, kind: InformationKind, data: bytes, problems: _Problems) -> list[Record]:
    text = _decode_utf8("json", data)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(
            Problem(
                f"JSON の構文が正しくありません ({exc.msg}) (malformed JSON)",
                line=exc.lineno,
                column=exc.colno,
            )
        )
        return []
    except RecursionError:
        raise _refused(
            "json", f"JSON の入れ子が深すぎます (nested deeper than {MAX_DEPTH})", limit=MAX_DEPTH
        ) from None
    except ValueError as exc:
        raise _refused("json", f"JSON として読めません ({exc}) (unreadable JSON)") from None
    if _too_deep(text):
        raise _refused("json", f"JSON の入れ子が深すぎます (nested deeper than {MAX_DEPTH})", limit=MAX_DEPTH)
    single = isinstance(document, dict)
    if not single and not isinstance(document, list):
        problems.add(
            Problem(
                "最上位はレコードのオブジェクトかその配列でなければなりません "
                "(the top level must be a record object or an array of them)",
                line=1,
            )
        )
        return []
    entries: list[Any] = [document] if single else document
    all_items: dict[str, DataItem] = {item.id: item for item in kind.items}
    repeated = _repeated_keys(text, entries)
    if repeated:
        # An object that repeats a key is ambiguous (parsers disagree on which value wins): name the
        # repeats and stop, before spending time on values that may not be the ones the sender meant.
        positions = _Positions.scan(text, set(), min(repeated, MAX_ERRORS))
        for path, offset in positions.duplicates:
            line, column = positions.at(offset)
            record = 1 if single else int(path[0]) + 1 if isinstance(path[0], int) and path[0] >= 0 else None
            key = str(path[-1])
            message = "項目が重複しています (duplicate key)"
            item = all_items.get(key)
            found = Problem(message, line=line, column=column, record=record, field=key)
            problems.add(found if item is None else replace(found, name=item.name))
        problems.stopped = True
        return []
    pending = _json_problems(spec, kind, entries, single)
    if pending:
        located = _Positions.scan(text, {path for path, _ in pending}, 0)
        for path, found in pending:
            where = located.where(path)
            problems.add(replace(found, line=where[0], column=where[1]))
        problems.stopped = len(pending) >= MAX_ERRORS
        return []
    return [dict(entry) for entry in entries]


def _json_problems(
    spec: Spec, kind: InformationKind, entries: list[Any], single: bool
) -> list[tuple[JsonPath, Problem]]:
    """The problems of the records (up to MAX_ERRORS), each with the JSON path that locates it."""
    schema = build_json_schema(spec, kind)
    properties: dict[str, Any] = schema["properties"]
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    all_items: dict[str, DataItem] = {item.id: item for item in kind.items}
    pending: list[tuple[JsonPath, Problem]] = []
    for index, entry in enumerate(entries):
        if len(pending) >= MAX_ERRORS:
            break  # enough to act on: looking further would only cost time
        at: JsonPath = () if single else (index,)
        number = index + 1
        if not isinstance(entry, dict):
            message = "レコードはオブジェクトでなければなりません (a record must be an object)"
            pending.append((at, Problem(message, record=number)))
            continue
        reported: set[str] = set()
        known = {key: value for key, value in entry.items() if key in properties}
        for error in validator.iter_errors(known):
            if error.validator in ("required", "additionalProperties") or not error.absolute_path:
                continue
            key = str(error.absolute_path[0])
            if key in properties and key not in reported:
                reported.add(key)
                found = Problem.of(
                    explain_value(spec, all_items[key], entry[key]), all_items[key], record=number
                )
                pending.append(((*at, key), found))
        for item_id in schema.get("required", ()):
            if item_id not in entry:
                pending.append((at, Problem.of(_MISSING, all_items[item_id], record=number)))
        for key in entry:
            if len(pending) >= MAX_ERRORS:
                break
            if key not in properties:
                pending.append(((*at, key), _unknown(all_items.get(key), key, record=number)))
    return pending


def _unknown(item: DataItem | None, key: str, **where: Any) -> Problem:
    if item is not None and item.local_only:
        message = "庁内限りの項目は連携できません (a local-only item must not be sent)"
        return Problem.of(message, item, **where)
    return Problem("標準仕様にない項目です (not an item of this information kind)", field=key, **where)


# XML -------------------------------------------------------------------------------------------------


def _read_xml(spec: Spec, kind: InformationKind, data: bytes, problems: _Problems) -> list[Record]:
    root = parse_xml(data)
    ns = kind_namespace(kind)
    is_list = root.tag == f"{{{ns}}}{RECORDS}"
    if not is_list and root.tag != f"{{{ns}}}{kind.id}":
        problems.add(
            Problem(
                f"ルート要素は {{{ns}}}{kind.id} か {{{ns}}}{RECORDS} でなければなりません "
                f"(root element must be {kind.id} or {RECORDS} in namespace {ns}; got {root.tag})",
                line=sourceline(root),
            )
        )
        return []
    if is_list:
        records = []
        for child in child_elements(root):
            if problems.full:
                problems.stopped = True
                return []
            if child.tag == f"{{{ns}}}{kind.id}":
                records.append(child)
            else:
                problems.add(
                    Problem(
                        f"想定外の要素 {child.tag} です ({kind.id} の要素でなければなりません) "
                        f"(unexpected element; expected {kind.id} records)",
                        line=sourceline(child),
                    )
                )
        stray = [a for a in map(str, root.attrib) if not a.startswith(f"{{{_XSI}}}")]
        texts = [root.text, *(child.tail for child in root)]
        if stray or any(t and t.strip() for t in texts):
            problems.add(
                Problem(
                    f"{RECORDS} には {kind.id} 要素のほか属性も文字も置けません "
                    f"(only {kind.id} elements may appear in {RECORDS}: no attributes or text)",
                    line=sourceline(root),
                )
            )
    else:
        records = [root]
    # Each record is validated on its own: libxml2 names an error's node by an XPath whose cost grows with
    # the node's preceding siblings, which over one large <records> list would be quadratic.
    schema = etree.XMLSchema(etree.fromstring(build_xsd(spec, kind).encode("utf-8")))
    items: dict[str, DataItem] = {item.id: item for item in carried_items(kind)}
    for number, element in enumerate(records, start=1):
        if problems.full:
            problems.stopped = True
            return []
        structural = _xml_structure(kind, ns, element, number, problems)
        if not schema.validate(element):
            _xsd_problems(spec, items, element, number, log_entries(schema.error_log), structural, problems)
    if problems.count:
        return []
    return tree_records(spec, kind, root)


def _xsd_problems(
    spec: Spec,
    items: dict[str, DataItem],
    element: etree._Element,
    number: int,
    entries: list[Any],
    structural: bool,
    problems: _Problems,
) -> None:
    """Turn the XSD errors of one record into problems; content-model errors are left out when the
    structural check already named what is wrong with the record's children."""
    reported: set[str] = set()
    before = problems.count
    for entry in entries:
        if structural and entry.type_name == "SCHEMAV_ELEMENT_CONTENT":
            continue
        target = _node(element, entry.path)
        name = local_name(target) if target is not None else ""
        if target is not None and target.getparent() is element and name in items:
            if name not in reported:
                reported.add(name)
                message = explain_value(spec, items[name], target.text or "")
                problems.add(Problem.of(message, items[name], line=entry.line, record=number))
        else:
            message = f"スキーマに適合しません (not valid against the XSD: {entry.message})"
            problems.add(Problem(message, line=entry.line, record=number))
    if problems.count == before and not structural:  # pragma: no cover - libxml2 always logs why
        problems.add(Problem("スキーマに適合しません (not valid against the XSD)", line=sourceline(element)))


def _node(record: etree._Element, path: str | None) -> etree._Element | None:
    """The node an XSD error names; ``path`` is absolute in the record validated alone (``/*/*[6]``)."""
    if not path or not path.startswith("/*"):
        return None
    found = record.xpath("." + path[2:])
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    return None


def _xml_structure(
    kind: InformationKind, ns: str, element: etree._Element, number: int, problems: _Problems
) -> bool:
    """Report unknown, local-only, repeated, misplaced and missing items of one record element."""
    order: dict[str, int] = {item.id: position for position, item in enumerate(carried_items(kind))}
    all_items: dict[str, DataItem] = {item.id: item for item in kind.items}
    present: set[str] = set()
    last = -1
    before = problems.count
    for child in child_elements(element):
        name = local_name(child)
        where = {"line": sourceline(child), "record": number}
        if etree.QName(child).namespace != ns or name not in order:
            found = _unknown(
                all_items.get(name) if etree.QName(child).namespace == ns else None, name, **where
            )
            problems.add(found)
        elif name in present:
            problems.add(Problem.of("項目が重複しています (repeated item)", all_items[name], **where))
        elif order[name] < last:
            message = (
                "項目の順序が違います。レイアウトの順に並べてください (out of order: use the layout order)"
            )
            problems.add(Problem.of(message, all_items[name], **where))
            present.add(name)
        else:
            last = order[name]
            present.add(name)
    for item in carried_items(kind):
        if item.required and item.id not in present:
            problems.add(Problem.of(_MISSING, item, line=sourceline(element), record=number))
    return problems.count > before


# CSV -------------------------------------------------------------------------------------------------


def _decode_csv(data: bytes) -> str:
    try:
        encoding = detect_encoding(data)
        return data.decode("utf-8-sig") if encoding == "utf-8" else decode_cp932(data)
    except InvalidEncoding as exc:
        offset = exc.detail.get("offset")
        raise _refused(
            "csv",
            f"文字コードが UTF-8 でも CP932 でもありません (neither UTF-8 nor CP932): {exc.message}",
            offset=offset,
            utf8_offset=exc.detail.get("utf8_offset"),
        ) from None
    except UnicodeDecodeError as exc:
        raise _refused(
            "csv",
            f"UTF-8 として読めません (byte offset {exc.start}) (not valid UTF-8 at byte offset {exc.start})",
            offset=exc.start,
        ) from None


def _rows(reader: Iterator[list[str]], problems: _Problems, line_of: Any) -> Iterator[tuple[int, list[str]]]:
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(Problem(f"CSV の構文が正しくありません ({exc}) (malformed CSV)", line=line_of()))
            return
        start, last = last + 1, line_of()
        if row:
            yield start, row


def _read_csv(spec: Spec, kind: InformationKind, data: bytes, problems: _Problems) -> list[Record]:
    text = _decode_csv(data)
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=",", strict=True, lineterminator=LINE_TERMINATOR
    )
    rows = _rows(reader, problems, lambda: reader.line_num)
    columns = carried_items(kind)
    header = next(rows, None)
    if header is None:
        if not problems.count:
            problems.add(Problem("見出し行がありません (the header row is missing)", line=1))
        return []
    if not _csv_header(kind, columns, header[0], header[1], problems):
        return []
    parsers = [text_parser(spec, item) for item in columns]
    records: list[Record] = []
    for line, row in rows:
        if problems.full:
            problems.stopped = True
            break
        if len(row) != len(columns):
            expected = len(columns)
            message = (
                f"列数が {len(row)} です。{expected} 列でなければなりません (expected {expected} fields)"
            )
            problems.add(Problem(message, line=line))
            continue
        record: Record = {}
        number = len(records) + 1
        for position, (item, parse, cell) in enumerate(zip(columns, parsers, row, strict=True), start=1):
            if cell == "":
                if item.required:
                    problems.add(Problem.of(_MISSING, item, line=line, column=position, record=number))
                continue
            try:
                record[item.id] = parse(cell)
            except ValueError:
                problems.add(partial(_bad_cell, spec, item, cell, line, position, number))
        records.append(record)
    return [] if problems.count else records


def _bad_cell(spec: Spec, item: DataItem, cell: str, line: int, position: int, number: int) -> Problem:
    return Problem.of(explain_value(spec, item, cell), item, line=line, column=position, record=number)


def _csv_header(
    kind: InformationKind, columns: tuple[DataItem, ...], line: int, header: list[str], problems: _Problems
) -> bool:
    before = problems.count
    all_items: dict[str, DataItem] = {**{i.name: i for i in kind.items}, **{i.id: i for i in kind.items}}
    for position, item in enumerate(columns, start=1):
        if position > len(header):
            message = "列がありません (column is missing)"
            problems.add(Problem.of(message, item, line=line, column=position))
        elif header[position - 1].strip() not in (item.name, item.id):
            got = header[position - 1]
            message = (
                f"見出しが {got!r} です。{item.name!r} でなければなりません (header must be the name or id)"
            )
            problems.add(Problem.of(message, item, line=line, column=position))
    for position, name in enumerate(header[len(columns) :], start=len(columns) + 1):
        found = _unknown(all_items.get(name.strip()), name, line=line, column=position)
        problems.add(replace(found, message=f"余分な列です: {found.message}"))
    return problems.count == before
