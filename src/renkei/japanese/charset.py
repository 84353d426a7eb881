"""CP932 (Windows-31J, Shift_JIS with NEC/IBM extensions) ⇄ Unicode, lossless or failing loudly.

Known mapping differences (the 〜 problem). Seven characters have two Unicode spellings depending on the
source: JIS-style mappings (Shift_JIS, EUC-JP, Unicode text typed on macOS …) use the left column, CP932
(Microsoft) uses the right column, and both are the same CP932 byte sequence:

====================  ====================  ======
JIS-style             CP932 (Microsoft)     bytes
====================  ====================  ======
U+301C 〜 WAVE DASH   U+FF5E ～             81 60
U+2016 ‖              U+2225 ∥              81 61
U+2212 − MINUS        U+FF0D －             81 7C
U+00A2 ¢              U+FFE0 ￠             81 91
U+00A3 £              U+FFE1 ￡             81 92
U+00AC ¬              U+FFE2 ￢             81 CA
U+2014 — EM DASH      U+2015 ―              81 5C
====================  ====================  ======

:func:`encode_cp932` folds the JIS-style characters onto those bytes by default
(``fold_jis_variants=True``); :func:`decode_cp932` returns the CP932 (Microsoft) code points by default, so
a UTF-8 text containing 〜 comes back with ～: that is the documented, known mapping difference, not a
loss in the bytes. ``decode_cp932(..., prefer_jis=True)`` returns the JIS-style code points instead, so
that each spelling has an exact round trip in its own mode. With ``fold_jis_variants=False`` the
JIS-style characters are refused rather than silently changed.

0x815F is U+FF3C ＼ in CP932 and U+005C in some JIS mappings; it is not folded, because U+005C is the
single byte 0x5C in CP932. ¥ (U+00A5) and ‾ (U+203E) have no CP932 code and are refused.

Python's codec maps the stray single bytes 0x80, 0xA0 and 0xFD–0xFF to U+0080 and U+F8F0–U+F8F3; they are
not characters in CP932 data exchanged between Japanese systems, so both directions refuse them.

Text round trips exactly (``decode(encode(t)) == t`` in the matching mode). Bytes do not always: CP932
gives some characters two codes (NEC row 13 vs NEC-selected IBM vs IBM extensions, e.g. ∵ 81E6/8799/FA5B),
and the encoder always writes one of them.

外字: the CP932 user-defined area 0xF040–0xF9FC decodes to the Private Use Area U+E000–U+E757.
:func:`find_gaiji` lists private-use characters so callers can refuse or map them, and
:func:`decode_cp932` can apply a municipality's 外字 table (``gaiji_map``).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from renkei.japanese.errors import InvalidEncoding, UnmappableCharacter, UnmappedGaiji

_JIS_TO_CP932: Final = MappingProxyType(
    {
        0x301C: 0xFF5E,
        0x2016: 0x2225,
        0x2212: 0xFF0D,
        0x00A2: 0xFFE0,
        0x00A3: 0xFFE1,
        0x00AC: 0xFFE2,
        0x2014: 0x2015,
    }
)
_CP932_TO_JIS: Final = MappingProxyType({cp932: jis for jis, cp932 in _JIS_TO_CP932.items()})

# Python's codec best-fits the JIS-style characters on encode but decodes to the CP932 ones, so unless we
# fold on purpose they must be refused; the stray single bytes are refused in both directions.
_STRAY = "\u0080\uf8f0\uf8f1\uf8f2\uf8f3"
_REFUSED_UNFOLDED: Final = re.compile("[" + re.escape(_STRAY + "".join(map(chr, _JIS_TO_CP932))) + "]")
_REFUSED_DECODED: Final = re.compile("[" + re.escape(_STRAY) + "]")

_LEAD_BYTES: Final = frozenset(range(0x81, 0xA0)) | frozenset(range(0xE0, 0xFD))


def _text_position(text: str, offset: int) -> tuple[int, int]:
    """Return the 1-based (line, column) of ``offset`` in ``text``; lines end at LF."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _unmappable(text: str, offset: int, why: str) -> UnmappableCharacter:
    char = text[offset]
    line, column = _text_position(text, offset)
    code_point = f"U+{ord(char):04X}"
    return UnmappableCharacter(
        f"character {char!r} ({code_point}) at line {line}, column {column} (offset {offset}) {why}",
        character=char,
        code_point=code_point,
        line=line,
        column=column,
        offset=offset,
    )


