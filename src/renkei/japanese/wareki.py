"""和暦 (Japanese era calendar) ⇄ 西暦 (Gregorian) for 明治, 大正, 昭和, 平成 and 令和.

Calendar convention: every date is a proleptic Gregorian :class:`datetime.date`, and an era year is
``gregorian_year − (era start year − 1)``. 明治 starts on 1868-01-25, the Gregorian day of 慶応4年1月1日, to
which the 明治 era was made retroactive; this is the convention of JIS X 0301 and of common date libraries.
Japan used the lunisolar calendar until 明治5年12月2日 and switched to the solar calendar on
明治6年1月1日 (1873-01-01); for days before that, the month and day here are the Gregorian ones, not
the lunisolar date written in contemporary documents (e.g. 1872-12-31 is 明治5年12月31日 here).

Era codes (元号コード) follow the 住民記録 standard: 1=明治, 2=大正, 3=昭和, 4=平成, 5=令和.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Final, Literal

from renkei.japanese.errors import WarekiMalformed, WarekiOutOfRange


@dataclass(frozen=True, slots=True)
class _EraData:
    kanji: str
    short_kanji: str
    letter: str
    start: date


# Indexed by era code − 1; the tuple is immutable data.
_ERA_DATA: Final[tuple[_EraData, ...]] = (
    _EraData("明治", "明", "M", date(1868, 1, 25)),
    _EraData("大正", "大", "T", date(1912, 7, 30)),
    _EraData("昭和", "昭", "S", date(1926, 12, 25)),
    _EraData("平成", "平", "H", date(1989, 1, 8)),
    _EraData("令和", "令", "R", date(2019, 5, 1)),
)


class Era(Enum):
    """元号, valued by its 住民記録 era code (1=明治 … 5=令和)."""

    MEIJI = 1
    TAISHO = 2
    SHOWA = 3
    HEISEI = 4
    REIWA = 5

    @property
    def code(self) -> int:
        """The 元号コード used in Japanese administrative systems."""
        return self.value

    @property
    def kanji(self) -> str:
        """The era name, e.g. ``令和``."""
        return _ERA_DATA[self.value - 1].kanji

    @property
    def short_kanji(self) -> str:
        """The one-kanji abbreviation, e.g. ``令``."""
        return _ERA_DATA[self.value - 1].short_kanji

    @property
    def letter(self) -> str:
        """The JIS X 0301 Latin abbreviation, e.g. ``R``."""
        return _ERA_DATA[self.value - 1].letter

    @property
    def start(self) -> date:
        """First day of the era."""
        return _ERA_DATA[self.value - 1].start

    @property
    def end(self) -> date | None:
        """Last day of the era, or ``None`` for the current era."""
        if self.value == len(_ERA_DATA):
            return None
        return _ERA_DATA[self.value].start - timedelta(days=1)


_ERA_TOKENS: Final = MappingProxyType(
    {token: era for era in Era for token in (era.kanji, era.short_kanji, era.letter, str(era.code))}
)


@dataclass(frozen=True, slots=True)
class WarekiDate:
    """A date written in an era: ``WarekiDate(Era.REIWA, 1, 5, 1)`` is 令和元年5月1日.

    Construction validates: the day must exist and fall inside the era.
    """

    era: Era
    year: int
    month: int
    day: int

    def __post_init__(self) -> None:
        _to_gregorian(self.era, self.year, self.month, self.day)

    def to_date(self) -> date:
        """Return the Gregorian date."""
        return _to_gregorian(self.era, self.year, self.month, self.day)


def resolve_era(token: Era | str | int) -> Era:
    """Return the era named by an :class:`Era`, a name (令和), abbreviation (令, R, r) or code (5)."""
    if isinstance(token, Era):
        return token
    key = str(token).strip().upper() if isinstance(token, str) else str(token)
    try:
        return _ERA_TOKENS[key]
    except KeyError:
        raise WarekiMalformed(f"unknown era {token!r}", reason="unknown_era", era=str(token)) from None


def _to_gregorian(era: Era, year: int, month: int, day: int) -> date:
    if year < 1:
        raise WarekiMalformed(f"era year must be 1 or more, got {year}", reason="year", year=year)
    gregorian_year = era.start.year - 1 + year
    if gregorian_year > date.max.year:
        raise WarekiOutOfRange(
            f"{era.kanji}{year}年 is after {date.max.year}, the last year this calendar handles",
            era=era.kanji,
            year=year,
        )
    try:
        result = date(gregorian_year, month, day)
    except ValueError as exc:
        raise WarekiMalformed(
            f"{era.kanji}{year}年{month}月{day}日 is not a calendar day ({exc})",
            reason="no_such_day",
            era=era.kanji,
            year=year,
            month=month,
            day=day,
        ) from None
    end = era.end
    if result < era.start or (end is not None and result > end):
        last = "" if end is None else f" to {end.isoformat()}"
        raise WarekiOutOfRange(
            f"{era.kanji}{year}年{month}月{day}日 ({result.isoformat()}) is outside {era.kanji}"
            f" ({era.start.isoformat()}{last})",
            era=era.kanji,
            year=year,
            month=month,
            day=day,
            gregorian=result.isoformat(),
        )
    return result


def from_wareki(era: Era | str | int, year: int, month: int, day: int) -> date:
    """Return the Gregorian date of ``era`` ``year``年``month``月``day``日.

    Raises :class:`WarekiOutOfRange` when the day is outside that era (平成31年5月1日, 昭和64年1月8日) and
    :class:`WarekiMalformed` for an unknown era or a day that does not exist.
    """
    return _to_gregorian(resolve_era(era), year, month, day)


def to_wareki(day: date) -> WarekiDate:
    """Return ``day`` in the era in force on it; raises :class:`WarekiOutOfRange` before 1868-01-25."""
    if isinstance(day, datetime):
        # A datetime does not compare with a date; only its calendar day matters here.
        day = day.date()
    for era in reversed(Era):
        if day >= era.start:
            return WarekiDate(era, day.year - era.start.year + 1, day.month, day.day)
    raise WarekiOutOfRange(
        f"{day.isoformat()} is before 明治 ({Era.MEIJI.start.isoformat()})", gregorian=day.isoformat()
    )


WarekiStyle = Literal["kanji", "compact", "code"]


def format_wareki(day: WarekiDate | date, style: WarekiStyle = "kanji") -> str:
    """Write a date in 和暦.

    * ``kanji``: ``令和元年5月1日`` (year 1 is written 元年);
    * ``compact``: JIS X 0301 ``R01.05.01``;
    * ``code``: the 7-digit administrative form ``GYYMMDD`` with the era code, ``5010501``.
    """
    wareki = day if isinstance(day, WarekiDate) else to_wareki(day)
    era, year, month, dom = wareki.era, wareki.year, wareki.month, wareki.day
    if style == "kanji":
        year_text = "元" if year == 1 else str(year)
        return f"{era.kanji}{year_text}年{month}月{dom}日"
    if style == "compact":
        return f"{era.letter}{year:02d}.{month:02d}.{dom:02d}"
    if year > 99:
        raise WarekiOutOfRange(
            f"{era.kanji}{year}年 does not fit the 2-digit year of the GYYMMDD code", era=era.kanji, year=year
        )
    return f"{era.code}{year:02d}{month:02d}{dom:02d}"


_ERA_PATTERN = "|".join(
    sorted((re.escape(token) for token in _ERA_TOKENS if not token.isdigit()), key=len, reverse=True)
)
_KANJI_FORM = re.compile(
    rf"(?P<era>{_ERA_PATTERN})(?P<year>元|[0-9]{{1,3}})年(?P<month>[0-9]{{1,2}})月(?P<day>[0-9]{{1,2}})日",
    re.IGNORECASE,
)
_SEPARATED_FORM = re.compile(
    rf"(?P<era>{_ERA_PATTERN})(?P<year>元|[0-9]{{1,3}})(?P<sep>[./-])(?P<month>[0-9]{{1,2}})(?P=sep)(?P<day>[0-9]{{1,2}})",
    re.IGNORECASE,
)
_CODE_FORM = re.compile(r"(?P<era>[1-5])(?P<year>[0-9]{2})(?P<month>[0-9]{2})(?P<day>[0-9]{2})")


def parse_wareki(text: str) -> WarekiDate:
    """Read a 和暦 date written as people and systems write it.

    Accepts ``令和元年5月1日``, ``令和1年5月1日``, ``令2年3月4日``, ``R1.5.1``, ``R01.05.01`` (JIS X 0301),
    ``R2/3/4``, ``H31-04-30``, the 7-digit ``GYYMMDD`` code ``5020304``, full-width digits and letters
    (``令和２年３月４日``) and spaces anywhere. Era: 明治/大正/昭和/平成/令和, 明/大/昭/平/令 or
    M/T/S/H/R (any case). Raises :class:`WarekiMalformed` or :class:`WarekiOutOfRange`.
    """
    # NFKC turns full-width digits and letters into ASCII; spaces carry no meaning in a date.
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    match = (
        _KANJI_FORM.fullmatch(compact) or _SEPARATED_FORM.fullmatch(compact) or _CODE_FORM.fullmatch(compact)
    )
    if match is None:
        raise WarekiMalformed(f"not a 和暦 date: {text!r}", reason="syntax", text=text)
    year_text = match["year"]
    year = 1 if year_text == "元" else int(year_text)
    era = resolve_era(match["era"])
    return WarekiDate(era, year, int(match["month"]), int(match["day"]))
