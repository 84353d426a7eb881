"""Hostile XML is refused in bounded time; declared encodings (Shift_JIS / CP932) are honoured."""

from __future__ import annotations

import time

import pytest

from renkei.commons.cap import parse_cap, to_cap_xml
from renkei.commons.errors import XmlRefused
from renkei.commons.validation import validate
from renkei.commons.xmlsafe import XmlLimits, parse_untrusted
from tests.commons.builders import evacuation_alert

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n'
        % (i, b"".join(b"&lol%s;" % (str(i - 1).encode() if i > 1 else b"") for _ in range(10)))
        for i in range(1, 10)
    )
    + b"]>\n<alert>&lol9;</alert>"
)
XXE = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
DEEP = b"<a>" * 10_000 + b"</a>" * 10_000
HUGE = b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>"


@pytest.mark.parametrize(
    ("data", "reason"),
    [(BILLION_LAUGHS, "doctype"), (XXE, "doctype"), (DEEP, "not_well_formed"), (HUGE, "too_large")],
    ids=["billion-laughs", "external-entity", "10000-deep", "50MB"],
)
def test_hostile_xml_is_refused_quickly(data: bytes, reason: str) -> None:
    start = time.thread_time()
    with pytest.raises(XmlRefused) as caught:
        parse_untrusted(data)
    assert caught.value.detail["reason"] == reason
    report = validate(data)
    assert report.rules == {"xml.refused"}
    assert time.thread_time() - start < 2.0


def test_depth_limit_below_libxml2s() -> None:
    with pytest.raises(XmlRefused) as caught:
        parse_untrusted(b"<a>" * 100 + b"</a>" * 100)
    assert caught.value.detail["reason"] == "too_deep"
    assert parse_untrusted(b"<a>" * 10 + b"</a>" * 10, XmlLimits(max_depth=10)) is not None


def test_doctype_in_utf16_is_refused_too() -> None:
    with pytest.raises(XmlRefused):
        parse_untrusted('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'.encode("utf-16"))


@pytest.mark.parametrize("label", ["Shift_JIS", "CP932", "windows-31j"])
def test_cp932_encoded_cap_parses(label: str) -> None:
    alert = evacuation_alert()
    text = to_cap_xml(alert).decode("utf-8").replace("encoding='UTF-8'", f"encoding='{label}'")
    # ① and ～ exist only in CP932, not in JIS X 0208 Shift_JIS: they must survive too.
    text = text.replace("避難してください。", "避難してください①～")
    parsed = parse_cap(text.encode("cp932"))
    assert parsed.infos[0].instruction == "危険な場所から全員避難してください①～"
    assert parsed.infos[0].headline == alert.infos[0].headline
    assert validate(text.encode("cp932")).ok


def test_bad_bytes_for_the_declared_encoding_are_refused() -> None:
    with pytest.raises(XmlRefused) as caught:
        parse_untrusted(b'<?xml version="1.0" encoding="Shift_JIS"?><a>\x82</a>')
    assert caught.value.detail["reason"] == "encoding"
    with pytest.raises(XmlRefused):
        parse_untrusted(b'<?xml version="1.0" encoding="x-unknown"?><a/>')
