"""Instance documents (JSON, XML, CSV): every problem located and named, hostile input refused in bounded
time, and property tests over every item type: random valid records pass in all three formats, and one
field broken to a wrong value is reported naming that field."""

from __future__ import annotations

import codecs
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renkei.spec.errors import InstanceInvalid, InstanceRefused
from renkei.spec.export.csvlayout import csv_header, records_to_csv
from renkei.spec.export.typemap import YEAR_MAX, YEAR_MIN, JsonValue, carried_items, sample_record
from renkei.spec.instance import MAX_ERRORS, Format, check_instance, read_instance
from renkei.spec.loader import load_spec
from renkei.spec.models import (
    Code,
    CodeDictionary,
    DataItem,
    InformationKind,
    ItemType,
    Service,
    ServiceKind,
    Spec,
)
from renkei.spec.xmlcodec import record_to_xml, records_to_xml, xml_to_records
from renkei.types import CodeDictionaryId, InformationId, ItemId, ServiceId

KIND = "all-types"
NS = f"urn:renkei:spec:{KIND}"

Record = dict[str, JsonValue]


def _item(id_: str, type_: ItemType, **more: Any) -> DataItem:
    return DataItem.model_validate(
        {"id": id_, "name": f"項目{id_}", "name_en": id_, "type": type_, "personal": True, **more}
    )


def _dictionary(id_: str, codes: list[str], *, open_: bool = False) -> CodeDictionary:
    return CodeDictionary(
        id=CodeDictionaryId(id_),
        name=f"辞書{id_}",
        name_en=id_,
        open=open_,
        codes=tuple(Code(code=c, name=f"コード{c}") for c in codes),
    )


ITEMS = (
    _item("rec_id", ItemType.DIGITS, length=10, required=True),
    _item("full_name", ItemType.STRING, length=20, required=True),
    _item("note", ItemType.STRING),
    _item("kana", ItemType.KANA, length=30),
    _item("count", ItemType.INTEGER),
    _item("small", ItemType.INTEGER, length=3),
    _item("amount", ItemType.AMOUNT, length=12),
    _item("ratio", ItemType.DECIMAL, length=8),
    _item("born", ItemType.DATE),
    _item("updated", ItemType.DATETIME),
    _item("year", ItemType.YEAR),
    _item("flag", ItemType.BOOLEAN),
    _item("closed_code", ItemType.CODE, code="t-closed", required=True),
    _item("open_digits", ItemType.CODE, code="t-open-digits"),
    _item("open_free", ItemType.CODE, code="t-open-free"),
    _item("secret", ItemType.DIGITS, length=12, local_only=True, specific_personal=True),
)


def _synthetic(real: Spec) -> Spec:
    """The real spec plus a kind that has one item of every type (and an open dictionary of each shape)."""
    kind = InformationKind(
        id=InformationId(KIND),
        name="全型テスト情報",
        name_en="Every item type",
        key=(ItemId("rec_id"),),
        items=ITEMS,
        services=(
            Service(
                id=ServiceId("all-types-inquiry"),
                kind=ServiceKind.QUERY,
                name="全型照会",
                name_en="Every type inquiry",
                request=(ItemId("rec_id"), ItemId("born")),
                response=tuple(ItemId(i.id) for i in ITEMS if not i.local_only),
            ),
        ),
    )
    codes = (
        _dictionary("t-closed", ["1", "2", "9"]),
        _dictionary("t-open-digits", ["156", "410"], open_=True),
        _dictionary("t-open-free", ["A", "BB1"], open_=True),
    )
    return Spec(
        header=real.header,
        units=real.units,
        codes=real.codes + codes,
        parameters=real.parameters,
        information=(*real.information, kind),
        flows=real.flows,
        labels=real.labels,
    )


SPEC = _synthetic(load_spec())
ALL_TYPES = SPEC.kind(KIND)
CARRIED = carried_items(ALL_TYPES)


# Strategies ------------------------------------------------------------------------------------------

_XML_SAFE = st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co"))
_KANA = "".join(map(chr, range(0x30A1, 0x30FD))) + "　 "
_ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=9))])


def _decimal(length: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda whole, frac, sign: f"{sign}{whole}" + (f".{frac}" if frac else ""),
        st.integers(0, 999),
        st.sampled_from(["", "5", "25"]),
        st.sampled_from(["", "-"]),
    ).filter(lambda text: len(text) <= length)


