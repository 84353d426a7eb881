"""Find 個人番号 in text or bytes: the leak detector for logs, messages, errors and database dumps.

A candidate is 12 digits — ASCII or full-width (０-９), optionally grouped 4-4-4 with the same space,
full-width space or hyphen-like separator — not embedded in a longer run of digits, whose check digit is
valid. Bytes are read as UTF-8 and as CP932 (Shift_JIS full-width digits), so both encodings are covered.

Three shapes are not 個人番号 even when their digits would pass, because identifiers made of random hex
hit them all the time: 12 digits inside a longer run of hexadecimal characters with a letter in it (a
SHA-256 hex digest, a person key or a certificate fingerprint contains a valid-looking run about once in 70),
digits inside a UUID (``00000000-0000-0000-0000-000000000000`` and its all-digit last group), and a grouped
candidate that continues a run of 4-digit groups with the same separator (``0000-1234-5678-9018``: a card or
account number).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from renkei.japanese.checkdigit import is_valid_individual_number

_DIGIT = "[0-9０-９]"
_SEP = "[ 　\\-‐‑‒–—―−－]"
_PATTERN = re.compile(
    rf"(?<![0-9０-９])({_DIGIT}{{4}})(?:({_SEP}?)({_DIGIT}{{4}})\2({_DIGIT}{{4}}))(?![0-9０-９])"
)
_TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")
_NO_DIGITS = str.maketrans("", "", "0123456789０１２３４５６７８９")
_DIGITS = frozenset("0123456789０１２３４５６７８９")
_HEX = frozenset("0123456789abcdefABCDEF")
_HEX_TOKEN = 24
"""A run of at least this many hex characters, with a letter in it, is a digest or key (96 bits and more:
person keys and UUID hex are 32, SHA-1 40, SHA-256 64), not a number glued to a word."""
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


@dataclass(frozen=True, slots=True)
class Finding:
    """One 個人番号 found: its canonical digits, and where (character offset in the decoded text)."""

    number: str
    start: int
    end: int
    encoding: str

    def __repr__(self) -> str:  # a finding is itself a leak if printed
        return f"Finding(start={self.start}, end={self.end}, encoding={self.encoding!r})"


def _longer_run(text: str, match: re.Match[str]) -> bool:
    """Whether a grouped candidate continues a run of 4-digit groups: ``dddd<sep>`` before or ``<sep>dddd``
    after it (with the candidate's own separator)."""
    separator = match.group(2)
    if not separator:
        return False
    start, end = match.start(), match.end()
    before = text[start - 5 : start] if start >= 5 else ""
    after = text[end : end + 5]
    return (before[-1:] == separator and all(c in _DIGITS for c in before[:4])) or (
        after[:1] == separator and len(after) == 5 and all(c in _DIGITS for c in after[1:])
    )


def _inside_hex(text: str, match: re.Match[str]) -> bool:
    """Whether plain 12 digits sit inside a hex token (a digest, key or fingerprint) of ``_HEX_TOKEN`` or
    more characters. The neighbours of a candidate are never digits, so any hex neighbour is a letter; the
    look-around is bounded (hostile input of megabytes of hex is scanned in linear time)."""
    if match.group(2):
        return False
    reach = _HEX_TOKEN - 12
    start, end = match.start(), match.end()
    low, high = max(0, start - reach), min(len(text), end + reach)
    while start > low and text[start - 1] in _HEX:
        start -= 1
    while end < high and text[end] in _HEX:
        end += 1
    return end - start >= _HEX_TOKEN


def _scan_text(text: str, encoding: str) -> list[Finding]:
    found = []
    uuids = [m.span() for m in _UUID.finditer(text)] if "-" in text else []
    for match in _PATTERN.finditer(text):
        digits = (match.group(1) + match.group(3) + match.group(4)).translate(_TO_ASCII)
        if not is_valid_individual_number(digits) or _longer_run(text, match) or _inside_hex(text, match):
            continue
        if any(start < match.end() and match.start() < end for start, end in uuids):
            continue
        found.append(Finding(digits, match.start(), match.end(), encoding))
    return found


def find_individual_numbers(data: str | bytes) -> list[Finding]:
    """Every valid 個人番号 in ``data``, in order of position (bytes: UTF-8 findings, then CP932 ones)."""
    if isinstance(data, str):
        return _scan_text(data, "text")
    found = _scan_text(data.decode("utf-8", errors="replace"), "utf-8")
    found += _scan_text(data.decode("cp932", errors="replace"), "cp932")
    return found


def contains_individual_number(data: str | bytes) -> bool:
    """Whether ``data`` holds any valid 個人番号."""
    if isinstance(data, bytes) and data.isascii():  # read as UTF-8 and as CP932 alike: once is enough
        if len(data) - len(data.translate(None, b"0123456789")) < 12:
            return False  # fewer than twelve digits in all: no candidate (the usual identifier or path)
        return bool(_scan_text(data.decode("ascii"), "utf-8"))
    if isinstance(data, str) and len(data) - len(data.translate(_NO_DIGITS)) < 12:
        return False
    return bool(find_individual_numbers(data))


def holds_individual_number(decoded: Any) -> bool:
    """Whether decoded data (parsed JSON, query items, SOAP items: names and values alike) holds a 個人番号.
    Scanning the bytes is not enough: a JSON escape (``\\uFF11``), an exponent (``1.23456789018e11``), a
    percent-encoded query or an XML character reference hides the digits there."""
    return contains_individual_number(json.dumps(decoded, ensure_ascii=False, default=str))
