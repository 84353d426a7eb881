"""個人番号 and 法人番号 construction: a keyed FF1 permutation of an issuance sequence, plus check digit.

A 個人番号 is ``FF1_K,T(s) || c`` where ``s`` is the issuance sequence value written as 11 decimal digits,
``K`` the deployment's AES-256 key, ``T`` a fixed tweak naming the purpose, and ``c`` the check digit of
番号法施行令 第8条 (computed by :mod:`renkei.japanese.checkdigit`). FF1 is a permutation of the 10^11
eleven-digit strings, so distinct sequence values give distinct numbers without any lookup, and without the
key a number says nothing about its neighbours. Sequence values are never handed out twice (the counter is
persisted before use), so a number is never reused.

A 法人番号 is ``c || FF1_K',T'(s)`` with a 12-digit base and the leading check digit of 法人番号省令 第2条.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from renkei.identity.errors import InvalidCount, NumberInvalid
from renkei.identity.ff1 import FF1, U64
from renkei.identity.keys import AES_KEY_SIZE, CORPORATE_FF1_KEY, FF1_KEY
from renkei.identity.ports import IdentityRepository, KeyStore
from renkei.japanese.checkdigit import (
    corporate_number_check_digit,
    individual_number_check_digits,
    validate_corporate_number,
    validate_individual_number,
)
from renkei.japanese.errors import CheckDigitMismatch, MalformedNumber

INDIVIDUAL_BASE_DIGITS = 11
CORPORATE_BASE_DIGITS = 12
INDIVIDUAL_SEQUENCE = "individual"
CORPORATE_SEQUENCE = "corporate"
INDIVIDUAL_TWEAK = b"renkei/identity/individual-number/v1"
CORPORATE_TWEAK = b"renkei/identity/corporate-number/v1"
MAX_BATCH = 10_000_000
CHUNK = 65_536

_FULLWIDTH = frozenset(chr(c) for c in range(0xFF10, 0xFF1A))
_DIGITS = frozenset("0123456789")
INDIVIDUAL = "個人番号"
CORPORATE = "法人番号"


def _digit_strings(values: U64, width: int) -> list[str]:
    """``values`` as zero-padded decimal strings, formatted in NumPy rather than one f-string at a time.

    The digits are peeled off six at a time (one ``uint64`` division per six digits, the rest in the
    faster ``uint32``) into a byte matrix with a space after each number; one ``split`` of the decoded text
    then makes all the strings in C.
    """
    matrix = np.empty((values.size, width + 1), dtype=np.uint8)
    matrix[:, width] = ord(" ")
    rest, column = values, width
    ten = np.uint32(10)
    while column > 0:
        rest, limb = np.divmod(rest, np.uint64(1_000_000))
        low = limb.astype(np.uint32)
        for digit in range(column - 1, max(column - 6, 0) - 1, -1):
            matrix[:, digit] = low % ten + ord("0")
            low //= ten
        column -= 6
    return matrix.tobytes().decode("ascii").split()


class NumberCodec:
    """Turns sequence values into numbers and back, with the deployment's keys."""

    def __init__(self, keys: KeyStore) -> None:
        self._individual = FF1(keys.secret(FF1_KEY, AES_KEY_SIZE))
        self._corporate = FF1(keys.secret(CORPORATE_FF1_KEY, AES_KEY_SIZE))

    def individual_numbers(self, start: int, count: int) -> list[str]:
        """The 個人番号 of sequence values ``start`` … ``start + count - 1``, in that order."""
        sequence = np.arange(start, start + count, dtype=np.uint64)
        bases = self._individual.encrypt_decimal_batch(sequence, INDIVIDUAL_BASE_DIGITS, INDIVIDUAL_TWEAK)
        # base ‖ check digit, as the 12-digit value base × 10 + c, formatted in one pass
        checks = individual_number_check_digits(bases).astype(np.uint64)
        return _digit_strings(bases * np.uint64(10) + checks, INDIVIDUAL_BASE_DIGITS + 1)

    def individual_number(self, sequence: int) -> str:
        """The 個人番号 of one sequence value."""
        return self.individual_numbers(sequence, 1)[0]

    def sequence_of(self, number: str) -> int:
        """The sequence value behind a valid 個人番号 (raises ``identity.number.invalid`` otherwise)."""
        digits = require_individual_number(number)
        values = np.array([int(digits[:INDIVIDUAL_BASE_DIGITS])], dtype=np.uint64)
        return int(
            self._individual.decrypt_decimal_batch(values, INDIVIDUAL_BASE_DIGITS, INDIVIDUAL_TWEAK)[0]
        )

    def corporate_numbers(self, start: int, count: int) -> list[str]:
        """The 法人番号 of sequence values ``start`` … ``start + count - 1``."""
        sequence = np.arange(start, start + count, dtype=np.uint64)
        bases = _digit_strings(
            self._corporate.encrypt_decimal_batch(sequence, CORPORATE_BASE_DIGITS, CORPORATE_TWEAK),
            CORPORATE_BASE_DIGITS,
        )
        return [corporate_number_check_digit(base) + base for base in bases]