def encode_cp932(text: str, *, fold_jis_variants: bool = True) -> bytes:
    """Encode ``text`` as CP932 without loss, or raise :class:`UnmappableCharacter`.

    The error names the first offending character, its code point (U+XXXX), its 1-based line and column
    (in characters; lines end at LF) and its 0-based character offset. With ``fold_jis_variants`` (the
    default) the JIS-style characters of the table above are written as their CP932 bytes; without it
    they are refused, since decoding would give different code points.
    """
    source = text.translate(_JIS_TO_CP932) if fold_jis_variants else text
    # Folding is one character for one character, so offsets in ``source`` are offsets in ``text``.
    refused = _REFUSED_UNFOLDED.search(source)
    try:
        encoded = source.encode("cp932")
    except UnicodeEncodeError as exc:
        if refused is None or exc.start < refused.start():
            raise _unmappable(text, exc.start, "has no CP932 encoding") from None
    if refused is not None:
        offset = refused.start()
        why = (
            "is a JIS-style variant that CP932 decodes differently (use fold_jis_variants=True)"
            if ord(text[offset]) in _JIS_TO_CP932
            else "is not a CP932 character (stray byte of Python's codec)"
        )
        raise _unmappable(text, offset, why)
    return encoded


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """Return the 1-based (line, column) of byte ``offset``; the column counts characters.

    In CP932 the byte 0x0A is never part of a double-byte character, so counting LF bytes counts lines.
    """
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("cp932")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _invalid(data: bytes, offset: int, why: str) -> InvalidEncoding:
    width = 2 if data[offset] in _LEAD_BYTES and offset + 1 < len(data) else 1
    bad = data[offset : offset + width].hex(" ").upper()
    line, column = _byte_position(data, offset)
    return InvalidEncoding(
        f"bytes {bad} at byte offset {offset} (line {line}, column {column}) {why}",
        encoding="cp932",
        offset=offset,
        line=line,
        column=column,
        bad_bytes=bad,
    )


def _decode_strict(data: bytes) -> str:
    failure: UnicodeDecodeError | None = None
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError as exc:
        failure = exc
        # CP932 is stateless: everything before the failing byte is whole characters.
        text = data[: exc.start].decode("cp932")
    stray = _REFUSED_DECODED.search(text)
    if stray is not None:
        offset = len(text[: stray.start()].encode("cp932"))
        raise _invalid(data, offset, "are not a CP932 character")
    if failure is not None:
        raise _invalid(data, failure.start, f"are not valid CP932 ({failure.reason})")
    return text


def _is_gaiji(char: str) -> bool:
    return unicodedata.category(char) == "Co"


def find_gaiji(text: str) -> list[tuple[int, str]]:
    """List the 外字 in ``text``: every private-use character, as (0-based offset, character) pairs."""
    return [(offset, char) for offset, char in enumerate(text) if _is_gaiji(char)]


def decode_cp932(
    data: bytes,
    *,
    prefer_jis: bool = False,
    gaiji_map: Mapping[str, str] | None = None,
    strict_gaiji: bool = False,
) -> str:
    """Decode CP932 ``data`` exactly, or raise :class:`InvalidEncoding` naming offset, line and bytes.

    * ``prefer_jis``: return the JIS-style code points (〜 ‖ − ¢ £ ¬ —) instead of CP932's.
    * ``gaiji_map``: replace 外字 (user-defined area → U+E000–U+E757) by the mapped text, e.g. a
      municipality's table to standard or IVS characters.
    * ``strict_gaiji``: raise :class:`UnmappedGaiji` for a 外字 that ``gaiji_map`` does not map (or any
      外字 when there is no map), naming its bytes and position.
    """
    decoded = _decode_strict(data)
    # The JIS translation is one character for one, so indices into ``text`` are indices into ``decoded``.
    text = decoded.translate(_CP932_TO_JIS) if prefer_jis else decoded
    if gaiji_map is None and not strict_gaiji:
        return text
    mapping: Mapping[str, str] = gaiji_map if gaiji_map is not None else {}
    out: list[str] = []
    for index, char in enumerate(text):
        if not _is_gaiji(char):
            out.append(char)
        elif char in mapping:
            out.append(mapping[char])
        elif strict_gaiji:
            offset = len(decoded[:index].encode("cp932"))
            line, column = _byte_position(data, offset)
            code = data[offset : offset + 2].hex().upper()
            raise UnmappedGaiji(
                f"外字 {code} (U+{ord(char):04X}) at byte offset {offset} (line {line}, column {column})"
                " is not in the 外字 table",
                code_point=f"U+{ord(char):04X}",
                cp932=code,
                offset=offset,
                line=line,
                column=column,
            )
        else:
            out.append(char)
    return "".join(out)


def detect_encoding(data: bytes) -> Literal["utf-8", "cp932"]:
    """Tell how CSV intake should decode ``data``: UTF-8 (BOM or valid UTF-8) or else CP932.

    Pure ASCII is reported as ``utf-8``. Raises :class:`InvalidEncoding` when the bytes are neither.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as utf8_failure:
        try:
            _decode_strict(data)
        except InvalidEncoding as cp932_failure:
            detail = {**cp932_failure.detail, "encoding": "unknown", "utf8_offset": utf8_failure.start}
            raise InvalidEncoding(
                f"neither UTF-8 (invalid at byte offset {utf8_failure.start}) nor CP932"
                f" ({cp932_failure.message})",
                **detail,
            ) from None
        return "cp932"
    return "utf-8"
