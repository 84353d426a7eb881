"""Simplified but consistent rules for the demo's figures: 個人住民税, 国民健康保険税 and the check digit of
insurer and public payer numbers.

These are *not* the law; they are close enough that the numbers look right and hang together (the same
income gives the same 課税標準額 in the 個人住民税 record, the 国保 income class and the 児童手当 income
year). What is simplified is listed in ``docs/demo.md``:

* 給与所得控除 and 公的年金等控除 by the formulas of the 2020 reform, without the ¥4,000 steps of the table;
* 所得控除: 基礎控除 (430,000 tapering above 24 million), 社会保険料控除 (as the population gives it),
  配偶者控除 330,000, 扶養控除 330,000 (特定 450,000, 老人 380,000); nothing else;
* 所得割 is a flat 10 % (市町村民税 6 % + 道府県民税 4 %) of the 課税標準額, with no 調整控除 or 税額控除;
  均等割 is 5,000 yen (3,000 + 1,000 + 森林環境税 1,000);
* 非課税: the 1級地 limits (35万円 × 人数 + 10万円, + 21万円 with dependants, for 均等割; + 32万円
  for 所得割);
* 国保税: 23区-like rates (医療分 7.71 % + 47,300, 支援金分 2.69 % + 16,800, 介護分 2.25 % + 16,600 for
  the insured aged 40–64) of 旧ただし書き所得 (total income − 430,000), 均等割 reduced by 7/5/2割 by
  household income, with the statutory caps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BASIC_DEDUCTION: Final = 430_000
SPOUSE_DEDUCTION: Final = 330_000
DEPENDANT_DEDUCTION: Final = 330_000
SPECIFIED_DEPENDANT_DEDUCTION: Final = 450_000
ELDERLY_DEPENDANT_DEDUCTION: Final = 380_000
DEPENDANT_INCOME_LIMIT: Final = 480_000
"""合計所得金額 at or below which a spouse or relative is a dependant (配偶者控除・扶養控除)."""
INCOME_LEVY_RATE_PERCENT: Final = 10
PER_CAPITA_LEVY: Final = 5_000


def salary_income(revenue: int) -> int:
    """給与所得 from 給与収入 (給与所得控除, 2020 onward, by formula)."""
    if revenue <= 1_625_000:
        deduction = 550_000
    elif revenue <= 1_800_000:
        deduction = revenue * 40 // 100 - 100_000
    elif revenue <= 3_600_000:
        deduction = revenue * 30 // 100 + 80_000
    elif revenue <= 6_600_000:
        deduction = revenue * 20 // 100 + 440_000
    elif revenue <= 8_500_000:
        deduction = revenue * 10 // 100 + 1_100_000
    else:
        deduction = 1_950_000
    return max(0, revenue - deduction)


def pension_income(revenue: int, age: int) -> int:
    """公的年金等所得 from 公的年金等収入 (公的年金等控除 for other income up to 10 million)."""
    if age >= 65 and revenue <= 3_300_000:
        deduction = 1_100_000
    elif age < 65 and revenue <= 1_300_000:
        deduction = 600_000
    elif revenue <= 4_100_000:
        deduction = revenue * 25 // 100 + 275_000
    elif revenue <= 7_700_000:
        deduction = revenue * 15 // 100 + 685_000
    elif revenue <= 10_000_000:
        deduction = revenue * 5 // 100 + 1_455_000
    else:
        deduction = 1_955_000
    return max(0, revenue - deduction)


def basic_deduction(aggregate_income: int) -> int:
    """基礎控除 (個人住民税): 430,000, tapering to nothing above 25 million."""
    if aggregate_income <= 24_000_000:
        return BASIC_DEDUCTION
    if aggregate_income <= 24_500_000:
        return 290_000
    if aggregate_income <= 25_000_000:
        return 150_000
    return 0


@dataclass(frozen=True, slots=True)
class Dependants:
    """Who a taxpayer claims (控除対象配偶者・扶養親族), by the ages that set the deduction."""

    spouse: bool = False
    general: int = 0
    """16–18 and 23–69."""
    specified: int = 0
    """特定扶養親族 (19–22)."""
    elderly: int = 0
    """老人扶養親族 (70 and over)."""
    under_16: int = 0
    """年少扶養親族: no deduction, but they count for the 非課税 limit."""

    @property
    def deductible(self) -> int:
        """控除対象扶養親族 (16 and over)."""
        return self.general + self.specified + self.elderly

    @property
    def persons(self) -> int:
        """Everyone the taxpayer supports (spouse and all dependants)."""
        return int(self.spouse) + self.deductible + self.under_16

    @property
    def deduction(self) -> int:
        return (
            (SPOUSE_DEDUCTION if self.spouse else 0)
            + self.general * DEPENDANT_DEDUCTION
            + self.specified * SPECIFIED_DEPENDANT_DEDUCTION
            + self.elderly * ELDERLY_DEPENDANT_DEDUCTION
        )


@dataclass(frozen=True, slots=True)
class ResidentTax:
    """One person's 個人住民税 for a fiscal year."""

    tax_status: str
    """``tax-status`` code: 1 課税, 2 非課税, 3 均等割のみ課税."""
    total_income: int
    income_deductions: int
    taxable_income: int
    income_levy: int
    per_capita_levy: int

    @property
    def tax_amount(self) -> int:
        return self.income_levy + self.per_capita_levy


