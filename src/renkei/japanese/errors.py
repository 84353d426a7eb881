"""Errors of the ``japanese`` context.

Each class carries a stable dotted ``code``; the structured ``detail`` names what was wrong (the reason, the
expected and received check digit, the character and its position …) so that a caller can show it to a
person without parsing the message.
"""

# The class names (UnmappableCharacter, InvalidEncoding …) are this context's API, named after the failure
# as the other contexts do (spec.errors.UnknownUnit); the dotted ``code`` is the contract.

from __future__ import annotations

from renkei.errors import InvalidInput, NotFound, RenkeiError


class JapaneseError(RenkeiError):
    """Root of the ``japanese`` context's errors."""

    code = "japanese.error"
    http_status = 400


class MalformedNumber(JapaneseError, InvalidInput):
    """A number (個人番号, 法人番号, 宛名番号, 団体コード …) has the wrong length or non-digit characters."""

    code = "japanese.number.malformed"
    http_status = 400


class CheckDigitMismatch(JapaneseError, InvalidInput):
    """A well-formed number whose check digit (検査用数字) does not match its base digits."""

    code = "japanese.checkdigit.mismatch"
    http_status = 422


class WarekiMalformed(JapaneseError, InvalidInput):
    """A 和暦 text or field that cannot be read (unknown era, bad syntax, no such calendar day)."""

    code = "japanese.wareki.malformed"
    http_status = 400


class WarekiOutOfRange(JapaneseError, InvalidInput):
    """A date outside the era it is written in (平成31年5月1日), or before 明治."""

    code = "japanese.wareki.out_of_range"
    http_status = 422


class UnmappableCharacter(JapaneseError, InvalidInput):
    """A character that has no lossless CP932 (Windows-31J) encoding."""

    code = "japanese.charset.unmappable"
    http_status = 422


class InvalidEncoding(JapaneseError, InvalidInput):
    """Bytes that are not valid in the encoding they were read as."""

    code = "japanese.charset.invalid_encoding"
    http_status = 400


class UnmappedGaiji(JapaneseError, InvalidInput):
    """A 外字 (private-use character) that the caller's 外字 table does not map, under ``strict_gaiji``."""

    code = "japanese.charset.gaiji_unmapped"
    http_status = 422


class UnknownMunicipality(JapaneseError, NotFound):
    """A well-formed 全国地方公共団体コード that the municipality table does not hold."""

    code = "japanese.municipality.unknown"
    http_status = 404


class MunicipalityDataInvalid(JapaneseError):
    """The shipped municipality table is corrupt: a packaging fault, not the caller's."""

    code = "japanese.municipality.data_invalid"
    http_status = 500
