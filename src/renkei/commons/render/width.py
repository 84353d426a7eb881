"""Character counting for Japanese channels.

Limits are counted in **full-width characters** (全角換算): a character whose East Asian Width is Wide,
Fullwidth or Ambiguous (漢字, かな, 全角英数, ①, ○ …) counts 1; Narrow, Halfwidth and Neutral characters
(ASCII, 半角カナ) count 0.5. So "ABC" is 1.5 and "避難" is 2. A limit of 15 means 15 全角 or 30 半角.
Combining marks count 0. Counting is exact (twice the value is an integer), see :func:`half_units`.
"""

from __future__ import annotations

import unicodedata


def _units(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in {"W", "F", "A"} else 1


def half_units(text: str) -> int:
    """Width of ``text`` in half-width units (全角 = 2, 半角 = 1); integer, exact."""
    return sum(_units(char) for char in text)


def fullwidth_length(text: str) -> float:
    """Width of ``text`` in full-width characters (全角 = 1, 半角 = 0.5)."""
    return half_units(text) / 2


def cut(text: str, limit: float) -> tuple[str, str]:
    """Split ``text`` into the longest prefix of at most ``limit`` full-width characters and the rest."""
    budget = int(limit * 2)
    used = 0
    for index, char in enumerate(text):
        width = _units(char)
        if used + width > budget:
            return text[:index], text[index:]
        used += width
    return text, ""
