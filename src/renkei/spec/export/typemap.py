"""What each :class:`ItemType` means in every artefact: JSON Schema (and so OpenAPI 3.1), XML Schema and
text (CSV cells, XML element content). The one place that maps types, so that the exports, the instance
checker and the XML codec cannot drift apart.

Choices, for integrators:

* ``string`` and ``kana`` are never empty: an item is either absent or has a value (a CSV cell cannot tell
  an empty string from a missing value, so no format may).
* ``kana`` is full-width katakana U+30A1–U+30FC (ァ … ヺ, ・ and ー) with full- or half-width spaces.
* ``decimal`` travels as a string (``-12.50``) so that no float rounding touches it; ``length`` is its
  maximum number of characters. For ``integer`` and ``amount`` ``length`` is the maximum number of digits.
* ``datetime`` carries its UTC offset (RFC 3339: ``2024-04-01T09:00:00+09:00``).
* ``code`` of a closed dictionary is one of its codes; of an open dictionary (``open: true``, a
  representative subset of an external code system) any code of the same shape: as many digits as its
  codes when they all are digits of one length, else 1 to 10 characters.
* ``local_only`` items (個人番号, 住民票コード) never travel, so no exchange format has them.
* ``boolean`` is ``true``/``false`` in JSON; in text ``true``, ``false``, ``1`` or ``0``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from lxml import etree

from renkei.spec.models import CodeDictionary, DataItem, InformationKind, ItemType, Spec

JsonValue = str | int | bool
"""The value of one item in a record as JSON carries it."""

XS = "http://www.w3.org/2001/XMLSchema"

KANA_CLASS = "[ァ-ー　 ]"
"""Full-width katakana U+30A1–U+30FC (with ・ and ー), full-width and half-width space."""
KANA_PATTERN = KANA_CLASS + "+"
INTEGER_PATTERN = "-?[0-9]+"
DECIMAL_PATTERN = r"-?[0-9]+(\.[0-9]+)?"
DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
DATETIME_PATTERN = DATE_PATTERN + r"T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+\-][0-9]{2}:[0-9]{2})"
YEAR_PATTERN = "[0-9]{4}"
YEAR_MIN = 1868
"""明治元年: no 年度 in a municipal system comes before it."""
YEAR_MAX = 2999
BOOLEAN_TEXTS: Mapping[str, bool] = MappingProxyType({"true": True, "false": False, "1": True, "0": False})


CODE_MAX_LENGTH = 10
"""The longest code a dictionary may hold (the model's limit)."""


def carried_items(kind: InformationKind) -> tuple[DataItem, ...]:
    """The items an instance document of the kind may carry: every item but the ``local_only`` ones."""
    return tuple(item for item in kind.items if not item.local_only)


def open_code_pattern(dictionary: CodeDictionary) -> str | None:
    """The shape of any code of an open dictionary whose codes are all digits of one length."""
    lengths = {len(c.code) for c in dictionary.codes}
    if (
        dictionary.open
        and len(lengths) == 1
        and all(re.fullmatch("[0-9]+", c.code) for c in dictionary.codes)
    ):
        return digits_pattern(lengths.pop())
    return None


def digits_pattern(length: int) -> str:
    return f"[0-9]{{{length}}}"


def anchored(pattern: str) -> str:
    """A JSON Schema (ECMA-262, unanchored) form of an XSD pattern (implicitly anchored)."""
    return f"^{pattern}$"


def text_pattern(item: DataItem) -> str | None:
    """The lexical pattern (XSD syntax, implicitly anchored) of the item's text form, if it has one."""
    match item.type:
        case ItemType.KANA:
            return KANA_PATTERN
        case ItemType.DIGITS:
            assert item.length is not None  # guaranteed by the model
            return digits_pattern(item.length)
        case ItemType.INTEGER | ItemType.AMOUNT:
            return INTEGER_PATTERN
        case ItemType.DECIMAL:
            return DECIMAL_PATTERN
        case ItemType.DATE:
            return DATE_PATTERN
        case ItemType.DATETIME:
            return DATETIME_PATTERN
        case ItemType.YEAR:
            return YEAR_PATTERN
        case _:
            return None


def _digit_bound(item: DataItem) -> int | None:
    if item.type in (ItemType.INTEGER, ItemType.AMOUNT) and item.length is not None:
        return int(10**item.length - 1)
    return None


def json_schema(spec: Spec, item: DataItem) -> dict[str, Any]:
    """The JSON Schema 2020-12 (= OpenAPI 3.1 Schema Object) of one item, without ``$schema``."""
    schema: dict[str, Any] = {"title": item.name, "description": item.name_en}
    match item.type:
        case ItemType.STRING:
            schema |= {"type": "string", "minLength": 1}
        case ItemType.KANA | ItemType.DIGITS | ItemType.DECIMAL:
            schema |= {"type": "string", "pattern": anchored(text_pattern(item) or "")}
        case ItemType.INTEGER | ItemType.AMOUNT:
            schema |= {"type": "integer", "format": "int64"}
            bound = _digit_bound(item)
            if bound is not None:
                schema |= {"minimum": -bound, "maximum": bound}
        case ItemType.DATE:
            schema |= {"type": "string", "format": "date", "pattern": anchored(DATE_PATTERN)}
        case ItemType.DATETIME:
            schema |= {"type": "string", "format": "date-time", "pattern": anchored(DATETIME_PATTERN)}
        case ItemType.YEAR:
            schema |= {"type": "integer", "format": "int32", "minimum": YEAR_MIN, "maximum": YEAR_MAX}
        case ItemType.BOOLEAN:
            schema |= {"type": "boolean"}
        case ItemType.CODE:
            dictionary = spec.dictionary(_code_id(item))
            if not dictionary.open:
                schema |= {"type": "string", "enum": [c.code for c in dictionary.codes]}
            elif (pattern := open_code_pattern(dictionary)) is not None:
                schema |= {"type": "string", "pattern": anchored(pattern), "x-open-codes": True}
            else:
                schema |= {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": CODE_MAX_LENGTH,
                    "x-open-codes": True,
                }
            schema |= {
                "x-code-dictionary": dictionary.id,
                "x-codes": {c.code: c.name for c in dictionary.codes},
            }
    if item.length is not None and item.type in (ItemType.STRING, ItemType.KANA, ItemType.DECIMAL):
        schema["maxLength"] = item.length
    schema["x-personal"] = item.personal
    schema["x-specific-personal"] = item.specific_personal
    if item.description:
        schema["x-note"] = item.description
    return schema


def object_schema(
    spec: Spec, items: tuple[DataItem, ...] | list[DataItem], required: list[str] | None = None
) -> dict[str, Any]:
    """An object with one property per item, in item order; ``required`` defaults to the required items."""
    req = [i.id for i in items if i.required] if required is None else required
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {i.id: json_schema(spec, i) for i in items},
        "required": req,
        "additionalProperties": False,
    }
    if not req:
        del schema["required"]
    return schema


