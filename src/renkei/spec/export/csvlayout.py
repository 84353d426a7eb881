"""CSV layout of each information kind: one column per item in item order, a header row of the Japanese
item names (item ids are accepted too), comma-delimited, CRLF, RFC 4180 quoting, UTF-8 (BOM allowed) or
CP932. An empty cell is an absent item."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from renkei.spec.export.naming import resolve
from renkei.spec.export.typemap import carried_items, format_text
from renkei.spec.models import InformationKind, Spec

ACCEPTED_ENCODINGS = ("UTF-8", "CP932")
DEFAULT_ENCODING = "UTF-8"
DELIMITER = ","
LINE_TERMINATOR = "\r\n"


def build_csv_layout(spec: Spec, kind: InformationKind | str) -> dict[str, Any]:
    """The layout of a kind's CSV file, as data (written as ``csv/<kind>.layout.json``)."""
    kind = resolve(spec, kind)
    return {
        "information": kind.id,
        "name": kind.name,
        "name_en": kind.name_en,
        "version": spec.version,
        "encoding": {"accepted": list(ACCEPTED_ENCODINGS), "default": DEFAULT_ENCODING},
        "header": True,
        "delimiter": DELIMITER,
        "line_terminator": LINE_TERMINATOR,
        "columns": [
            {
                "position": position,
                "id": item.id,
                "name": item.name,
                "name_en": item.name_en,
                "type": item.type.value,
                "length": item.length,
                "code": item.code,
                "required": item.required,
            }
            for position, item in enumerate(carried_items(kind), start=1)
        ],
    }


def _line(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=DELIMITER, lineterminator=LINE_TERMINATOR).writerow(values)
    return out.getvalue()


def csv_header(kind: InformationKind) -> str:
    """The header row of the kind's CSV (Japanese item names), without the line terminator."""
    return _line([item.name for item in carried_items(kind)]).removesuffix(LINE_TERMINATOR)


def records_to_csv(kind: InformationKind, records: Iterable[Mapping[str, object]]) -> str:
    """A CSV text (header and one row per record, CRLF) of the kind; absent or None items are empty cells."""
    lines = [csv_header(kind) + LINE_TERMINATOR]
    for record in records:
        unknown = sorted(set(record) - {item.id for item in carried_items(kind)})
        if unknown:
            raise ValueError(f"{kind.id}: unknown items {unknown}")
        cells = [
            "" if record.get(item.id) is None else format_text(item, record[item.id])
            for item in carried_items(kind)
        ]
        lines.append(_line(cells))
    return "".join(lines)
