"""The records of every simulated kind validate against the spec, and their figures hang together."""

from __future__ import annotations

import json
from datetime import date

import pytest
from jsonschema import Draft202012Validator

from renkei.demo.population import Population, generate_population
from renkei.demo.records import (
    ALLOWANCE_3_AND_OVER,
    ALLOWANCE_THIRD_CHILD,
    ALLOWANCE_UNDER_3,
    UNIT_KINDS,
    Record,
    insurer_number,
    population_records,
    public_payer_number,
    school_year_end,
)
from renkei.demo.taxation import Dependants, payer_check_digit, pension_income, resident_tax, salary_income
from renkei.spec.export.jsonschema import build_json_schema
from renkei.spec.instance import check_instance
from renkei.spec.models import Spec
from renkei.types import InformationId

KINDS = sorted(UNIT_KINDS.values())


def amounts(record: Record) -> dict[str, int]:
    """The integer items of a record (amounts, counts, years)."""
    return {k: v for k, v in record.items() if isinstance(v, int) and not isinstance(v, bool)}


@pytest.fixture(scope="module")
def city() -> Population:
    return generate_population(3_000, seed=3)


@pytest.fixture(scope="module")
def records(city: Population) -> dict[InformationId, list[Record]]:
    return population_records(city)


@pytest.mark.parametrize("kind", KINDS)
def test_every_record_validates_against_the_spec(
    kind: InformationId, records: dict[InformationId, list[Record]], spec: Spec
) -> None:
    found = records[kind]
    assert found, kind
    check_instance(spec, kind, json.dumps(found, ensure_ascii=False).encode("utf-8"))
    validator = Draft202012Validator(build_json_schema(spec, kind))
    for record in found:
        assert not list(validator.iter_errors(record)), record


@pytest.mark.parametrize("municipality", ["131024", "011002"])
def test_records_of_other_municipalities_validate_too(municipality: str, spec: Spec) -> None:
    for kind, found in population_records(generate_population(400, municipality=municipality)).items():
        check_instance(spec, kind, json.dumps(found, ensure_ascii=False).encode("utf-8"))


def test_keys_are_unique(records: dict[InformationId, list[Record]], spec: Spec) -> None:
    for kind, found in records.items():
        key = spec.kind(kind).key
        values = [tuple(r[k] for k in key) for r in found]
        assert len(values) == len(set(values)), kind


def test_every_resident_has_a_resident_record(
    city: Population, records: dict[InformationId, list[Record]]
) -> None:
    by_atena = {r["atena_number"]: r for r in records[InformationId("resident-record")]}
    assert len(by_atena) == len(city.residents)
    for household in city.households:
        for member in household.members:
            record = by_atena[member.atena_number]
            assert record["name"] == member.name
            assert record["head_of_household_name"] == household.head.name
            assert record["birth_date"] == member.birth_date.isoformat()


def test_resident_tax_is_consistent(city: Population, records: dict[InformationId, list[Record]]) -> None:
    taxes = records[InformationId("individual-resident-tax")]
    statuses = {r["tax_status"] for r in taxes}
    assert {"1", "2"} <= statuses
    for r in taxes:
        n = amounts(r)
        assert r["fiscal_year"] == city.fiscal_year == 2025
        assert n["tax_amount"] == n["income_levy"] + n["per_capita_levy"]
        assert n["taxable_income"] == max(0, n["total_income"] - n["income_deductions"]) // 1000 * 1000
        if r["tax_status"] == "2":
            assert n["tax_amount"] == 0
        else:
            assert n["per_capita_levy"] == 5_000
        if r["tax_status"] == "1":
            assert n["income_levy"] == n["taxable_income"] // 10 // 100 * 100
        assert n["total_income"] == n["salary_income"] + n["business_income"] + n["public_pension_income"]
    # children under 16 on 1 January are not assessed; everyone assessed was resident then
    for r in taxes:
        resident = city.resident(str(r["atena_number"]))
        assert resident is not None
        assert resident.age(date(2025, 1, 1)) >= 16
        assert resident.became_resident <= date(2025, 1, 1)


