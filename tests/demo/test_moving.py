"""住民票コード of the demo population, the moving family, and seeding one deployment of a federation."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.api.deps import Platform
from renkei.demo.moving import MOVED_ON, apply_moves, default_move, moved_residents, moving_family
from renkei.demo.population import Population, generate_population, resident_code_for
from renkei.demo.records import assess, guardian_of, population_records
from renkei.demo.seed import load_manifest, seed_demo
from renkei.registry.identifiers import MemberId
from renkei.types import InformationId, UnitNumber

BASE_URL = "http://127.0.0.1:8080"


def test_resident_codes_are_eleven_digits_unique_and_reproducible(
    chiyoda: Population, chuo: Population
) -> None:
    codes = [r.resident_code for r in (*chiyoda.residents, *chuo.residents)]
    assert all(len(c) == 11 and c.isascii() and c.isdigit() for c in codes)
    assert len(set(codes)) == len(codes)
    again = generate_population(len(chuo.residents), seed=chuo.seed, municipality="131024")
    assert [r.resident_code for r in again.residents] == [r.resident_code for r in chuo.residents]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["131016", "131024"]),
    st.sampled_from(["131016", "131024"]),
    st.integers(1, 999_999),
    st.integers(1, 999_999),
    st.integers(0, 2**16),
)
def test_distinct_residents_never_share_a_code(a: str, b: str, i: int, j: int, seed: int) -> None:
    if (a, i) != (b, j):
        assert resident_code_for(a, i, seed) != resident_code_for(b, j, seed)


def test_the_family_moves_with_its_persons_and_codes(chiyoda: Population, chuo: Population) -> None:
    family = moving_family(chuo)
    on = chuo.reference_date
    assert any(m.relationship == "21" and m.age(on) < 6 for m in family.members)
    guardian = guardian_of(family, assess(chuo))
    tax = assess(chuo)[guardian.atena_number].tax
    assert tax is not None and tax.total_income > 0

    move = default_move([chiyoda, chuo])
    moved_chiyoda, same_chuo = apply_moves([chiyoda, chuo], [move])
    assert same_chuo is chuo  # the source keeps its records
    assert moved_chiyoda.residents[: len(chiyoda.residents)] == chiyoda.residents
    people = moved_residents([chiyoda, chuo], [moved_chiyoda, chuo], [move])
    assert len(people) == len(family.members)
    for index, person in enumerate(people):
        assert person.after.resident_code == person.before.resident_code
        assert person.after.name == person.before.name and person.after.birth_date == person.before.birth_date
        assert person.after.became_resident == MOVED_ON and person.after.moved_from == family.address.text
        assert moved_chiyoda.resident(person.after.atena_number) is person.after
        assert int(person.after.atena_number[:-1]) == len(chiyoda.residents) + 1 + index

    records = population_records(moved_chiyoda)
    atenas = {p.after.atena_number for p in people}
    infants = [
        r
        for r in records[InformationId("medical-subsidy")]
        if r["atena_number"] in atenas and r["subsidy_type"] == "01"
    ]
    assert infants and all(r["acquisition_date"] == MOVED_ON.isoformat() for r in infants)
    assert not [r for r in records[InformationId("individual-resident-tax")] if r["atena_number"] in atenas]


def test_a_deployment_enrols_only_its_members_and_the_moved_persons_once(
    platform: Platform, data_dir: Path, chiyoda: Population, chuo: Population
) -> None:
    move = default_move([chiyoda, chuo])
    hosted = {"131016": (UnitNumber(1), UnitNumber(6), UnitNumber(17)), "131024": (UnitNumber(17),)}
    report = seed_demo(
        platform, [chiyoda, chuo], data_dir=data_dir, base_url=BASE_URL, members=hosted, moves=[move]
    )
    assert report.members == 4
    enrolled = {str(m.id) for m in platform.registry.members()}
    assert enrolled == {"JP/LG/131016/u01", "JP/LG/131016/u06", "JP/LG/131016/u17", "JP/LG/131024/u17"}
    assert platform.registry.find_member(MemberId.parse("JP/LG/131024/u06")) is None

    moved_chiyoda, _ = apply_moves([chiyoda, chuo], [move])
    linkage = platform.linkage
    for person in moved_residents([chiyoda, chuo], [moved_chiyoda, chuo], [move]):
        before = linkage.resolve(
            "JP/LG/131024", linkage.convert("JP/LG/131024", person.before.atena_number, "JP/LG/131024").fugo
        )
        after = linkage.resolve(
            "JP/LG/131016", linkage.convert("JP/LG/131016", person.after.atena_number, "JP/LG/131016").fugo
        )
        assert before == after  # one person, two 宛名番号
        assert linkage.person_by_resident_code(person.before.resident_code) == before
        assert platform.identity.basic_info(before).address.startswith("東京都千代田区")
    assert report.residents == len(chiyoda.residents) + len(chuo.residents) + len(moving_family(chuo).members)

    manifest = load_manifest(data_dir)
    assert manifest is not None and manifest.moves == (move,)
    assert [len(p.residents) for p in manifest.generate()] == [
        len(moved_chiyoda.residents),
        len(chuo.residents),
    ]
    again = seed_demo(
        platform, [chiyoda, chuo], data_dir=data_dir, base_url=BASE_URL, members=hosted, moves=[move]
    )
    assert not again.changed
