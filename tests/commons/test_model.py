"""Typed Commons content ↔ CAP parameters, legacy evacuation names, EDXL wrapping, SVG map."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.commons.cap import parse_cap, to_cap_xml
from renkei.commons.edxl import alert_of, distribution_for, parse_edxl, to_edxl_xml
from renkei.commons.errors import ContentMalformed, InvalidModel
from renkei.commons.mapsvg import map_svg
from renkei.commons.model import (
    Area,
    CommonsReport,
    Content,
    ContentObject,
    DamageContent,
    DisasterHQContent,
    Distribution,
    DistributionStatus,
    DistributionType,
    EvacuationContent,
    EvacuationEntry,
    EvacuationLevel,
    IssueAction,
    LandslideContent,
    MessageKind,
    NamedValue,
    NoticeContent,
    ShelterContent,
    ShelterEntry,
    Status,
    content_of,
    evacuation_level,
    format_cap_datetime,
    parse_cap_datetime,
    with_content,
)
from renkei.commons.validation import validate, validate_alert
from renkei.japanese.municipality import MunicipalityTable
from tests.commons.builders import SENT, evacuation_alert, evacuation_info

CONTENTS: list[Content] = [
    EvacuationContent(
        (
            EvacuationEntry(EvacuationLevel.ELDERLY_EVACUATION, IssueAction.ISSUED, "一番町", 10, 20),
            EvacuationEntry(EvacuationLevel.EMERGENCY_SAFETY, IssueAction.LIFTED, "二番町", issued_at=SENT),
        ),
        hazard="洪水",
    ),
    ShelterContent((ShelterEntry("区立小学校", True, 300, 42, "千代田区1-1"), ShelterEntry("公民館", False))),
    DisasterHQContent("災害対策本部", IssueAction.ISSUED, SENT),
    DamageContent(
        dead=1, missing=2, seriously_injured=3, slightly_injured=4, destroyed=5, flooded_below_floor=9
    ),
    LandslideContent(IssueAction.ISSUED, ("千代田区", "港区")),
    NoticeContent(),
    NoticeContent(is_event=True, starts=SENT, venue="区役所"),
]


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: type(c).__name__)
def test_content_round_trips_through_cap(content: Content) -> None:
    alert = evacuation_alert(infos=(with_content(evacuation_info(), content),))
    parsed = parse_cap(to_cap_xml(alert))
    assert content_of(parsed.infos[0]) == content
    assert validate_alert(parsed).ok


def test_legacy_evacuation_names_map_to_current_levels() -> None:
    assert evacuation_level("避難準備") is EvacuationLevel.ELDERLY_EVACUATION
    assert evacuation_level("避難勧告") is EvacuationLevel.EVACUATION_ORDER
    assert evacuation_level("避難指示") is EvacuationLevel.EVACUATION_ORDER
    assert EvacuationLevel.EMERGENCY_SAFETY.alert_level == 5
    with pytest.raises(ContentMalformed):
        evacuation_level("避難してね")


def test_legacy_level_in_parameters_reads_as_current() -> None:
    info = evacuation_info()
    legacy = tuple(
        NamedValue(p.value_name, "避難勧告") if p.value_name == "避難情報:発令区分[1]" else p
        for p in info.parameters
    )
    content = content_of(replace(info, parameters=legacy))
    assert isinstance(content, EvacuationContent)
    assert content.entries[0].level is EvacuationLevel.EVACUATION_ORDER


def test_cap_datetime_rules() -> None:
    moment = parse_cap_datetime("2024-07-01T00:30:00-00:00")
    assert format_cap_datetime(moment) == "2024-07-01T00:30:00-00:00"
    for bad in ("2024-07-01T00:30:00Z", "2024-07-01T00:30:00", "2024-07-01T00:30:00.1+09:00"):
        with pytest.raises(InvalidModel):
            parse_cap_datetime(bad)
    with pytest.raises(InvalidModel):
        evacuation_alert(sent=SENT.replace(tzinfo=None))


def test_commons_report_in_edxl_round_trips_and_converts() -> None:
    report = CommonsReport(
        kind=MessageKind.SHELTER,
        publisher_code="131016",
        publisher_name="千代田区",
        reported_at=SENT,
        title="避難所を開設しました",
        text="区立小学校を開設しました。",
        area_names=("千代田区",),
        items=tuple(with_content(evacuation_info(), CONTENTS[1]).parameters[:2]),
    )
    distribution = Distribution(
        distribution_id="D-1",
        sender_id="131016@commons.example.jp",
        sent=SENT,
        status=DistributionStatus.EXERCISE,
        type=DistributionType.REPORT,
        contents=(ContentObject("DOC-9", 1, report, incident_id="INC-1"),),
    )
    data = to_edxl_xml(distribution)
    assert parse_edxl(data) == distribution
    assert validate(data).ok, [str(f) for f in validate(data).findings]
    alert = alert_of(distribution, distribution.contents[0])
    assert alert.status is Status.EXERCISE
    assert alert.infos[0].kind is MessageKind.SHELTER
    assert alert.incidents == ("INC-1",)
    assert validate_alert(alert).ok


def test_distribution_for_carries_the_codes() -> None:
    distribution = distribution_for(evacuation_alert(), document_id="DOC-1", document_revision=1)
    assert distribution.target_areas[0].local_government_codes == ("131016",)
    with pytest.raises(InvalidModel):
        distribution_for(evacuation_alert(status=Status.DRAFT), document_id="D", document_revision=1)


def test_map_svg_draws_geometry_and_placeholders() -> None:
    svg = map_svg(evacuation_alert())
    assert svg.startswith("<svg")
    assert "<polygon" in svg
    assert "<circle" in svg
    code_only = evacuation_info(
        areas=(Area("港区<全域>", geocodes=(NamedValue("地方公共団体コード", "131032"),)),)
    )
    svg = map_svg(evacuation_alert(infos=(code_only,)), MunicipalityTable.load())
    assert 'class="placeholder"' in svg
    assert "港区 (131032)" in svg
    assert "<全域>" not in svg


@given(st.lists(st.sampled_from(CONTENTS), min_size=1, max_size=1))
def test_with_content_replaces_previous_content(contents: list[Content]) -> None:
    info = with_content(with_content(evacuation_info(), CONTENTS[3]), contents[0])
    assert content_of(info) == contents[0]