def test_child_allowance_follows_the_october_2024_rules(
    city: Population, records: dict[InformationId, list[Record]]
) -> None:
    on = city.reference_date
    allowances = records[InformationId("allowance")]
    assert allowances
    recipients = {str(r["atena_number"]): r for r in allowances}
    for household in city.households:
        children = sorted(
            (m for m in household.members if m.relationship == "21"), key=lambda m: m.birth_date
        )
        counted = [c for c in children if on <= school_year_end(c.birth_date, 22)]
        expected = 0
        eligible = 0
        for order, child in enumerate(counted, 1):
            if on <= school_year_end(child.birth_date, 18):
                eligible += 1
                expected += (
                    ALLOWANCE_THIRD_CHILD
                    if order >= 3
                    else ALLOWANCE_UNDER_3
                    if child.age(on) < 3
                    else ALLOWANCE_3_AND_OVER
                )
        found = [recipients[m.atena_number] for m in household.members if m.atena_number in recipients]
        if not eligible:
            assert found == []
            continue
        assert len(found) == 1
        assert found[0]["eligible_children"] == eligible
        assert found[0]["monthly_amount"] == expected


def test_every_child_has_a_medical_subsidy(
    city: Population, records: dict[InformationId, list[Record]]
) -> None:
    on = city.reference_date
    subsidies = {str(r["atena_number"]): r for r in records[InformationId("medical-subsidy")]}
    for resident in city.residents:
        if resident.relationship != "21" or on > school_year_end(resident.birth_date, 18):
            assert resident.atena_number not in subsidies or resident.relationship == "21"
            continue
        record = subsidies[resident.atena_number]
        infant = on <= school_year_end(resident.birth_date, 6)
        assert record["subsidy_type"] == ("01" if infant else "02")
        assert record["public_payer_number"] == public_payer_number(city, str(record["subsidy_type"]))


def test_health_insurance_covers_no_employee(
    city: Population, records: dict[InformationId, list[Record]]
) -> None:
    insured = records[InformationId("national-health-insurance")]
    assert 0.1 < len(insured) / len(city.residents) < 0.4
    for r in insured:
        resident = city.resident(str(r["atena_number"]))
        assert resident is not None
        assert resident.occupation.value != "employee"
        assert resident.age(city.reference_date) < 75
        assert r["insurer_number"] == insurer_number(city) == "131011"
        n = amounts(r)
        assert n["annual_tax"] == n["medical_portion"] + n["elderly_support_portion"] + n["care_portion"]


def test_school_year_end_counts_from_the_day_before_the_birthday() -> None:
    assert school_year_end(date(2019, 4, 1), 6) == date(2025, 3, 31)  # 早生まれ: reaches 6 on 31 March
    assert school_year_end(date(2019, 4, 2), 6) == date(2026, 3, 31)
    assert school_year_end(date(2020, 2, 29), 18) == date(2038, 3, 31)


def test_simplified_tax_rules() -> None:
    assert salary_income(1_000_000) == 450_000
    assert salary_income(5_000_000) == 3_560_000
    assert pension_income(2_000_000, 70) == 900_000
    assert pension_income(1_000_000, 60) == 400_000
    single = resident_tax(400_000, 0, Dependants())
    assert single.tax_status == "2" and single.tax_amount == 0
    taxed = resident_tax(3_560_000, 750_000, Dependants())
    assert taxed.tax_status == "1"
    assert taxed.taxable_income == 2_380_000
    assert taxed.income_levy == 238_000 and taxed.tax_amount == 243_000


def test_insurer_check_digits_match_real_numbers() -> None:
    assert payer_check_digit("13101") == "1"  # 千代田区 国保 131011
    assert payer_check_digit("13102") == "9"  # 中央区 国保 131029
