"""CSV file linkage (ファイル連携) of change notifications: a file-only member system's events in and out.

A file-only member system hands the hub a CSV file of change events (異動データ) of one notification topic
and receives the deltas (差分) of the topics it subscribes to as CSV files. The file is the spec's CSV layout
of the topic's information kind (``exports/csv/<kind>.layout.json``, :mod:`renkei.spec.export.csvlayout`)
with a few event columns after it:

* columns 1..N: the kind's layout, in layout order, the header naming each by its Japanese name or id;
  only the topic's items may hold a value (a cell of another item must be empty);
* then, in any order, each at most once: the **event type** (header: the event code dictionary's name,
  ``イベント種別`` or ``event_type``) — required unless an item of the kind that the topic carries holds the
  event code (``change_reason`` 異動事由 of ``resident-changes``): that item is then the event type;
  ``イベントID`` / ``event_id`` (the publisher's id, making a re-sent event idempotent); ``発生日時`` /
  ``occurred_at`` (RFC 3339 with offset); ``符号`` / ``person_fugo`` (the person as a 符号).
* one event per row; the person is named by ``atena_number`` (宛名番号) or ``person_fugo`` (符号) when the
  topic carries ``atena_number``; CRLF (LF read too); UTF-8 with or without BOM, or CP932.

Reading is all-or-nothing: :func:`read_events` returns every event or raises a typed ``exchange.file.*``
error listing up to ``max_problems`` problems, each with its line, column and item — never the value of a
personal item. Character conversion is lossless or refused naming the character: bytes that are not
CP932 / UTF-8, 外字 (private use characters) the caller's 外字 table does not map, a character CP932 cannot
carry when writing. The JIS-style characters (〜 ‖ − ¢ £ ¬ —) that CP932 writes as the bytes of ～ ∥ －
￠ ￡ ￢ ― are refused when writing CP932 unless ``fold_jis_variants`` is asked for; each fold is then
reported (:class:`Folded`).

The module is pure: bytes and spec in, events or bytes out. Publishing the events (the notification
outbox) and reading the deltas (the 差分 feed) are the caller's.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from renkei.exchange.errors import ExchangeError
from renkei.identity.scan import contains_individual_number
from renkei.japanese.charset import decode_cp932, detect_encoding, encode_cp932, find_gaiji
from renkei.japanese.errors import InvalidEncoding, UnmappableCharacter, UnmappedGaiji
from renkei.spec.export.csvlayout import DELIMITER, LINE_TERMINATOR
from renkei.spec.export.typemap import JsonValue, carried_items, expectation, format_text, text_parser
from renkei.spec.models import DataItem, InformationKind, ItemType, Service, ServiceKind, Spec

Encoding = Literal["auto", "utf-8", "cp932"]
"""How to read a file: ``auto`` is UTF-8 when the bytes are valid UTF-8 (or start with a BOM), else CP932."""
TargetEncoding = Literal["utf-8", "cp932"]

MAX_BYTES = 10 * 1024 * 1024
MAX_PROBLEMS = 100
EVENT_TYPE_HEADER = "イベント種別"
EVENT_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
"""An event id: 1-128 visible ASCII characters."""
DERIVED_PREFIX = "csv-"

EVENT_TYPE, EVENT_ID, OCCURRED_AT, PERSON_FUGO = "event_type", "event_id", "occurred_at", "person_fugo"
ENVELOPE_KEYS = frozenset({EVENT_ID, "topic", EVENT_TYPE, OCCURRED_AT, PERSON_FUGO, "data"})
"""The keys of an event mapping :func:`write_events` takes (the spec's event envelope)."""
_JIS_VARIANTS = {"\u301c": "\uff5e", "\u2016": "\u2225", "\u2212": "\uff0d", "\u00a2": "\uffe0"}
_JIS_VARIANTS |= {"\u00a3": "\uffe1", "\u00ac": "\uffe2", "\u2014": "\u2015"}
"""The JIS-style characters CP932 writes with the bytes of its own (``renkei.japanese.charset``)."""
_FOLD = str.maketrans(_JIS_VARIANTS)
_PRIVATE_USE = re.compile("[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")


# --- errors ------------------------------------------------------------------------------------------------


class FileError(ExchangeError):
    """Root of the CSV file linkage's errors: a file (or events to write) the hub refuses."""

    code = "exchange.file.error"
    http_status = 400
    xroad_code = "Client.BadRequest"


class FileInvalid(FileError):  # noqa: N818  (named like exchange/errors.py's)
    """The file breaks the topic's event layout; ``errors`` lists each problem (line, column, item)."""

    code = "exchange.file.invalid"
    http_status = 422


class FileEncoding(FileError):  # noqa: N818  (named like exchange/errors.py's)
    """A character cannot be read or written losslessly; the message names it, its line and column."""

    code = "exchange.file.encoding"
    http_status = 422


class FileTooLarge(FileError):  # noqa: N818  (named like exchange/errors.py's)
    code = "exchange.file.too_large"
    http_status = 413


class TopicUnknown(FileError):  # noqa: N818  (named like exchange/errors.py's)
    """No notification topic of the spec has this id."""

    code = "exchange.file.topic_unknown"
    http_status = 404


# --- the layout of a topic's event file --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an event file: a layout item, or an envelope field (``envelope`` true)."""

    key: str
    name: str
    item: DataItem
    envelope: bool = False
    carried: bool = True
    """Whether the topic carries the item (a layout column the topic does not carry must stay empty)."""

    def accepts(self, header: str) -> bool:
        return header in (self.name, self.key) or (self.key == EVENT_TYPE and header == EVENT_TYPE_HEADER)


@dataclass(frozen=True, slots=True)
class EventLayout:
    """The columns a topic's event file may have, and how an event is found in a row."""

    kind: InformationKind
    topic: Service
    items: tuple[Column, ...]
    """The kind's CSV layout, in order."""
    envelope: Mapping[str, Column]
    """The event columns by key (event_type, event_id, occurred_at, person_fugo)."""
    carrier: DataItem | None
    """The item that holds the event type, when the topic carries one (``change_reason``)."""

    @property
    def personal(self) -> bool:
        """Whether a row names a person (the topic carries ``atena_number``)."""
        return "atena_number" in self.topic.response

    def required(self) -> list[DataItem]:
        """The items every event must hold (the topic's required items and the carrier)."""
        wanted = [c.item for c in self.items if c.carried and c.item.required]
        if self.carrier is not None and not self.carrier.required:
            wanted.append(self.carrier)
        return wanted


def event_layout(spec: Spec, topic_service_id: str) -> EventLayout:
    """The event file layout of a notification topic; raises :class:`TopicUnknown`."""
    found = next(
        (
            (kind, service)
            for kind, service in spec.services()
            if service.id == topic_service_id and service.kind is ServiceKind.NOTIFICATION
        ),
        None,
    )
    if found is None:
        raise TopicUnknown(
            f"通知トピック {topic_service_id[:64]!r} は標準仕様にありません (no such notification topic)",
            topic=topic_service_id[:64],
        )
    kind, topic = found
    assert topic.event_code is not None  # guaranteed by the model for notifications
    carried = set(topic.response)
    columns = tuple(Column(i.id, i.name, i, carried=i.id in carried) for i in carried_items(kind))
    carrier = next((i for i in kind.items if i.code == topic.event_code and i.id in carried), None)
    dictionary = spec.dictionary(topic.event_code)
    fields = (
        DataItem(
            id=EVENT_TYPE,
            name=dictionary.name,
            name_en=dictionary.name_en,
            type=ItemType.CODE,
            code=dictionary.id,
            personal=kind.personal,  # what happened to a person (転入, 死亡 …) is personal data too
        ),
        DataItem(
            id=EVENT_ID,
            name="イベントID",
            name_en="Event id",
            type=ItemType.STRING,
            length=128,
            personal=False,
        ),
        DataItem(
            id=OCCURRED_AT, name="発生日時", name_en="Occurred at", type=ItemType.DATETIME, personal=False
        ),
        spec.parameter(PERSON_FUGO),
    )
    envelope: dict[str, Column] = {f.id: Column(f.id, f.name, f, envelope=True) for f in fields}
    return EventLayout(kind, topic, columns, envelope, carrier)


# --- events ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvEvent:
    """One event read from a file: what the notification outbox publishes."""

    line: int
    """The line its row starts on (the header is line 1)."""
    event_id: str
    """The file's イベントID, or ``csv-<digest>-<n>`` (n: the event's number in the file; digest: over the
    events' content): the same file read again — in any encoding — gives the same ids."""
    event_type: str
    data: Mapping[str, JsonValue]
    """The topic's items present in the row (the carrier item included)."""
    person_fugo: str | None = None
    occurred_at: str | None = None

    def envelope(self, topic: str) -> dict[str, Any]:
        """The event as the spec's event envelope (``event_schema``) minus what the hub adds."""
        out: dict[str, Any] = {EVENT_ID: self.event_id, "topic": topic, EVENT_TYPE: self.event_type}
        if self.occurred_at is not None:
            out[OCCURRED_AT] = self.occurred_at
        if self.person_fugo is not None:
            out[PERSON_FUGO] = self.person_fugo
        out["data"] = dict(self.data)
        return out


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem of a file (or of an event to write)."""

    message: str
    line: int | None = None
    column: int | None = None
    record: int | None = None
    """1-based number of the event (row after the header, or event given to write)."""
    field: str | None = None
    name: str | None = None

    def located(self) -> str:
        parts = [] if self.line is None else [f"line {self.line}"]
        if self.record is not None and self.line is None:
            parts.append(f"event {self.record}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.field is not None:
            parts.append(f"{self.name} ({self.field})" if self.name else self.field)
        return f"{', '.join(parts)}: {self.message}" if parts else self.message

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.located()}
        for key in ("line", "column", "record", "field", "name"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class _Problems:
    limit: int
    kept: list[Problem] = field(default_factory=list)
    count: int = 0
    stopped: bool = False
    """Checking stopped once ``limit`` problems were kept: there may be more."""

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append(problem)

    @property
    def full(self) -> bool:
        return len(self.kept) >= self.limit

    def raise_if_any(self, what: str) -> None:
        if not self.count:
            return
        raise FileInvalid(
            f"{what} に {self.count} 件の問題があります "
            f"({self.count} problem(s); first: {self.kept[0].located()})",
            errors=[p.as_dict() for p in self.kept],
            error_count=self.count,
            truncated=self.stopped or self.count > len(self.kept),
        )


def _at(column: Column, position: int | None, message: str, **where: Any) -> Problem:
    return Problem(message, column=position, field=column.key, name=column.name, **where)


def _bad_value(spec: Spec, column: Column, cell: str | None) -> str:
    """Why a cell breaks its item's type: the expectation, and the value only when it is not personal."""
    ja, en = expectation(spec, column.item)
    shown = "" if column.item.personal or cell is None else f"; 値 (got) {cell[:40]!r}"
    return f"{ja}でなければなりません (must be {en}){shown}"


# --- reading -----------------------------------------------------------------------------------------------


def _line_column(data: bytes, offset: int, encoding: str) -> tuple[int, int]:
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode(encoding, errors="replace")) + 1


