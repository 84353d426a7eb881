"""The synthetic municipality: deterministic, the size asked for, plausible, and numbered correctly."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from renkei.demo.errors import PopulationInvalid
from renkei.demo.population import (
    REFERENCE_DATE,
    RELATIONSHIP_HEAD,
    Occupation,
    Population,
    generate_population,
)
from renkei.identity.models import Sex
from renkei.japanese import is_katakana, is_valid_atena_number, is_valid_household_number, parse_wareki
from renkei.spec.models import Spec


@pytest.fixture(scope="module")
def city() -> Population:
    return generate_population(10_000)


def test_the_same_seed_gives_the_same_population() -> None:
    first = generate_population(1_500, seed=42)
    second = generate_population(1_500, seed=42)
    assert first == second
    assert first.residents == second.residents
    assert generate_population(1_500, seed=43).residents != first.residents


def test_ten_thousand_residents_in_households_are_generated_quickly() -> None:
    started = time.thread_time()
    population = generate_population(10_000)
    elapsed = time.thread_time() - started
    assert len(population.residents) == 10_000
    assert elapsed < 5.0, f"{elapsed:.2f} s"


@pytest.mark.parametrize("size", [1, 2, 7, 333])
def test_exactly_the_number_of_residents_asked_for(size: int) -> None:
    assert len(generate_population(size, seed=size).residents) == size


def test_numbers_are_unique_and_carry_valid_check_digits(city: Population) -> None:
    atena = [r.atena_number for r in city.residents]
    assert len(set(atena)) == len(atena)
    assert all(is_valid_atena_number(a) for a in atena)
    households = [h.number for h in city.households]
    assert len(set(households)) == len(households)
    assert all(is_valid_household_number(h) for h in households)
    assert all(r.household_number == h.number for h in city.households for r in h.members)


def test_households_have_one_head_first_and_codes_of_the_spec(city: Population, spec: Spec) -> None:
    relationships = {c.code for c in spec.dictionary("relationship").codes}
    for household in city.households:
        assert household.head.relationship == RELATIONSHIP_HEAD
        assert [m.relationship for m in household.members].count(RELATIONSHIP_HEAD) == 1
        assert {m.relationship for m in household.members} <= relationships
        assert len({m.surname for m in household.members}) == 1
    assert 1.6 < len(city.residents) / len(city.households) < 2.6  # central Tokyo: many single households


def test_names_have_katakana_readings_and_dates_print_in_wareki(city: Population) -> None:
    for resident in city.residents[:2000]:
        assert "\u3000" in resident.name
        assert is_katakana(resident.name_kana.replace("\u3000", ""))
        wareki = parse_wareki(resident.birth_date_wareki)
        assert wareki.to_date() == resident.birth_date
    assert city.residents[0].birth_date_wareki.startswith(("昭和", "平成", "令和", "大正"))


def test_age_pyramid_and_sexes_are_plausible(city: Population) -> None:
    ages = [r.age(REFERENCE_DATE) for r in city.residents]
    assert min(ages) >= 0 and max(ages) <= 100
    children = sum(a < 15 for a in ages) / len(ages)
    working = sum(15 <= a < 65 for a in ages) / len(ages)
    elderly = sum(a >= 65 for a in ages) / len(ages)
    assert 0.08 < children < 0.20
    assert 0.55 < working < 0.80
    assert 0.10 < elderly < 0.30
    sexes = Counter(r.sex for r in city.residents)
    assert 0.4 < sexes[Sex.FEMALE] / len(ages) < 0.6


def test_incomes_follow_occupation(city: Population) -> None:
    for resident in city.residents:
        income = resident.income
        match resident.occupation:
            case Occupation.CHILD | Occupation.HOMEMAKER | Occupation.NONE:
                assert income.salary_revenue == income.business_income == income.pension_revenue == 0
            case Occupation.EMPLOYEE:
                assert income.salary_revenue >= 1_300_000
            case Occupation.PENSIONER:
                assert income.pension_revenue > 0 and resident.age(REFERENCE_DATE) >= 65
            case _:
                pass
    employees = sorted(r.income.salary_revenue for r in city.residents if r.occupation is Occupation.EMPLOYEE)
    median = employees[len(employees) // 2]
    assert 4_000_000 < median < 9_000_000


def test_addresses_are_in_the_municipality() -> None:
    chuo = generate_population(200, municipality="131024")
    assert all(h.address.text.startswith("東京都中央区") for h in chuo.households)
    assert chuo.organisation == "JP/LG/131024"
    chiyoda = generate_population(200)
    assert all(h.address.text.startswith("東京都千代田区") for h in chiyoda.households)
    assert all(
        len(h.address.postal_code) == 7 and h.address.postal_code.isdigit() for h in chiyoda.households
    )
    # any other municipality of the table gets generic towns
    sapporo = generate_population(50, municipality="011002")
    assert all(h.address.text.startswith("北海道札幌市") for h in sapporo.households)


@pytest.mark.parametrize("municipality", ["131017", "130001", "999999"])
def test_unknown_or_invalid_municipalities_are_refused(municipality: str) -> None:
    with pytest.raises(PopulationInvalid):
        generate_population(10, municipality=municipality)


@pytest.mark.parametrize("size", [0, -1, 1_000_001])
def test_sizes_out_of_range_are_refused(size: int) -> None:
    with pytest.raises(PopulationInvalid):
        generate_population(size)
