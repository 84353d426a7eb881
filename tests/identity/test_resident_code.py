"""住民票コード at the linkage base, and adopting a 符号 the base issued: the code is checked for its form,
stored only as a keyed digest and a sealed copy (never in clear, never in a log or error), finds its person;
an adopted 符号 resolves to the local person; conflicts are typed."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from renkei.identity.errors import (
    FugoConflict,
    FugoInvalid,
    FugoNotAcquired,
    ResidentCodeConflict,
    ResidentCodeInvalid,
    UnknownOrganisation,
    UnknownPerson,
)
from renkei.identity.keys import MemoryKeyStore
from renkei.identity.models import Fugo, OrgId, PersonKey, parse_resident_code
from renkei.identity.service import IdentityService, LinkageBase, derive_fugo
from renkei.storage.clock import FixedClock
from renkei.storage.ports import Storage
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.identity import SqlIdentityRepository, identity_resident_code
from tests.identity.conftest import LG_A, LG_B, basic_info

CODE = "24727059608"
OTHER = "13579246801"


def person(identity: IdentityService) -> PersonKey:
    return identity.enrol(basic_info()).person_key


# --- the form -------------------------------------------------------------------------------------------


@given(st.text(alphabet=string.digits, min_size=11, max_size=11))
def test_any_eleven_half_width_digits_have_the_form(code: str) -> None:
    assert parse_resident_code(code) == code


@given(
    st.text(alphabet=string.digits + "０１２３４５６７８９ab- ", min_size=3, max_size=20).filter(
        lambda t: not (len(t) == 11 and t.isascii() and t.isdigit())
    )
)
def test_anything_else_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ResidentCodeInvalid) as caught:
        parse_resident_code(text)
    assert caught.value.detail["reason"] in {"length", "non_digit", "full_width_digits"}
    if len(text.strip()) >= 3:
        assert text.strip() not in str(caught.value)
        assert text.strip() not in repr(dict(caught.value.detail))


def test_reasons_are_named() -> None:
    reasons = {}
    for label, text in {
        "length": "1234567890",
        "non_digit": "1234567890a",
        "full_width": "１２３４５６７８９０１",
    }.items():
        with pytest.raises(ResidentCodeInvalid) as caught:
            parse_resident_code(text)
        reasons[label] = caught.value.detail["reason"]
    assert reasons == {"length": "length", "non_digit": "non_digit", "full_width": "full_width_digits"}


# --- registration and lookup ----------------------------------------------------------------------------


def test_a_registered_code_finds_its_person_and_is_never_stored_in_clear(
    identity: IdentityService, linkage: LinkageBase, storage: Storage
) -> None:
    alice, bob = person(identity), person(identity)
    linkage.register_resident_code(alice, CODE)
    linkage.register_resident_code(alice, CODE)  # idempotent
    linkage.register_resident_code(bob, OTHER)
    assert linkage.person_by_resident_code(CODE) == alice
    assert linkage.persons_by_resident_codes([OTHER, "99999999999", CODE]) == [bob, None, alice]
    with connection_source(storage)(False) as connection:
        rows = connection.execute(select(identity_resident_code)).all()
    assert len(rows) == 2
    for row in rows:
        assert CODE not in repr(tuple(row)) and OTHER not in repr(tuple(row))


def test_conflicts_are_typed_and_name_no_code(identity: IdentityService, linkage: LinkageBase) -> None:
    alice, bob = person(identity), person(identity)
    linkage.register_resident_code(alice, CODE)
    with pytest.raises(ResidentCodeConflict) as taken:
        linkage.register_resident_code(bob, CODE)
    with pytest.raises(ResidentCodeConflict):
        linkage.register_resident_code(alice, OTHER)
    assert CODE not in str(taken.value)
    with pytest.raises(UnknownPerson):
        linkage.register_resident_code(PersonKey("0" * 32), OTHER)


def test_a_key_store_that_differs_finds_nothing(
    identity: IdentityService, linkage: LinkageBase, repository: SqlIdentityRepository, clock: FixedClock
) -> None:
    linkage.register_resident_code(person(identity), CODE)
    stranger = LinkageBase(repository, MemoryKeyStore(), clock)
    assert stranger.person_by_resident_code(CODE) is None


def test_persons_with_a_code_and_a_local_id_are_listed_with_the_code_unsealed(
    identity: IdentityService, linkage: LinkageBase
) -> None:
    with_both, code_only, atena_only = person(identity), person(identity), person(identity)
    linkage.register_resident_code(with_both, CODE)
    linkage.register_local_id(LG_A, "000000000001", with_both)
    linkage.register_resident_code(code_only, OTHER)
    linkage.register_local_id(LG_A, "000000000002", atena_only)
    linkage.register_local_id(LG_B, "000000000003", code_only)
    assert list(linkage.resident_codes_at(LG_A)) == [(with_both, CODE)]
    assert list(linkage.resident_codes_at(LG_B)) == [(code_only, OTHER)]


def test_the_code_never_reaches_a_log(
    identity: IdentityService, linkage: LinkageBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = person(identity)
    linkage.register_resident_code(alice, CODE)
    linkage.register_local_id(LG_A, "000000000001", alice)
    list(linkage.resident_codes_at(LG_A))
    linkage.person_by_resident_code(CODE)
    with pytest.raises(ResidentCodeConflict):
        linkage.register_resident_code(person(identity), CODE)
    assert CODE not in caplog.text


# --- adopting a base-issued 符号 ---------------------------------------------------------------------------


def base_fugo(n: int) -> Fugo:
    return derive_fugo(
        b"k" * 32, PersonKey(f"{n:032x}"), OrgId(LG_A), 1
    )  # any well-formed 符号 not derived here


def test_an_adopted_fugo_resolves_to_the_local_person(
    identity: IdentityService, linkage: LinkageBase
) -> None:
    alice = person(identity)
    fugo = base_fugo(1)
    linkage.adopt_fugo(LG_A, alice, fugo)
    linkage.adopt_fugo(LG_A, alice, fugo)  # idempotent
    assert linkage.resolve(LG_A, fugo) == alice
    assert linkage.fugo_for(LG_A, alice) == fugo
    assert linkage.held_fugo(LG_A, alice) == fugo
    assert linkage.held_fugo(LG_B, alice) is None
    # conversion inside this deployment goes through the adopted 符号 too
    linkage.register_local_id(LG_A, "000000000001", alice)
    assert linkage.convert(LG_A, "000000000001", LG_B).fugo == linkage.fugo_for(LG_B, alice)


def test_where_another_deployment_is_the_base_no_fugo_is_ever_derived_here(
    identity: IdentityService,
    repository: SqlIdentityRepository,
    keys: MemoryKeyStore,
    clock: FixedClock,
) -> None:
    local = LinkageBase(repository, keys, clock, issuing=False)
    local.register_organisation(LG_A)
    local.register_organisation(LG_B)
    alice = person(identity)
    local.register_local_id(LG_A, "000000000001", alice)
    for attempt in (
        lambda: local.fugo_for(LG_A, alice),
        lambda: local.convert(LG_A, "000000000001", LG_A),
    ):
        with pytest.raises(FugoNotAcquired) as raised:
            attempt()
        assert raised.value.code == "identity.linkage.not_acquired"
    assert local.held_fugo(LG_A, alice) is None  # nothing was stored by the refused attempts
    fugo = base_fugo(2)
    local.adopt_fugo(LG_A, alice, fugo)
    assert local.convert(LG_A, "000000000001", LG_A).fugo == fugo
    with pytest.raises(FugoNotAcquired):
        local.convert_fugo(LG_A, fugo, LG_B)  # 中央区's 符号 only the base can issue


def test_adoption_conflicts_are_typed(identity: IdentityService, linkage: LinkageBase) -> None:
    alice, bob = person(identity), person(identity)
    linkage.adopt_fugo(LG_A, alice, base_fugo(1))
    with pytest.raises(FugoConflict) as another:
        linkage.adopt_fugo(LG_A, alice, base_fugo(2))
    assert another.value.detail["reason"] == "person_holds_another"
    with pytest.raises(FugoConflict) as named:
        linkage.adopt_fugo(LG_A, bob, base_fugo(1))
    assert named.value.detail["reason"] == "fugo_names_another"
    derived = linkage.fugo_for(LG_B, bob)  # a 符号 derived here before a base was configured
    with pytest.raises(FugoConflict):
        linkage.adopt_fugo(LG_B, bob, base_fugo(3))
    assert linkage.fugo_for(LG_B, bob) == derived


def test_adoption_refuses_malformed_input(identity: IdentityService, linkage: LinkageBase) -> None:
    alice = person(identity)
    with pytest.raises(FugoInvalid):
        linkage.adopt_fugo(LG_A, alice, "not-a-fugo")
    with pytest.raises(UnknownOrganisation):
        linkage.adopt_fugo("JP/LG/131024", alice, base_fugo(1))
    with pytest.raises(UnknownPerson):
        linkage.adopt_fugo(LG_A, PersonKey("f" * 32), base_fugo(1))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.text(alphabet=string.digits, min_size=11, max_size=11))
def test_any_code_round_trips_through_the_store(
    identity: IdentityService, linkage: LinkageBase, storage: Storage, code: str
) -> None:
    found = linkage.person_by_resident_code(code)
    if found is None:
        found = person(identity)
        linkage.register_resident_code(found, code)
    assert linkage.person_by_resident_code(code) == found
    repository = SqlIdentityRepository(connection_source(storage))
    assert all(
        code not in record.sealed for record in repository.resident_codes_at(OrgId(LG_A), None, 10_000)
    )


def test_bulk_adoption_reports_each_outcome(identity: IdentityService, linkage: LinkageBase) -> None:
    alice, bob, carol, dave = (person(identity) for _ in range(4))
    linkage.adopt_fugo(LG_A, alice, base_fugo(1))
    outcomes = linkage.adopt_fugos(
        LG_A,
        [
            (alice, base_fugo(1)),  # held already
            (bob, base_fugo(1)),  # names alice
            (carol, base_fugo(3)),
            (dave, base_fugo(3)),  # claimed by carol earlier in the same batch
            (alice, base_fugo(9)),  # alice holds another
        ],
    )
    assert outcomes == ["already_held", "conflicts", "acquired", "conflicts", "conflicts"]
    assert linkage.resolve(LG_A, base_fugo(3)) == carol
    assert linkage.held_fugo(LG_A, bob) is None and linkage.held_fugo(LG_A, dave) is None
    assert linkage.fugos_for(LG_B, [bob, carol, bob]) == [
        linkage.fugo_for(LG_B, bob),
        linkage.fugo_for(LG_B, carol),
        linkage.fugo_for(LG_B, bob),
    ]
