"""Check digits: known real numbers, hand-computed cases and agreement with python-stdnum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import cn, in_

from renkei.errors import InvalidInput
from renkei.japanese import (
    CheckDigitMismatch,
    MalformedNumber,
    complete_local_government_code,
    corporate_number_check_digit,
    generate_atena_number,
    generate_household_number,
    individual_number_check_digit,
    is_valid_atena_number,
    is_valid_corporate_number,
    is_valid_household_number,
    is_valid_individual_number,
    is_valid_local_government_code,
    local_government_code_check_digit,
    m11w27_check_digit,
    validate_atena_number,
    validate_corporate_number,
    validate_household_number,
    validate_individual_number,
    validate_local_government_code,
)
from renkei.japanese.checkdigit import individual_number_check_digits


def digits(length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=length, max_size=length)


def other_digit(digit: str) -> st.SearchStrategy[str]:
    return st.sampled_from([d for d in "0123456789" if d != digit])


# --- 個人番号 ---


def test_known_individual_number_is_valid() -> None:
    assert in_.is_valid("123456789018")  # the reference agrees with the example
    assert validate_individual_number("123456789018") == "123456789018"
    assert individual_number_check_digit("12345678901") == "8"
    assert is_valid_individual_number("123456789018")


@pytest.mark.parametrize("printed", ["1234 5678 9018", "1234-5678-9018", " 123456789018 "])
def test_individual_number_separators_are_removed(printed: str) -> None:
    assert validate_individual_number(printed) == "123456789018"


def test_individual_number_full_width_digits_are_refused_by_name() -> None:
    with pytest.raises(MalformedNumber) as caught:
        validate_individual_number("１２３４５６７８９０１８")
    assert "full-width digits are not accepted" in caught.value.message
    assert caught.value.detail["reason"] == "full_width_digits"
    assert caught.value.code == "japanese.number.malformed"
    assert caught.value.http_status == 400
    assert isinstance(caught.value, InvalidInput)


def test_individual_number_non_digit_is_named() -> None:
    with pytest.raises(MalformedNumber) as caught:
        validate_individual_number("12345678901a")
    assert caught.value.detail["reason"] == "non_digit"
    assert caught.value.detail["position"] == 11
    assert "'a'" in caught.value.message


@pytest.mark.parametrize("number", ["12345678901", "1234567890180", ""])
def test_individual_number_wrong_length(number: str) -> None:
    with pytest.raises(MalformedNumber) as caught:
        validate_individual_number(number)
    assert caught.value.detail["reason"] == "length"
    assert caught.value.detail["length"] == len(number)


def test_individual_number_mismatch_names_expected_and_got_but_not_the_number() -> None:
    with pytest.raises(CheckDigitMismatch) as caught:
        validate_individual_number("123456789012")
    error = caught.value
    assert error.code == "japanese.checkdigit.mismatch"
    assert error.http_status == 422
    assert (error.detail["expected"], error.detail["got"]) == ("8", "2")
    assert "expected 8 but got 2" in error.message
    # A 個人番号 is 特定個人情報: the error must not carry it into logs.
    assert "12345678901" not in str(error)
    assert "12345678901" not in repr(dict(error.detail))
    assert not is_valid_individual_number("123456789012")


@given(digits(11))
def test_individual_check_digit_agrees_with_stdnum(base: str) -> None:
    check = individual_number_check_digit(base)
    assert check == in_.calc_check_digit(base)
    assert in_.is_valid(base + check)
    assert validate_individual_number(base + check) == base + check


@given(digits(12))
def test_individual_validity_agrees_with_stdnum(number: str) -> None:
    assert is_valid_individual_number(number) == in_.is_valid(number)


@given(digits(11), st.data())
def test_individual_wrong_check_digit_is_refused(base: str, data: st.DataObject) -> None:
    wrong = data.draw(other_digit(individual_number_check_digit(base)))
    with pytest.raises(CheckDigitMismatch):
        validate_individual_number(base + wrong)


@pytest.mark.parametrize("base", ["1234567890", "123456789012", "1234567890a"])
def test_individual_check_digit_needs_eleven_digits(base: str) -> None:
    with pytest.raises(MalformedNumber):
        individual_number_check_digit(base)


# --- 個人番号, many at once ---


@given(st.lists(digits(11), max_size=50))
def test_batch_individual_check_digits_agree_with_the_scalar_function_and_stdnum(bases: list[str]) -> None:
    expected = [individual_number_check_digit(base) for base in bases]
    assert expected == [in_.calc_check_digit(base) for base in bases]
    from_text = individual_number_check_digits(bases)
    from_values = individual_number_check_digits(np.array([int(b) for b in bases], dtype=np.int64))
    assert from_text.dtype == from_values.dtype == np.uint8
    assert [str(d) for d in from_text] == [str(d) for d in from_values] == expected


@given(st.lists(st.integers(min_value=0, max_value=10**11 - 1), min_size=1, max_size=50))
def test_batch_individual_check_digits_of_unsigned_values(values: list[int]) -> None:
    result = individual_number_check_digits(np.array(values, dtype=np.uint64))
    assert [str(d) for d in result] == [individual_number_check_digit(f"{v:011d}") for v in values]


def test_batch_individual_check_digits_edges() -> None:
    assert individual_number_check_digits([]).shape == (0,)
    assert individual_number_check_digits(np.array([], dtype=np.int64)).shape == (0,)
    assert list(individual_number_check_digits(["12345678901", "00000000000", "99999999999"])) == [8, 0, 6]
    every_remainder = np.arange(0, 10**11, 10**11 // 1_000 + 7, dtype=np.int64)
    expected = [int(individual_number_check_digit(f"{v:011d}")) for v in every_remainder]
    assert individual_number_check_digits(every_remainder).tolist() == expected


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("1234567890", "length"),
        ("123456789012", "length"),
        ("1234567890a", "non_digit"),
        ("１２３４５６７８９０１", "full_width_digits"),
        ("1234567890/", "non_digit"),
    ],
)
def test_batch_individual_check_digits_refuse_bad_text_as_the_scalar_one_does(bad: str, reason: str) -> None:
    with pytest.raises(MalformedNumber) as scalar:
        individual_number_check_digit(bad)
    with pytest.raises(MalformedNumber) as batch:
        individual_number_check_digits(["12345678901", bad, "12345678901"])
    assert batch.value.detail["reason"] == scalar.value.detail["reason"] == reason
    assert batch.value.message == scalar.value.message


@pytest.mark.parametrize("value", [-1, 10**11])
def test_batch_individual_check_digits_refuse_values_out_of_range(value: int) -> None:
    with pytest.raises(MalformedNumber) as caught:
        individual_number_check_digits(np.array([0, value], dtype=np.int64))
    assert caught.value.detail["reason"] == "range"
    assert caught.value.detail["position"] == 1
    assert str(value) not in caught.value.message


def test_batch_individual_check_digits_need_a_flat_integer_array() -> None:
    with pytest.raises(TypeError):
        individual_number_check_digits(np.zeros((2, 11), dtype=np.int64))
    with pytest.raises(TypeError):
        individual_number_check_digits(np.array([1.0, 2.0]))


# --- 法人番号 ---


def test_known_corporate_number_of_national_tax_agency() -> None:
    assert validate_corporate_number("7000012050002") == "7000012050002"  # 国税庁
    assert corporate_number_check_digit("000012050002") == "7"
    assert is_valid_corporate_number("7-0000-1205-0002")


def test_corporate_number_mismatch_and_full_width() -> None:
    with pytest.raises(CheckDigitMismatch) as caught:
        validate_corporate_number("8000012050002")
    assert (caught.value.detail["expected"], caught.value.detail["got"]) == ("7", "8")
    with pytest.raises(MalformedNumber, match="full-width digits are not accepted"):
        validate_corporate_number("７００００１２０５０００２")
    assert not is_valid_corporate_number("700001205000")


@given(digits(12))
def test_corporate_check_digit_agrees_with_stdnum(base: str) -> None:
    check = corporate_number_check_digit(base)
    assert check == cn.calc_check_digit(base)
    assert cn.is_valid(check + base)
    assert validate_corporate_number(check + base) == check + base


@given(digits(13))
def test_corporate_validity_agrees_with_stdnum(number: str) -> None:
    assert is_valid_corporate_number(number) == cn.is_valid(number)


# --- 宛名番号 / 世帯番号 (M11W2-7) ---


@pytest.mark.parametrize(
    ("base", "check"),
    [
        # 7·2 + 6·3 + 5·4 + 4·5 + 3·6 + 2·7 + 1·2 = 106, 106 mod 11 = 7, 11 − 7 = 4
        ("1234567", "4"),
        ("1", "9"),  # 2 → r = 2 → 9
        ("5", "1"),  # 10 → r = 10 → 1
        ("6", "0"),  # 12 → r = 1 → 11 − 1 = 10 → 0 (the documented convention)
        ("0", "0"),  # r = 0 → 11 → 0
        ("100000", "4"),  # weight of the 6th digit from the right is 7 → r = 7 → 4
        ("1000000", "9"),  # the 7th digit from the right starts the cycle again with weight 2
    ],
)
def test_m11w27_hand_computed(base: str, check: str) -> None:
    assert m11w27_check_digit(base) == check


def test_atena_number_default_length_is_15() -> None:
    number = generate_atena_number("12345678901234")
    assert len(number) == 15
    assert validate_atena_number(number) == number
    with pytest.raises(MalformedNumber):
        generate_atena_number("1234567890")  # 10 digits is not a 14-digit base
    assert generate_atena_number("123456789", length=10) == "123456789" + m11w27_check_digit("123456789")


def test_atena_number_mismatch_names_expected_and_got() -> None:
    with pytest.raises(CheckDigitMismatch) as caught:
        validate_atena_number("12345675", length=8)
    assert (caught.value.detail["expected"], caught.value.detail["got"]) == ("4", "5")
    assert "宛名番号" in caught.value.message
    with pytest.raises(CheckDigitMismatch, match="世帯番号"):
        validate_household_number("12345675", length=8)


def test_m11w27_refuses_empty_and_bad_lengths() -> None:
    with pytest.raises(MalformedNumber):
        m11w27_check_digit("")
    with pytest.raises(ValueError, match="at least 2 digits"):
        validate_atena_number("1", length=1)


@given(st.integers(min_value=2, max_value=20).flatmap(lambda n: st.tuples(st.just(n), digits(n - 1))))
def test_m11w27_generate_then_validate(length_and_base: tuple[int, str]) -> None:
    length, base = length_and_base
    for generate, validate, is_valid in (
        (generate_atena_number, validate_atena_number, is_valid_atena_number),
        (generate_household_number, validate_household_number, is_valid_household_number),
    ):
        number = generate(base, length=length)
        assert number[:-1] == base
        assert validate(number, length=length) == number
        assert is_valid(number, length=length)
        assert not is_valid(number + "0", length=length)


@given(digits(14), st.data())
def test_m11w27_any_other_check_digit_is_refused(base: str, data: st.DataObject) -> None:
    wrong = data.draw(other_digit(m11w27_check_digit(base)))
    assert not is_valid_atena_number(base + wrong)


@given(digits(14))
def test_m11w27_matches_an_independent_statement_of_the_rule(base: str) -> None:
    weights = [2, 3, 4, 5, 6, 7] * 3
    remainder = sum(int(d) * w for d, w in zip(reversed(base), weights, strict=False)) % 11
    expected = {0: 0, 1: 0}.get(remainder, 11 - remainder)
    assert m11w27_check_digit(base) == str(expected)


# --- 全国地方公共団体コード ---

KNOWN_CODES = {
    "131016": "千代田区",
    "011002": "札幌市",
    "010006": "北海道",
    "130001": "東京都",
    "141003": "横浜市",
    "271004": "大阪市",
    "131041": "新宿区 (remainder 0 → check digit 1)",
    "131024": "中央区",
    "072010": "福島市 (remainder 1 → check digit 0)",
}


@pytest.mark.parametrize("code", sorted(KNOWN_CODES))
def test_known_local_government_codes(code: str) -> None:
    assert local_government_code_check_digit(code[:5]) == code[5]
    assert validate_local_government_code(code) == code
    assert complete_local_government_code(code[:5]) == code


def test_local_government_code_mismatch() -> None:
    with pytest.raises(CheckDigitMismatch) as caught:
        validate_local_government_code("131017")
    assert (caught.value.detail["expected"], caught.value.detail["got"]) == ("6", "7")
    assert not is_valid_local_government_code("13101")
    assert not is_valid_local_government_code("１３１０１６")


@given(digits(5))
def test_local_government_code_rule(base: str) -> None:
    total = sum(int(d) * w for d, w in zip(base, (6, 5, 4, 3, 2), strict=True))
    expected = str((11 - total % 11) % 10)
    assert local_government_code_check_digit(base) == expected
    assert is_valid_local_government_code(base + expected)
    assert not any(is_valid_local_government_code(base + d) for d in "0123456789" if d != expected)