def value_strategy(spec: Spec, item: DataItem) -> st.SearchStrategy[JsonValue]:
    """Valid JSON values of an item, one strategy per ItemType."""
    n = item.length
    match item.type:
        case ItemType.STRING:
            return st.text(_XML_SAFE, min_size=1, max_size=n or 30)
        case ItemType.KANA:
            return st.text(st.sampled_from(_KANA), min_size=1, max_size=n or 30)
        case ItemType.DIGITS:
            assert n is not None
            return st.text(st.sampled_from("0123456789"), min_size=n, max_size=n)
        case ItemType.INTEGER | ItemType.AMOUNT:
            bound = 10**n - 1 if n else 10**15
            return st.integers(-bound, bound)
        case ItemType.DECIMAL:
            return _decimal(n or 20)
        case ItemType.DATE:
            return st.dates(dt.date(1000, 1, 1)).map(dt.date.isoformat)
        case ItemType.DATETIME:
            moments = st.datetimes(dt.datetime(1000, 1, 1), timezones=_ZONES)
            return moments.map(lambda m: m.isoformat())
        case ItemType.YEAR:
            return st.integers(YEAR_MIN, YEAR_MAX)
        case ItemType.BOOLEAN:
            return st.booleans()
        case ItemType.CODE:
            assert item.code is not None
            return st.sampled_from([c.code for c in spec.dictionary(item.code).codes])
    raise AssertionError(item.type)


def records(spec: Spec, kind: InformationKind) -> st.SearchStrategy[Record]:
    carried = carried_items(kind)
    return st.fixed_dictionaries(
        {i.id: value_strategy(spec, i) for i in carried if i.required},
        optional={i.id: value_strategy(spec, i) for i in carried if not i.required},
    )


def bad_text(spec: Spec, item: DataItem) -> str | None:
    """A text that breaks the item's type in every format, or None when text cannot break it."""
    match item.type:
        case ItemType.STRING:
            return "あ" * (item.length + 1) if item.length else None
        case ItemType.KANA:
            return "abc"
        case ItemType.DIGITS:
            return "1" * ((item.length or 1) + 1)
        case ItemType.INTEGER | ItemType.AMOUNT:
            return "12a"
        case ItemType.DECIMAL:
            return "1.2.3"
        case ItemType.DATE:
            return "2024-02-30"
        case ItemType.DATETIME:
            return "2024-01-01T25:00:00Z"
        case ItemType.YEAR:
            return "1700"
        case ItemType.BOOLEAN:
            return "maybe"
        case ItemType.CODE:
            assert item.code is not None
            dictionary = spec.dictionary(item.code)
            return "ZZZ" if not dictionary.open else "x" * 11
    raise AssertionError(item.type)


def serialise(kind: InformationKind, fmt: Format, rows: list[dict[str, Any]]) -> bytes:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8")
    if fmt == "xml":
        return records_to_xml(SPEC, kind, rows)
    return records_to_csv(kind, rows).encode("utf-8")


def invalid(fmt: Format, data: bytes, kind: str = KIND, spec: Spec = SPEC) -> list[dict[str, Any]]:
    with pytest.raises(InstanceInvalid) as caught:
        check_instance(spec, kind, data, fmt=fmt)
    errors: list[dict[str, Any]] = list(caught.value.detail["errors"])
    assert errors
    assert caught.value.detail["error_count"] >= len(errors)
    return errors


FORMATS: list[Format] = ["json", "xml", "csv"]


# Properties ------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(records(SPEC, ALL_TYPES), min_size=1, max_size=4))
def test_random_valid_records_pass_in_every_format(rows: list[Record]) -> None:
    for fmt in FORMATS:
        check_instance(SPEC, KIND, serialise(ALL_TYPES, fmt, list(rows)), fmt=fmt)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(records(SPEC, ALL_TYPES), min_size=1, max_size=3))
