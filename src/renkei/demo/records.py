"""The records the demo's member systems hold, per information kind of the spec, derived from a
:class:`~renkei.demo.population.Population`.

Every record is a dict keyed by the kind's item ids with JSON values (dates as ``YYYY-MM-DD``, years and
amounts as integers), so it validates against the kind's JSON Schema and
:func:`renkei.spec.instance.check_instance`. The figures follow the simplified rules of
:mod:`renkei.demo.taxation` and those below (児童手当, 乳幼児・子ども医療費助成).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Final

from renkei.demo.population import (
    RELATIONSHIP_CHILD,
    Household,
    Occupation,
    Population,
    Resident,
)
from renkei.demo.taxation import (
    DEPENDANT_INCOME_LIMIT,
    Dependants,
    NhiInsured,
    ResidentTax,
    nhi_income_class,
    nhi_tax,
    payer_check_digit,
    pension_income,
    resident_tax,
    salary_income,
)
from renkei.types import InformationId, UnitNumber

JsonValue = str | int | bool
Record = dict[str, JsonValue]

RESIDENT_RECORD: Final = InformationId("resident-record")
RESIDENT_TAX: Final = InformationId("individual-resident-tax")
HEALTH_INSURANCE: Final = InformationId("national-health-insurance")
ALLOWANCE: Final = InformationId("allowance")
MEDICAL_SUBSIDY: Final = InformationId("medical-subsidy")

UNIT_KINDS: Final[Mapping[UnitNumber, InformationId]] = MappingProxyType(
    {
        UnitNumber(1): RESIDENT_RECORD,  # 住民基本台帳
        UnitNumber(6): RESIDENT_TAX,  # 個人住民税
        UnitNumber(10): HEALTH_INSURANCE,  # 国民健康保険
        UnitNumber(15): ALLOWANCE,  # 児童手当
        UnitNumber(17): MEDICAL_SUBSIDY,  # 乳幼児医療
    }
)
"""The units the demo simulates and the information kind each one holds (and answers queries on)."""

CHILD_ALLOWANCE: Final = "01"
"""``allowance-type`` 児童手当."""
INFANT_MEDICAL: Final = "01"
CHILD_MEDICAL: Final = "02"
ALLOWANCE_UNDER_3: Final = 15_000
ALLOWANCE_3_AND_OVER: Final = 10_000
ALLOWANCE_THIRD_CHILD: Final = 30_000
"""児童手当 (from October 2024): 15,000 yen a month under 3, 10,000 from 3 to the end of the school year
of the 18th birthday, 30,000 for the third child on (counting children up to the school year of their
22nd birthday). No income limit."""


def school_year_end(birth: date, age: int) -> date:
    """The first 31 March on or after the day one reaches ``age`` (the day before the birthday): how
    児童手当 and the 医療費助成 end (「…歳に達する日以後の最初の3月31日」)."""
    try:
        birthday = birth.replace(year=birth.year + age)
    except ValueError:  # 29 February
        birthday = date(birth.year + age, 3, 1)
    reached = birthday - timedelta(days=1)
    end = date(reached.year, 3, 31)
    return end if reached <= end else date(reached.year + 1, 3, 31)


def _month_after(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@dataclass(frozen=True, slots=True)
class Assessment:
    """One resident's taxation for the fiscal year: the basis of 個人住民税 and of 国保."""

    resident: Resident
    total_income: int
    salary_income: int
    pension_income: int
    social_insurance: int
    dependants: Dependants
    tax: ResidentTax | None
    """None when the municipality did not assess them (under 16, or not resident on 1 January)."""


def _total_income(resident: Resident, income_year_end: date) -> tuple[int, int, int]:
    income = resident.income
    salary = salary_income(income.salary_revenue)
    pension = pension_income(income.pension_revenue, resident.age(income_year_end))
    return salary + pension + income.business_income, salary, pension


def _social_insurance(resident: Resident, income_year_end: date) -> int:
    """社会保険料控除, simplified: 15 % of salary for employees, national pension and 10 % of business
    income for the self-employed aged 20–59, 7 % of public pension (介護・後期 premiums)."""
    income = resident.income
    total = income.pension_revenue * 7 // 100
    if resident.occupation in (Occupation.EMPLOYEE, Occupation.PENSIONER):
        total += income.salary_revenue * 15 // 100
    if resident.occupation is Occupation.SELF_EMPLOYED:
        total += income.business_income // 10
        if 20 <= resident.age(income_year_end) <= 59:
            total += 203_760  # 国民年金保険料 16,980 × 12
    return total