def _code_id(item: DataItem) -> str:
    assert item.code is not None  # guaranteed by the model for type 'code'
    return item.code


def _sub(parent: etree._Element, tag: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{XS}}}{tag}", attrib)


def xsd_documentation(parent: etree._Element, text: str) -> None:
    annotation = _sub(parent, "annotation")
    _sub(annotation, "documentation").text = text


def xsd_simple_type(spec: Spec, item: DataItem) -> etree._Element:
    """An anonymous ``xs:simpleType`` restricting the item's text exactly as the JSON Schema does."""
    simple = etree.Element(f"{{{XS}}}simpleType")
    base = {
        ItemType.INTEGER: "xs:integer",
        ItemType.AMOUNT: "xs:integer",
        ItemType.YEAR: "xs:integer",
        ItemType.DATE: "xs:date",
        ItemType.DATETIME: "xs:dateTime",
        ItemType.BOOLEAN: "xs:boolean",
    }.get(item.type, "xs:string")
    restriction = _sub(simple, "restriction", base=base)
    if item.type is ItemType.CODE:
        dictionary = spec.dictionary(_code_id(item))
        if not dictionary.open:
            for code in dictionary.codes:
                enum = _sub(restriction, "enumeration", value=code.code)
                xsd_documentation(
                    enum, code.name if code.name_en is None else f"{code.name} ({code.name_en})"
                )
        elif (pattern := open_code_pattern(dictionary)) is not None:
            _sub(restriction, "pattern", value=pattern)
        else:
            _sub(restriction, "minLength", value="1")
            _sub(restriction, "maxLength", value=str(CODE_MAX_LENGTH))
        return simple
    bound = _digit_bound(item)
    if bound is not None:
        _sub(restriction, "totalDigits", value=str(item.length))
    if item.type is ItemType.STRING:
        _sub(restriction, "minLength", value="1")
    if item.length is not None and item.type in (ItemType.STRING, ItemType.KANA, ItemType.DECIMAL):
        _sub(restriction, "maxLength", value=str(item.length))
    pattern = text_pattern(item)
    if pattern is not None:
        _sub(restriction, "pattern", value=pattern)
    if item.type is ItemType.YEAR:
        _sub(restriction, "minInclusive", value=str(YEAR_MIN))
        _sub(restriction, "maxInclusive", value=str(YEAR_MAX))
    return simple