def test_records_round_trip_through_xml_and_csv(rows: list[Record]) -> None:
    assert xml_to_records(SPEC, ALL_TYPES, records_to_xml(SPEC, ALL_TYPES, rows)) == rows
    csv_rows = read_instance(SPEC, KIND, serialise(ALL_TYPES, "csv", list(rows)), fmt="csv")
    assert csv_rows == rows
    assert read_instance(SPEC, KIND, serialise(ALL_TYPES, "json", list(rows)), fmt="json") == rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_broken_field_is_reported_by_name(data: st.DataObject) -> None:
    row = dict(data.draw(records(SPEC, ALL_TYPES)))
    fmt = data.draw(st.sampled_from(FORMATS))
    candidates = [i for i in CARRIED if bad_text(SPEC, i) is not None or fmt == "json"]
    item = data.draw(st.sampled_from(candidates))
    text = bad_text(SPEC, item)
    row[item.id] = text if text is not None else 123
    errors = invalid(fmt, serialise(ALL_TYPES, fmt, [row]))
    assert [e["field"] for e in errors] == [item.id]
    assert item.name in errors[0]["message"]
    assert errors[0]["line"] >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_records_of_real_kinds_pass_in_every_format(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(SPEC.information))
    rows = data.draw(st.lists(records(SPEC, kind), min_size=1, max_size=3))
    for fmt in FORMATS:
        check_instance(SPEC, kind.id, serialise(kind, fmt, list(rows)), fmt=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sample_record_of_every_real_kind_passes(fmt: Format) -> None:
    for kind in SPEC.information:
        check_instance(SPEC, kind.id, serialise(kind, fmt, [sample_record(SPEC, kind)] * 2), fmt=fmt)


# JSON ------------------------------------------------------------------------------------------------


def _row(**changes: JsonValue) -> Record:
    row = sample_record(SPEC, ALL_TYPES)
    row.update(changes)
    return row


def test_json_errors_name_line_column_record_and_field() -> None:
    good, bad = _row(), _row(small=1234, rec_id="12")
    del bad["closed_code"]
    text = json.dumps([good, bad], ensure_ascii=False, indent=2)
    errors = invalid("json", text.encode())
    lines = text.splitlines()
    by_field = {e["field"]: e for e in errors}
    assert set(by_field) == {"small", "rec_id", "closed_code"}
    for field in ("small", "rec_id"):
        error = by_field[field]
        assert error["record"] == 2
        assert f'"{field}"' in lines[error["line"] - 1]
        assert lines[error["line"] - 1].index(f'"{field}"') + 1 == error["column"]
        assert error["message"].startswith(f"line {error['line']}, column {error['column']}, record 2, ")
    missing = by_field["closed_code"]
    assert "必須" in missing["message"]
    assert "required" in missing["message"]
    assert lines[missing["line"] - 1].strip() == "{"


def test_json_single_object_unknown_and_local_only_keys() -> None:
    text = '{\n  "rec_id": "0123456789",\n  "full_name": "x",\n  "closed_code": "1",\n'
    text += '  "secret": "123456789012",\n  "bogus": 1\n}'
    errors = invalid("json", text.encode())
    messages = {e["field"]: e for e in errors}
    assert "local-only" in messages["secret"]["message"]
    assert messages["secret"]["line"] == 5
    assert "not an item" in messages["bogus"]["message"]
    assert messages["bogus"]["line"] == 6


def test_json_repeated_keys_are_named_before_anything_else() -> None:
    rows = [_row(), _row()]
    text = json.dumps(rows, indent=2).replace('"note": ', '"note": "x",\n    "note": ', 1)
    text = text.replace('"small": 1', '"small": 5000')
    errors = invalid("json", text.encode())
    assert [(e["field"], e["record"]) for e in errors] == [("note", 1)]
    assert "duplicate" in errors[0]["message"]
    assert text.splitlines()[errors[0]["line"] - 1].strip().startswith('"note"')


def test_malformed_json_names_line_and_column() -> None:
    errors = invalid("json", b'[\n  {"rec_id": "0123456789",,}\n]')
    assert errors[0]["line"] == 2
    assert errors[0]["column"] == 27
    assert "malformed JSON" in errors[0]["message"]


@pytest.mark.parametrize("document", [b"42", b'"x"', b"[1, {}]"])
def test_json_must_hold_record_objects(document: bytes) -> None:
    errors = invalid("json", document)
    assert any("object" in e["message"] for e in errors)


def test_json_stops_looking_after_the_cap() -> None:
    rows = [_row(small=5000) for _ in range(MAX_ERRORS + 10)]
    with pytest.raises(InstanceInvalid) as caught:
        check_instance(SPEC, KIND, json.dumps(rows).encode(), fmt="json")
    assert len(caught.value.detail["errors"]) == MAX_ERRORS
    assert caught.value.detail["error_count"] == MAX_ERRORS
    assert caught.value.detail["truncated"] is True


def test_csv_stops_looking_after_the_cap() -> None:
    text = records_to_csv(ALL_TYPES, [_row(small=5000) for _ in range(MAX_ERRORS + 10)])
    with pytest.raises(InstanceInvalid) as caught:
        check_instance(SPEC, KIND, text.encode(), fmt="csv")
    assert len(caught.value.detail["errors"]) == MAX_ERRORS
    assert caught.value.detail["truncated"] is True


def test_json_must_be_utf8() -> None:
    with pytest.raises(InstanceRefused) as caught:
        check_instance(SPEC, KIND, json.dumps(_row(), ensure_ascii=False).encode("cp932"), fmt="json")
    assert "offset" in caught.value.detail


def test_json_bom_is_accepted() -> None:
    check_instance(SPEC, KIND, codecs.BOM_UTF8 + json.dumps(_row()).encode(), fmt="json")


# XML -------------------------------------------------------------------------------------------------


def test_xml_single_record_and_records_list_are_accepted() -> None:
    check_instance(SPEC, KIND, record_to_xml(SPEC, ALL_TYPES, _row()), fmt="xml")
    check_instance(SPEC, KIND, records_to_xml(SPEC, ALL_TYPES, [_row(), _row()]), fmt="xml")
    check_instance(SPEC, KIND, records_to_xml(SPEC, ALL_TYPES, []), fmt="xml")


def test_xml_errors_carry_source_lines_and_fields() -> None:
    text = records_to_xml(SPEC, ALL_TYPES, [_row(), _row(small=1234)]).decode()
    text = text.replace("<rec_id>", "<bogus>x</bogus><rec_id>", 1)
    text = text.replace("<closed_code>1</closed_code>", "", 1)
    lines = text.splitlines()
    errors = invalid("xml", text.encode())
    by_field = {e["field"]: e for e in errors}
    assert set(by_field) == {"bogus", "closed_code", "small"}
    assert "<bogus>" in lines[by_field["bogus"]["line"] - 1]
    assert by_field["bogus"]["record"] == 1
    assert by_field["closed_code"]["record"] == 1
    assert "<small>1234</small>" in lines[by_field["small"]["line"] - 1]
    assert by_field["small"]["record"] == 2


def test_xml_order_duplicates_and_local_only_items_are_named() -> None:
    ns = f' xmlns="{NS}"'
    doc = (
        f"<{KIND}{ns}>\n<full_name>x</full_name>\n<rec_id>0123456789</rec_id>\n"
        "<rec_id>0123456789</rec_id>\n<closed_code>1</closed_code>\n<secret>123456789012</secret>\n"
        f"</{KIND}>"
    )
    errors = invalid("xml", doc.encode())
    found = {(e["field"], e["line"]) for e in errors}
    assert ("rec_id", 3) in found  # out of order
    assert ("rec_id", 4) in found  # repeated
    assert ("secret", 6) in found  # local-only
    assert any("local-only" in e["message"] for e in errors)


@pytest.mark.parametrize(
    "root",
    [f"<{KIND}><rec_id>0123456789</rec_id></{KIND}>", f'<other xmlns="{NS}"/>', '<records xmlns="urn:x"/>'],
)
def test_xml_root_must_be_the_kind_or_records_in_its_namespace(root: str) -> None:
    errors = invalid("xml", root.encode())
    assert "root element" in errors[0]["message"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("<records ", '<records id="1" '),
        (f"</{KIND}>\n", f"</{KIND}>junk\n"),
        (f"<{KIND}>", f"<other/><{KIND}>"),
    ],
)
def test_xml_records_holds_only_records(before: str, after: str) -> None:
    text = records_to_xml(SPEC, ALL_TYPES, [_row()]).decode().replace(before, after, 1)
    errors = invalid("xml", text.encode())
    assert errors[0]["line"] in (2, 3)


