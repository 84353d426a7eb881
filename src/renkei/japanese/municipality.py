"""全国地方公共団体コード and the municipality table shipped with renkei.

The table (``data/municipalities.csv``, UTF-8, columns ``code,prefecture,name,name_kana,kind``) holds the
47 prefectures, each prefecture's capital (for 東京都, 新宿区 where the 都庁 sits), all 23 特別区 of Tokyo
and a town and a village, every one with its real 6-digit code. It is a reference subset, not the full
list of about 1,800 municipalities.

Load it once and pass the :class:`MunicipalityTable` around; nothing is cached at module level.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Final, Literal, cast, get_args

from renkei.japanese.checkdigit import (
    complete_local_government_code,
    is_valid_local_government_code,
    validate_local_government_code,
)
from renkei.japanese.errors import MalformedNumber, MunicipalityDataInvalid, UnknownMunicipality
from renkei.japanese.normalize import is_katakana

MunicipalityKind = Literal["prefecture", "designated_city", "city", "special_ward", "town", "village"]
"""都道府県, 政令指定都市, 市, 特別区, 町, 村."""

_KINDS: Final = frozenset(get_args(MunicipalityKind))
_COLUMNS: Final = ("code", "prefecture", "name", "name_kana", "kind")
_PREFECTURE_COUNT = 47


@dataclass(frozen=True, slots=True)
class Municipality:
    """One 地方公共団体: its 6-digit code, prefecture name, name, フリガナ and kind."""

    code: str
    prefecture: str
    name: str
    name_kana: str
    kind: MunicipalityKind


def prefecture_code(code: str) -> str:
    """Return the 2-digit 都道府県コード (JIS X 0401) of a valid 6-digit 全国地方公共団体コード.

    Raises :class:`MalformedNumber` or :class:`CheckDigitMismatch` for a bad code, and
    :class:`MalformedNumber` when its first two digits are not 01–47.
    """
    prefix = validate_local_government_code(code)[:2]
    if not 1 <= int(prefix) <= _PREFECTURE_COUNT:
        raise MalformedNumber(
            f"全国地方公共団体コード: {prefix} is not a prefecture number (01-47)",
            reason="prefecture",
            prefecture=prefix,
        )
    return prefix


@dataclass(frozen=True)
class MunicipalityTable:
    """An immutable index of municipalities by 全国地方公共団体コード."""

    _by_code: Mapping[str, Municipality]

    @classmethod
    def from_entries(cls, entries: Iterable[Municipality]) -> MunicipalityTable:
        """Build a table, refusing duplicate codes, invalid check digits, unknown kinds and bad フリガナ."""
        by_code: dict[str, Municipality] = {}
        for entry in entries:
            problem = _problem_with(entry)
            if problem is None and entry.code in by_code:
                problem = "duplicate code"
            if problem is not None:
                raise MunicipalityDataInvalid(
                    f"municipality {entry.code} {entry.name}: {problem}", code=entry.code, problem=problem
                )
            by_code[entry.code] = entry
        return cls(MappingProxyType(dict(sorted(by_code.items()))))

    @classmethod
    def load(cls) -> MunicipalityTable:
        """Read the table shipped in ``renkei/japanese/data/municipalities.csv``."""
        resource = resources.files("renkei.japanese").joinpath("data", "municipalities.csv")
        text = resource.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if not rows or tuple(rows[0]) != _COLUMNS:
            raise MunicipalityDataInvalid(
                f"municipalities.csv must start with the header {','.join(_COLUMNS)}"
            )
        return cls.from_entries(_entry_from_row(row, line) for line, row in enumerate(rows[1:], start=2))

    def get(self, code: str) -> Municipality:
        """Return the municipality with this 6-digit code.

        Raises :class:`MalformedNumber`/:class:`CheckDigitMismatch` for a bad code and
        :class:`UnknownMunicipality` (``japanese.municipality.unknown``) for a valid code not in the table.
        """
        valid = validate_local_government_code(code)
        try:
            return self._by_code[valid]
        except KeyError:
            raise UnknownMunicipality(f"no municipality with code {valid}", code=valid) from None

    def prefecture_of(self, code: str) -> Municipality:
        """Return the prefecture entry (PP000C) of the municipality code ``code`` (its first two digits)."""
        return self.get(complete_local_government_code(prefecture_code(code) + "000"))

    def all(self) -> tuple[Municipality, ...]:
        """Return every municipality, ordered by code."""
        return tuple(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code


def _entry_from_row(row: list[str], line: int) -> Municipality:
    if len(row) != len(_COLUMNS):
        raise MunicipalityDataInvalid(
            f"municipalities.csv line {line}: expected {len(_COLUMNS)} fields, got {len(row)}"
        )
    code, prefecture, name, name_kana, kind = row
    if kind not in _KINDS:
        raise MunicipalityDataInvalid(f"municipalities.csv line {line}: unknown kind {kind!r}", code=code)
    return Municipality(code, prefecture, name, name_kana, cast(MunicipalityKind, kind))


def _problem_with(entry: Municipality) -> str | None:
    if not is_valid_local_government_code(entry.code):
        return "code is not 6 digits with a valid check digit"
    if entry.kind not in _KINDS:
        return f"unknown kind {entry.kind!r}"
    if not is_katakana(entry.name_kana):
        return "name_kana is not full-width katakana"
    if not 1 <= int(entry.code[:2]) <= _PREFECTURE_COUNT:
        return "first two digits are not a prefecture number"
    is_prefecture_code = entry.code[2:5] == "000"
    if is_prefecture_code != (entry.kind == "prefecture"):
        return "only prefecture entries have a code of the form PP000C"
    return None
