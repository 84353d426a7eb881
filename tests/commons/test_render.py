"""Channel renderers: limits with full-width counting, splitting/refusing, radio reading, HTML, JSON, Atom."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from renkei.commons.cap import parse_cap
from renkei.commons.errors import RenderTooLong
from renkei.commons.lifecycle import update
from renkei.commons.render import (
    AtomFeed,
    ChannelLimits,
    alert_json,
    area_mail,
    cap_xml,
    cut,
    data_broadcast,
    fullwidth_length,
    half_units,
    kanji_number,
    radio_script,
    spoken_datetime,
    tv_banner,
    web_page,
)
from tests.commons.builders import JST, SENT, evacuation_alert, evacuation_info

ATOM: Final = "{http://www.w3.org/2005/Atom}"


def test_fullwidth_counting() -> None:
    assert fullwidth_length("避難") == 2
    assert fullwidth_length("ABC") == 1.5
    assert fullwidth_length("ｱｲｳ") == 1.5  # 半角カナ
    assert fullwidth_length("①") == 1  # ambiguous width counts as full in Japanese channels
    assert half_units("避難A") == 5
    assert cut("避難ABC", 2.5) == ("避難A", "BC")


@given(st.text(max_size=60), st.integers(1, 40))
def test_cut_respects_the_limit_and_loses_nothing(text: str, limit: int) -> None:
    head, tail = cut(text, limit)
    assert head + tail == text
    assert fullwidth_length(head) <= limit


def test_tv_banner_is_cut_at_its_limit() -> None:
    alert = evacuation_alert()
    assert tv_banner(alert) == "千代田区 【警戒レベル4】神田地区に避難指示 千代田区神田地区"
    short = tv_banner(alert, ChannelLimits(tv_banner=10))
    assert fullwidth_length(short) <= 10
    assert short.endswith("…")


def test_data_broadcast_has_wareki_time_and_content() -> None:
    text = data_broadcast(evacuation_alert())
    assert "令和6年7月1日 9時30分" in text
    assert "神田: 避難指示（警戒レベル4）発令 1200世帯 2500人" in text
    assert fullwidth_length(data_broadcast(evacuation_alert(), ChannelLimits(data_broadcast=30))) <= 30


def test_radio_reads_numbers_and_dates_naturally() -> None:
    assert kanji_number(1200) == "千二百"
    assert kanji_number(25_000) == "二万五千"
    assert kanji_number(100_010_001) == "一億一万一"
    assert kanji_number(0) == "〇"
    assert spoken_datetime(datetime(2019, 5, 1, 14, 0, tzinfo=JST)) == "令和元年五月一日 午後二時"
    script = radio_script(evacuation_alert())
    assert "令和六年七月一日 午前九時三十分" in script
    assert "千二百世帯 二千五百人" in script
    assert "1200" not in script
    assert "繰り返します。" in script


def test_area_mail_fits_or_splits_into_numbered_parts() -> None:
    alert = evacuation_alert()
    (single,) = area_mail(alert)
    assert single.title == "避難指示（千代田区）"
    assert fullwidth_length(single.title) <= 15
    limits = ChannelLimits(mail_body=30)
    parts = area_mail(alert, limits)
    assert len(parts) > 1
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    for p in parts:
        assert p.parts == len(parts)
        assert p.body.startswith(f"({p.part}/{p.parts})")
        assert fullwidth_length(p.body) <= 30


def test_area_mail_counts_halfwidth_as_half() -> None:
    info = evacuation_info(
        headline="A" * 40, description=None, instruction=None, parameters=(), event_codes=()
    )
    (mail,) = area_mail(evacuation_alert(infos=(info,)), ChannelLimits(mail_body=20))
    assert mail.body == "A" * 40  # 40 half-width = 20 full-width: fits exactly


def test_area_mail_refuses_when_configured() -> None:
    with pytest.raises(RenderTooLong) as caught:
        area_mail(evacuation_alert(), ChannelLimits(mail_body=30, mail_overflow="refuse"))
    assert caught.value.code == "commons.render.too_long"
    with pytest.raises(RenderTooLong):
        area_mail(evacuation_alert(), ChannelLimits(mail_body=10, mail_max_parts=2))
    with pytest.raises(RenderTooLong):
        area_mail(evacuation_alert(), ChannelLimits(mail_title=5, mail_overflow="refuse"))


def test_web_page_is_autoescaped_and_has_a_map() -> None:
    info = evacuation_info(description="<script>alert(1)</script>", areas=evacuation_info().areas)
    page = web_page(evacuation_alert(infos=(info,)))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<svg" in page
    assert "【警戒レベル4】神田地区に避難指示" in page


def test_json_and_cap_channels() -> None:
    alert = evacuation_alert()
    data = json.loads(json.dumps(alert_json(alert), ensure_ascii=False))
    assert data["info"][0]["area"][0]["geocode"] == [{"valueName": "地方公共団体コード", "value": "131016"}]
    assert data["real"] is True
    assert parse_cap(cap_xml(alert)) == alert


def test_feed_appends_new_entries_and_never_edits_old_ones() -> None:
    first = evacuation_alert()
    feed = AtomFeed("urn:renkei:commons:feed:131016", "千代田区の防災情報").append(
        first, "https://x.example/1.xml"
    )
    before = feed.entry_xml(feed.entries[0].id)
    second = update(first, identifier="JP-131016-20240701-0002", sent=SENT + timedelta(minutes=30))
    later = feed.append(second, "https://x.example/2.xml")
    assert len(feed.entries) == 1  # the original feed value is unchanged
    assert len(later.entries) == 2
    assert later.entry_xml(feed.entries[0].id) == before
    with pytest.raises(Exception, match="never edited"):
        later.append(first)
    fat = etree.fromstring(later.to_xml("fat"))
    entries = fat.findall(f"{ATOM}entry")
    assert (entries[0].findtext(f"{ATOM}id") or "").endswith("0002")  # newest first
    embedded = entries[0].find(f"{ATOM}content")
    assert embedded is not None
    assert embedded.get("type") == "application/cap+xml"
    assert parse_cap(etree.tostring(embedded[0])) == second
    thin = etree.fromstring(later.to_xml("thin"))
    assert thin.find(f"{ATOM}entry/{ATOM}content") is None
    assert thin.find(f"{ATOM}entry/{ATOM}link").get("href") == "https://x.example/2.xml"  # type: ignore[union-attr]