def test_malformed_xml_names_line() -> None:
    with pytest.raises(InstanceInvalid) as caught:
        check_instance(SPEC, KIND, f'<{KIND} xmlns="{NS}">\n<rec_id>\n</{KIND}>'.encode(), fmt="xml")
    assert caught.value.detail["errors"][0]["line"] == 3


# CSV -------------------------------------------------------------------------------------------------


def test_csv_header_by_name_or_id_and_encodings() -> None:
    text = records_to_csv(ALL_TYPES, [_row(kana="ヤマダ　タロウ", full_name="山田太郎")])
    check_instance(SPEC, KIND, text.encode("utf-8"), fmt="csv")
    check_instance(SPEC, KIND, codecs.BOM_UTF8 + text.encode("utf-8"), fmt="csv")
    check_instance(SPEC, KIND, text.encode("cp932"), fmt="csv")
    by_id = ",".join(i.id for i in CARRIED) + text[text.index("\r\n") :]
    check_instance(SPEC, KIND, by_id.encode("utf-8"), fmt="csv")
    assert text.startswith(csv_header(ALL_TYPES) + "\r\n")


def test_csv_errors_name_line_and_column() -> None:
    text = records_to_csv(ALL_TYPES, [_row(), _row(rec_id="12", small=1234), _row()])
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    cells = lines[3].split(",")
    cells[CARRIED.index(ALL_TYPES.item("closed_code"))] = ""
    lines[3] = ",".join(cells)
    lines.insert(4, "1,2")
    errors = invalid("csv", "\n".join(lines).encode())
    messages = [e["message"] for e in errors]
    assert messages[0].startswith("line 3, column 項目rec_id (rec_id): ")
    assert messages[1].startswith("line 3, column 項目small (small): ")
    assert messages[2].startswith("line 4, column 項目closed_code (closed_code): ")
    assert "required" in messages[2]
    assert messages[3].startswith("line 5: ")
    assert "fields" in messages[3]
    assert [e.get("column") for e in errors[:3]] == [1, 6, 13]