def decode_file(
    raw: bytes, encoding: Encoding = "auto", *, gaiji_map: Mapping[str, str] | None = None
) -> tuple[str, TargetEncoding]:
    """The text of a file and the encoding it was read as; lossless or :class:`FileEncoding`.

    A UTF-8 BOM is dropped. 外字 (private use characters, CP932's user-defined area) are refused naming
    line, column and code point, unless ``gaiji_map`` maps them (a municipality's 外字 table).
    """
    if len(raw) > MAX_BYTES:
        raise FileTooLarge(
            f"ファイルが大きすぎます: {len(raw)} バイト (the limit is {MAX_BYTES} bytes)",
            size=len(raw),
            limit=MAX_BYTES,
        )
    chosen: TargetEncoding
    if encoding == "auto":
        try:
            chosen = detect_encoding(raw)
        except InvalidEncoding as exc:
            raise FileEncoding(
                f"文字コードが UTF-8 でも CP932 でもありません (neither UTF-8 nor CP932): {exc.message}",
                **{k: v for k, v in exc.detail.items() if k in ("line", "column", "offset", "bad_bytes")},
            ) from None
    else:
        chosen = encoding
    if chosen == "utf-8":
        body = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _line_column(body, exc.start, "utf-8")
            bad = body[exc.start : exc.end].hex(" ").upper()
            raise FileEncoding(
                f"line {line}, column {column}: UTF-8 として読めません: バイト {bad} "
                f"(not valid UTF-8 at byte offset {exc.start})",
                encoding="utf-8",
                line=line,
                column=column,
                offset=exc.start,
                bad_bytes=bad,
            ) from None
        return _map_gaiji(text, gaiji_map), chosen
    if raw.startswith(codecs.BOM_UTF8):
        raise FileEncoding(
            "UTF-8 の BOM で始まるファイルは CP932 として読めません (a UTF-8 BOM: read it as utf-8)",
            encoding="cp932",
            line=1,
            column=1,
        )
    try:
        return decode_cp932(raw, gaiji_map=gaiji_map, strict_gaiji=True), chosen
    except UnmappedGaiji as exc:
        detail = exc.detail
        raise FileEncoding(
            f"line {detail['line']}, column {detail['column']}: 外字 {detail['code_point']} "
            f"(CP932 {detail['cp932']}) は外字表にありません (a 外字 the table does not map)",
            encoding="cp932",
            **{k: detail[k] for k in ("line", "column", "offset", "code_point", "cp932")},
        ) from None
    except InvalidEncoding as exc:
        detail = exc.detail
        raise FileEncoding(
            f"line {detail['line']}, column {detail['column']}: CP932 として読めません: "
            f"バイト {detail['bad_bytes']} (not valid CP932 at byte offset {detail['offset']})",
            encoding="cp932",
            **{k: detail[k] for k in ("line", "column", "offset", "bad_bytes")},
        ) from None


