"""Identifiers: JP/LG/131016, JP/LG/131016/u06; codes checked by their class."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.japanese.checkdigit import complete_local_government_code, corporate_number_check_digit
from renkei.registry.errors import IdentifierInvalid, OrganisationInvalid
from renkei.registry.identifiers import (
    MemberClass,
    MemberId,
    OrganisationId,
    subsystem_code,
    unit_of_subsystem,
)


def test_a_member_id_reads_and_prints_the_x_road_form() -> None:
    member = MemberId.parse("JP/LG/131016/u06")
    assert member.organisation == OrganisationId("JP", MemberClass.LG, "131016")
    assert member.unit == 6
    assert member.subsystem == "u06"
    assert str(member) == "JP/LG/131016/u06"
    assert str(member.organisation) == "JP/LG/131016"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("JP/LG/131017/u06", OrganisationInvalid),  # wrong check digit
        ("JP/LG/13101/u06", OrganisationInvalid),  # five digits
        ("JP/XX/131016/u06", OrganisationInvalid),  # no such class
        ("JP/LG/131016/6", IdentifierInvalid),
        ("JP/LG/131016/u6", IdentifierInvalid),
        ("JP/LG/131016/u00", IdentifierInvalid),
        ("JP/LG/131016", IdentifierInvalid),
        ("JP/LG/131016/u06/x", IdentifierInvalid),
        ("J P/LG/131016/u06", IdentifierInvalid),
        ("", IdentifierInvalid),
    ],
)
def test_malformed_member_ids_are_refused(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        MemberId.parse(text)


def test_a_company_is_identified_by_a_valid_corporate_number() -> None:
    base = "700110005901"
    number = corporate_number_check_digit(base) + base
    assert str(OrganisationId.of("COM", number)) == f"JP/COM/{number}"
    wrong = str((int(number[0]) + 1) % 10) + base
    with pytest.raises(OrganisationInvalid) as raised:
        OrganisationId.of("COM", wrong)
    assert raised.value.detail["reason"] == "japanese.checkdigit.mismatch"


def test_an_agency_has_an_agency_code() -> None:
    assert str(OrganisationId.of("GOV", "soumu", instance="JP-TEST")) == "JP-TEST/GOV/soumu"
    with pytest.raises(OrganisationInvalid):
        OrganisationId.of("GOV", "総務省")


@given(st.from_regex(r"[0-9]{5}", fullmatch=True), st.integers(min_value=1, max_value=99))
def test_every_valid_local_government_code_round_trips(jis: str, unit: int) -> None:
    member = MemberId(
        OrganisationId.of("LG", complete_local_government_code(jis)), unit_of_subsystem(subsystem_code(unit))
    )
    assert MemberId.parse(str(member)) == member