def test_csv_lines_count_quoted_newlines() -> None:
    text = records_to_csv(ALL_TYPES, [_row(note="one\ntwo\nthree"), _row(small=1234)])
    errors = invalid("csv", text.encode())
    assert errors[0]["line"] == 5


def test_csv_header_must_match_the_layout() -> None:
    text = records_to_csv(ALL_TYPES, [_row()])
    header, rest = text.split("\r\n", 1)
    names = header.split(",")
    names[1] = "氏名"
    errors = invalid("csv", (",".join([*names, "項目secret"]) + "\r\n" + rest).encode())
    assert errors[0]["message"].startswith("line 1, column 項目full_name (full_name): ")
    assert "local-only" in errors[1]["message"]
    assert len(errors) == 2


def test_csv_empty_file_and_malformed_quotes() -> None:
    assert "header" in invalid("csv", b"")[0]["message"]
    text = csv_header(ALL_TYPES) + '\r\n"0123456789"x,a\r\n'
    assert "malformed CSV" in invalid("csv", text.encode())[0]["message"]


def test_csv_bytes_in_neither_encoding_are_refused_naming_the_offset() -> None:
    data = csv_header(ALL_TYPES).encode("utf-8") + b"\r\n\x82\xff\xfe"
    with pytest.raises(InstanceRefused) as caught:
        check_instance(SPEC, KIND, data, fmt="csv")
    assert caught.value.detail["offset"] is not None
    assert "offset" in caught.value.message


# Format and limits -----------------------------------------------------------------------------------