def _map_gaiji(text: str, gaiji_map: Mapping[str, str] | None) -> str:
    if _PRIVATE_USE.search(text) is None:
        return text
    found = find_gaiji(text)
    mapping = gaiji_map or {}
    for offset, char in found:
        if char not in mapping:
            line = text.count("\n", 0, offset) + 1
            column = offset - (text.rfind("\n", 0, offset) + 1) + 1
            code_point = f"U+{ord(char):04X}"
            raise FileEncoding(
                f"line {line}, column {column}: 外字 {code_point} (私用領域) は外字表にありません "
                "(a private use character the 外字 table does not map)",
                encoding="utf-8",
                line=line,
                column=column,
                offset=offset,
                code_point=code_point,
            )
    return "".join(mapping.get(c, c) for c in text)


def _rows(text: str, problems: _Problems) -> Iterator[tuple[int, list[str]]]:
    """Non-empty rows with the line each starts on; a syntax error stops the reading as a problem."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True)
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(
                Problem(f"CSV の構文が正しくありません ({exc}) (malformed CSV)", line=reader.line_num)
            )
            return
        start, last = last + 1, reader.line_num
        if row and row != [""]:
            yield start, row


def _header(layout: EventLayout, header: list[str], line: int, problems: _Problems) -> list[Column]:
    columns: list[Column] = []
    for position, column in enumerate(layout.items, start=1):
        got = header[position - 1].strip() if position <= len(header) else None
        if got is None:
            problems.add(_at(column, position, "列がありません (column is missing)", line=line))
        elif not column.accepts(got):
            problems.add(
                _at(
                    column,
                    position,
                    f"見出しが {got[:40]!r} です。{column.name!r} でなければなりません "
                    "(the header must be the layout's name or id)",
                    line=line,
                )
            )
        columns.append(column)
    seen: set[str] = set()
    for position, cell in enumerate(header[len(layout.items) :], start=len(layout.items) + 1):
        name = cell.strip()
        extra = next((c for c in layout.envelope.values() if c.accepts(name)), None)
        if extra is None:
            expected = ", ".join(c.name for c in layout.envelope.values())
            problems.add(
                Problem(
                    f"余分な列です: {name[:40]!r} (unknown column; after the layout only {expected})",
                    line=line,
                    column=position,
                )
            )
        elif extra.key in seen:
            problems.add(_at(extra, position, "列が重複しています (repeated column)", line=line))
        else:
            seen.add(extra.key)
            columns.append(extra)
    if layout.carrier is None and EVENT_TYPE not in seen:
        column = layout.envelope[EVENT_TYPE]
        problems.add(
            _at(
                column,
                None,
                f"イベント種別の列がありません: 見出し {column.name!r} の列を加えてください "
                "(the event type column is missing)",
                line=line,
            )
        )
    return columns


def _with_ids(topic: str, events: Sequence[CsvEvent]) -> list[CsvEvent]:
    """The events, those without an id given ``csv-<digest>-<n>``: the digest is over what the events say
    (not the bytes), so the same events give the same ids whatever the encoding, quoting or header names."""
    canonical = [{**e.envelope(topic), EVENT_ID: e.event_id} for e in events]
    text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    return [
        e if e.event_id else replace(e, event_id=f"{DERIVED_PREFIX}{digest}-{n}")
        for n, e in enumerate(events, start=1)
    ]


def read_events(
    spec: Spec,
    topic_service_id: str,
    raw: bytes,
    encoding: Encoding = "auto",
    *,
    gaiji_map: Mapping[str, str] | None = None,
    max_problems: int = MAX_PROBLEMS,
) -> list[CsvEvent]:
    """Every event of a topic's event file, or a typed error (nothing is returned from a bad file).

    Raises :class:`TopicUnknown`, :class:`FileTooLarge`, :class:`FileEncoding` (a byte or character that
    cannot be read losslessly, named with its line and column) or :class:`FileInvalid` (``errors``: up to
    ``max_problems`` problems with line, column, item id and name; ``error_count``; ``truncated``).
    """
    layout = event_layout(spec, topic_service_id)
    text, _ = decode_file(raw, encoding, gaiji_map=gaiji_map)
    problems = _Problems(max_problems)
    rows = _rows(text, problems)
    first = next(rows, None)
    if first is None:
        if not problems.count:
            problems.add(Problem("見出し行がありません (the header row is missing)", line=1))
        problems.raise_if_any("ファイル (the file)")
        return []
    columns = _header(layout, first[1], first[0], problems)
    problems.raise_if_any("見出し行 (the header row)")
    parsers = [text_parser(spec, c.item) for c in columns]
    # Any cell holding a 個人番号 is refused, whatever its item (as the hub refuses any body holding one);
    # the whole text is searched first, so that only a suspicious file costs a search per cell.
    suspicious = contains_individual_number(text)
    events: list[CsvEvent] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        if problems.full:
            problems.stopped = True
            break
        if len(row) != len(columns):
            problems.add(
                Problem(
                    f"列数が {len(row)} です。{len(columns)} 列でなければなりません "
                    f"(expected {len(columns)} fields)",
                    line=line,
                )
            )
            continue
        event = _event(spec, layout, columns, parsers, row, line, problems, suspicious)
        if event is None:
            continue
        earlier = first_line.setdefault(event.event_id, line) if event.event_id else line
        if earlier != line:
            column = layout.envelope[EVENT_ID]
            problems.add(
                _at(column, None, f"イベントID が line {earlier} と重複しています (repeated)", line=line)
            )
            continue
        events.append(event)
    problems.raise_if_any(f"{layout.topic.name} ({layout.topic.id}) のファイル")
    return _with_ids(layout.topic.id, events)


def _event(
    spec: Spec,
    layout: EventLayout,
    columns: Sequence[Column],
    parsers: Sequence[Callable[[str], JsonValue]],
    row: Sequence[str],
    line: int,
    problems: _Problems,
    suspicious: bool,
) -> CsvEvent | None:
    """The event of one row (``event_id`` empty when the file gives none), or None after problems."""
    before = problems.count
    data: dict[str, JsonValue] = {}
    envelope: dict[str, JsonValue] = {}
    bad: set[str] = set()  # cells already reported: not reported again as missing
    for position, (column, parse, cell) in enumerate(zip(columns, parsers, row, strict=True), start=1):
        if cell == "":
            continue
        bad.add(column.key)
        if suspicious and contains_individual_number(cell):
            problems.add(_at(column, position, "個人番号は送れません (an individual number)", line=line))
            continue
        if not column.carried:
            problems.add(
                _at(
                    column,
                    position,
                    f"この項目は {layout.topic.id} では送れません: 空にしてください "
                    "(the topic does not carry this item; leave it empty)",
                    line=line,
                )
            )
            continue
        try:
            value = parse(cell)
        except ValueError:
            problems.add(_at(column, position, _bad_value(spec, column, cell), line=line))
            continue
        if column.key == EVENT_ID and not EVENT_ID_PATTERN.fullmatch(cell):
            problems.add(_at(column, position, "1〜128 文字の英数字・記号 (visible ASCII)", line=line))
            continue
        (envelope if column.envelope else data)[column.key] = value
        bad.discard(column.key)
    for item in layout.required():
        if item.id in data or item.id in bad or (item.id == "atena_number" and PERSON_FUGO in envelope):
            continue
        column = next(c for c in columns if c.key == item.id)
        problems.add(_at(column, columns.index(column) + 1, "必須項目がありません (required)", line=line))
    event_type = _event_type(layout, columns, data, envelope, line, problems, bad)
    if layout.personal and not ({"atena_number", PERSON_FUGO} & (set(data) | set(envelope) | bad)):
        problems.add(
            Problem(
                "人が特定されていません: 宛名番号か符号が必要です (atena_number or person_fugo is required)",
                line=line,
            )
        )
    if problems.count > before or event_type is None:
        return None
    fugo, occurred, given = envelope.get(PERSON_FUGO), envelope.get(OCCURRED_AT), envelope.get(EVENT_ID)
    return CsvEvent(
        line,
        str(given or ""),
        event_type,
        data,
        None if fugo is None else str(fugo),
        None if occurred is None else str(occurred),
    )


def _event_type(
    layout: EventLayout,
    columns: Sequence[Column],
    data: Mapping[str, JsonValue],
    envelope: Mapping[str, JsonValue],
    line: int,
    problems: _Problems,
    bad: set[str],
) -> str | None:
    if EVENT_TYPE in bad or (layout.carrier is not None and layout.carrier.id in bad):
        return None  # its cell was reported already
    carried = None if layout.carrier is None else data.get(layout.carrier.id)
    given = envelope.get(EVENT_TYPE)
    key = EVENT_TYPE if layout.carrier is None else layout.carrier.id
    column = next((c for c in columns if c.key == key), layout.envelope[EVENT_TYPE])
    position = columns.index(column) + 1 if column in columns else None
    if carried is not None and given is not None and carried != given:
        problems.add(
            _at(
                column,
                position,
                "イベント種別の列と一致しません (differs from the event type column)",
                line=line,
            )
        )
        return None
    chosen = carried if carried is not None else given
    if chosen is None:
        if layout.carrier is None:  # the carrier's absence is reported as a missing required item
            problems.add(
                _at(column, position, "イベント種別がありません (the event type is missing)", line=line)
            )
        return None
    if chosen not in layout.topic.events:
        events = ", ".join(layout.topic.events[:12]) + (" …" if len(layout.topic.events) > 12 else "")
        shown = "" if column.item.personal else f" {str(chosen)[:16]!r}"
        problems.add(
            _at(
                column,
                position,
                f"イベント種別{shown}は {layout.topic.id} のイベントではありません "
                f"(an event type of the topic: {events})",
                line=line,
            )
        )
        return None
    return str(chosen)


# --- writing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Folded:
    """A JIS-style character written as CP932's (``fold_jis_variants``): where, and from what to what."""

    record: int
    column: int
    field: str
    character: str
    written: str

    def describe(self) -> str:
        return (
            f"event {self.record}, column {self.column} ({self.field}): U+{ord(self.character):04X} "
            f"{self.character} → U+{ord(self.written):04X} {self.written}"
        )


