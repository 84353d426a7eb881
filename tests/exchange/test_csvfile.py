"""CSV file linkage (``renkei.exchange.csvfile``): event files in CP932 and UTF-8, lossless or refused.

Files are built by hand (not by the writer) wherever a test is about reading, so that reader and writer
cannot agree on a mistake; the hypothesis round trip then ties the two together over every topic.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renkei.exchange.csvfile import (
    DERIVED_PREFIX,
    MAX_BYTES,
    CsvEvent,
    FileEncoding,
    FileInvalid,
    FileTooLarge,
    TopicUnknown,
    convert_file,
    event_layout,
    export_events,
    read_events,
    write_events,
)
from renkei.identity.scan import contains_individual_number
from renkei.japanese.charset import decode_cp932, encode_cp932
from renkei.japanese.checkdigit import individual_number_check_digit
from renkei.spec.export.csvlayout import csv_header
from renkei.spec.export.typemap import CODE_MAX_LENGTH, YEAR_MAX, YEAR_MIN, open_code_pattern
from renkei.spec.loader import load_spec
from renkei.spec.models import DataItem, ItemType, ServiceKind, Spec

TOPIC = "resident-changes"
NAME = "山田　花子"  # personal values planted in bad cells: they must never come back in an error
PERSONAL_MARK = "秘密"
INDIVIDUAL_NUMBER = "12345678901" + individual_number_check_digit("12345678901")
TOPICS = sorted(s.id for _, s in load_spec().services() if s.kind is ServiceKind.NOTIFICATION)

# A valid 住民異動 (転入, 101) of one person, by item id.
RESIDENT = {
    "atena_number": "000000000000019",
    "household_number": "500000000000017",
    "name": NAME,
    "name_kana": "ヤマダ　ハナコ",
    "birth_date": "1990-04-01",
    "sex": "2",
    "relationship": "01",
    "head_of_household_name": NAME,
    "address": "東京都千代田区九段南1丁目2番1号",
    "change_reason": "101",
    "change_date": "2025-04-01",
    "resident_type": "1",
    "resident_status": "1",
}


def rows(spec: Spec, records: Sequence[Mapping[str, str]], *, topic: str = TOPIC, ids: bool = False) -> str:
    """A file's text built by hand: the layout's Japanese names, one row per record (by item id or envelope
    key), CRLF, with the envelope columns the records use."""
    layout = event_layout(spec, topic)
    extras = [
        k for k in ("event_type", "event_id", "occurred_at", "person_fugo") if any(k in r for r in records)
    ]
    header = [c.item.id if ids else c.name for c in layout.items] + [layout.envelope[k].name for k in extras]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for record in records:
        writer.writerow([record.get(c.key, "") for c in layout.items] + [record.get(k, "") for k in extras])
    return out.getvalue()


def invalid(spec: Spec, text: str | bytes, topic: str = TOPIC, **kwargs: Any) -> FileInvalid:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(FileInvalid) as caught:
        read_events(spec, topic, raw, **kwargs)
    return caught.value


def problems(error: FileInvalid) -> list[dict[str, Any]]:
    return list(error.detail["errors"])


def column_of(spec: Spec, item: str, topic: str = TOPIC) -> int:
    return [c.key for c in event_layout(spec, topic).items].index(item) + 1


# --- reading ---------------------------------------------------------------------------------------------


def test_a_utf8_file_becomes_events(spec: Spec) -> None:
    second = {
        **RESIDENT,
        "atena_number": "000000000000027",
        "change_reason": "201",
        "change_date": "2025-05-01",
    }
    text = rows(spec, [RESIDENT, second])

    events = read_events(spec, TOPIC, text.encode("utf-8"))

    assert [(e.line, e.event_type) for e in events] == [(2, "101"), (3, "201")]
    assert events[0].data == RESIDENT
    assert events[0].person_fugo is None and events[0].occurred_at is None
    assert events[0].event_id.startswith(DERIVED_PREFIX) and events[0].event_id != events[1].event_id
    assert events[0].envelope(TOPIC)["data"] == RESIDENT
    # The header is the spec's own CSV layout (the committed exports/csv/<kind>.layout.json).
    assert text.splitlines()[0] == csv_header(spec.kind("resident-record"))


@pytest.mark.parametrize(
    "variant",
    ["bom", "lf", "ids", "cp932", "cp932-lf", "blank-lines"],
)
def test_encodings_line_endings_and_ids_give_the_same_events(spec: Spec, variant: str) -> None:
    text = rows(spec, [RESIDENT], ids=variant == "ids")
    expected = read_events(spec, TOPIC, text.encode("utf-8"))
    if variant in ("lf", "cp932-lf"):
        text = text.replace("\r\n", "\n")
    if variant == "blank-lines":
        text = text + "\r\n\r\n"
    raw = {
        "bom": codecs.BOM_UTF8 + text.encode("utf-8"),
        "cp932": text.encode("cp932"),
        "cp932-lf": text.encode("cp932"),
    }.get(variant, text.encode("utf-8"))

    events = read_events(spec, TOPIC, raw)

    assert [(e.event_id, e.event_type, e.data) for e in events] == [
        (e.event_id, e.event_type, e.data) for e in expected
    ]
    if variant.startswith("cp932"):
        assert read_events(spec, TOPIC, raw, "cp932") == events  # auto detected CP932


def test_the_same_file_gives_the_same_ids_and_another_file_other_ids(spec: Spec) -> None:
    text = rows(spec, [RESIDENT])
    ids = [e.event_id for e in read_events(spec, TOPIC, text.encode("utf-8"))]
    assert [e.event_id for e in read_events(spec, TOPIC, text.encode("cp932"))] == ids
    other = rows(spec, [{**RESIDENT, "change_date": "2025-04-02"}])
    assert [e.event_id for e in read_events(spec, TOPIC, other.encode("utf-8"))] != ids


def test_envelope_columns_are_read(spec: Spec) -> None:
    record = {
        **RESIDENT,
        "event_id": "evt-1",
        "occurred_at": "2025-04-01T09:00:00+09:00",
        "person_fugo": "F-1",
    }
    (event,) = read_events(spec, TOPIC, rows(spec, [record]).encode("utf-8"))
    assert (event.event_id, event.occurred_at, event.person_fugo) == ("evt-1", record["occurred_at"], "F-1")
    assert event.envelope(TOPIC) == {
        "event_id": "evt-1",
        "topic": TOPIC,
        "event_type": "101",
        "occurred_at": record["occurred_at"],
        "person_fugo": "F-1",
        "data": RESIDENT,
    }


def test_a_topic_without_an_event_item_takes_the_event_type_column(spec: Spec) -> None:
    record = {
        "atena_number": "000000000000019",
        "allowance_type": "01",
        "certification_date": "2025-04-01",
        "payment_status": "1",
        "event_type": "01",
    }
    layout = event_layout(spec, "allowance-changes")
    record = {**record, **{i.id: _sample(spec, i) for i in layout.required() if i.id not in record}}
    (event,) = read_events(
        spec, "allowance-changes", rows(spec, [record], topic="allowance-changes").encode()
    )
    assert event.event_type == "01" and "event_type" not in event.data

    missing = rows(spec, [{k: v for k, v in record.items() if k != "event_type"}], topic="allowance-changes")
    error = invalid(spec, missing, "allowance-changes")
    assert any(p.get("field") == "event_type" and p["line"] == 1 for p in problems(error))


def test_a_person_may_be_named_by_fugo_instead_of_atena_number(spec: Spec) -> None:
    record = {k: v for k, v in RESIDENT.items() if k != "atena_number"}
    (event,) = read_events(spec, TOPIC, rows(spec, [{**record, "person_fugo": "F-9"}]).encode())
    assert event.person_fugo == "F-9" and "atena_number" not in event.data

    error = invalid(spec, rows(spec, [record]))
    assert any("atena_number or person_fugo" in p["message"] for p in problems(error))


def test_a_header_only_file_has_no_events_and_an_empty_file_no_header(spec: Spec) -> None:
    assert read_events(spec, TOPIC, rows(spec, []).encode()) == []
    error = invalid(spec, b"")
    assert problems(error)[0]["line"] == 1 and "header" in problems(error)[0]["message"]


# --- refusals, located ------------------------------------------------------------------------------------


def test_a_wrong_header_names_its_line_and_column(spec: Spec) -> None:
    text = rows(spec, [RESIDENT]).replace("生年月日", "誕生日", 1)
    error = invalid(spec, text)
    (problem,) = problems(error)
    assert (problem["line"], problem["column"], problem["field"]) == (
        1,
        column_of(spec, "birth_date"),
        "birth_date",
    )
    assert "誕生日" in problem["message"] and "生年月日" in problem["message"]
    assert error.code == "exchange.file.invalid"


def test_an_unknown_or_repeated_extra_column_is_refused(spec: Spec) -> None:
    header, row = rows(spec, [RESIDENT]).splitlines()
    width = len(event_layout(spec, TOPIC).items)
    error = invalid(spec, f"{header},備考,符号,符号\r\n{row},,,\r\n")
    found = {(p["column"], p.get("field")) for p in problems(error)}
    assert found == {(width + 1, None), (width + 3, "person_fugo")}


def test_a_wrong_event_code_is_named_without_the_personal_value(spec: Spec) -> None:
    # 異動事由 is personal data of the person: the message says which column and why, not the value.
    error = invalid(spec, rows(spec, [{**RESIDENT, "change_reason": "999"}]))
    (problem,) = problems(error)
    assert (problem["line"], problem["column"], problem["field"]) == (
        2,
        column_of(spec, "change_reason"),
        "change_reason",
    )
    assert "999" not in str(error) and "999" not in str(dict(error.detail))


def test_an_event_type_outside_the_topic_is_refused(spec: Spec) -> None:
    layout = event_layout(spec, "allowance-changes")
    record = {i.id: _sample(spec, i) for i in layout.required()} | {"atena_number": "000000000000019"}
    error = invalid(
        spec, rows(spec, [{**record, "event_type": "99"}], topic="allowance-changes"), "allowance-changes"
    )
    (problem,) = problems(error)
    assert problem["field"] == "event_type" and problem["line"] == 2
    assert problem["column"] == len(layout.items) + 1


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("birth_date", "2025-02-30"),
        ("birth_date", "令和7年2月1日"),
        ("name_kana", NAME),
        ("sex", PERSONAL_MARK),
        ("atena_number", "00000000000001"),
        ("name", "x" * 101),
    ],
    ids=["impossible-date", "wareki-date", "kanji-in-kana", "bad-code", "short-atena", "too-long"],
)
def test_a_bad_value_names_line_column_and_item_never_the_value(spec: Spec, item: str, value: str) -> None:
    second = {**RESIDENT, "atena_number": "000000000000027", item: value}
    error = invalid(spec, rows(spec, [RESIDENT, second]))
    (problem,) = problems(error)
    assert (problem["line"], problem["column"], problem["field"]) == (3, column_of(spec, item), item)
    assert problem["name"] == spec.kind("resident-record").item(item).name
    assert value not in str(error) and value not in str(dict(error.detail))


def test_lines_are_physical_lines_when_a_cell_holds_a_newline(spec: Spec) -> None:
    first = {**RESIDENT, "address": "東京都千代田区\r\n九段南1丁目"}
    second = {**RESIDENT, "atena_number": "000000000000027", "birth_date": "1990-13-01"}
    error = invalid(spec, rows(spec, [first, second]))
    assert [p["line"] for p in problems(error)] == [4]


def test_a_cell_of_an_item_the_topic_does_not_carry_must_be_empty(spec: Spec) -> None:
    topic = "individual-resident-tax-changes"
    layout = event_layout(spec, topic)
    outside = next(c for c in layout.items if not c.carried)
    record = {i.id: _sample(spec, i) for i in layout.required()} | {"event_type": "01"}
    error = invalid(
        spec, rows(spec, [{**record, outside.key: _sample(spec, outside.item)}], topic=topic), topic
    )
    (problem,) = problems(error)
    assert (problem["field"], problem["column"]) == (outside.key, column_of(spec, outside.key, topic))


def test_an_individual_number_anywhere_is_refused_unshown(spec: Spec) -> None:
    for cell in ("address", "name", "person_fugo"):
        error = invalid(spec, rows(spec, [{**RESIDENT, cell: f"番号 {INDIVIDUAL_NUMBER}"}]))
        assert any(p["field"] == cell and "individual number" in p["message"] for p in problems(error))
        assert INDIVIDUAL_NUMBER not in str(error) and INDIVIDUAL_NUMBER not in str(dict(error.detail))


def test_an_individual_number_in_a_number_cell_is_refused_both_ways(spec: Spec) -> None:
    topic = "individual-resident-tax-changes"
    layout = event_layout(spec, topic)
    data: dict[str, Any] = {i.id: _json(spec, i) for i in layout.required()} | {"total_income": 1}
    cells = {**{k: str(v) for k, v in data.items()}, "event_type": "01"}
    assert read_events(spec, topic, rows(spec, [cells], topic=topic).encode())
    error = invalid(spec, rows(spec, [{**cells, "total_income": INDIVIDUAL_NUMBER}], topic=topic), topic)
    assert [p["field"] for p in problems(error)] == ["total_income"]
    with pytest.raises(FileInvalid) as caught:
        write_events(
            spec, topic, [{"event_type": "01", "data": {**data, "total_income": int(INDIVIDUAL_NUMBER)}}]
        )
    assert INDIVIDUAL_NUMBER not in str(caught.value) and INDIVIDUAL_NUMBER not in str(
        dict(caught.value.detail)
    )


def test_missing_required_items_wrong_widths_and_repeated_ids(spec: Spec) -> None:
    header, row = rows(spec, [{**RESIDENT, "event_id": "e-1"}]).splitlines()
    without_name = row.replace(NAME + ",", ",", 1)
    text = "\r\n".join([header, row, row, without_name.replace("e-1", "e-2"), row + ",x", ""])
    error = invalid(spec, text)
    found = [(p["line"], p.get("field")) for p in problems(error)]
    assert found == [(3, "event_id"), (4, "name"), (5, None)]


def test_malformed_csv_is_located(spec: Spec) -> None:
    header, row = rows(spec, [RESIDENT]).splitlines()
    error = invalid(spec, f'{header}\r\n{row}\r\n"unterminated,{row}\r\n')
    assert problems(error)[-1]["line"] >= 3 and "malformed CSV" in problems(error)[-1]["message"]


def test_problems_are_capped_and_the_file_is_all_or_nothing(spec: Spec) -> None:
    bad = [{**RESIDENT, "birth_date": "1990-02-30"}] * 300
    error = invalid(spec, rows(spec, [RESIDENT, *bad]), max_problems=50)
    assert len(problems(error)) == 50 and error.detail["truncated"] is True
    assert error.detail["error_count"] >= 50


def test_unknown_topics_and_oversized_files_are_refused(spec: Spec) -> None:
    for topic in ("no-such-topic", "income-certificate"):  # a query service is no topic
        with pytest.raises(TopicUnknown):
            read_events(spec, topic, rows(spec, [RESIDENT]).encode())
    with pytest.raises(FileTooLarge):
        read_events(spec, TOPIC, b"x" * (MAX_BYTES + 1))


# --- characters -------------------------------------------------------------------------------------------


def test_bytes_that_are_not_cp932_are_named_with_line_and_column(spec: Spec) -> None:
    raw = rows(spec, [RESIDENT]).encode("cp932").replace("山田".encode("cp932"), b"\x81\x20", 1)
    with pytest.raises(FileEncoding) as caught:
        read_events(spec, TOPIC, raw, "cp932")
    error = caught.value
    assert (error.detail["line"], error.detail["column"], error.detail["bad_bytes"]) == (
        2,
        len("000000000000019,500000000000017,") + 1,
        "81 20",
    )
    assert error.code == "exchange.file.encoding"
    with pytest.raises(FileEncoding) as auto:
        read_events(spec, TOPIC, raw)
    assert "neither UTF-8 nor CP932" in auto.value.message


def test_utf8_declared_but_cp932_given_is_refused_with_its_position(spec: Spec) -> None:
    raw = rows(spec, [RESIDENT]).encode("cp932")
    with pytest.raises(FileEncoding) as caught:
        read_events(spec, TOPIC, raw, "utf-8")
    assert caught.value.detail["line"] == 1 and caught.value.detail["column"] == 1


def test_a_utf8_bom_is_not_read_as_cp932(spec: Spec) -> None:
    with pytest.raises(FileEncoding):
        read_events(spec, TOPIC, codecs.BOM_UTF8 + rows(spec, [RESIDENT]).encode("utf-8"), "cp932")


def test_gaiji_are_refused_unless_the_table_maps_them(spec: Spec) -> None:
    # 0xF040 is the first code of CP932's user-defined area (外字): U+E000.
    cp932 = (
        rows(spec, [{**RESIDENT, "name": "髙橋　花子"}])
        .encode("cp932")
        .replace("髙".encode("cp932"), b"\xf0\x40")
    )
    utf8 = rows(spec, [{**RESIDENT, "name": "\ue000橋　花子"}]).encode("utf-8")
    column = len("000000000000019,500000000000017,") + 1
    for raw in (cp932, utf8):
        with pytest.raises(FileEncoding) as caught:
            read_events(spec, TOPIC, raw)
        assert (caught.value.detail["line"], caught.value.detail["column"]) == (2, column)
        assert caught.value.detail["code_point"] == "U+E000"
        (event,) = read_events(spec, TOPIC, raw, gaiji_map={"\ue000": "髙"})
        assert event.data["name"] == "髙橋　花子"


def test_the_wave_dash_reads_as_each_encoding_holds_it(spec: Spec) -> None:
    address = "東京都千代田区1〜2"
    text = rows(spec, [{**RESIDENT, "address": address}])
    (utf8,) = read_events(spec, TOPIC, text.encode("utf-8"))
    assert utf8.data["address"] == address  # U+301C kept as sent
    (cp932,) = read_events(spec, TOPIC, encode_cp932(text))  # bytes 81 60
    assert cp932.data["address"] == "東京都千代田区1～2"  # CP932's own U+FF5E: the documented mapping


def test_writing_cp932_refuses_what_it_cannot_carry_naming_the_character(spec: Spec) -> None:
    for value, code_point in (
        ("寿司🍣", "U+1F363"),
        ("𠮷野家", "U+20BB7"),
        ("1〜2", "U+301C"),
        ("\ue001", "U+E001"),
    ):
        event = {"event_type": "101", "data": {**RESIDENT, "address": value}}
        with pytest.raises(FileEncoding) as caught:
            write_events(spec, TOPIC, [event], "cp932")
        detail = caught.value.detail
        assert (detail["code_point"], detail["record"], detail["field"]) == (code_point, 1, "address")
        assert code_point in caught.value.message
        if value == "\ue001":
            with pytest.raises(FileEncoding):
                write_events(spec, TOPIC, [event], "utf-8")
        else:
            assert write_events(spec, TOPIC, [event], "utf-8")  # UTF-8 carries it


def test_folding_jis_variants_is_applied_and_reported(spec: Spec) -> None:
    event = {"event_type": "101", "data": {**RESIDENT, "address": "1〜2−3"}}
    written = export_events(spec, TOPIC, [event], "cp932", fold_jis_variants=True)
    assert [(f.record, f.field, f.character, f.written) for f in written.folded] == [
        (1, "address", "〜", "～"),
        (1, "address", "−", "－"),
    ]
    (back,) = read_events(spec, TOPIC, written.data)
    assert back.data["address"] == "1～2－3"


def test_written_files_are_crlf_in_the_layout(spec: Spec) -> None:
    events = [{"event_type": "101", "event_id": "e-1", "data": RESIDENT}]
    data = write_events(spec, TOPIC, events, "cp932")
    text = decode_cp932(data)
    assert text.count("\r\n") == 2 and "\n" not in text.replace("\r\n", "")
    assert text.splitlines()[0] == csv_header(spec.kind("resident-record")) + ",イベントID"
    assert not data.startswith(codecs.BOM_UTF8)
    assert export_events(spec, TOPIC, events, bom=True).data.startswith(codecs.BOM_UTF8)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"event_type": "101", "data": {**RESIDENT, "nickname": "x"}}, None),
        (
            {"event_type": "101", "data": {**RESIDENT, "birth_date": dt.date(1990, 4, 1).toordinal()}},
            "birth_date",
        ),
        ({"event_type": "101", "data": {**RESIDENT, "change_reason": "201"}}, "change_reason"),
        (
            {"event_type": "999", "data": {k: v for k, v in RESIDENT.items() if k != "change_reason"}},
            "event_type",
        ),
        ({"event_type": "101", "data": RESIDENT, "topic": "nhi-changes"}, None),
        ({"event_type": "101", "data": RESIDENT, "sequence": 4}, None),
        ({"event_type": "101", "data": {**RESIDENT, "name": f"番号{INDIVIDUAL_NUMBER}"}}, "name"),
        ({"event_type": "101", "data": {k: v for k, v in RESIDENT.items() if k != "name"}}, "name"),
    ],
    ids=[
        "unknown-item",
        "wrong-type",
        "carrier-differs",
        "not-an-event",
        "other-topic",
        "unknown-key",
        "individual-number",
        "missing-required",
    ],
)
def test_an_event_the_file_cannot_carry_exactly_is_refused(
    spec: Spec, event: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(FileInvalid) as caught:
        write_events(spec, TOPIC, [{"event_type": "101", "data": RESIDENT}, event])
    (problem,) = caught.value.detail["errors"]
    assert problem["record"] == 2 and problem.get("field") == field
    assert INDIVIDUAL_NUMBER not in str(caught.value)


def test_a_boolean_is_not_an_integer_in_a_file(spec: Spec) -> None:
    # True == 1 in Python, but a file would read "true" back as no integer: refused, not written.
    topic, column = next(
        (t, c)
        for t in TOPICS
        for c in event_layout(spec, t).items
        if c.carried and c.item.type in (ItemType.INTEGER, ItemType.AMOUNT) and not c.item.required
    )
    layout = event_layout(spec, topic)
    data: dict[str, Any] = {i.id: _json(spec, i) for i in layout.required()}
    if layout.personal:
        data["atena_number"] = "000000000000019"
    event = {"event_type": layout.topic.events[0], "data": data}
    if layout.carrier is not None:
        data[layout.carrier.id] = layout.topic.events[0]
    assert write_events(spec, topic, [event])
    with pytest.raises(FileInvalid) as caught:
        write_events(spec, topic, [{**event, "data": {**data, column.key: True}}])
    assert caught.value.detail["errors"][0]["field"] == column.key


def test_convert_re_encodes_losslessly_or_names_the_character(spec: Spec) -> None:
    text = rows(spec, [RESIDENT]).replace("\r\n", "\n")
    cp932 = convert_file(text.encode("utf-8"), "cp932")
    assert (cp932.source, cp932.data) == ("utf-8", text.encode("cp932"))
    back = convert_file(cp932.data, "utf-8", bom=True)
    assert back.data == codecs.BOM_UTF8 + text.encode("utf-8") and back.source == "cp932"

    with pytest.raises(FileEncoding) as caught:
        convert_file(("a,b\n" + "c,🍣\n").encode("utf-8"), "cp932")
    assert (caught.value.detail["line"], caught.value.detail["column"]) == (2, 3)
    assert caught.value.detail["code_point"] == "U+1F363"
    folded = convert_file("x\n1〜2\n".encode(), "cp932", fold_jis_variants=True)
    assert folded.folded == ((2, 2, "〜", "～"),) and decode_cp932(folded.data) == "x\n1～2\n"


# --- the round trip -----------------------------------------------------------------------------------------


def _sample(spec: Spec, item: DataItem) -> str:
    from renkei.spec.export.typemap import format_text, sample_value

    return format_text(item, sample_value(spec, item))


def _json(spec: Spec, item: DataItem) -> Any:
    from renkei.spec.export.typemap import sample_value

    return sample_value(spec, item)


@cache
def _cp932_alphabet() -> str:
    """Every BMP character that CP932 carries and reads back as itself (no 外字, no controls)."""
    chars = []
    for code in range(0x20, 0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or 0xE000 <= code <= 0xF8FF or code == 0x7F:
            continue
        try:
            if decode_cp932(encode_cp932(char, fold_jis_variants=False)) == char:
                chars.append(char)
        except Exception:
            continue
    return "".join(chars)


UNICODE = st.characters(blacklist_categories=("Cs", "Co", "Cc"))


def _text(alphabet: st.SearchStrategy[str], limit: int) -> st.SearchStrategy[str]:
    cell = st.text(alphabet | st.sampled_from([",", '"', "\n", " "]), min_size=1, max_size=limit)
    return cell.filter(lambda t: not contains_individual_number(t))


@cache
def _alphabet(cp932: bool) -> st.SearchStrategy[str]:
    return st.sampled_from(tuple(_cp932_alphabet())) if cp932 else UNICODE


@cache
def _value(spec: Spec, item: DataItem, cp932: bool) -> st.SearchStrategy[Any]:
    """Valid values of an item (as JSON carries them); for CP932 only characters it carries."""
    alphabet = _alphabet(cp932)
    n = item.length
    match item.type:
        case ItemType.STRING:
            return _text(alphabet, min(n or 12, 12))
        case ItemType.KANA:
            kana = [chr(c) for c in range(0x30A1, 0x30FD)] + [" ", "　"]
            if cp932:
                kana = [k for k in kana if k in _cp932_alphabet()]
            return st.text(st.sampled_from(kana), min_size=1, max_size=min(n or 12, 12))
        case ItemType.DIGITS:
            assert n is not None
            return st.from_regex(f"[0-9]{{{n}}}", fullmatch=True).filter(
                lambda t: not contains_individual_number(t)
            )
        case ItemType.INTEGER | ItemType.AMOUNT:
            bound = 10**n - 1 if n is not None else 10**15
            return st.integers(-bound, bound).filter(lambda v: not contains_individual_number(str(v)))
        case ItemType.DECIMAL:
            return st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,2})?", fullmatch=True).filter(
                lambda t: n is None or len(t) <= n
            )
        case ItemType.DATE:
            return st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat)
        case ItemType.DATETIME:
            zones = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=9))])
            return st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1), timezones=zones).map(
                lambda d: d.isoformat()
            )
        case ItemType.YEAR:
            return st.integers(YEAR_MIN, YEAR_MAX)
        case ItemType.BOOLEAN:
            return st.booleans()
        case ItemType.CODE:
            assert item.code is not None
            dictionary = spec.dictionary(item.code)
            if not dictionary.open:
                return st.sampled_from([c.code for c in dictionary.codes])
            pattern = open_code_pattern(dictionary)
            if pattern is not None:
                return st.from_regex(pattern, fullmatch=True)
            return st.text(st.sampled_from("ABCXYZ0123456789"), min_size=1, max_size=CODE_MAX_LENGTH)
    raise AssertionError(item.type)


@st.composite
def _events(draw: st.DrawFn, spec: Spec, topic: str, cp932: bool) -> list[dict[str, Any]]:
    layout = event_layout(spec, topic)
    required = {i.id for i in layout.required()}
    with_ids = draw(st.booleans())
    events: list[dict[str, Any]] = []
    for number in range(draw(st.integers(0, 4))):
        event_type = draw(st.sampled_from(layout.topic.events))
        person = draw(st.sampled_from(["atena", "fugo", "both"])) if layout.personal else "none"
        data: dict[str, Any] = {}
        for column in layout.items:
            if not column.carried or (column.key == "atena_number" and person == "fugo"):
                continue
            if column.key in required or draw(st.booleans()):
                data[column.key] = draw(_value(spec, column.item, cp932))
        if layout.carrier is not None:
            data[layout.carrier.id] = event_type
        if person in ("atena", "both"):
            data["atena_number"] = draw(_value(spec, spec.parameter("atena_number"), cp932))
        event: dict[str, Any] = {"event_type": event_type, "data": data}
        if person in ("fugo", "both"):
            fugo = st.text(st.sampled_from("ABCDEFabcdef0123456789-"), min_size=1, max_size=64)
            event["person_fugo"] = draw(fugo.filter(lambda t: not contains_individual_number(t)))
        if with_ids:
            event["event_id"] = f"id-{number}"
        if draw(st.booleans()):
            event["occurred_at"] = draw(
                _value(
                    spec,
                    DataItem(id="t", name="t", name_en="t", type=ItemType.DATETIME, personal=False),
                    cp932,
                )
            )
        events.append(event)
    return events


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_write_then_read_gives_the_same_events(spec: Spec, encoding: str, data: st.DataObject) -> None:
    topic = data.draw(st.sampled_from(TOPICS), label="topic")
    events = data.draw(_events(spec, topic, encoding == "cp932"), label="events")

    raw = write_events(spec, topic, events, encoding)  # type: ignore[arg-type]
    read = read_events(spec, topic, raw, encoding)  # type: ignore[arg-type]

    assert [e.envelope(topic) | {"event_id": "-"} for e in read] == [
        {"topic": topic, **e, "event_id": "-"} for e in events
    ]
    for event, back in zip(events, read, strict=True):
        if "event_id" in event:
            assert back.event_id == event["event_id"]
        else:
            assert back.event_id.startswith(DERIVED_PREFIX)
    assert read_events(spec, topic, raw) == read  # auto detects the encoding written


def test_every_topic_layout_header_is_writable_in_cp932(spec: Spec) -> None:
    for topic in TOPICS:
        assert read_events(spec, topic, write_events(spec, topic, [], "cp932"), "cp932") == []


def test_csv_events_are_plain_values(spec: Spec) -> None:
    (event,) = read_events(spec, TOPIC, rows(spec, [RESIDENT]).encode())
    assert isinstance(event, CsvEvent)
    with pytest.raises(AttributeError):
        event.event_type = "201"  # type: ignore[misc]


# --- the CLI, as a process ---------------------------------------------------------------------------------


def files_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    code = "from renkei.cli.files import files_app; files_app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, timeout=120, check=False)


def test_check_accepts_a_valid_file_and_names_problems(spec: Spec, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(rows(spec, [RESIDENT]).encode("cp932"))
    out = files_cli("check", str(good), "--topic", TOPIC)
    assert out.returncode == 0, out.stderr.decode()
    assert "1 件のイベント" in out.stdout.decode() and "cp932" in out.stdout.decode()

    bad = tmp_path / "bad.csv"
    bad.write_bytes(rows(spec, [{**RESIDENT, "birth_date": "1990-02-30"}]).encode("utf-8"))
    out = files_cli("check", str(bad), "--topic", TOPIC)
    assert out.returncode == 1
    assert f"line 2, column {column_of(spec, 'birth_date')}" in out.stderr.decode()
    assert "1990-02-30" not in (out.stderr + out.stdout).decode()

    refused = tmp_path / "refused.csv"
    refused.write_bytes(
        rows(spec, [RESIDENT]).encode("cp932").replace("山田".encode("cp932"), b"\x81\x20", 1)
    )
    out = files_cli("check", str(refused), "--topic", TOPIC, "--encoding", "cp932")
    assert out.returncode == 2 and "exchange.file.encoding" in out.stderr.decode()
    assert "line 2" in out.stderr.decode()


def test_convert_writes_the_other_encoding_or_refuses(spec: Spec, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(rows(spec, [RESIDENT]).encode("utf-8"))
    target = tmp_path / "out.csv"
    out = files_cli("convert", str(source), "--to", "cp932", "--out", str(target))
    assert out.returncode == 0, out.stderr.decode()
    assert target.read_bytes() == rows(spec, [RESIDENT]).encode("cp932")
    out = files_cli("convert", str(target), "--to", "utf-8")
    assert out.returncode == 0 and out.stdout == rows(spec, [RESIDENT]).encode("utf-8")

    source.write_bytes("氏名\r\n寿司🍣\r\n".encode())
    out = files_cli("convert", str(source), "--to", "cp932", "--out", str(target))
    assert out.returncode == 2
    assert "U+1F363" in out.stderr.decode() and "line 2, column 3" in out.stderr.decode()