def test_format_comes_from_the_extension_or_the_first_byte() -> None:
    row = _row()
    check_instance(SPEC, KIND, json.dumps(row).encode(), filename="a.JSON")
    check_instance(SPEC, KIND, json.dumps(row).encode())
    check_instance(SPEC, KIND, record_to_xml(SPEC, ALL_TYPES, row), filename="a.xml")
    check_instance(SPEC, KIND, record_to_xml(SPEC, ALL_TYPES, row))
    check_instance(SPEC, KIND, records_to_csv(ALL_TYPES, [row]).encode(), filename="x.csv")
    check_instance(SPEC, "全型テスト情報", records_to_csv(ALL_TYPES, [row]).encode())
    with pytest.raises(InstanceRefused):
        check_instance(SPEC, KIND, b"PK\x03\x04", filename="a.xlsx")


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """The block's CPU time (this thread's: other processes' load does not count) stays under ``seconds``."""
    start = time.thread_time()
    yield
    assert time.thread_time() - start < seconds


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<all-types xmlns="urn:renkei:spec:all-types"><full_name>&lol9;</full_name></all-types>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<all-types xmlns="urn:renkei:spec:all-types"><full_name>&xxe;</full_name></all-types>"""


def _nested_xml(depth: int) -> bytes:
    return f'<{KIND} xmlns="{NS}">'.encode() + b"<a>" * depth + b"</a>" * depth + f"</{KIND}>".encode()


HOSTILE: dict[str, tuple[Format | None, Callable[[], bytes]]] = {
    "billion laughs": ("xml", lambda: BILLION_LAUGHS),
    "external entity": ("xml", lambda: XXE),
    "utf-16 doctype": (
        "xml",
        lambda: XXE.decode().replace('"1.0"', '"1.0" encoding="UTF-16"').encode("utf-16"),
    ),
    "xml nested 10000": ("xml", lambda: _nested_xml(10_000)),
    "xml nested 100": ("xml", lambda: _nested_xml(100)),
    "json nested 10000": ("json", lambda: b"[" * 10_000 + b"]" * 10_000),
    "json nested 100": ("json", lambda: b'{"a":' * 100 + b"1" + b"}" * 100),
    "json huge integer": ("json", lambda: b'{"count": ' + b"9" * 100_000 + b"}"),
    "xml 50 MB": ("xml", lambda: f'<records xmlns="{NS}">'.encode() + b" " * 50_000_000 + b"</records>"),
    "json 50 MB": ("json", lambda: b"[" + b" " * 50_000_000 + b"]"),
    "csv 50 MB": ("csv", lambda: b"a" * 50_000_000),
    "unknown 50 MB": (None, lambda: b"a" * 50_000_000),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_refused_in_bounded_time(case: str) -> None:
    fmt, build = HOSTILE[case]
    data = build()
    with within(2.0), pytest.raises(InstanceRefused) as caught:
        check_instance(SPEC, KIND, data, fmt=fmt)
    assert "root:" not in caught.value.message  # nothing of /etc/passwd leaks
    assert caught.value.code == "spec.instance.refused"


MANY_PROBLEMS: dict[str, tuple[Format, Callable[[], bytes]]] = {
    "json empty records": ("json", lambda: b"[" + b"{}," * 3_000_000 + b"{}]"),
    "json scalars": ("json", lambda: b"[" + b"1," * 5_000_000 + b"1]"),
    "json unknown keys": (
        "json",
        lambda: b"{" + b"".join(b'"k%d": 1,' % i for i in range(700_000)) + b'"z": 1}',
    ),
    "json repeated keys": ("json", lambda: b"{" + b'"note": "a",' * 800_000 + b'"z": 1}'),
    "xml empty records": (
        "xml",
        lambda: f'<records xmlns="{NS}">'.encode() + f"<{KIND}/>".encode() * 300_000 + b"</records>",
    ),
    "csv short rows": ("csv", lambda: (csv_header(ALL_TYPES) + "\r\n" + ",\r\n" * 3_000_000).encode()),
    "csv empty rows": (
        "csv",
        lambda: (csv_header(ALL_TYPES) + "\r\n" + ("," * (len(CARRIED) - 1) + "\r\n") * 600_000).encode(),
    ),
}


@pytest.mark.parametrize("case", sorted(MANY_PROBLEMS))
def test_documents_full_of_problems_are_answered_in_bounded_time(case: str) -> None:
    fmt, build = MANY_PROBLEMS[case]
    data = build()
    assert len(data) <= 10 * 1024 * 1024
    with within(3.0), pytest.raises(InstanceInvalid) as caught:
        check_instance(SPEC, KIND, data, fmt=fmt)
    assert len(caught.value.detail["errors"]) <= MAX_ERRORS


def test_xml_codec_refuses_what_the_checker_refuses() -> None:
    with within(2.0), pytest.raises(InstanceRefused):
        xml_to_records(SPEC, KIND, BILLION_LAUGHS)


def test_record_to_xml_refuses_unknown_items() -> None:
    with pytest.raises(InstanceInvalid) as caught:
        record_to_xml(SPEC, KIND, {**_row(), "bogus": 1})
    assert caught.value.detail["errors"][0]["field"] == "bogus"
