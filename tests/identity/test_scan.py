"""The 個人番号 scanner finds numbers in every printed form, and only valid ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from renkei.identity.scan import contains_individual_number, find_individual_numbers
from renkei.japanese.checkdigit import individual_number_check_digit

VALID = "123456789018"
FULL = VALID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def test_finds_every_form() -> None:
    for text in (
        VALID,
        "番号:1234-5678-9018です",
        "1234 5678 9018",
        f"x{FULL}y",
        "１２３４－５６７８－９０１８",
        "1234　5678　9018",
    ):
        assert [f.number for f in find_individual_numbers(text)] == [VALID], text


def test_finds_in_bytes_of_either_encoding() -> None:
    assert contains_individual_number(f"log {VALID}".encode())
    assert contains_individual_number(FULL.encode("utf-8"))
    assert contains_individual_number(FULL.encode("cp932"))


def test_ignores_invalid_and_embedded_digits() -> None:
    assert not contains_individual_number("123456789017")
    assert not contains_individual_number(f"9{VALID}")
    assert not contains_individual_number(f"{VALID}0")
    assert not contains_individual_number("1234-5678 9018")  # mixed separators
    assert VALID not in repr(find_individual_numbers(VALID)[0])


@given(st.integers(0, 10**11 - 1), st.sampled_from(["", " ", "-"]), st.text(alphabet="abc :", max_size=5))
def test_any_valid_number_is_found(base: int, separator: str, around: str) -> None:
    digits = f"{base:011d}"
    number = digits + individual_number_check_digit(digits)
    printed = separator.join((number[:4], number[4:8], number[8:]))
    assert [f.number for f in find_individual_numbers(around + printed + around)] == [number]
