"""Normalisation of Japanese text for MATCHING only (名寄せ, duplicate detection, search).

A matching key is a derived value used to compare two strings; it is never stored in place of what a
person or system wrote. Every function here returns a new string and leaves its input untouched, so a
record keeps the characters it was registered with (a person's name is written as they write it).

What :func:`matching_key` folds, in order:

1. NFKC: full-width ASCII → ASCII, half-width katakana → full-width (ｶﾞ → ガ), U+3000 → space, circled and
   squared compatibility forms → their letters (㍻ → 平成), CJK compatibility ideographs → unified ones.
   NFKC is safe here because the key is only compared, never shown or stored.
2. Removes every space (ASCII, U+3000 and other Unicode spaces), format characters (ZWSP, soft hyphen,
   BOM) and variation selectors (IVS/SVS: 葛󠄀 and 葛 match).
3. Hiragana → katakana; a small table of 異体字 (髙→高, 﨑→崎, 邊/邉→辺, 齋/齊→斎, 澤→沢 …) → their
   common form; ASCII letters → upper case (romaji spellings match regardless of case).
4. NFC, so that a base and a combining mark separated by a removed character compose.
5. Long-vowel and hyphen variants (ー ｰ - ‐ ‑ – — ― −): after a kana they become ー, elsewhere "-"
   (so スーパー, ｽｰﾊﾟｰ and ス-パ- match, and 1ー2ー3 matches 1-2-3).

Small kana stay distinct in :func:`matching_key` (キャ ≠ キヤ, ッ ≠ ツ: different names). Legacy
フリガナ data, often keyed on half-width terminals or in 全銀-style upper-case kana, frequently lacks
small kana; :func:`furigana_key` folds them to full-size for that purpose.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# 異体字 (variant) → common form. Only pairs that are the same character for matching people's names;
# 斉 and 斎 are distinct characters but interchangeable in surnames (斉藤/斎藤/齋藤/齊藤), so they fold
# together with their old forms.
VARIANT_FORMS: Final = MappingProxyType(
    {
        "髙": "高",
        "﨑": "崎",
        "嵜": "崎",
        "邊": "辺",
        "邉": "辺",
        "齋": "斎",
        "齊": "斎",
        "斉": "斎",
        "澤": "沢",
        "濱": "浜",
        "櫻": "桜",
        "國": "国",
        "廣": "広",
        "德": "徳",
        "惠": "恵",
        "榮": "栄",
        "眞": "真",
        "黑": "黒",
        "冨": "富",
        "嶋": "島",
        "嶌": "島",
        "峯": "峰",
        "曾": "曽",
        "槇": "槙",
        "藪": "薮",
        "壽": "寿",
        "實": "実",
        "彌": "弥",
        "瀨": "瀬",
        "關": "関",
        "來": "来",
        "條": "条",
        "𠮷": "吉",
    }
)
"""The 異体字 that :func:`matching_key` folds, variant → common form (read-only)."""

_HIRAGANA_TO_KATAKANA: Final = MappingProxyType(
    {
        **{code: code + 0x60 for code in range(0x3041, 0x3097)},  # ぁ..ゖ → ァ..ヶ
        0x309D: 0x30FD,  # ゝ → ヽ
        0x309E: 0x30FE,  # ゞ → ヾ
    }
)

_KEY_TABLE: Final[Mapping[int, int | str]] = MappingProxyType(
    {
        **_HIRAGANA_TO_KATAKANA,
        **{ord(variant): common for variant, common in VARIANT_FORMS.items()},
        **{code: code - 0x20 for code in range(ord("a"), ord("z") + 1)},
    }
)

_HYPHENS: Final = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70\ufe63\uff0d")
_LONG_VOWEL = "\u30fc"

_SMALL_TO_LARGE: Final[Mapping[int, str | None]] = MappingProxyType(
    {
        ord(small): large
        for small, large in zip(
            "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
            "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
            strict=True,
        )
    }
    | {0x30FB: None}  # 中黒 ・ separates given and family names in some sources and not in others
)

_ASCII_TO_HALFWIDTH: Final = MappingProxyType(
    {**{code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}, 0x3000: 0x20}
)

_HALFWIDTH_KATAKANA_FIRST, _HALFWIDTH_KATAKANA_LAST = 0xFF61, 0xFF9F
_HALFWIDTH_VOICED = {"\uff9e": ("\u3099", "\u309b"), "\uff9f": ("\u309a", "\u309c")}


def _is_kana(char: str) -> bool:
    code = ord(char)
    return (0x30A1 <= code <= 0x30FA) or (0x30FC <= code <= 0x30FF) or (0x31F0 <= code <= 0x31FF)


def _is_dropped(char: str) -> bool:
    if char.isspace():
        return True
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
        return True
    return unicodedata.category(char) == "Cf"


def _unify_hyphens(text: str) -> str:
    out: list[str] = []
    # The context is the last base character: combining marks do not change whether we are inside kana.
    in_kana = False
    for char in text:
        if char in _HYPHENS:
            char = _LONG_VOWEL if in_kana else "-"
        if unicodedata.category(char)[0] != "M":
            in_kana = _is_kana(char)
        out.append(char)
    return "".join(out)


def matching_key(text: str) -> str:
    """Return the key under which ``text`` matches equivalent spellings; the input is not altered.

    Two strings that differ only in width, hiragana/katakana, spaces, the listed 異体字, ASCII case or
    long-vowel/hyphen variants get the same key. The key is for comparison only, never for storage.
    """
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(char for char in folded if not _is_dropped(char))
    folded = folded.translate(_KEY_TABLE)
    folded = unicodedata.normalize("NFC", folded)
    return _unify_hyphens(folded)


def furigana_key(text: str) -> str:
    """Return the key for matching フリガナ: :func:`matching_key`, small kana → full-size, ・ removed.

    ``キャ``, ``ｷﾔ`` and ``きゃ`` share a key, for legacy readings that were stored without small kana.
    """
    # matching_key once more: removing ・ or enlarging ッ can bring a base next to a combining mark.
    return matching_key(matching_key(text).translate(_SMALL_TO_LARGE))


def to_fullwidth_katakana(text: str) -> str:
    """Return ``text`` with half-width katakana and hiragana written as full-width katakana.

    Voiced marks join their kana (ｶﾞ → ガ, ｳﾞ → ヴ); a half-width ﾞ/ﾟ with nothing to join becomes the
    spacing ゛/゜. Half-width 。「」、・ become full-width; every other character is kept as it is.
    """
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char in _HALFWIDTH_VOICED:
            combining, spacing = _HALFWIDTH_VOICED[char]
            if out:
                joined = unicodedata.normalize("NFC", out[-1] + combining)
                if len(joined) == 1:
                    out[-1] = joined
                    continue
            out.append(spacing)
        elif _HALFWIDTH_KATAKANA_FIRST <= code <= _HALFWIDTH_KATAKANA_LAST:
            out.append(unicodedata.normalize("NFKC", char))
        else:
            out.append(char.translate(_HIRAGANA_TO_KATAKANA))
    return "".join(out)


def to_halfwidth_ascii(text: str) -> str:
    """Return ``text`` with full-width ASCII (！..～) and the ideographic space U+3000 as ASCII.

    Kana and every other character are kept as they are.
    """
    return text.translate(_ASCII_TO_HALFWIDTH)


def is_katakana(text: str) -> bool:
    """Tell whether ``text`` is a valid フリガナ: full-width katakana, ー, ヽ/ヾ and spaces only.

    Spaces (ASCII or U+3000) separate family and given names; a text of spaces only, or empty, is not
    katakana. Half-width katakana and hiragana are refused (convert with :func:`to_fullwidth_katakana`).
    """
    has_kana = False
    for char in text:
        if char in (" ", "\u3000"):
            continue
        code = ord(char)
        if not ((0x30A1 <= code <= 0x30FA) or (0x30FC <= code <= 0x30FE)):
            return False
        has_kana = True
    return has_kana