def _dependants(household: Household, totals: Mapping[str, int], on: date) -> Dependants:
    spouse, general, specified, elderly, under_16 = False, 0, 0, 0, 0
    for member in household.members[1:]:
        if totals[member.atena_number] > DEPENDANT_INCOME_LIMIT:
            continue
        if member.relationship in ("11", "12"):
            spouse = True
            continue
        age = member.age(on)
        if age < 16:
            under_16 += 1
        elif 19 <= age <= 22:
            specified += 1
        elif age >= 70:
            elderly += 1
        else:
            general += 1
    return Dependants(spouse, general, specified, elderly, under_16)


def assess(population: Population) -> Mapping[str, Assessment]:
    """Every resident's 所得 and 個人住民税 for the population's fiscal year, by 宛名番号.

    Income is of the previous calendar year; the head of household claims the spouse and relatives whose
    合計所得金額 is at most 480,000 yen; a resident is assessed when resident on 1 January (賦課期日) and 16
    or over then."""
    fiscal_year = population.fiscal_year
    levy_day = date(fiscal_year, 1, 1)
    income_year_end = date(fiscal_year - 1, 12, 31)
    found: dict[str, Assessment] = {}
    for household in population.households:
        totals: dict[str, int] = {}
        parts: dict[str, tuple[int, int]] = {}
        for member in household.members:
            total, salary, pension = _total_income(member, income_year_end)
            totals[member.atena_number] = total
            parts[member.atena_number] = (salary, pension)
        for index, member in enumerate(household.members):
            dependants = _dependants(household, totals, income_year_end) if index == 0 else Dependants()
            social = _social_insurance(member, income_year_end)
            liable = member.became_resident <= levy_day and member.age(levy_day) >= 16
            total = totals[member.atena_number]
            found[member.atena_number] = Assessment(
                resident=member,
                total_income=total,
                salary_income=parts[member.atena_number][0],
                pension_income=parts[member.atena_number][1],
                social_insurance=social,
                dependants=dependants,
                tax=resident_tax(total, social, dependants) if liable else None,
            )
    return MappingProxyType(found)


# --- records per kind ---------------------------------------------------------------------------------


def resident_records(population: Population) -> list[Record]:
    """住基情報: one record per resident (住民票 as of the reference date)."""
    records: list[Record] = []
    for household in population.households:
        head = household.head
        for resident in household.members:
            arrived = resident.became_resident
            notified = min(
                population.reference_date, arrived + timedelta(days=int(resident.atena_number) % 14)
            )
            record: Record = {
                "atena_number": resident.atena_number,
                "household_number": resident.household_number,
                "name": resident.name,
                "name_kana": resident.name_kana,
            }
            if resident.former_surname is not None:
                record["former_surname"] = resident.former_surname[0]
                record["former_surname_kana"] = resident.former_surname[1]
            record |= {
                "birth_date": resident.birth_date.isoformat(),
                "sex": resident.sex.value,
                "relationship": resident.relationship,
                "head_of_household_name": head.name,
                "postal_code": household.address.postal_code,
                "address_code": household.address.address_code,
                "address": household.address.text,
            }
            if household.address.extra is not None:
                record["address_extra"] = household.address.extra
            record |= {
                "became_resident_date": arrived.isoformat(),
                "address_set_date": arrived.isoformat(),
                "change_reason": "103" if resident.moved_from is None else "101",
                "change_date": arrived.isoformat(),
                "notification_date": notified.isoformat(),
            }
            if resident.moved_from is not None:
                record["previous_address"] = resident.moved_from
            record |= {
                "registered_domicile": resident.domicile,
                "family_register_head": resident.family_register_head,
                "resident_type": "1",
                "resident_status": "1",
            }
            records.append(record)
    return records


def _collection_method(assessment: Assessment) -> str:
    occupation = assessment.resident.occupation
    if occupation is Occupation.EMPLOYEE:
        return "2"
    if occupation is Occupation.PENSIONER and assessment.resident.income.salary_revenue == 0:
        return "3"
    return "1"