def xsd_element(spec: Spec, item: DataItem, *, required: bool | None = None) -> etree._Element:
    """A local ``xs:element`` named by the item id (``minOccurs="0"`` unless required)."""
    element = etree.Element(f"{{{XS}}}element", name=item.id)
    if not (item.required if required is None else required):
        element.set("minOccurs", "0")
    xsd_documentation(element, f"{item.name} ({item.name_en})")
    element.append(xsd_simple_type(spec, item))
    return element


def expectation(spec: Spec, item: DataItem) -> tuple[str, str]:
    """What a valid value of the item looks like, in Japanese and in English."""
    n = item.length
    match item.type:
        case ItemType.STRING:
            ja, en = "空でない文字列", "a non-empty string"
        case ItemType.KANA:
            ja, en = "全角カタカナ", "full-width katakana"
        case ItemType.DIGITS:
            ja, en = f"{n}桁の半角数字", f"exactly {n} ASCII digits"
        case ItemType.INTEGER:
            ja, en = "整数", "an integer"
        case ItemType.AMOUNT:
            ja, en = "金額 (円、整数)", "an amount in yen (an integer)"
        case ItemType.DECIMAL:
            ja, en = "10進数 (例 12.50)", "a decimal such as 12.50"
        case ItemType.DATE:
            ja, en = "日付 YYYY-MM-DD", "a date YYYY-MM-DD"
        case ItemType.DATETIME:
            ja, en = "時差付きの日時 (例 2024-04-01T09:00:00+09:00)", "an RFC 3339 date-time with offset"
        case ItemType.YEAR:
            ja, en = f"西暦年 {YEAR_MIN}〜{YEAR_MAX}", f"a year {YEAR_MIN}..{YEAR_MAX}"
        case ItemType.BOOLEAN:
            ja, en = "真偽値 (true/false)", "a boolean (true/false)"
        case ItemType.CODE:
            dictionary = spec.dictionary(_code_id(item))
            codes = [c.code for c in dictionary.codes]
            shown = ", ".join(codes[:20]) + (" …" if len(codes) > 20 else "")
            ja = f"コード辞書「{dictionary.name}」のコード ({shown})"
            en = f"a code of dictionary {dictionary.id} ({shown})"
            if dictionary.open:
                pattern = open_code_pattern(dictionary)
                shape_ja = f"{len(codes[0])}桁の数字" if pattern else f"{CODE_MAX_LENGTH}文字以内"
                shape_en = f"{len(codes[0])} digits" if pattern else f"at most {CODE_MAX_LENGTH} characters"
                ja = f"コード辞書「{dictionary.name}」のコード ({shape_ja}、例 {shown})"
                en = f"a code of dictionary {dictionary.id} ({shape_en}, e.g. {shown})"
    if n is not None and item.type in (ItemType.STRING, ItemType.KANA, ItemType.DECIMAL):
        ja, en = f"{n}文字以内の{ja}", f"{en} of at most {n} characters"
    if _digit_bound(item) is not None:
        ja, en = f"{n}桁以内の{ja}", f"{en} of at most {n} digits"
    return ja, en


