"""個人番号 / 法人番号 issuance: unique, valid, never reused; checks say why a number is invalid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import cn, in_

from renkei.identity.errors import InvalidCount, NumberInvalid, SequenceExhausted
from renkei.identity.numbering import (
    INDIVIDUAL_SEQUENCE,
    NumberCodec,
    NumberIssuer,
    check_number,
    require_individual_number,
)
from renkei.storage.sql.identity import SqlIdentityRepository


def test_a_million_issued_numbers_are_distinct_and_valid(issuer: NumberIssuer) -> None:
    numbers = [n for chunk in issuer.issue_individual(1_000_000) for n in chunk]
    assert len(numbers) == 1_000_000
    assert len(set(numbers)) == len(numbers)
    assert all(map(in_.is_valid, numbers))


def test_issuance_never_reuses_a_sequence_value(
    issuer: NumberIssuer, repository: SqlIdentityRepository, codec: NumberCodec
) -> None:
    first = [n for chunk in issuer.issue_individual(10) for n in chunk]
    # A new issuer (a restart) continues after the persisted counter.
    again = NumberIssuer(repository, codec)
    second = [n for chunk in again.issue_individual(10) for n in chunk]
    assert not set(first) & set(second)
    assert repository.peek(INDIVIDUAL_SEQUENCE) == 20
    assert [codec.sequence_of(n) for n in first + second] == list(range(20))


def test_neighbouring_sequence_values_give_unrelated_numbers(codec: NumberCodec) -> None:
    numbers = codec.individual_numbers(0, 1000)
    gaps = np.diff(np.array([int(n[:11]) for n in numbers], dtype=np.int64))
    assert len({int(g) for g in gaps}) > 990, "no stride to guess the next number from"


def test_corporate_numbers_are_valid_and_distinct(issuer: NumberIssuer) -> None:
    numbers = [n for chunk in issuer.issue_corporate(5000) for n in chunk]
    assert len(set(numbers)) == 5000
    assert all(len(n) == 13 and cn.is_valid(n) for n in numbers)


def test_counts_are_bounded(issuer: NumberIssuer) -> None:
    with pytest.raises(InvalidCount):
        next(issuer.issue_individual(0))


def test_an_exhausted_sequence_is_refused(repository: SqlIdentityRepository) -> None:
    repository.reserve("tiny", 8, 10)
    with pytest.raises(SequenceExhausted):
        repository.reserve("tiny", 3, 10)
    assert repository.reserve("tiny", 2, 10) == 8


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("123456789018", "個人番号", None),
        ("1234 5678 9018", "個人番号", None),
        ("1234-5678-9018", "個人番号", None),
        ("123456789017", "個人番号", "check_digit"),
        ("１２３４５６７８９０１８", None, "full_width_digits"),
        ("12345678901a", None, "non_digit"),
        ("1234567890", None, "length"),
        ("", None, "length"),
        ("5835678256246", "法人番号", None),
        ("4835678256246", "法人番号", "check_digit"),
    ],
)
def test_check_says_why(text: str, kind: str | None, reason: str | None) -> None:
    verdict = check_number(text)
    assert verdict.kind == kind
    assert verdict.valid is (reason is None)
    assert verdict.reason == reason
    assert "5678" not in verdict.message


@given(st.text(alphabet="0123456789０１２３４５６７８９ -a", max_size=16))
def test_check_agrees_with_stdnum(text: str) -> None:
    verdict = check_number(text)
    compact = text.replace(" ", "").replace("-", "")
    if verdict.valid:
        assert (in_ if len(compact) == 12 else cn).is_valid(compact)
    elif compact.isascii() and compact.isdigit() and len(compact) in (12, 13):
        assert not (in_ if len(compact) == 12 else cn).is_valid(compact)


def test_require_refuses_a_corporate_number_and_never_echoes() -> None:
    with pytest.raises(NumberInvalid) as raised:
        require_individual_number("5835678256246")
    assert "5835678256246" not in str(raised.value)
    with pytest.raises(NumberInvalid) as raised:
        require_individual_number("123456789017")
    assert raised.value.detail["reason"] == "check_digit"
    assert "123456789017" not in str(raised.value)