def resident_tax_records(population: Population, assessments: Mapping[str, Assessment]) -> list[Record]:
    """個人住民税情報: one record per assessed resident for the population's fiscal year."""
    fiscal_year = population.fiscal_year
    records: list[Record] = []
    for resident in population.residents:
        assessment = assessments[resident.atena_number]
        tax = assessment.tax
        if tax is None:
            continue
        income = resident.income
        dependants = assessment.dependants
        record: Record = {
            "atena_number": resident.atena_number,
            "fiscal_year": fiscal_year,
            "tax_status": tax.tax_status,
        }
        if tax.tax_status != "2":
            record["collection_method"] = _collection_method(assessment)
        record |= {
            "salary_revenue": income.salary_revenue,
            "salary_income": assessment.salary_income,
            "business_income": income.business_income,
            "real_estate_income": 0,
            "interest_income": 0,
            "dividend_income": 0,
            "public_pension_revenue": income.pension_revenue,
            "public_pension_income": assessment.pension_income,
            "misc_income": 0,
            "capital_occasional_income": 0,
            "separate_taxation_income": 0,
            "total_income": tax.total_income,
            "aggregate_income": tax.total_income,
            "income_deductions": tax.income_deductions,
            "social_insurance_deduction": assessment.social_insurance,
            "taxable_income": tax.taxable_income,
            "has_spouse_deduction": dependants.spouse,
            "dependants": dependants.deductible,
            "dependants_under_16": dependants.under_16,
            "specified_dependants": dependants.specified,
            "elderly_dependants": dependants.elderly,
            "income_levy": tax.income_levy,
            "per_capita_levy": tax.per_capita_levy,
            "tax_amount": tax.tax_amount,
            "assessment_date": date(fiscal_year, 6, 10).isoformat(),
        }
        records.append(record)
    return records


def insurer_number(population: Population) -> str:
    """保険者番号 of the municipality's 国保: 都道府県 2 digits, 市区町村 3 digits, check digit."""
    base = population.municipality.code[:5]
    return base + payer_check_digit(base)


def _nhi_insured(household: Household, on: date) -> list[Resident]:
    employed = any(m.occupation is Occupation.EMPLOYEE for m in household.members)
    return [
        m
        for m in household.members
        if m.age(on) < 75
        and m.occupation is not Occupation.EMPLOYEE
        and (not employed or m.occupation in (Occupation.SELF_EMPLOYED, Occupation.PENSIONER))
    ]


def _copayment(resident: Resident, on: date, assessment: Assessment) -> str:
    if on <= school_year_end(resident.birth_date, 6):
        return "2"
    if resident.age(on) >= 70:
        tax = assessment.tax
        return "3" if tax is not None and tax.taxable_income >= 1_450_000 else "2"
    return "3"


def health_insurance_records(population: Population, assessments: Mapping[str, Assessment]) -> list[Record]:
    """国民健康保険情報: one record per insured. Simplified: residents under 75 who are not employees, unless
    they are an employee's dependants (then the employer's insurance covers them)."""
    on = population.reference_date
    fiscal_year = population.fiscal_year
    insurer = insurer_number(population)
    records: list[Record] = []
    card = 0
    for household in population.households:
        insured = _nhi_insured(household, on)
        if not insured:
            continue
        card += 1
        head = household.head
        nominal = head not in insured
        totals = [assessments[m.atena_number].total_income for m in insured]
        household_income = sum(totals) + (assessments[head.atena_number].total_income if nominal else 0)
        tax = nhi_tax(
            [NhiInsured(m.age(on), t) for m, t in zip(insured, totals, strict=True)], household_income
        )
        base = sum(max(0, t - 430_000) for t in totals)
        exempt = all(
            (a := assessments[m.atena_number]).tax is None or a.tax.tax_status == "2" for m in insured
        )
        income_class = nhi_income_class(base, exempt)
        for branch, member in enumerate(insured, start=1):
            born_here = member.moved_from is None
            record: Record = {
                "atena_number": member.atena_number,
                "household_head_atena_number": head.atena_number,
                "head_of_household_name": head.name,
                "nominal_head": nominal,
                "insurer_number": insurer,
                "card_symbol": f"{population.municipality.code[2:5]}-{household.address.address_code[:4]}",
                "card_number": f"{card:07d}",
                "branch_number": f"{branch:02d}",
                "acquisition_date": member.became_resident.isoformat(),
                "acquisition_reason": "04" if born_here else "01",
                "special_address_rule": False,
                "copayment_ratio": _copayment(member, on, assessments[member.atena_number]),
                "income_class": income_class,
                "fiscal_year": fiscal_year,
                "annual_tax": tax.annual,
                "medical_portion": tax.medical,
                "elderly_support_portion": tax.elderly_support,
                "care_portion": tax.care,
                "reduction": tax.reduction,
                "exemption": "0",
            }
            records.append(record)
    return records


def _children(household: Household) -> list[Resident]:
    """The head's children, eldest first."""
    return sorted(
        (m for m in household.members if m.relationship == RELATIONSHIP_CHILD), key=lambda m: m.birth_date
    )