@dataclass(frozen=True, slots=True)
class CsvExport:
    """A written event file, with the folds applied (empty unless ``fold_jis_variants``)."""

    data: bytes
    count: int
    encoding: TargetEncoding
    folded: tuple[Folded, ...] = ()


def _cells(
    spec: Spec, layout: EventLayout, event: Mapping[str, Any], number: int, problems: _Problems
) -> dict[str, str] | None:
    """The non-empty cells of one event by column key, validated as :func:`read_events` would read them."""
    before = problems.count

    def fail(message: str, column: Column | None = None) -> None:
        if column is None:
            problems.add(Problem(message, record=number))
        else:
            problems.add(Problem(message, record=number, field=column.key, name=column.name))

    unknown = sorted(str(k) for k in event if k not in ENVELOPE_KEYS)
    if unknown:
        fail(f"イベントの項目 {unknown[:5]} はありません (unknown keys; use {sorted(ENVELOPE_KEYS)})")
    topic = event.get("topic")
    if topic is not None and topic != layout.topic.id:
        fail(f"トピックが違います: {str(topic)[:64]!r} (the events must be of {layout.topic.id})")
    data = event.get("data")
    if not isinstance(data, Mapping):
        fail("data (the topic's items) must be a mapping")
        return None
    by_key = {c.key: c for c in layout.items}
    cells: dict[str, str] = {}
    values: dict[str, Any] = {}
    bad: set[str] = set()  # values already reported: not reported again as missing
    for key, value in data.items():
        column = by_key.get(str(key))
        if column is None or not column.carried:
            fail(f"項目 {str(key)[:64]!r} は {layout.topic.id} にありません (not an item of the topic)")
        elif value is not None:
            values[column.key] = value
            if not _cell(spec, column, value, cells, fail):
                bad.add(column.key)
    for key in (EVENT_TYPE, EVENT_ID, OCCURRED_AT, PERSON_FUGO):
        if event.get(key) is not None and not _cell(spec, layout.envelope[key], event[key], cells, fail):
            bad.add(key)
    event_type = event.get(EVENT_TYPE)
    if layout.carrier is not None:
        held = values.get(layout.carrier.id)
        if held is None and event_type is not None:
            cells[layout.carrier.id] = cells.pop(EVENT_TYPE, "")  # the carrier item is the event type
        elif held is not None and event_type is not None and held != event_type:
            fail("event_type と異なります (differs from event_type)", by_key[layout.carrier.id])
        cells.pop(EVENT_TYPE, None)
    chosen = cells.get(layout.carrier.id if layout.carrier is not None else EVENT_TYPE)
    if bad & {EVENT_TYPE, layout.carrier.id if layout.carrier is not None else EVENT_TYPE}:
        pass  # reported already
    elif chosen is None:
        fail("イベント種別がありません (event_type is missing)", layout.envelope[EVENT_TYPE])
    elif chosen not in layout.topic.events:
        fail(
            f"{layout.topic.id} のイベントではありません (not an event type of the topic)",
            layout.envelope[EVENT_TYPE],
        )
    for item in layout.required():
        if (
            item.id not in cells
            and item.id not in bad
            and not (item.id == "atena_number" and PERSON_FUGO in cells)
        ):
            fail("必須項目がありません (required)", by_key[item.id])
    if layout.personal and not ({"atena_number", PERSON_FUGO} & (set(cells) | bad)):
        fail("人が特定されていません: 宛名番号か符号が必要です (atena_number or person_fugo is required)")
    if EVENT_ID in cells and not EVENT_ID_PATTERN.fullmatch(cells[EVENT_ID]):
        fail("1〜128 文字の英数字・記号 (visible ASCII)", layout.envelope[EVENT_ID])
    return cells if problems.count == before else None


