"""CP932 ⇄ Unicode: exact round trips, refusals with positions, the 〜 problem and 外字."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.japanese import (
    InvalidEncoding,
    UnmappableCharacter,
    UnmappedGaiji,
    decode_cp932,
    detect_encoding,
    encode_cp932,
    find_gaiji,
)

JIS_TO_MICROSOFT = {
    "\u301c": "\uff5e",  # 〜 → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − → －
    "\u00a2": "\uffe0",  # ¢ → ￠
    "\u00a3": "\uffe1",  # £ → ￡
    "\u00ac": "\uffe2",  # ¬ → ￢
    "\u2014": "\u2015",  # — → ―
}
STRAY = "\u0080\uf8f0\uf8f1\uf8f2\uf8f3"


def _cp932_characters() -> tuple[str, ...]:
    """Every character CP932 bytes decode to, by enumerating the byte space (an independent oracle)."""
    chars: set[str] = set()
    singles = [bytes([b]) for b in [*range(0x80), *range(0xA1, 0xE0)]]
    leads = [*range(0x81, 0xA0), *range(0xE0, 0xFD)]
    trails = [*range(0x40, 0x7F), *range(0x80, 0xFD)]
    doubles = [bytes([lead, trail]) for lead in leads for trail in trails]
    for sequence in singles + doubles:
        try:
            chars.add(sequence.decode("cp932"))
        except UnicodeDecodeError:
            continue
    return tuple(sorted(chars - set(STRAY)))


CP932_CHARS = _cp932_characters()
CP932_SET = frozenset(CP932_CHARS)
cp932_text = st.text(alphabet=st.sampled_from(CP932_CHARS))
non_cp932_char = st.characters(codec="utf-8").filter(
    lambda c: c not in CP932_SET and c not in JIS_TO_MICROSOFT
)


def test_oracle_is_plausible() -> None:
    assert len(CP932_CHARS) > 7000
    assert {"あ", "ア", "ｱ", "髙", "﨑", "①", "\ue000", "\ue757", "～"} <= CP932_SET
    assert "〜" not in CP932_SET  # decoding never yields the JIS-style wave dash


def test_ibm_extension_kanji_encodes() -> None:
    assert decode_cp932(encode_cp932("髙橋")) == "髙橋"
    assert decode_cp932(encode_cp932("山﨑")) == "山﨑"


def test_unmappable_character_is_named_with_its_position() -> None:
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932("𠮷野家")
    error = caught.value
    assert error.code == "japanese.charset.unmappable"
    assert error.http_status == 422
    assert error.detail["character"] == "𠮷"
    assert error.detail["code_point"] == "U+20BB7"
    assert (error.detail["line"], error.detail["column"], error.detail["offset"]) == (1, 1, 0)
    assert "U+20BB7" in error.message
    assert "line 1, column 1" in error.message


def test_unmappable_position_counts_lines_and_columns() -> None:
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932("あいう\r\nえお\nか𠮷")
    detail = caught.value.detail
    assert (detail["line"], detail["column"], detail["offset"]) == (3, 2, 9)


def test_first_of_several_bad_characters_is_reported() -> None:
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932("a\u0080b𠮷", fold_jis_variants=False)
    assert caught.value.detail["offset"] == 1
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932("a𠮷b\u301c", fold_jis_variants=False)
    assert caught.value.detail["offset"] == 1


@pytest.mark.parametrize(("jis", "microsoft"), JIS_TO_MICROSOFT.items())
def test_jis_variants_fold_onto_the_cp932_bytes(jis: str, microsoft: str) -> None:
    assert encode_cp932(jis) == encode_cp932(microsoft)
    assert decode_cp932(encode_cp932(jis)) == microsoft  # the documented, known mapping difference
    assert decode_cp932(encode_cp932(jis), prefer_jis=True) == jis
    assert decode_cp932(encode_cp932(microsoft)) == microsoft
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932(jis, fold_jis_variants=False)
    assert caught.value.detail["code_point"] == f"U+{ord(jis):04X}"


def test_wave_dash_bytes() -> None:
    assert encode_cp932("1〜3") == b"1\x81\x603"
    assert decode_cp932(b"1\x81\x603") == "1～3"
    assert decode_cp932(b"1\x81\x603", prefer_jis=True) == "1〜3"


def test_backslash_and_yen() -> None:
    assert encode_cp932("\\") == b"\\"
    assert decode_cp932(b"\x81\x5f") == "＼"
    assert decode_cp932(b"\x81\x5f", prefer_jis=True) == "＼"  # not folded: U+005C is the byte 5C
    with pytest.raises(UnmappableCharacter):
        encode_cp932("¥")


@pytest.mark.parametrize("char", list(STRAY))
def test_stray_code_points_are_refused_on_encode(char: str) -> None:
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932("ab" + char)
    assert caught.value.detail["offset"] == 2


@pytest.mark.parametrize("byte", [0x80, 0xA0, 0xFD, 0xFE, 0xFF])
def test_stray_bytes_are_refused_on_decode(byte: int) -> None:
    with pytest.raises(InvalidEncoding) as caught:
        decode_cp932(b"\x82\xa0\n" + bytes([byte]) + b"x")
    detail = caught.value.detail
    assert (detail["offset"], detail["line"], detail["column"]) == (3, 2, 1)
    assert detail["bad_bytes"] == f"{byte:02X}"


def test_invalid_bytes_are_named_with_offset_line_and_column() -> None:
    with pytest.raises(InvalidEncoding) as caught:
        decode_cp932("あいう\nえ".encode("cp932") + b"\x85\x40")
    error = caught.value
    assert error.code == "japanese.charset.invalid_encoding"
    assert error.http_status == 400
    assert (error.detail["offset"], error.detail["line"], error.detail["column"]) == (9, 2, 2)
    assert error.detail["bad_bytes"] == "85 40"
    assert "85 40" in error.message
    assert "byte offset 9" in error.message


def test_truncated_double_byte_character() -> None:
    with pytest.raises(InvalidEncoding) as caught:
        decode_cp932(b"abc\x82")
    assert (caught.value.detail["offset"], caught.value.detail["bad_bytes"]) == (3, "82")


def test_gaiji_area_round_trips_and_is_found() -> None:
    assert decode_cp932(b"\xf0\x40") == "\ue000"
    assert decode_cp932(b"\xf9\xfc") == "\ue757"
    assert encode_cp932("\ue000\ue757") == b"\xf0\x40\xf9\xfc"
    assert find_gaiji("山\ue000田\ue757") == [(1, "\ue000"), (3, "\ue757")]
    assert find_gaiji("山田") == []
    assert find_gaiji("\U000f0000") == [(0, "\U000f0000")]  # supplementary private use too


def test_gaiji_map_replaces_and_strict_gaiji_refuses_unmapped() -> None:
    data = "山".encode("cp932") + b"\xf0\x40" + b"\n" + b"\xf0\x41"
    table = {"\ue000": "髙", "\ue001": "葛\U000e0100"}
    assert decode_cp932(data, gaiji_map=table) == "山髙\n葛\U000e0100"
    assert decode_cp932(data, gaiji_map={"\ue000": "髙"}) == "山髙\n\ue001"
    with pytest.raises(UnmappedGaiji) as caught:
        decode_cp932(data, gaiji_map={"\ue000": "髙"}, strict_gaiji=True)
    error = caught.value
    assert error.code == "japanese.charset.gaiji_unmapped"
    assert error.detail["code_point"] == "U+E001"
    assert error.detail["cp932"] == "F041"
    assert (error.detail["offset"], error.detail["line"], error.detail["column"]) == (5, 2, 1)
    with pytest.raises(UnmappedGaiji):
        decode_cp932(b"\xf0\x40", strict_gaiji=True)
    assert decode_cp932(b"abc", strict_gaiji=True) == "abc"


def test_detect_encoding() -> None:
    assert detect_encoding(codecs.BOM_UTF8 + "宛名".encode()) == "utf-8"
    assert detect_encoding("宛名番号,氏名".encode()) == "utf-8"
    assert detect_encoding(b"plain,ascii\n") == "utf-8"
    assert detect_encoding("宛名番号,氏名".encode("cp932")) == "cp932"
    assert detect_encoding("ｱﾃﾅ".encode("cp932")) == "cp932"
    with pytest.raises(InvalidEncoding) as caught:
        detect_encoding(b"ok\n\x85\x40")
    assert caught.value.detail["encoding"] == "unknown"
    assert caught.value.detail["offset"] == 3


@given(cp932_text)
def test_cp932_text_round_trips_exactly(text: str) -> None:
    assert decode_cp932(encode_cp932(text)) == text
    assert decode_cp932(encode_cp932(text, fold_jis_variants=False)) == text
    assert encode_cp932(text) == text.encode("cp932")


@given(
    st.text(
        alphabet=st.sampled_from(sorted((CP932_SET - set(JIS_TO_MICROSOFT.values())) | set(JIS_TO_MICROSOFT)))
    )
)
def test_jis_style_text_round_trips_exactly_with_prefer_jis(text: str) -> None:
    assert decode_cp932(encode_cp932(text), prefer_jis=True) == text


@given(cp932_text, non_cp932_char, st.text())
def test_non_cp932_character_is_refused_at_its_position(prefix: str, bad: str, suffix: str) -> None:
    text = prefix + bad + suffix
    with pytest.raises(UnmappableCharacter) as caught:
        encode_cp932(text)
    detail = caught.value.detail
    assert detail["offset"] == len(prefix)
    assert detail["character"] == bad
    assert detail["code_point"] == f"U+{ord(bad):04X}"
    assert detail["line"] == prefix.count("\n") + 1
    assert detail["column"] == len(prefix) - (prefix.rfind("\n") + 1) + 1


def _decode_or_error(data: bytes) -> str | InvalidEncoding:
    try:
        return decode_cp932(data)
    except InvalidEncoding as error:
        return error


@given(st.binary())
def test_decoding_arbitrary_bytes_either_fails_in_range_or_gives_encodable_text(data: bytes) -> None:
    result = _decode_or_error(data)
    if isinstance(result, InvalidEncoding):
        offset = result.detail["offset"]
        assert 0 <= offset < len(data)
        assert result.detail["line"] == data.count(b"\n", 0, offset) + 1
        assert data[offset:].hex(" ").upper().startswith(result.detail["bad_bytes"])
    else:
        assert decode_cp932(encode_cp932(result, fold_jis_variants=False)) == result
        assert len(encode_cp932(result)) == len(data)
