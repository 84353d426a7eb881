"""Channel renderers: TV L字 banner, data broadcast, radio script, 緊急速報メール, web page, JSON, CAP, Atom.

Lengths are counted in full-width characters (半角 = 0.5, :mod:`.width`); every channel prefixes
【訓練】/【テスト】 and 【訂正】/【取消】 (:func:`renkei.commons.lifecycle.status_label`).
"""

from __future__ import annotations

from renkei.commons.render.feed import AtomFeed, FeedEntry, entry_id
from renkei.commons.render.text import (
    AreaMail,
    ChannelLimits,
    area_mail,
    data_broadcast,
    kanji_number,
    radio_script,
    spoken_datetime,
    tv_banner,
)
from renkei.commons.render.web import alert_json, cap_xml, web_page
from renkei.commons.render.width import cut, fullwidth_length, half_units

__all__ = [
    "AreaMail",
    "AtomFeed",
    "ChannelLimits",
    "FeedEntry",
    "alert_json",
    "area_mail",
    "cap_xml",
    "cut",
    "data_broadcast",
    "entry_id",
    "fullwidth_length",
    "half_units",
    "kanji_number",
    "radio_script",
    "spoken_datetime",
    "tv_banner",
    "web_page",
]