def _cell(
    spec: Spec,
    column: Column,
    value: Any,
    cells: dict[str, str],
    fail: Callable[[str, Column | None], None],
) -> bool:
    """Put the value's text in ``cells``; tell whether it could be (else ``fail`` was called, never with
    the value: these are the hub's records)."""
    try:
        text = format_text(column.item, value)
        # Lossless: the text must read back as the very same value (a string "12" is not the integer 12).
        parsed = text_parser(spec, column.item)(text)
        if parsed != value or type(parsed) is not type(value):  # True == 1, but not in a file
            raise ValueError(text)
    except (TypeError, ValueError):
        fail(_bad_value(spec, column, None), column)
        return False
    if contains_individual_number(text):
        fail("個人番号は送れません (an individual number)", column)
        return False
    cells[column.key] = text
    return True


def export_events(
    spec: Spec,
    topic_service_id: str,
    events: Iterable[Mapping[str, Any]],
    encoding: TargetEncoding = "utf-8",
    *,
    fold_jis_variants: bool = False,
    bom: bool = False,
    max_problems: int = MAX_PROBLEMS,
) -> CsvExport:
    """Events (the spec's event envelope: ``event_type``, ``data`` and optionally ``event_id``,
    ``occurred_at``, ``person_fugo``, ``topic``) as the topic's event file, CRLF, in ``encoding``.

    Lossless or refused: an event the file cannot carry exactly raises :class:`FileInvalid` (each problem
    with the event's number and item), a character the encoding cannot carry :class:`FileEncoding`
    naming it. ``fold_jis_variants`` writes 〜 ‖ − ¢ £ ¬ — as CP932's ～ ∥ － ￠ ￡ ￢ ― and reports each.
    """
    layout = event_layout(spec, topic_service_id)
    problems = _Problems(max_problems)
    rows: list[dict[str, str]] = []
    for number, event in enumerate(events, start=1):
        if problems.full:
            problems.stopped = True
            break
        cells = _cells(spec, layout, event, number, problems)
        if cells is not None:
            rows.append(cells)
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows, start=1):
        if EVENT_ID in cells and seen.setdefault(cells[EVENT_ID], number) != number:
            problems.add(
                Problem("イベントID が重複しています (repeated event id)", record=number, field=EVENT_ID)
            )
    problems.raise_if_any(f"{layout.topic.name} ({layout.topic.id}) のイベント")
    columns = list(layout.items)
    if layout.carrier is None:
        columns.append(layout.envelope[EVENT_TYPE])
    columns += [layout.envelope[k] for k in (EVENT_ID, OCCURRED_AT, PERSON_FUGO) if any(k in r for r in rows)]
    table = [[c.name for c in columns], *([r.get(c.key, "") for c in columns] for r in rows)]
    folded: list[Folded] = []
    if encoding == "cp932":
        table = _fit_cp932(table, columns, fold_jis_variants, folded)
    out = io.StringIO()
    csv.writer(out, delimiter=DELIMITER, lineterminator=LINE_TERMINATOR).writerows(table)
    text = out.getvalue()
    if encoding == "cp932":
        data = encode_cp932(text, fold_jis_variants=False)  # every cell was checked by _fit_cp932
    else:
        data = _encode_utf8(table, columns, text, bom)
    return CsvExport(data, len(rows), encoding, tuple(folded))


