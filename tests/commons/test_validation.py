"""Every layer (b) and (c) rule has a failing example naming its rule id; valid documents pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from renkei.commons.cap import to_cap_xml
from renkei.commons.edxl import distribution_for, to_edxl_xml
from renkei.commons.model import Status
from renkei.commons.validation import RULES, JapaneseProfile, Level, validate, validate_alert
from renkei.commons.validation.geometry import segments_intersect, self_intersection
from renkei.japanese.municipality import MunicipalityTable
from tests.commons.builders import evacuation_alert

VALID = to_cap_xml(evacuation_alert()).decode()


def mutate(old: str, new: str, text: str = VALID) -> bytes:
    assert old in text, old
    return text.replace(old, new, 1).encode()


def test_valid_alert_has_no_findings() -> None:
    report = validate(VALID.encode())
    assert report.kind == "cap"
    assert report.findings == ()
    assert report.ok


def test_valid_distribution_has_no_findings() -> None:
    data = to_edxl_xml(distribution_for(evacuation_alert(), document_id="D1", document_revision=1))
    report = validate(data)
    assert (report.kind, report.findings) == ("edxl", ())


IDENT = "<identifier>JP-131016-20240701-0001</identifier>"
SENT = "<sent>2024-07-01T09:30:00+09:00</sent>"
POLY = "<polygon>35.68,139.75 35.68,139.77 35.7,139.77 35.7,139.75 35.68,139.75</polygon>"
GEOCODE = "<value>131016</value>"
SCOPE = "<scope>Public</scope>"
HEADLINE = "<headline>【警戒レベル4】神田地区に避難指示</headline>"
EXPIRES = "<expires>2024-07-01T21:30:00+09:00</expires>"

SECOND_INFO = VALID[VALID.index("<info>") : VALID.index("</info>")].replace("ja-JP", "ja") + "</info>"
LEGACY = "<value>避難指示</value>\n    </parameter>"
CORRECTION = (
    "<parameter><valueName>公共情報コモンズ:誤報</valueName><value>取消</value></parameter><parameter>"
)

CASES: list[tuple[str, bytes]] = [
    ("cap.identifier.restricted_chars", mutate(IDENT, "<identifier>JP 131016,&amp;x</identifier>")),
    ("cap.sender.restricted_chars", mutate("bousai@city", "bousai @city")),
    ("cap.references.required", mutate("<msgType>Alert</msgType>", "<msgType>Update</msgType>")),
    ("cap.references.malformed", mutate("<incidents>", "<references>only,two</references><incidents>")),
    ("cap.datetime.zulu", mutate(SENT, "<sent>2024-07-01T00:30:00Z</sent>")),
    ("cap.datetime.utc_plus", mutate(SENT, "<sent>2024-07-01T00:30:00+00:00</sent>")),
    ("cap.datetime.format", mutate(SENT, "<sent>2024-07-01T09:30:00.5+09:00</sent>")),
    ("cap.restriction.scope", mutate(SCOPE, SCOPE + "<restriction>職員のみ</restriction>")),
    ("cap.restriction.missing", mutate(SCOPE, "<scope>Restricted</scope>")),
    ("cap.addresses.missing", mutate(SCOPE, "<scope>Private</scope>")),
    ("cap.list.unbalanced_quotes", mutate("<incidents>INC", '<incidents>"INC')),
    ("cap.polygon.format", mutate(POLY, "<polygon>35.68;139.75 1,2 1,2 35.68;139.75</polygon>")),
    ("cap.polygon.too_few_points", mutate(POLY, "<polygon>35.68,139.75 35.7,139.77 35.68,139.75</polygon>")),
    (
        "cap.polygon.not_closed",
        mutate(POLY, "<polygon>35.68,139.75 35.68,139.77 35.7,139.77 35.7,139.75</polygon>"),
    ),
    (
        "cap.polygon.out_of_range",
        mutate(POLY, "<polygon>95,139.75 35.68,139.77 35.7,189.77 95,139.75</polygon>"),
    ),
    (
        "cap.polygon.self_intersecting",
        mutate(POLY, "<polygon>35.68,139.75 35.7,139.77 35.68,139.77 35.7,139.75 35.68,139.75</polygon>"),
    ),
    ("cap.circle.format", mutate("<circle>35.69,139.76 1.5</circle>", "<circle>35.69 139.76 1.5</circle>")),
    (
        "cap.circle.out_of_range",
        mutate("<circle>35.69,139.76 1.5</circle>", "<circle>35.69,139.76 -1</circle>"),
    ),
    ("cap.area.ceiling_without_altitude", mutate("</geocode>", "</geocode><ceiling>100</ceiling>")),
    (
        "cap.area.ceiling_below_altitude",
        mutate("</geocode>", "</geocode><altitude>100</altitude><ceiling>50</ceiling>"),
    ),
    ("cap.expires.before_effective", mutate(EXPIRES, "<expires>2024-07-01T09:00:00+09:00</expires>")),
    ("cap.onset.after_expires", mutate(EXPIRES, "<onset>2024-07-02T09:00:00+09:00</onset>" + EXPIRES)),
    ("cap.info.language_mismatch", mutate("<language>ja-JP</language>", "<language>en-US</language>")),
    ("cap.info.language_inconsistent", mutate("</info>", "</info>" + SECOND_INFO)),
    ("jp.info.japanese_missing", mutate("<language>ja-JP</language>", "<language>en-US</language>")),
    ("jp.text.not_japanese", mutate(HEADLINE, "<headline>Evacuation order</headline>")),
    ("jp.text.halfwidth_kana", mutate(HEADLINE, "<headline>神田地区にﾋﾅﾝ指示</headline>")),
    ("jp.headline.missing", mutate(HEADLINE, "")),
    ("jp.headline.too_long", mutate(HEADLINE, f"<headline>{'避難' * 21}</headline>")),
    ("jp.sender_name.missing", mutate("<senderName>千代田区</senderName>", "")),
    (
        "jp.area.geocode_missing",
        mutate("<valueName>地方公共団体コード</valueName>", "<valueName>LOCAL</valueName>"),
    ),
    (
        "jp.geocode.unknown_name",
        mutate("<valueName>地方公共団体コード</valueName>", "<valueName>LOCAL</valueName>"),
    ),
    ("jp.geocode.malformed", mutate(GEOCODE, "<value>13101</value>")),
    ("jp.geocode.check_digit", mutate(GEOCODE, "<value>131015</value>")),
    ("jp.kind.unknown", mutate("<value>避難情報</value>", "<value>謎の情報</value>")),
    ("jp.content.malformed", mutate("<value>1200</value>", "<value>千二百</value>")),
    ("jp.evacuation.legacy_level", mutate(LEGACY, LEGACY.replace("避難指示", "避難勧告"))),
    ("jp.correction.msg_type", mutate("<parameter>", CORRECTION)),
]


@pytest.mark.parametrize(("rule", "data"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires(rule: str, data: bytes) -> None:
    report = validate(data)
    assert rule in report.rules, [str(f) for f in report.findings]
    fired = next(f for f in report.findings if f.rule == rule)
    assert fired.path.startswith("/alert")
    assert fired.message_ja
    assert fired.message_en
    assert fired.severity is RULES[rule].level
    if RULES[rule].level is Level.ERROR:
        assert not report.ok


def test_every_cap_and_jp_rule_has_an_example() -> None:
    covered = {rule for rule, _ in CASES} | {"jp.geocode.unknown_municipality", "cap.polygon.too_complex"}
    assert {r for r in RULES if r.startswith(("cap.", "jp."))} <= covered


def test_unknown_municipality_needs_a_table() -> None:
    data = mutate(GEOCODE, "<value>131997</value>")  # valid check digit, no such ward
    profile = JapaneseProfile(municipalities=MunicipalityTable.load())
    assert "jp.geocode.unknown_municipality" in validate(data, profile).rules
    assert validate(data).ok


def test_polygon_too_complex_is_a_warning() -> None:
    ring = " ".join(f"35.{i:05d},139.{i:05d}" for i in range(10_001)) + " 35.00000,139.00000"
    report = validate(mutate(POLY, f"<polygon>{ring}</polygon>"))
    assert "cap.polygon.too_complex" in report.rules


def test_all_errors_are_collected_not_just_the_first() -> None:
    data = mutate(
        IDENT,
        "<identifier>a b</identifier>",
        VALID.replace("<value>131016", "<value>131015").replace("+09:00", "Z", 1),
    )
    report = validate(data)
    assert {
        "cap.identifier.restricted_chars",
        "jp.geocode.check_digit",
        "cap.datetime.zulu",
        "xsd.cap",
    } <= report.rules


def test_xsd_layer_reports_enumeration_and_order() -> None:
    data = mutate("<status>Actual</status>", "<status>Real</status>")
    report = validate(data)
    assert any(f.rule == "xsd.cap" and f.path == "/alert/status" for f in report.findings)


def test_edxl_rules() -> None:
    alert = evacuation_alert(status=Status.EXERCISE)
    text = to_edxl_xml(distribution_for(alert, document_id="D1", document_revision=2)).decode()
    data = text.replace("<distributionStatus>Exercise", "<distributionStatus>Actual").replace(
        "<distributionType>Report", "<distributionType>Update"
    )
    rules = validate(data.encode()).rules
    assert {"edxl.status.mismatch", "edxl.type.mismatch", "edxl.revision.previous_missing"} <= rules
    bad_order = to_edxl_xml(
        distribution_for(alert, document_id="D1", document_revision=2, previous_document_revision=3)
    )
    assert "edxl.revision.order" in validate(bad_order).rules
    bad_code = text.replace("<pc:localGovernmentCode>131016", "<pc:localGovernmentCode>131017")
    assert "jp.geocode.check_digit" in validate(bad_code.encode()).rules


def test_validate_alert_from_the_model() -> None:
    assert validate_alert(evacuation_alert()).ok
    assert "cap.identifier.restricted_chars" in validate_alert(evacuation_alert(identifier="a,b")).rules


def test_unknown_root_and_refused_xml() -> None:
    assert validate(b"<html/>").rules == {"xml.root.unknown"}
    assert validate(b"<a>").rules == {"xml.refused"}


def test_segment_intersection_cases() -> None:
    assert segments_intersect((0, 0), (2, 2), (0, 2), (2, 0))
    assert not segments_intersect((0, 0), (1, 0), (0, 1), (1, 1))
    assert segments_intersect((0, 0), (2, 0), (1, 0), (3, 0))  # collinear overlap
    assert self_intersection([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]) is None
    assert self_intersection([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]) is not None
    assert self_intersection([(0, 0), (2, 0), (1, 0), (1, 1), (0, 0)]) is not None  # spike folds back


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "commons.md").read_text(encoding="utf-8")
    assert [rule for rule in RULES if f"`{rule}`" not in doc] == []
