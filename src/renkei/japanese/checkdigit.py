"""Check digits (検査用数字) of Japanese administrative numbers.

* 個人番号 (My Number, 12 digits): 番号法施行令 第8条, trailing check digit.
* 法人番号 (corporate number, 13 digits): 法人番号の指定等に関する省令 第2条, leading check digit.
* 宛名番号 / 世帯番号: modulus 11, weights 2–7 (M11W2-7), trailing check digit; the length varies by
  municipality, so it is a parameter.
* 全国地方公共団体コード (6 digits): JIS X 0401/0402 code plus the 総務省 check digit.

Validators accept ASCII digits with optional ASCII spaces or hyphens as separators (as printed on cards) and
return the bare digits. Error messages and details never echo the whole number: a 個人番号 is 特定個人情報 and
must not reach logs through an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from renkei.japanese.errors import CheckDigitMismatch, MalformedNumber

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_ASCII_DIGITS = frozenset("0123456789")
_FULLWIDTH_DIGITS = frozenset(chr(c) for c in range(0xFF10, 0xFF1A))
# Printed numbers are grouped with spaces or hyphens ("1234 5678 9018"); nothing else is a separator.
_SEPARATORS = str.maketrans("", "", " -")

_INDIVIDUAL = "個人番号 (individual number)"
_CORPORATE = "法人番号 (corporate number)"
_ATENA = "宛名番号 (addressee number)"
_HOUSEHOLD = "世帯番号 (household number)"
_LOCAL_GOVERNMENT = "全国地方公共団体コード (local government code)"


def _require_digits(text: str, *, length: int, what: str) -> str:
    """Return ``text`` if it is exactly ``length`` ASCII digits, else raise :class:`MalformedNumber`."""
    for position, char in enumerate(text):
        if char in _FULLWIDTH_DIGITS:
            raise MalformedNumber(
                f"{what}: full-width digits are not accepted (character {position + 1} is {char!r});"
                " write the number with ASCII digits 0-9",
                reason="full_width_digits",
                kind=what,
                position=position,
            )
    for position, char in enumerate(text):
        if char not in _ASCII_DIGITS:
            raise MalformedNumber(
                f"{what}: only the digits 0-9 are allowed; character {position + 1} is {char!r}"
                f" (U+{ord(char):04X})",
                reason="non_digit",
                kind=what,
                position=position,
                character=char,
            )
    if len(text) != length:
        raise MalformedNumber(
            f"{what}: expected {length} digits, got {len(text)}",
            reason="length",
            kind=what,
            expected_length=length,
            length=len(text),
        )
    return text


def _compact(text: str) -> str:
    return text.translate(_SEPARATORS)


def _mismatch(what: str, *, expected: str, got: str) -> CheckDigitMismatch:
    return CheckDigitMismatch(
        f"{what}: check digit mismatch, expected {expected} but got {got}",
        reason="check_digit",
        kind=what,
        expected=expected,
        got=got,
    )


# --- 個人番号 ---


def individual_number_check_digit(base11: str) -> str:
    """Return the check digit of a 個人番号 from its first 11 digits (番号法施行令 第8条).

    With Pn the n-th digit from the right of the base and Qn = n+1 for n ≤ 6, n-5 for n ≥ 7, the check
    digit is 0 when Σ Pn×Qn mod 11 ≤ 1, else 11 − (Σ mod 11).
    """
    digits = _require_digits(base11, length=11, what=_INDIVIDUAL)
    total = 0
    for n, char in enumerate(reversed(digits), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(char) * weight
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


# Weights Qn of the base digits read from the left (P11 … P1): 6,5,4,3,2 then 7,6,5,4,3,2.
_INDIVIDUAL_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_INDIVIDUAL_BASE_LIMIT = 10**11


def individual_number_check_digits(
    bases: npt.NDArray[np.integer[Any]] | Sequence[str],
) -> npt.NDArray[np.uint8]:
    """The check digits of many 個人番号 bases at once, as a ``uint8`` array of values 0–9, in order.

    ``bases`` is either a one-dimensional NumPy integer array of base values 0 … 10^11 − 1 (the 11 digits
    read as a number, leading zeros implied) or a sequence of 11-digit strings. Each result equals
    ``int(individual_number_check_digit(base))`` (番号法施行令 第8条), computed in NumPy without one Python
    call per number (bulk issuance: a million numbers in a few hundredths of a second).

    Raises :class:`MalformedNumber` exactly as :func:`individual_number_check_digit` does for the first
    string that is not 11 ASCII digits, and with reason ``range`` (naming the array position, never the
    value) for an integer outside 0 … 10^11 − 1; ``TypeError`` for an array that is not of integers.
    """
    # NumPy is imported here, not with the module: renkei.japanese is imported everywhere, this rarely.
    import numpy as np

    if isinstance(bases, np.ndarray):
        return _individual_check_digits_of_values(bases)
    count = len(bases)
    text = "".join(bases)
    if len(text) != 11 * count or not text.isascii() or (count and set(map(len, bases)) != {11}):
        for base in bases:  # the first offender raises the scalar function's error
            _require_digits(base, length=11, what=_INDIVIDUAL)
    digits = np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(count, 11) - np.uint8(ord("0"))
    not_digit = (digits > 9).any(axis=1)  # below "0" wraps round to > 9 in uint8
    if not_digit.any():
        _require_digits(bases[int(not_digit.argmax())], length=11, what=_INDIVIDUAL)
    totals = digits @ np.array(_INDIVIDUAL_WEIGHTS, dtype=np.uint16)  # at most 9 × 47: fits uint16
    return _individual_check_digits_of_totals(totals)


def _individual_check_digits_of_values(values: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    import numpy as np

    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(f"bases must be a one-dimensional integer array, not {values.ndim}-d {values.dtype}")
    out_of_range = (values < 0) | (values >= _INDIVIDUAL_BASE_LIMIT)
    if out_of_range.any():
        position = int(out_of_range.argmax())
        raise MalformedNumber(
            f"{_INDIVIDUAL}: base values must be 0 to 10^11 - 1; the one at position {position} is not",
            reason="range",
            kind=_INDIVIDUAL,
            position=position,
        )
    # Split into the low 6 digits (P1 … P6, weights 2 … 7) and the high 5 (P7 … P11, weights 2 … 6), so
    # that all the digit arithmetic runs on uint32, about four times faster than on 64-bit integers.
    high, low = np.divmod(values.astype(np.uint64), np.uint64(1_000_000))
    low32, high32 = low.astype(np.uint32), high.astype(np.uint32)
    ten = np.uint32(10)
    totals = np.zeros(values.shape, dtype=np.uint32)
    for half, weights in ((low32, range(2, 8)), (high32, range(2, 7))):
        for weight in weights:
            totals += (half % ten) * np.uint32(weight)
            half //= ten
    return _individual_check_digits_of_totals(totals)


def _individual_check_digits_of_totals(totals: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    import numpy as np

    remainder = (totals % 11).astype(np.uint8)
    result: npt.NDArray[np.uint8] = np.where(remainder <= 1, np.uint8(0), np.uint8(11) - remainder).astype(
        np.uint8
    )
    return result


def validate_individual_number(number: str) -> str:
    """Return the canonical 12-digit 個人番号, or raise with the reason it is not one.

    Spaces and hyphens between digit groups are removed. Raises :class:`MalformedNumber` for full-width
    digits, other non-digits or a wrong length, :class:`CheckDigitMismatch` naming expected vs got.
    """
    digits = _require_digits(_compact(number), length=12, what=_INDIVIDUAL)
    expected = individual_number_check_digit(digits[:11])
    if digits[11] != expected:
        raise _mismatch(_INDIVIDUAL, expected=expected, got=digits[11])
    return digits


def is_valid_individual_number(number: str) -> bool:
    """Tell whether ``number`` is a valid 個人番号 (same rules as :func:`validate_individual_number`)."""
    try:
        validate_individual_number(number)
    except (MalformedNumber, CheckDigitMismatch):
        return False
    return True


# --- 法人番号 ---


def corporate_number_check_digit(base12: str) -> str:
    """Return the leading check digit of a 法人番号 from its 12 base digits.

    With Pn the n-th digit from the right of the base and Qn = 1 for odd n, 2 for even n, the check digit is
    9 − (Σ Pn×Qn mod 9).
    """
    digits = _require_digits(base12, length=12, what=_CORPORATE)
    total = sum(int(char) * (1 if n % 2 else 2) for n, char in enumerate(reversed(digits), start=1))
    return str(9 - total % 9)


def validate_corporate_number(number: str) -> str:
    """Return the canonical 13-digit 法人番号 (check digit first), or raise with the reason it is not one."""
    digits = _require_digits(_compact(number), length=13, what=_CORPORATE)
    expected = corporate_number_check_digit(digits[1:])
    if digits[0] != expected:
        raise _mismatch(_CORPORATE, expected=expected, got=digits[0])
    return digits


def is_valid_corporate_number(number: str) -> bool:
    """Tell whether ``number`` is a valid 法人番号 (same rules as :func:`validate_corporate_number`)."""
    try:
        validate_corporate_number(number)
    except (MalformedNumber, CheckDigitMismatch):
        return False
    return True


# --- 宛名番号 / 世帯番号 (M11W2-7) ---

DEFAULT_ATENA_LENGTH = 15
"""Total digits (check digit included) of a 宛名番号 or 世帯番号 unless the caller says otherwise."""


def m11w27_check_digit(base: str) -> str:
    """Return the modulus-11, weights 2–7 (M11W2-7) check digit of ``base`` (one or more ASCII digits).

    Weights 2,3,4,5,6,7,2,3,… apply from the rightmost base digit; r = Σ mod 11; the check digit is 11 − r,
    except that r = 0 (11 − r = 11) and r = 1 (11 − r = 10) both give 0. Municipalities differ on r = 1
    (some never issue such a base, some print "X"); 0 is the common convention for a numeric field.
    """
    if not base:
        raise MalformedNumber("M11W2-7 base must have at least one digit", reason="length", length=0)
    digits = _require_digits(base, length=len(base), what="M11W2-7 base")
    total = sum(int(char) * (2 + i % 6) for i, char in enumerate(reversed(digits)))
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def _check_length(length: int) -> None:
    if length < 2:
        raise ValueError(f"a number with a check digit has at least 2 digits, not {length}")


def _generate_m11w27(base: str, *, length: int, what: str) -> str:
    _check_length(length)
    digits = _require_digits(base, length=length - 1, what=f"{what} base")
    return digits + m11w27_check_digit(digits)


def _validate_m11w27(number: str, *, length: int, what: str) -> str:
    _check_length(length)
    digits = _require_digits(_compact(number), length=length, what=what)
    expected = m11w27_check_digit(digits[:-1])
    if digits[-1] != expected:
        raise _mismatch(what, expected=expected, got=digits[-1])
    return digits


def generate_atena_number(base: str, *, length: int = DEFAULT_ATENA_LENGTH) -> str:
    """Return the ``length``-digit 宛名番号 made of ``base`` (``length`` − 1 digits) and its M11W2-7 digit."""
    return _generate_m11w27(base, length=length, what=_ATENA)


def validate_atena_number(number: str, *, length: int = DEFAULT_ATENA_LENGTH) -> str:
    """Return the canonical ``length``-digit 宛名番号, or raise with the reason it is not one (M11W2-7)."""
    return _validate_m11w27(number, length=length, what=_ATENA)


def is_valid_atena_number(number: str, *, length: int = DEFAULT_ATENA_LENGTH) -> bool:
    """Tell whether ``number`` is a valid ``length``-digit 宛名番号 (M11W2-7)."""
    try:
        validate_atena_number(number, length=length)
    except (MalformedNumber, CheckDigitMismatch):
        return False
    return True


def generate_household_number(base: str, *, length: int = DEFAULT_ATENA_LENGTH) -> str:
    """Return the ``length``-digit 世帯番号 made of ``base`` and its M11W2-7 digit (same rule as 宛名番号)."""
    return _generate_m11w27(base, length=length, what=_HOUSEHOLD)


def validate_household_number(number: str, *, length: int = DEFAULT_ATENA_LENGTH) -> str:
    """Return the canonical ``length``-digit 世帯番号, or raise with the reason it is not one (M11W2-7)."""
    return _validate_m11w27(number, length=length, what=_HOUSEHOLD)


def is_valid_household_number(number: str, *, length: int = DEFAULT_ATENA_LENGTH) -> bool:
    """Tell whether ``number`` is a valid ``length``-digit 世帯番号 (M11W2-7)."""
    try:
        validate_household_number(number, length=length)
    except (MalformedNumber, CheckDigitMismatch):
        return False
    return True


# --- 全国地方公共団体コード ---


def local_government_code_check_digit(jis_code: str) -> str:
    """Return the check digit of a 全国地方公共団体コード from its 5-digit JIS X 0401/0402 code.

    Weights 6,5,4,3,2 from the left; the check digit is the last digit of 11 − (Σ mod 11), so a remainder
    of 1 gives 0 and a remainder of 0 gives 1 (総務省 rule; e.g. 13104 新宿区 → 131041).
    """
    digits = _require_digits(jis_code, length=5, what=f"{_LOCAL_GOVERNMENT} JIS base")
    total = sum(int(char) * weight for char, weight in zip(digits, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def complete_local_government_code(jis_code: str) -> str:
    """Return the 6-digit 全国地方公共団体コード for a 5-digit JIS X 0401/0402 code."""
    return jis_code + local_government_code_check_digit(jis_code)


def validate_local_government_code(code: str) -> str:
    """Return ``code`` if it is 6 ASCII digits whose last digit checks, else raise with the reason."""
    digits = _require_digits(code, length=6, what=_LOCAL_GOVERNMENT)
    expected = local_government_code_check_digit(digits[:5])
    if digits[5] != expected:
        raise _mismatch(_LOCAL_GOVERNMENT, expected=expected, got=digits[5])
    return digits


def is_valid_local_government_code(code: str) -> bool:
    """Tell whether ``code`` is a well-formed 全国地方公共団体コード with a valid check digit."""
    try:
        validate_local_government_code(code)
    except (MalformedNumber, CheckDigitMismatch):
        return False
    return True