def _recipient(household: Household, assessments: Mapping[str, Assessment]) -> Resident:
    """The parent who supports the children (生計中心者): the head or the spouse, whoever earns more."""
    parents = [m for m in household.members if m.relationship in ("01", "11", "12")]
    return max(parents, key=lambda m: (assessments[m.atena_number].total_income, m.relationship == "01"))


def guardian_of(household: Household, assessments: Mapping[str, Assessment]) -> Resident:
    """The parent who supports the household's children (the 乳幼児医療 guardian, 児童手当 recipient)."""
    return _recipient(household, assessments)


def allowance_records(population: Population, assessments: Mapping[str, Assessment]) -> list[Record]:
    """各手当情報: one 児童手当 record per recipient (the parent who supports the children)."""
    on = population.reference_date
    records: list[Record] = []
    certificate = 0
    for household in population.households:
        counted = [c for c in _children(household) if on <= school_year_end(c.birth_date, 22)]
        eligible = [
            (order, c) for order, c in enumerate(counted, 1) if on <= school_year_end(c.birth_date, 18)
        ]
        if not eligible:
            continue
        certificate += 1
        recipient = _recipient(household, assessments)
        amount = sum(
            ALLOWANCE_THIRD_CHILD
            if order >= 3
            else ALLOWANCE_UNDER_3
            if child.age(on) < 3
            else ALLOWANCE_3_AND_OVER
            for order, child in eligible
        )
        eldest = eligible[0][1]
        youngest = eligible[-1][1]
        granted = min(on, max(recipient.became_resident, eldest.birth_date) + timedelta(days=7))
        end = school_year_end(youngest.birth_date, 18)
        records.append(
            {
                "atena_number": recipient.atena_number,
                "allowance_type": CHILD_ALLOWANCE,
                "certificate_number": f"{population.municipality.code[:5]}-{certificate:06d}",
                "certification_date": granted.isoformat(),
                "payment_start_month": _month_after(granted).isoformat(),
                "payment_end_month": date(end.year, end.month, 1).isoformat(),
                "eligible_children": len(eligible),
                "monthly_amount": amount,
                "payment_status": "1",
                "suspended": False,
                "income_year": population.fiscal_year,
            }
        )
    return records


def public_payer_number(population: Population, subsidy_type: str) -> str:
    """公費負担者番号 (synthetic): 法別番号 88 (東京都の乳幼児・子ども医療), 都道府県, kind and ward, and
    the check digit."""
    code = population.municipality.code
    base = f"88{code[:2]}{'1' if subsidy_type == INFANT_MEDICAL else '2'}{code[3:5]}"
    return base + payer_check_digit(base)


def medical_subsidy_records(population: Population, assessments: Mapping[str, Assessment]) -> list[Record]:
    """各医療情報: 乳幼児医療 (to the school year of the 6th birthday) and 子ども医療 (to that of the
    18th) for every child, no income limit and no self-payment (as in the 23 wards)."""
    on = population.reference_date
    records: list[Record] = []
    recipient_number = 1_000_000
    for household in population.households:
        for child in _children(household):
            infant_end = school_year_end(child.birth_date, 6)
            child_end = school_year_end(child.birth_date, 18)
            if on > child_end:
                continue
            recipient_number += 1
            infant = on <= infant_end
            subsidy_type = INFANT_MEDICAL if infant else CHILD_MEDICAL
            start = child.birth_date if infant else infant_end + timedelta(days=1)
            acquired = max(start, child.became_resident)
            guardian = _recipient(household, assessments)
            records.append(
                {
                    "atena_number": child.atena_number,
                    "subsidy_type": subsidy_type,
                    "public_payer_number": public_payer_number(population, subsidy_type),
                    "recipient_number": f"{recipient_number:07d}",
                    "guardian_atena_number": guardian.atena_number,
                    "guardian_name": guardian.name,
                    "acquisition_date": acquired.isoformat(),
                    "valid_from": acquired.isoformat(),
                    "valid_to": (infant_end if infant else child_end).isoformat(),
                    "copay_class": "1",
                    "income_year": population.fiscal_year,
                }
            )
    return records


def population_records(population: Population) -> dict[InformationId, list[Record]]:
    """The records of every information kind the demo simulates, by kind id."""
    assessments = assess(population)
    return {
        RESIDENT_RECORD: resident_records(population),
        RESIDENT_TAX: resident_tax_records(population, assessments),
        HEALTH_INSURANCE: health_insurance_records(population, assessments),
        ALLOWANCE: allowance_records(population, assessments),
        MEDICAL_SUBSIDY: medical_subsidy_records(population, assessments),
    }