def explain_value(spec: Spec, item: DataItem, got: object) -> str:
    """The message for a value that breaks the item's type: what was expected, and what came."""
    ja, en = expectation(spec, item)
    shown = (
        repr(got[:40] + "…" if len(got) > 40 else got)
        if isinstance(got, str)
        else json.dumps(got, default=repr)[:40]
    )
    return f"{ja}でなければなりません (must be {en}); 値 (got) {shown}"


_LIMITED = (ItemType.STRING, ItemType.KANA, ItemType.DECIMAL)


def text_parser(spec: Spec, item: DataItem) -> Callable[[str], JsonValue]:
    """A function from the item's text form to its JSON value, raising ValueError when the text breaks the
    item's type (the checks are those of the XSD facets). Build it once per item, use it per cell."""
    pattern = text_pattern(item)
    compiled = re.compile(pattern) if pattern is not None else None
    limit = item.length if item.type in _LIMITED else None
    bound = _digit_bound(item)
    kind = item.type
    codes: frozenset[str] | None = None
    nonempty = kind is ItemType.STRING
    if kind is ItemType.CODE:
        dictionary = spec.dictionary(_code_id(item))
        shape = open_code_pattern(dictionary)
        if not dictionary.open:
            codes = frozenset(c.code for c in dictionary.codes)
        elif shape is not None:
            compiled = re.compile(shape)
        else:
            limit, nonempty = CODE_MAX_LENGTH, True

    def parse(text: str) -> JsonValue:
        if compiled is not None and compiled.fullmatch(text) is None:
            raise ValueError(text)
        if (limit is not None and len(text) > limit) or (nonempty and not text):
            raise ValueError(text)
        if codes is not None and text not in codes:
            raise ValueError(text)
        match kind:
            case ItemType.INTEGER | ItemType.AMOUNT | ItemType.YEAR:
                value = int(text)
                if bound is not None and abs(value) > bound:
                    raise ValueError(text)
                if kind is ItemType.YEAR and not YEAR_MIN <= value <= YEAR_MAX:
                    raise ValueError(text)
                return value
            case ItemType.DATE:
                dt.date.fromisoformat(text)
            case ItemType.DATETIME:
                dt.datetime.fromisoformat(text)
            case ItemType.BOOLEAN:
                try:
                    return BOOLEAN_TEXTS[text]
                except KeyError:
                    raise ValueError(text) from None
        return text

    return parse


def parse_text(spec: Spec, item: DataItem, text: str) -> JsonValue:
    """The JSON value of the item's text form (a CSV cell, an XML element's text); ValueError if invalid."""
    return text_parser(spec, item)(text)


def format_text(item: DataItem, value: object) -> str:
    """The text form of a value (for CSV and XML); accepts JSON values and date, datetime, Decimal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | str):
        return str(value)
    raise TypeError(f"{item.id}: cannot write {type(value).__name__} as text")


def sample_value(spec: Spec, item: DataItem) -> JsonValue:
    """A valid, deterministic example value of the item."""
    match item.type:
        case ItemType.STRING:
            return "サンプル"[: item.length or None]
        case ItemType.KANA:
            return "サンプル"[: item.length or None]
        case ItemType.DIGITS:
            assert item.length is not None
            return ("1234567890" * (item.length // 10 + 1))[: item.length]
        case ItemType.INTEGER | ItemType.AMOUNT:
            return 1 if item.length is not None and item.length < 4 else 1000
        case ItemType.DECIMAL:
            return "1.5"[: item.length or None] if (item.length or 3) >= 3 else "1"
        case ItemType.DATE:
            return "2024-04-01"
        case ItemType.DATETIME:
            return "2024-04-01T09:00:00+09:00"
        case ItemType.YEAR:
            return 2024
        case ItemType.BOOLEAN:
            return True
        case ItemType.CODE:
            return spec.dictionary(_code_id(item)).codes[0].code
    raise AssertionError(item.type)  # pragma: no cover


def sample_record(spec: Spec, kind: InformationKind) -> dict[str, JsonValue]:
    """A record of the kind with every carried item set to its sample value."""
    return {item.id: sample_value(spec, item) for item in carried_items(kind)}