@dataclass(frozen=True, slots=True)
class NumberCheck:
    """The verdict on a presented number: which kind it is, and if invalid, why (never the number)."""

    kind: str | None
    valid: bool
    reason: str | None = None
    message: str = ""


def check_number(text: str) -> NumberCheck:
    """Validate a 個人番号 (12 digits) or a 法人番号 (13 digits), saying why it is invalid.

    Reasons: ``full_width_digits``, ``non_digit``, ``length``, ``check_digit``. Spaces and hyphens between
    digit groups are accepted. The message names positions and lengths, never the digits.
    """
    compact = text.replace(" ", "").replace("-", "")
    for position, char in enumerate(compact):
        if char in _FULLWIDTH:
            return NumberCheck(
                None,
                False,
                "full_width_digits",
                f"full-width digits are not accepted (position {position + 1}); use ASCII 0-9",
            )
    for position, char in enumerate(compact):
        if char not in _DIGITS:
            return NumberCheck(
                None,
                False,
                "non_digit",
                f"only the digits 0-9 are allowed; position {position + 1} is U+{ord(char):04X}",
            )
    if len(compact) not in (12, 13):
        return NumberCheck(
            None,
            False,
            "length",
            f"expected 12 digits (個人番号) or 13 digits (法人番号), got {len(compact)}",
        )
    kind = INDIVIDUAL if len(compact) == 12 else CORPORATE
    validate = validate_individual_number if kind == INDIVIDUAL else validate_corporate_number
    try:
        validate(compact)
    except CheckDigitMismatch:
        return NumberCheck(kind, False, "check_digit", f"the {kind} check digit does not match")
    except MalformedNumber as exc:  # pragma: no cover - the checks above catch every malformed input
        return NumberCheck(kind, False, str(exc.detail.get("reason", "malformed")), f"malformed {kind}")
    return NumberCheck(kind, True, None, f"valid {kind}")


def require_individual_number(number: str) -> str:
    """The canonical 12 digits of a valid 個人番号, else ``identity.number.invalid`` with the reason."""
    verdict = check_number(number)
    if not verdict.valid or verdict.kind != INDIVIDUAL:
        reason = verdict.reason or "kind"
        message = verdict.message if verdict.kind in (None, INDIVIDUAL) else "not a 個人番号 (12 digits)"
        raise NumberInvalid(message, reason=reason)
    return number.replace(" ", "").replace("-", "")


Progress = Callable[[int], None]
"""Called with the number of values just produced, for progress bars."""


class NumberIssuer:
    """Bulk issuance: reserve a block of the persisted sequence, then compute the numbers in batches."""

    def __init__(self, repository: IdentityRepository, codec: NumberCodec) -> None:
        self._repository = repository
        self._codec = codec

    def issue_individual(self, count: int) -> Iterator[list[str]]:
        """Reserve ``count`` sequence values now and yield their 個人番号 in chunks.

        The whole block is reserved before the first number is produced, so numbers not consumed (the caller
        stops early, the process dies) are simply never issued: none is ever handed out twice.
        """
        start = self._reserve(INDIVIDUAL_SEQUENCE, count, 10**INDIVIDUAL_BASE_DIGITS)
        for offset in range(0, count, CHUNK):
            yield self._codec.individual_numbers(start + offset, min(CHUNK, count - offset))

    def issue_corporate(self, count: int) -> Iterator[list[str]]:
        """Reserve ``count`` values of the 法人番号 sequence and yield the numbers in chunks."""
        start = self._reserve(CORPORATE_SEQUENCE, count, 10**CORPORATE_BASE_DIGITS)
        for offset in range(0, count, CHUNK):
            yield self._codec.corporate_numbers(start + offset, min(CHUNK, count - offset))

    def _reserve(self, sequence: str, count: int, limit: int) -> int:
        if not 1 <= count <= MAX_BATCH:
            raise InvalidCount(f"count must be between 1 and {MAX_BATCH:,}", count=count)
        return self._repository.reserve(sequence, count, limit)