def write_events(
    spec: Spec,
    topic_service_id: str,
    events: Iterable[Mapping[str, Any]],
    encoding: TargetEncoding = "utf-8",
) -> bytes:
    """The events as the topic's event file (see :func:`export_events`), lossless or refused."""
    return export_events(spec, topic_service_id, events, encoding).data


def _unwritable(record: int, column: Column, char: str, encoding: str, why: str) -> FileEncoding:
    code_point = f"U+{ord(char):04X}"
    return FileEncoding(
        f"event {record}, {column.name} ({column.key}): 文字 {char!r} ({code_point}) は {encoding} で"
        f"表せません ({why})",
        encoding=encoding.lower(),
        record=record,
        field=column.key,
        name=column.name,
        character=char,
        code_point=code_point,
    )


def _fit_cp932(
    table: list[list[str]], columns: Sequence[Column], fold: bool, folded: list[Folded]
) -> list[list[str]]:
    fitted: list[list[str]] = [table[0]]
    for number, row in enumerate(table[1:], start=1):
        cells: list[str] = []
        for position, (column, cell) in enumerate(zip(columns, row, strict=True), start=1):
            if fold:
                for char in cell:
                    if char in _JIS_VARIANTS:
                        folded.append(Folded(number, position, column.key, char, _JIS_VARIANTS[char]))
                cell = cell.translate(_FOLD)
            if (gaiji := _PRIVATE_USE.search(cell)) is not None:
                raise _unwritable(number, column, gaiji.group(), "CP932", "外字 (private use) is refused")
            try:
                encode_cp932(cell, fold_jis_variants=False)
            except UnmappableCharacter as exc:
                char = str(exc.detail["character"])
                why = (
                    "a JIS-style character CP932 reads back differently; use fold_jis_variants"
                    if char in _JIS_VARIANTS
                    else "no CP932 code"
                )
                raise _unwritable(number, column, char, "CP932", why) from None
            cells.append(cell)
        fitted.append(cells)
    return fitted


