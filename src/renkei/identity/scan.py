"""Find 個人番号 in text or bytes: the leak detector for logs, messages, errors and database dumps.

A candidate is 12 digits — ASCII or full-width (０-９), optionally grouped 4-4-4 with the same space,
full-width space or hyphen-like separator — not embedded in a longer run of digits, whose check digit is
valid. Bytes are read as UTF-8 and as CP932 (Shift_JIS full-width digits), so both encodings are covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from renkei.japanese.checkdigit import is_valid_individual_number

_DIGIT = "[0-9０-９]"
_SEP = "[ 　\\-‐‑‒–—―−－]"
_PATTERN = re.compile(
    rf"(?<![0-9０-９])({_DIGIT}{{4}})(?:({_SEP}?)({_DIGIT}{{4}})\2({_DIGIT}{{4}}))(?![0-9０-９])"
)
_TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True, slots=True)
class Finding:
    """One 個人番号 found: its canonical digits, and where (character offset in the decoded text)."""

    number: str
    start: int
    end: int
    encoding: str

    def __repr__(self) -> str:  # a finding is itself a leak if printed
        return f"Finding(start={self.start}, end={self.end}, encoding={self.encoding!r})"


def _scan_text(text: str, encoding: str) -> list[Finding]:
    found = []
    for match in _PATTERN.finditer(text):
        digits = (match.group(1) + match.group(3) + match.group(4)).translate(_TO_ASCII)
        if is_valid_individual_number(digits):
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
    return bool(find_individual_numbers(data))
