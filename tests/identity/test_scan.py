"""The 個人番号 scanner finds numbers in every printed form, and only valid ones."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.identity.scan import contains_individual_number, find_individual_numbers, holds_individual_number
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


def test_uuids_and_longer_runs_of_groups_are_not_numbers() -> None:
    zero = "000000000000"  # a valid 個人番号 (check digit 0)
    assert contains_individual_number(zero)
    for text in (
        "00000000-0000-0000-0000-000000000000",  # all-digit groups and all-digit last group
        f"request 12345678-1234-5678-9018-{zero} done",
        "0000-1234-5678-9018",
        "1234-5678-9018-0000",
        "1234 5678 9018 3456",
        "１２３４－５６７８－９０１８－１２３４",
    ):
        assert not contains_individual_number(text), text
    for text in (f"d273e5933f{VALID}bfd75e2e12", f"sha256:{'0' * 40}{VALID}ab", f"ab{VALID}{'0' * 10}"):
        assert not contains_individual_number(text), text
    # …but a number beside a UUID, after a word and a separator, or glued to a short word, still is.
    assert [f.number for f in find_individual_numbers(f"no{VALID}x")] == [VALID]
    assert [f.number for f in find_individual_numbers(f"abcde{VALID}abcde")] == [VALID]
    assert [f.number for f in find_individual_numbers(f"番号{VALID}号")] == [VALID]
    assert [f.number for f in find_individual_numbers(f"00000000-0000-0000-0000-00000000000a {VALID}")] == [
        VALID
    ]
    assert [f.number for f in find_individual_numbers("id-1234-5678-9018")] == [VALID]
    assert [f.number for f in find_individual_numbers("v1 1234 5678 9018")] == [VALID]
    assert [f.number for f in find_individual_numbers("第3 1234 5678 9018 1")] == [VALID]


@given(st.uuids())
def test_no_uuid_is_a_number(value: object) -> None:
    assert not contains_individual_number(str(value))
    assert not contains_individual_number(str(value).upper())


@given(st.binary(min_size=12, max_size=64))
def test_no_hex_digest_is_a_number(raw: bytes) -> None:
    if not raw.hex().isdigit():  # all-digit hex is just digits: a 個人番号 if its check digit says so
        assert not contains_individual_number(raw.hex())
        assert not contains_individual_number(f"sha256:{raw.hex().upper()}")


def test_megabytes_of_hex_are_scanned_in_linear_time() -> None:
    hostile = ("ab" + VALID) * 150_000  # 2.1 MB: a valid candidate every 14 characters
    began = time.thread_time()
    assert not contains_individual_number(hostile)
    assert time.thread_time() - began < 5.0


@pytest.mark.parametrize(
    "decoded",
    [
        {"note": "１２３４５６７８９０１８"},  # what a JSON "\uff11…" escape decodes to
        {"note": 1.23456789018e11},  # a JSON exponent
        {"123456789018": 1},  # a name
        {"items": [{"n": 123456789018}]},
    ],
)
def test_decoded_data_is_scanned_names_and_values(decoded: object) -> None:
    assert holds_individual_number(decoded)


def test_decoded_data_without_one() -> None:
    assert not holds_individual_number({"atena_number": "000000000000011", "fiscal_year": 2025, "n": 1.5e3})