def _encode_utf8(table: list[list[str]], columns: Sequence[Column], text: str, bom: bool) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        for number, row in enumerate(table[1:], start=1):
            for column, cell in zip(columns, row, strict=True):
                for char in cell:
                    if 0xD800 <= ord(char) <= 0xDFFF:
                        raise _unwritable(number, column, char, "UTF-8", "a lone surrogate") from None
        raise
    if _PRIVATE_USE.search(text):
        for number, row in enumerate(table[1:], start=1):
            for column, cell in zip(columns, row, strict=True):
                if (gaiji := _PRIVATE_USE.search(cell)) is not None:
                    raise _unwritable(number, column, gaiji.group(), "UTF-8", "外字 (private use) is refused")
    return (codecs.BOM_UTF8 if bom else b"") + data


# --- re-encoding a file ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Converted:
    """A file re-encoded: its bytes, what it was read as, and the folds applied."""

    data: bytes
    source: TargetEncoding
    target: TargetEncoding
    folded: tuple[tuple[int, int, str, str], ...] = ()
    """(line, column, character, written) of each JIS-style character folded."""


def convert_file(
    raw: bytes,
    to: TargetEncoding,
    *,
    source: Encoding = "auto",
    fold_jis_variants: bool = False,
    bom: bool = False,
    gaiji_map: Mapping[str, str] | None = None,
) -> Converted:
    """Re-encode a layout file's bytes (line endings and content unchanged), losslessly or refused with
    :class:`FileEncoding` naming the character, its line and column."""
    text, read_as = decode_file(raw, source, gaiji_map=gaiji_map)
    if to == "utf-8":
        return Converted((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"), read_as, to)
    folds: list[tuple[int, int, str, str]] = []
    if fold_jis_variants:
        for offset, char in enumerate(text):
            if char in _JIS_VARIANTS:
                line = text.count("\n", 0, offset) + 1
                folds.append(
                    (line, offset - (text.rfind("\n", 0, offset) + 1) + 1, char, _JIS_VARIANTS[char])
                )
    try:
        data = encode_cp932(text, fold_jis_variants=fold_jis_variants)
    except UnmappableCharacter as exc:
        detail = exc.detail
        raise FileEncoding(
            f"line {detail['line']}, column {detail['column']}: 文字 {detail['character']!r} "
            f"({detail['code_point']}) は CP932 で表せません ({exc.message})",
            encoding="cp932",
            **{k: detail[k] for k in ("line", "column", "offset", "character", "code_point")},
        ) from None
    return Converted(data, read_as, to, tuple(folds))
