"""Persons and 基本4情報 with history, 番号変更, 符号 and ID conversion."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from renkei.identity.errors import (
    BasicInfoInvalid,
    LocalIdConflict,
    NumberInvalid,
    OrganisationInvalid,
    UnknownNumber,
    UnknownOrganisation,
    UnknownPerson,
)
from renkei.identity.models import PersonKey
from renkei.identity.service import IdentityService, LinkageBase
from renkei.storage.clock import FixedClock
from tests.identity.conftest import LG_A, LG_B, T0, basic_info

GOV = "JP/GOV/nta"


def test_enrolment_issues_a_number_tied_to_a_random_key(identity: IdentityService) -> None:
    one = identity.enrol(basic_info())
    two = identity.enrol(basic_info("佐藤 花子"))
    assert re.fullmatch(r"[0-9a-f]{32}", one.person_key)
    assert one.number != two.number
    assert identity.person_for_number(one.number) == one.person_key
    assert identity.number_of(two.person_key) == two.number
    assert one.number not in repr(one)
    assert identity.basic_info(one.person_key) == basic_info()


def test_basic_info_keeps_history(identity: IdentityService, clock: FixedClock) -> None:
    person = identity.enrol(basic_info()).person_key
    moved = basic_info(address="東京都新宿区西新宿2-8-1")
    identity.update_basic_info(person, moved, T0 + timedelta(days=10))
    assert identity.basic_info(person) == basic_info()
    assert identity.basic_info(person, T0 + timedelta(days=10)) == moved
    history = identity.basic_info_history(person)
    assert [r.info for r in history] == [basic_info(), moved]
    assert [r.valid_from for r in history] == [T0, T0 + timedelta(days=10)]


def test_invalid_basic_info_is_refused() -> None:
    with pytest.raises(BasicInfoInvalid):
        basic_info(name=" ")


def test_number_change_retires_the_old_number_for_good(identity: IdentityService) -> None:
    enrolment = identity.enrol(basic_info())
    new = identity.change_number(enrolment.person_key)
    assert new != enrolment.number
    assert identity.number_of(enrolment.person_key) == new
    assert identity.person_for_number(new) == enrolment.person_key
    with pytest.raises(UnknownNumber) as raised:
        identity.person_for_number(enrolment.number)
    assert enrolment.number not in str(raised.value)
    assert identity.previous_number(new) == enrolment.number
    others = {identity.enrol(basic_info()).number for _ in range(20)}
    assert enrolment.number not in others


def test_unknown_numbers_and_persons(identity: IdentityService) -> None:
    with pytest.raises(UnknownNumber):
        identity.person_for_number("123456789018")
    with pytest.raises(NumberInvalid):
        identity.person_for_number("123456789017")
    with pytest.raises(UnknownPerson):
        identity.number_of(PersonKey("0" * 32))
    with pytest.raises(UnknownPerson):
        identity.change_number(PersonKey("0" * 32))


def test_fugo_is_per_organisation_and_stable(identity: IdentityService, linkage: LinkageBase) -> None:
    person = identity.enrol(basic_info()).person_key
    fugo_a = linkage.fugo_for(LG_A, person)
    assert re.fullmatch(r"[A-Z2-7]{32}", fugo_a)
    assert linkage.fugo_for(LG_A, person) == fugo_a
    assert linkage.fugo_for(LG_B, person) != fugo_a
    assert linkage.resolve(LG_A, fugo_a) == person
    with pytest.raises(UnknownPerson):
        linkage.resolve(LG_B, fugo_a)


def test_id_conversion_goes_through_the_base(identity: IdentityService, linkage: LinkageBase) -> None:
    person = identity.enrol(basic_info()).person_key
    linkage.register_local_id(LG_A, "000000000000011", person)
    converted = linkage.convert(LG_A, "000000000000011", LG_B)
    assert converted.fugo == linkage.fugo_for(LG_B, person)
    assert converted.atena_number is None
    linkage.register_local_id(LG_B, "B-77", person)
    assert linkage.convert(LG_A, "000000000000011", LG_B).atena_number == "B-77"
    assert linkage.convert(LG_B, "B-77", LG_A).fugo == linkage.fugo_for(LG_A, person)
    assert linkage.convert_fugo(LG_A, linkage.fugo_for(LG_A, person), LG_B) == converted.fugo


def test_conversion_errors_are_typed(identity: IdentityService, linkage: LinkageBase) -> None:
    person = identity.enrol(basic_info()).person_key
    other = identity.enrol(basic_info("別人")).person_key
    linkage.register_local_id(LG_A, "A-1", person)
    linkage.register_local_id(LG_A, "A-1", person)  # idempotent
    with pytest.raises(LocalIdConflict):
        linkage.register_local_id(LG_A, "A-1", other)
    with pytest.raises(LocalIdConflict):
        linkage.register_local_id(LG_A, "A-2", person)
    with pytest.raises(UnknownPerson):
        linkage.convert(LG_A, "A-9", LG_B)
    with pytest.raises(UnknownOrganisation):
        linkage.convert(LG_A, "A-1", GOV)
    with pytest.raises(OrganisationInvalid):
        linkage.register_organisation("JP/LG/131017")  # wrong check digit
    with pytest.raises(UnknownPerson):
        linkage.fugo_for(LG_A, PersonKey("f" * 32))
    with pytest.raises(UnknownPerson):
        linkage.register_local_id(LG_A, "A-3", PersonKey("f" * 32))
    assert linkage.register_organisation(GOV).generation == 1
    assert linkage.register_organisation("JP/COM/5835678256246").org == "JP/COM/5835678256246"


def test_rotation_keeps_the_old_fugo_during_grace_only(
    identity: IdentityService, linkage: LinkageBase, clock: FixedClock
) -> None:
    person = identity.enrol(basic_info()).person_key
    old = linkage.fugo_for(LG_A, person)
    rotated = linkage.rotate(LG_A)
    assert rotated.generation == 2
    new = linkage.fugo_for(LG_A, person)
    assert new != old
    assert linkage.resolve(LG_A, old) == person
    clock.advance(timedelta(days=31))
    assert linkage.resolve(LG_A, new) == person
    with pytest.raises(UnknownPerson):
        linkage.resolve(LG_A, old)
    assert linkage.fugo_for(LG_B, person) == linkage.fugo_for(LG_B, person)
