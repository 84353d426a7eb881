"""Matching keys: what they fold, what they keep apart, and their algebraic promises."""

from __future__ import annotations

import dataclasses
import unicodedata

import jaconv
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from renkei.japanese import (
    VARIANT_FORMS,
    furigana_key,
    is_katakana,
    matching_key,
    to_fullwidth_katakana,
    to_halfwidth_ascii,
)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("ｽｰﾊﾟｰ", "スーパー"),
        ("す-ぱ-", "スーパー"),
        ("ス‐パ―", "スーパー"),
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("やまだ たろう", "ヤマダタロウ"),
        ("ＡＢＣ１２３", "abc123"),
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("齋藤", "斎藤"),
        ("齊藤", "斉藤"),
        ("澤田", "沢田"),
        ("濱田", "浜田"),
        ("櫻井", "桜井"),
        ("𠮷田", "吉田"),
        ("1ー2ー3", "1-2-3"),
        ("1−2−3", "１－２－３"),
        ("ヴ", "ｳﾞ"),
        ("ガ", "カ\u3099"),  # decomposed voiced mark
        ("葛\U000e0100飾", "葛飾"),  # IVS selector
        ("ab\u200bc", "ABC"),  # zero-width space
        ("㍻", "平成"),
    ],
)
def test_equivalent_spellings_share_a_key(left: str, right: str) -> None:
    assert matching_key(left) == matching_key(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("キャ", "キヤ"),  # small kana are kept distinct by matching_key
        ("ッ", "ツ"),
        ("高橋", "高島"),
        ("A-1", "A1"),
        ("ハ", "バ"),
        ("ア", "ア゛"),
    ],
)
def test_different_spellings_keep_different_keys(left: str, right: str) -> None:
    assert matching_key(left) != matching_key(right)


def test_hyphens_outside_kana_stay_hyphens() -> None:
    assert matching_key("A‐1") == "A-1"
    assert matching_key("ｽｰﾊﾟｰ") == "スーパー"
    assert matching_key("ー") == "-"


@pytest.mark.parametrize(("variant", "common"), sorted(VARIANT_FORMS.items()))
def test_every_variant_folds_to_its_common_form(variant: str, common: str) -> None:
    assert matching_key(variant) == common
    assert common not in VARIANT_FORMS  # one step: no chains that would break idempotence


def test_furigana_key_folds_small_kana_and_middle_dot() -> None:
    assert furigana_key("キャ") == furigana_key("キヤ") == furigana_key("ｷﾔ") == furigana_key("きゃ")
    assert furigana_key("ジョン・スミス") == furigana_key("ジヨン スミス")
    assert furigana_key("ガッコウ") == "ガツコウ"


japanese_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x3000, max_codepoint=0x30FF),
        st.characters(min_codepoint=0xFF01, max_codepoint=0xFF9F),
        st.sampled_from([*sorted(VARIANT_FORMS), "\u2010", "\u2212", "\u3099", "\u200b", "\ufe00"]),
    )
)


@given(st.text())
@example("わ\u3099")
@example("i\u0307")
@example("ッ\u3099-")
@example("か \u309b")
def test_matching_key_is_idempotent(text: str) -> None:
    key = matching_key(text)
    assert matching_key(key) == key


@given(japanese_text)
def test_matching_key_is_idempotent_on_japanese_text(text: str) -> None:
    key = matching_key(text)
    assert matching_key(key) == key


@given(st.text())
@example("ッ\u3099-")
def test_furigana_key_is_idempotent(text: str) -> None:
    key = furigana_key(text)
    assert furigana_key(key) == key


# Pairs of (half-width, full-width) spellings; kana only where a half-width form exists.
_ASCII_PAIRS = [(chr(c), chr(c + 0xFEE0)) for c in range(0x21, 0x7F)] + [(" ", "\u3000")]
_KANA_PAIRS = [
    (jaconv.z2h(kana, kana=True, ascii=False, digit=False), kana)
    for kana in "アイウエオカキクケコガギグゲゴサシスセソザジズゼゾタチツテトダヂヅデドナニヌネノ"
    "ハヒフヘホバビブベボパピプペポマミムメモヤユヨラリルレロワヲンァィゥェォッャュョヴー・「」、。"
]
width_pairs = st.lists(st.sampled_from(_ASCII_PAIRS + _KANA_PAIRS))


def test_kana_pairs_really_differ_in_width() -> None:
    assert all(half != full for half, full in _KANA_PAIRS)
    assert ("ｶﾞ", "ガ") in _KANA_PAIRS