def resident_tax(total_income: int, social_insurance: int, dependants: Dependants) -> ResidentTax:
    """個人住民税 of a person with ``total_income`` (総所得金額 = 合計所得金額 here) and these deductions."""
    persons = 1 + dependants.persons
    supported = dependants.persons > 0
    per_capita_limit = 350_000 * persons + 100_000 + (210_000 if supported else 0)
    income_levy_limit = 350_000 * persons + 100_000 + (320_000 if supported else 0)
    deductions = basic_deduction(total_income) + social_insurance + dependants.deduction
    taxable = max(0, total_income - deductions) // 1000 * 1000
    if total_income <= per_capita_limit:
        return ResidentTax("2", total_income, deductions, taxable, 0, 0)
    if total_income <= income_levy_limit or taxable == 0:
        return ResidentTax("3", total_income, deductions, taxable, 0, PER_CAPITA_LEVY)
    levy = taxable * INCOME_LEVY_RATE_PERCENT // 100 // 100 * 100
    return ResidentTax("1", total_income, deductions, taxable, levy, PER_CAPITA_LEVY)


# --- 国民健康保険税 ---------------------------------------------------------------------------------------

NHI_BASE_DEDUCTION: Final = 430_000
"""旧ただし書き所得 = 総所得金額等 − 基礎控除 (430,000)."""


@dataclass(frozen=True, slots=True)
class Portion:
    """One portion of 国保税: 所得割 rate (in 1/100 %), 均等割 per insured, and the yearly cap."""

    rate_basis_points: int
    per_capita: int
    cap: int


MEDICAL: Final = Portion(771, 47_300, 650_000)
ELDERLY_SUPPORT: Final = Portion(269, 16_800, 240_000)
CARE: Final = Portion(225, 16_600, 170_000)


@dataclass(frozen=True, slots=True)
class NhiInsured:
    """What 国保税 needs of one insured member: age and total income."""

    age: int
    total_income: int


@dataclass(frozen=True, slots=True)
class NhiTax:
    """The household's 国保税 for the year, by portion, with its 軽減 (``nhi-reduction`` code)."""

    medical: int
    elderly_support: int
    care: int
    reduction: str

    @property
    def annual(self) -> int:
        return self.medical + self.elderly_support + self.care


def _portion(portion: Portion, base: int, insured: int, reduction_percent: int) -> int:
    if insured == 0:
        return 0
    income_part = base * portion.rate_basis_points // 10_000
    per_capita = portion.per_capita * insured * (100 - reduction_percent) // 100
    return min(portion.cap, income_part + per_capita) // 100 * 100


def nhi_tax(insured: list[NhiInsured], household_income: int) -> NhiTax:
    """国保税 of a household whose insured members are ``insured``; ``household_income`` (the insured's and
    the head's total income) sets the 軽減 of the 均等割."""
    count = len(insured)
    base = sum(max(0, m.total_income - NHI_BASE_DEDUCTION) for m in insured)
    if household_income <= NHI_BASE_DEDUCTION:
        reduction, percent = "7", 70
    elif household_income <= NHI_BASE_DEDUCTION + 295_000 * count:
        reduction, percent = "5", 50
    elif household_income <= NHI_BASE_DEDUCTION + 545_000 * count:
        reduction, percent = "2", 20
    else:
        reduction, percent = "0", 0
    care_insured = [m for m in insured if 40 <= m.age <= 64]
    care_base = sum(max(0, m.total_income - NHI_BASE_DEDUCTION) for m in care_insured)
    return NhiTax(
        medical=_portion(MEDICAL, base, count, percent),
        elderly_support=_portion(ELDERLY_SUPPORT, base, count, percent),
        care=_portion(CARE, care_base, len(care_insured), percent),
        reduction=reduction,
    )


def nhi_income_class(household_base: int, all_exempt: bool) -> str:
    """限度額適用区分 (``nhi-income-class``) from the household's 旧ただし書き所得."""
    if all_exempt:
        return "O"
    if household_base > 9_010_000:
        return "A"
    if household_base > 6_000_000:
        return "I"
    if household_base > 2_100_000:
        return "U"
    return "E"


def payer_check_digit(digits: str) -> str:
    """The check digit of a 保険者番号 or 公費負担者番号: digits × 2, 1, 2 … from the right, the digits of
    the products summed, 10 − the last digit of the sum (0 when that is 10)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)
