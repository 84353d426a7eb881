"""和暦 ⇄ 西暦: era boundaries, formats, parsing and round trips over every supported day."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.japanese import (
    Era,
    WarekiDate,
    WarekiMalformed,
    WarekiOutOfRange,
    WarekiStyle,
    format_wareki,
    from_wareki,
    parse_wareki,
    resolve_era,
    to_wareki,
)

FIRST_DAYS = {
    Era.MEIJI: date(1868, 1, 25),
    Era.TAISHO: date(1912, 7, 30),
    Era.SHOWA: date(1926, 12, 25),
    Era.HEISEI: date(1989, 1, 8),
    Era.REIWA: date(2019, 5, 1),
}

FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(("era", "first"), FIRST_DAYS.items())
def test_first_day_of_each_era_is_its_year_one(era: Era, first: date) -> None:
    assert era.start == first
    assert to_wareki(first) == WarekiDate(era, 1, first.month, first.day)
    assert from_wareki(era, 1, first.month, first.day) == first


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (date(1912, 7, 29), WarekiDate(Era.MEIJI, 45, 7, 29)),
        (date(1926, 12, 24), WarekiDate(Era.TAISHO, 15, 12, 24)),
        (date(1989, 1, 7), WarekiDate(Era.SHOWA, 64, 1, 7)),
        (date(2019, 4, 30), WarekiDate(Era.HEISEI, 31, 4, 30)),
    ],
)
def test_last_day_of_each_era(last: date, expected: WarekiDate) -> None:
    assert to_wareki(last) == expected
    assert expected.era.end == last
    assert from_wareki(expected.era, expected.year, expected.month, expected.day) == last


def test_reiwa_is_open_ended() -> None:
    assert Era.REIWA.end is None
    assert to_wareki(date(2100, 12, 31)) == WarekiDate(Era.REIWA, 82, 12, 31)


@pytest.mark.parametrize(
    ("era", "year", "month", "day"),
    [
        ("平成", 31, 5, 1),
        ("昭和", 64, 1, 8),
        ("大正", 1, 7, 29),
        ("明治", 45, 7, 30),
        ("明治", 1, 1, 24),
        ("令和", 1, 4, 30),
        ("大正", 15, 12, 25),
    ],
)
def test_days_outside_their_era_are_refused(era: str, year: int, month: int, day: int) -> None:
    with pytest.raises(WarekiOutOfRange) as caught:
        from_wareki(era, year, month, day)
    assert caught.value.code == "japanese.wareki.out_of_range"
    assert caught.value.http_status == 422
    with pytest.raises(WarekiOutOfRange):
        WarekiDate(resolve_era(era), year, month, day)


def test_before_meiji_is_out_of_range() -> None:
    with pytest.raises(WarekiOutOfRange, match="before 明治"):
        to_wareki(date(1868, 1, 24))


@pytest.mark.parametrize(
    ("era", "year", "month", "day"),
    [
        ("令和", 0, 1, 1),
        ("令和", 2, 2, 30),
        ("令和", 1, 13, 1),
        ("慶応", 4, 1, 1),
        ("X", 1, 1, 1),
        (6, 1, 1, 1),
    ],
)
def test_impossible_dates_and_unknown_eras_are_malformed(
    era: str | int, year: int, month: int, day: int
) -> None:
    with pytest.raises(WarekiMalformed):
        from_wareki(era, year, month, day)


def test_far_future_reiwa_year_is_out_of_range_not_a_crash() -> None:
    with pytest.raises(WarekiOutOfRange):
        from_wareki(Era.REIWA, 9000, 1, 1)


def test_meiji_before_solar_calendar_uses_gregorian_month_and_day() -> None:
    # 1872-12-31 did not exist in the lunisolar 明治5年; the documented convention writes it as is.
    assert to_wareki(date(1872, 12, 31)) == WarekiDate(Era.MEIJI, 5, 12, 31)
    assert to_wareki(date(1873, 1, 1)) == WarekiDate(Era.MEIJI, 6, 1, 1)


def test_era_codes_and_names() -> None:
    assert [era.code for era in Era] == [1, 2, 3, 4, 5]
    assert [era.kanji for era in Era] == ["明治", "大正", "昭和", "平成", "令和"]
    assert [era.letter for era in Era] == ["M", "T", "S", "H", "R"]
    assert [era.short_kanji for era in Era] == ["明", "大", "昭", "平", "令"]
    for token in (Era.REIWA, 5, "5", "令和", "令", "R", "r", " R "):
        assert resolve_era(token) is Era.REIWA


def test_format_styles() -> None:
    assert format_wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert format_wareki(date(2020, 3, 4)) == "令和2年3月4日"
    assert format_wareki(date(2019, 5, 1), "compact") == "R01.05.01"
    assert format_wareki(date(1989, 1, 7), "compact") == "S64.01.07"
    assert format_wareki(WarekiDate(Era.REIWA, 2, 3, 4), "code") == "5020304"
    assert format_wareki(date(1926, 12, 25), "kanji") == "昭和元年12月25日"


def test_code_style_refuses_three_digit_years() -> None:
    with pytest.raises(WarekiOutOfRange):
        format_wareki(WarekiDate(Era.REIWA, 100, 1, 1), "code")
    assert format_wareki(WarekiDate(Era.REIWA, 100, 1, 1), "compact") == "R100.01.01"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和元年5月1日", WarekiDate(Era.REIWA, 1, 5, 1)),
        ("令和1年5月1日", WarekiDate(Era.REIWA, 1, 5, 1)),
        ("R1.5.1", WarekiDate(Era.REIWA, 1, 5, 1)),
        ("R01.05.01", WarekiDate(Era.REIWA, 1, 5, 1)),
        ("r01.05.01", WarekiDate(Era.REIWA, 1, 5, 1)),
        ("令和２年３月４日", WarekiDate(Era.REIWA, 2, 3, 4)),
        ("R02.03.04", WarekiDate(Era.REIWA, 2, 3, 4)),
        ("Ｒ０２．０３．０４", WarekiDate(Era.REIWA, 2, 3, 4)),
        ("令2年3月4日", WarekiDate(Era.REIWA, 2, 3, 4)),
        ("令和 2年 3月 4日", WarekiDate(Era.REIWA, 2, 3, 4)),
        ("H31/4/30", WarekiDate(Era.HEISEI, 31, 4, 30)),
        ("平31-04-30", WarekiDate(Era.HEISEI, 31, 4, 30)),
        ("S64.1.7", WarekiDate(Era.SHOWA, 64, 1, 7)),
        ("昭元.12.25", WarekiDate(Era.SHOWA, 1, 12, 25)),
        ("T1.7.30", WarekiDate(Era.TAISHO, 1, 7, 30)),
        ("大正元年7月30日", WarekiDate(Era.TAISHO, 1, 7, 30)),
        ("M45.7.29", WarekiDate(Era.MEIJI, 45, 7, 29)),
        ("明治元年1月25日", WarekiDate(Era.MEIJI, 1, 1, 25)),
        ("㍻31年4月30日", WarekiDate(Era.HEISEI, 31, 4, 30)),
        ("5020304", WarekiDate(Era.REIWA, 2, 3, 4)),
        ("3640107", WarekiDate(Era.SHOWA, 64, 1, 7)),
    ],
)
def test_parse_accepts_common_spellings(text: str, expected: WarekiDate) -> None:
    assert parse_wareki(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "令和",
        "令和元年5月",
        "R1.5",
        "R1.5/1",
        "X1.5.1",
        "2019-05-01",
        "令和元年5月1日x",
        "6010101",
        "令和-1年5月1日",
    ],
)
def test_parse_refuses_what_is_not_a_wareki_date(text: str) -> None:
    with pytest.raises(WarekiMalformed):
        parse_wareki(text)


@pytest.mark.parametrize("text", ["平成31年5月1日", "昭和64年1月8日", "H31.05.01", "4310501"])
def test_parse_refuses_days_outside_the_era(text: str) -> None:
    with pytest.raises(WarekiOutOfRange):
        parse_wareki(text)


def test_parse_refuses_impossible_day() -> None:
    with pytest.raises(WarekiMalformed) as caught:
        parse_wareki("令和元年13月1日")
    assert caught.value.detail["reason"] == "no_such_day"


def test_wareki_date_is_frozen_and_datetime_is_accepted() -> None:
    value = to_wareki(datetime(2020, 3, 4, 23, 59))
    assert value == WarekiDate(Era.REIWA, 2, 3, 4)
    assert value.to_date() == date(2020, 3, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.year = 3  # type: ignore[misc]


supported_days = st.dates(min_value=date(1868, 1, 25), max_value=date(2100, 12, 31))


@given(supported_days)
def test_round_trip_through_wareki(day: date) -> None:
    wareki = to_wareki(day)
    assert wareki.era.start <= day
    assert wareki.era.end is None or day <= wareki.era.end
    assert from_wareki(wareki.era, wareki.year, wareki.month, wareki.day) == day
    assert from_wareki(wareki.era.code, wareki.year, wareki.month, wareki.day) == day
    assert wareki.to_date() == day


STYLES: tuple[WarekiStyle, ...] = ("kanji", "compact", "code")


@given(supported_days, st.sampled_from(STYLES))
def test_round_trip_through_text(day: date, style: WarekiStyle) -> None:
    text = format_wareki(day, style)
    assert parse_wareki(text).to_date() == day
    assert parse_wareki(text.translate(FULL_WIDTH_DIGITS)).to_date() == day


@given(supported_days)
def test_kanji_style_uses_gannen_only_for_year_one(day: date) -> None:
    wareki = to_wareki(day)
    text = format_wareki(wareki)
    assert text.startswith(wareki.era.kanji)
    assert ("元年" in text) == (wareki.year == 1)


@given(
    st.sampled_from(list(Era)),
    st.integers(min_value=-5, max_value=120),
    st.integers(min_value=-1, max_value=14),
    st.integers(min_value=-1, max_value=32),
)
def test_from_wareki_either_returns_a_day_of_that_era_or_raises(
    era: Era, year: int, month: int, day: int
) -> None:
    try:
        result = from_wareki(era, year, month, day)
    except (WarekiMalformed, WarekiOutOfRange):
        return
    assert to_wareki(result) == WarekiDate(era, year, month, day)