@given(width_pairs)
def test_matching_key_is_width_invariant(pairs: list[tuple[str, str]]) -> None:
    half = "".join(h for h, _ in pairs)
    full = "".join(f for _, f in pairs)
    assert matching_key(half) == matching_key(full)


@given(st.text(alphabet=[chr(c) for c in range(0x3041, 0x3097)]))
def test_matching_key_is_script_invariant(hiragana: str) -> None:
    katakana = "".join(chr(ord(c) + 0x60) for c in hiragana)
    assert matching_key(hiragana) == matching_key(katakana) == katakana


@given(japanese_text, st.lists(st.tuples(st.integers(min_value=0), st.sampled_from([" ", "\u3000", "\t"]))))
def test_matching_key_ignores_spaces(text: str, insertions: list[tuple[int, str]]) -> None:
    spaced = text
    for position, space in insertions:
        cut = position % (len(spaced) + 1)
        spaced = spaced[:cut] + space + spaced[cut:]
    assert matching_key(spaced) == matching_key(text)


@dataclasses.dataclass(frozen=True)
class _Record:
    name: str


@given(japanese_text)
def test_matching_key_never_alters_the_stored_value(text: str) -> None:
    record = _Record(text)
    snapshot = (record.name, len(record.name), [ord(c) for c in record.name])
    key = matching_key(record.name)
    furigana_key(record.name)
    assert (record.name, len(record.name), [ord(c) for c in record.name]) == snapshot
    assert record.name == text
    assert isinstance(key, str)


def test_to_fullwidth_katakana_examples() -> None:
    assert to_fullwidth_katakana("ｶﾞｷﾞｸﾞ") == "ガギグ"
    assert to_fullwidth_katakana("ｳﾞｧｲｵﾘﾝ") == "ヴァイオリン"
    assert to_fullwidth_katakana("ﾊﾟﾝ") == "パン"
    assert to_fullwidth_katakana("やまだ ﾀﾛｳ") == "ヤマダ タロウ"
    assert to_fullwidth_katakana("ABC 123 漢字") == "ABC 123 漢字"
    assert to_fullwidth_katakana("ｱﾞ") == "ア゛"  # nothing to join: the spacing mark
    assert to_fullwidth_katakana("ﾞ") == "゛"
    assert to_fullwidth_katakana("ｰ｡｢｣､･") == "ー。「」、・"


kana_text = st.text(
    alphabet=[chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0xFF66, 0xFF9E)]
)


@given(kana_text)
def test_to_fullwidth_katakana_yields_valid_furigana(text: str) -> None:
    converted = to_fullwidth_katakana(text)
    assert to_fullwidth_katakana(converted) == converted
    assert not any(0xFF61 <= ord(c) <= 0xFF9F or 0x3041 <= ord(c) <= 0x3096 for c in converted)
    if text:
        assert is_katakana(converted)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_to_halfwidth_ascii_inverts_full_width(text: str) -> None:
    full = "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) for c in text)
    assert to_halfwidth_ascii(full) == text


def test_to_halfwidth_ascii_keeps_kana() -> None:
    assert to_halfwidth_ascii("ＡＢＣ　１２３！ア") == "ABC 123!ア"
    assert to_halfwidth_ascii("ｱ") == "ｱ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ヤマダ タロウ", True),
        ("ヤマダ　タロウ", True),
        ("ヴァイオリン", True),
        ("スーパー", True),
        ("ヽヾ", True),
        ("", False),
        ("   ", False),
        ("ｱｲｳ", False),
        ("やまだ", False),
        ("ヤマダ1", False),
        ("ヤマダ・タロウ", False),
        ("山田", False),
    ],
)
def test_is_katakana(text: str, expected: bool) -> None:
    assert is_katakana(text) is expected


def _is_furigana_char(char: str) -> bool:
    in_katakana_block = 0x30A0 <= ord(char) <= 0x30FF
    return char in " \u3000ーヽヾ" or (
        in_katakana_block and unicodedata.name(char, "").startswith("KATAKANA LETTER")
    )


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(min_codepoint=0x3000, max_codepoint=0x31FF),
            st.characters(min_codepoint=0xFF61, max_codepoint=0xFF9F),
            st.sampled_from(" \u3000"),
            st.characters(),
        )
    )
)
def test_is_katakana_agrees_with_unicode_names(text: str) -> None:
    expected = all(_is_furigana_char(c) for c in text) and any(c not in " \u3000" for c in text)
    assert is_katakana(text) == expected
