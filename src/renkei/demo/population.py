"""A deterministic synthetic municipality: households of residents with names, フリガナ, birth dates,
relationships (続柄), addresses, 宛名番号 and 世帯番号, occupations and incomes.

Everything comes from one ``random.Random`` seeded with the municipality and the seed, so the same
arguments always give the same population (no global random state, no clock). The records the information
kinds of the spec hold are derived from it in :mod:`renkei.demo.records`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from renkei.demo.errors import PopulationInvalid
from renkei.demo.names import FEMALE_NAMES, MALE_NAMES, SURNAME_WEIGHTS, SURNAMES, Name, generation
from renkei.demo.places import (
    APARTMENT_SHARE,
    BUILDINGS,
    DOMICILES,
    PREVIOUS_ADDRESSES,
    Town,
    kanji_number,
    towns_of,
)
from renkei.identity.models import Sex
from renkei.japanese import (
    JapaneseError,
    Municipality,
    MunicipalityTable,
    checkdigit,
    format_wareki,
    generate_atena_number,
    generate_household_number,
)

DEFAULT_MUNICIPALITY: Final = "131016"
"""千代田区."""
SECOND_MUNICIPALITY: Final = "131024"
"""中央区, the demo's second city."""
DEFAULT_RESIDENTS: Final = 10_000
MAX_RESIDENTS: Final = 1_000_000
REFERENCE_DATE: Final = date(2025, 7, 1)
"""The day the population describes (基準日): 令和7年度, after the June 賦課決定 and under the 児童手当 rules
of October 2024. Fixed, so that a population never depends on when it is generated."""

# Share of the population by 5-year age band (0–4 … 95–99): central Tokyo, many people in their 30s–50s.
AGE_BANDS: Final[tuple[float, ...]] = (
    5.0, 4.5, 4.0, 3.5, 6.5, 9.5, 9.5, 9.0, 8.5, 8.5, 7.5, 6.0, 4.5, 4.0, 4.0, 3.5, 2.5, 1.6, 0.8, 0.3,
)  # fmt: skip

RELATIONSHIP_HEAD: Final = "01"
RELATIONSHIP_HUSBAND: Final = "11"
RELATIONSHIP_WIFE: Final = "12"
RELATIONSHIP_CHILD: Final = "21"
RELATIONSHIP_FATHER: Final = "31"
RELATIONSHIP_MOTHER: Final = "32"


class Occupation(StrEnum):
    """What a resident lives on: sets their income and their health insurance."""

    EMPLOYEE = "employee"  # 給与所得者 (被用者保険)
    PART_TIME = "part-time"  # パート (被扶養者の範囲内)
    SELF_EMPLOYED = "self-employed"  # 自営業
    PENSIONER = "pensioner"  # 年金生活
    STUDENT = "student"
    HOMEMAKER = "homemaker"
    CHILD = "child"
    NONE = "none"  # 無職


@dataclass(frozen=True, slots=True)
class Income:
    """Last calendar year's income (所得年): the base of this fiscal year's 個人住民税."""

    salary_revenue: int = 0
    business_income: int = 0
    pension_revenue: int = 0


@dataclass(frozen=True, slots=True)
class Address:
    """A household's address: town, 丁目, 番, 号, postal code, 町字ID and 方書 (building and room)."""

    text: str
    """住所 as the 住民票 writes it: 東京都千代田区麹町三丁目5番12号."""
    postal_code: str
    address_code: str
    """7 digits: the town's number and the 丁目 (a stand-in for the アドレス・ベース・レジストリ 町字ID)."""
    extra: str | None
    """方書: building and room, for flats."""


@dataclass(frozen=True, slots=True)
class Resident:
    """One resident (住民) as the demo's member systems know them."""

    atena_number: str
    household_number: str
    surname: str
    surname_kana: str
    given_name: str
    given_name_kana: str
    birth_date: date
    sex: Sex
    relationship: str
    """``relationship`` code of the spec (続柄 to the head of household)."""
    occupation: Occupation
    income: Income
    became_resident: date
    moved_from: str | None
    """転入前住所, or None when born in the municipality (出生)."""
    domicile: str
    """本籍."""
    family_register_head: str
    """筆頭者."""
    former_surname: Name | None = None
    """旧氏 and its reading, when recorded."""
    resident_code: str = ""
    """住民票コード (11 digits): the person's number in the 住基ネット, kept across a move to another
    municipality (:func:`resident_code_for`). Local only: never sent in a query or a notification."""

    @property
    def name(self) -> str:
        """氏名, surname and given name separated by a full-width space."""
        return f"{self.surname}\u3000{self.given_name}"

    @property
    def name_kana(self) -> str:
        return f"{self.surname_kana}\u3000{self.given_name_kana}"

    @property
    def birth_date_wareki(self) -> str:
        """生年月日 in 和暦: 平成2年4月1日."""
        return format_wareki(self.birth_date)

    def age(self, on: date) -> int:
        """Age in whole years on ``on`` (年齢計算ニ関スル法律 aside: birthdays count from the day itself)."""
        before_birthday = (on.month, on.day) < (self.birth_date.month, self.birth_date.day)
        return on.year - self.birth_date.year - int(before_birthday)


@dataclass(frozen=True, slots=True)
class Household:
    """世帯: its number, address and members, the head (世帯主) first."""

    number: str
    address: Address
    members: tuple[Resident, ...]

    @property
    def head(self) -> Resident:
        return self.members[0]


@dataclass(frozen=True, slots=True)
class Population:
    """The residents of one municipality on ``reference_date``."""

    municipality: Municipality
    seed: int
    reference_date: date
    households: tuple[Household, ...]
    residents: tuple[Resident, ...] = field(init=False, repr=False, compare=False)
    _by_atena: Mapping[str, Resident] = field(init=False, repr=False, compare=False)
    _household_of: Mapping[str, Household] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        residents = tuple(r for h in self.households for r in h.members)
        object.__setattr__(self, "residents", residents)
        object.__setattr__(self, "_by_atena", MappingProxyType({r.atena_number: r for r in residents}))
        object.__setattr__(
            self,
            "_household_of",
            MappingProxyType({r.atena_number: h for h in self.households for r in h.members}),
        )

    @property
    def organisation(self) -> str:
        """The municipality as an organisation of the deployment: ``JP/LG/131016``."""
        return f"JP/LG/{self.municipality.code}"

    @property
    def fiscal_year(self) -> int:
        """年度 of the reference date (April to March)."""
        day = self.reference_date
        return day.year if day.month >= 4 else day.year - 1

    def resident(self, atena_number: str) -> Resident | None:
        return self._by_atena.get(atena_number)

    def household_of(self, resident: Resident) -> Household:
        return self._household_of[resident.atena_number]


# --- 住民票コード -----------------------------------------------------------------------------------

_CODE_SPACE: Final = 10**10


def _resident_code_check_digit() -> Callable[[str], str] | None:
    """The 住民票コード check digit rule of :mod:`renkei.japanese.checkdigit`, when it has one."""
    found = getattr(checkdigit, "resident_code_check_digit", None)
    return found if callable(found) else None


def resident_code_for(municipality: str, sequence: int, seed: int) -> str:
    """The demo's 住民票コード of the ``sequence``-th resident (1-based) a population of ``municipality``
    generated with ``seed``: deterministic, and distinct for distinct (municipality, sequence) pairs of
    the demo (an affine bijection of 10 digits, keyed by the seed, over ``municipality[1:5] × sequence``
    — two municipalities whose codes agree in those four digits would share codes; the demo has none),
    followed by the check digit of ``renkei.japanese.checkdigit`` when it has the rule, else by one more
    digit of the same bijection over 11 digits (only the form is then checked)."""
    if not 1 <= sequence < 1_000_000:
        raise PopulationInvalid(f"sequence {sequence} out of range", field="sequence")
    mixer = random.Random(f"renkei-demo/resident-code/{seed}")
    check = _resident_code_check_digit()
    space = _CODE_SPACE if check is not None else _CODE_SPACE * 10
    multiplier = mixer.randrange(1, space // 10) * 10 + mixer.choice((1, 3, 7, 9))  # coprime to 10
    offset = mixer.randrange(space)
    value = (multiplier * (int(municipality[1:5]) * 1_000_000 + sequence) + offset) % space
    if check is None:
        return f"{value:011d}"
    body = f"{value:010d}"
    return body + check(body)


# --- generation ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Member:
    """A member before names and numbers: who they are in the household."""

    relationship: str
    sex: Sex
    age: int
    occupation: Occupation = Occupation.NONE


def _lognormal(rng: random.Random, median: float, sigma: float) -> int:
    return round(rng.lognormvariate(0.0, sigma) * median / 1000) * 1000


class _Generator:
    """Draws households one after another from one random stream."""

    def __init__(
        self, rng: random.Random, municipality: Municipality, reference_date: date, seed: int = 0
    ) -> None:
        self.rng = rng
        self.seed = seed
        self.municipality = municipality
        self.reference_date = reference_date
        self.towns: tuple[Town, ...] = towns_of(municipality)
        self.town_weights = [t.weight for t in self.towns]
        self.surname_weights = list(SURNAME_WEIGHTS)
        self.next_atena = 1
        self.next_household = 1

    # ages ---------------------------------------------------------------------------------------------

    def adult_age(self, low: int, high: int) -> int:
        """An age in [low, high] following the age pyramid."""
        ages = list(range(low, high + 1))
        weights = [AGE_BANDS[min(a // 5, len(AGE_BANDS) - 1)] for a in ages]
        return self.rng.choices(ages, weights)[0]

    def birth_date(self, age: int) -> date:
        """A birth date giving ``age`` on the reference date."""
        latest = self.reference_date.replace(year=self.reference_date.year - age)
        return latest - timedelta(days=self.rng.randrange(365))

    # households ---------------------------------------------------------------------------------------

    def composition(self) -> list[_Member]:
        rng = self.rng
        kind = rng.choices(
            ("single", "couple", "family", "single-parent", "three-generations", "with-parent"),
            (49, 20, 18, 4, 3, 6),
        )[0]
        if kind == "single":
            age = self.adult_age(18, 99) if rng.random() < 0.5 else self.adult_age(20, 39)
            return [_Member(RELATIONSHIP_HEAD, rng.choice((Sex.MALE, Sex.FEMALE)), age)]
        if kind == "couple":
            age = self.adult_age(24, 95)
            return self._couple(age)
        if kind == "family":
            couple = self._couple(self.adult_age(27, 56))
            return couple + self._children(min(m.age for m in couple))
        if kind == "single-parent":
            sex = Sex.FEMALE if rng.random() < 0.85 else Sex.MALE
            head = _Member(RELATIONSHIP_HEAD, sex, self.adult_age(25, 55))
            return [head, *self._children(head.age)]
        if kind == "three-generations":
            members = self._couple(self.adult_age(32, 55), head_sex=Sex.MALE)
            members += self._children(min(m.age for m in members))
            parent_age = min(99, members[0].age + rng.randint(25, 35))
            members.append(_Member(RELATIONSHIP_MOTHER, Sex.FEMALE, parent_age))
            if rng.random() < 0.4:
                members.append(
                    _Member(RELATIONSHIP_FATHER, Sex.MALE, min(99, parent_age + rng.randint(0, 4)))
                )
            return members
        head_age = self.adult_age(45, 68)
        parent = rng.choice(((RELATIONSHIP_MOTHER, Sex.FEMALE), (RELATIONSHIP_FATHER, Sex.MALE)))
        return [
            _Member(RELATIONSHIP_HEAD, rng.choice((Sex.MALE, Sex.FEMALE)), head_age),
            _Member(parent[0], parent[1], min(99, head_age + rng.randint(24, 36))),
        ]

    def _couple(self, head_age: int, head_sex: Sex | None = None) -> list[_Member]:
        sex = head_sex or (Sex.MALE if self.rng.random() < 0.85 else Sex.FEMALE)
        spouse_age = max(20, min(99, head_age + self.rng.randint(-6, 3 if sex is Sex.MALE else 6)))
        spouse = _Member(
            RELATIONSHIP_WIFE if sex is Sex.MALE else RELATIONSHIP_HUSBAND,
            Sex.FEMALE if sex is Sex.MALE else Sex.MALE,
            spouse_age,
        )
        return [_Member(RELATIONSHIP_HEAD, sex, head_age), spouse]

    def _children(self, parent_age: int) -> list[_Member]:
        """1–4 children, the eldest born when the (younger) parent was at least 22."""
        rng = self.rng
        count = rng.choices((1, 2, 3, 4), (46, 40, 12, 2))[0]
        age = rng.randint(0, max(0, min(parent_age - 22, 22)))
        children: list[_Member] = []
        for _ in range(count):
            children.append(_Member(RELATIONSHIP_CHILD, rng.choice((Sex.MALE, Sex.FEMALE)), age))
            age -= rng.randint(1, 4)
            if age < 0:
                break
        return children

    # people -------------------------------------------------------------------------------------------

    def occupation(self, member: _Member) -> Occupation:
        rng, age = self.rng, member.age
        if age < 16:
            return Occupation.CHILD
        if age < 23 and (member.relationship == RELATIONSHIP_CHILD or rng.random() < 0.6):
            return Occupation.STUDENT
        if age >= 65:
            return Occupation.PENSIONER
        if member.relationship == RELATIONSHIP_WIFE:
            return rng.choices(
                (Occupation.EMPLOYEE, Occupation.PART_TIME, Occupation.HOMEMAKER, Occupation.SELF_EMPLOYED),
                (32, 20, 40, 8),
            )[0]
        return rng.choices(
            (Occupation.EMPLOYEE, Occupation.SELF_EMPLOYED, Occupation.NONE, Occupation.PART_TIME),
            (78, 11, 7, 4),
        )[0]

    def income(self, occupation: Occupation, age: int, sex: Sex) -> Income:
        rng = self.rng
        if occupation is Occupation.EMPLOYEE:
            median = (
                3_200_000
                if age < 25
                else 4_500_000
                if age < 30
                else 6_000_000
                if age < 40
                else 7_500_000
                if age < 50
                else 8_500_000
                if age < 60
                else 5_000_000
            )
            factor = 0.75 if sex is Sex.FEMALE else 1.0
            return Income(salary_revenue=max(1_300_000, _lognormal(rng, median * factor, 0.45)))
        if occupation is Occupation.PART_TIME:
            return Income(salary_revenue=min(1_290_000, _lognormal(rng, 950_000, 0.3)))
        if occupation is Occupation.SELF_EMPLOYED:
            return Income(business_income=_lognormal(rng, 3_500_000, 0.8))
        if occupation is Occupation.STUDENT:
            part_time = _lognormal(rng, 600_000, 0.4) if rng.random() < 0.4 else 0
            return Income(salary_revenue=min(1_000_000, part_time))
        if occupation is Occupation.PENSIONER:
            pension = _lognormal(rng, 2_000_000 if sex is Sex.MALE else 1_200_000, 0.35)
            salary = _lognormal(rng, 2_600_000, 0.4) if age < 75 and rng.random() < 0.35 else 0
            return Income(salary_revenue=salary, pension_revenue=pension)
        return Income()

    def given_name(self, sex: Sex, birth_year: int) -> Name:
        table = MALE_NAMES if sex is Sex.MALE else FEMALE_NAMES
        return self.rng.choice(table[generation(birth_year)])

    def surname(self) -> Name:
        return self.rng.choices(SURNAMES, self.surname_weights)[0]

    def address(self) -> Address:
        rng = self.rng
        index = rng.choices(range(len(self.towns)), self.town_weights)[0]
        town = self.towns[index]
        chome = rng.randint(1, town.chome) if town.chome else 0
        banchi, go = rng.randint(1, 20), rng.randint(1, 25)
        where = f"{town.name}{kanji_number(chome)}丁目" if chome else town.name
        municipality = self.municipality
        text = f"{municipality.prefecture}{municipality.name}{where}{banchi}番{go}号"
        extra = None
        if rng.random() < APARTMENT_SHARE:
            ordinal = f"第{rng.randint(2, 5)}" if rng.random() < 0.3 else ""
            room = f"{rng.randint(1, 30)}{rng.randint(1, 12):02d}号"
            extra = f"{town.name}{ordinal}{rng.choice(BUILDINGS)} {room}"
        return Address(text, town.postal_code, f"{index + 1:04d}{chome:03d}", extra)

    def moved_in(self, head_age: int) -> date:
        """The day the household moved in: up to 30 years ago, after the head turned 18."""
        years = max(1, min(30, head_age - 18))
        return self.reference_date - timedelta(days=self.rng.randrange(1, years * 365))

    def household(self, room: int) -> Household:
        rng = self.rng
        members = self.composition()
        if len(members) > room:
            members = [_Member(RELATIONSHIP_HEAD, rng.choice((Sex.MALE, Sex.FEMALE)), self.adult_age(20, 39))]
        head_age = members[0].age
        arrived = self.moved_in(head_age)
        moved_from = rng.choice(PREVIOUS_ADDRESSES)
        domicile = rng.choice(DOMICILES)
        surname = self.surname()
        number = generate_household_number(f"5{self.next_household:013d}")
        self.next_household += 1
        residents: list[Resident] = []
        head_name = ""
        for member in members:
            birth = self.birth_date(member.age)
            occupation = self.occupation(member)
            given = self.given_name(member.sex, birth.year)
            former = None
            if member.relationship == RELATIONSHIP_WIFE and rng.random() < 0.15:
                former = self.surname()
            born_here = birth > arrived
            resident = Resident(
                atena_number=generate_atena_number(f"{self.next_atena:014d}"),
                household_number=number,
                surname=surname[0],
                surname_kana=surname[1],
                given_name=given[0],
                given_name_kana=given[1],
                birth_date=birth,
                sex=member.sex,
                relationship=member.relationship,
                occupation=occupation,
                income=self.income(occupation, member.age, member.sex),
                became_resident=birth if born_here else arrived,
                moved_from=None if born_here else moved_from,
                domicile=domicile,
                family_register_head=head_name or f"{surname[0]}\u3000{given[0]}",
                former_surname=former if former is not None and former[0] != surname[0] else None,
                resident_code=resident_code_for(self.municipality.code, self.next_atena, self.seed),
            )
            head_name = head_name or resident.name
            self.next_atena += 1
            residents.append(resident)
        return Household(number, self.address(), tuple(residents))


def generate_population(
    residents: int = DEFAULT_RESIDENTS,
    *,
    seed: int = 0,
    municipality: str = DEFAULT_MUNICIPALITY,
    reference_date: date = REFERENCE_DATE,
    table: MunicipalityTable | None = None,
) -> Population:
    """Exactly ``residents`` residents of ``municipality`` in households; the same arguments always give
    the same population."""
    if not 1 <= residents <= MAX_RESIDENTS:
        raise PopulationInvalid(
            f"residents must be 1-{MAX_RESIDENTS}, not {residents}", field="residents", residents=residents
        )
    try:
        found = (table or MunicipalityTable.load()).get(municipality)
    except JapaneseError as exc:
        raise PopulationInvalid(
            f"municipality {municipality!r}: {exc.message}", field="municipality", reason=exc.code
        ) from None
    if found.kind == "prefecture":
        raise PopulationInvalid(f"{found.name} is a prefecture, not a municipality", field="municipality")
    generator = _Generator(random.Random(f"renkei-demo/{found.code}/{seed}"), found, reference_date, seed)
    households: list[Household] = []
    count = 0
    while count < residents:
        household = generator.household(residents - count)
        households.append(household)
        count += len(household.members)
    return Population(found, seed, reference_date, tuple(households))


def household_moved_in(target: Population, household: Household, moved_on: date) -> Population:
    """``target`` with ``household`` (of another municipality) moved in on ``moved_on`` (転入): the same
    persons — names, birth dates, incomes, 住民票コード — under new 宛名番号 and 世帯番号 continuing
    ``target``'s sequences, at an address of ``target`` drawn deterministically from the household's old
    世帯番号, with the old address as 転入前住所. Appended last: every other resident keeps their numbers."""
    if moved_on > target.reference_date:
        raise PopulationInvalid("the move must happen by the reference date", field="moved_on")
    rng = random.Random(f"renkei-demo/move/{target.municipality.code}/{household.number}/{target.seed}")
    generator = _Generator(rng, target.municipality, target.reference_date, target.seed)
    first = len(target.residents) + 1
    number = generate_household_number(f"5{len(target.households) + 1:013d}")
    moved = tuple(
        replace(
            resident,
            atena_number=generate_atena_number(f"{first + index:014d}"),
            household_number=number,
            became_resident=moved_on,
            moved_from=household.address.text,
        )
        for index, resident in enumerate(household.members)
    )
    address = generator.address()
    return Population(
        target.municipality,
        target.seed,
        target.reference_date,
        (*target.households, Household(number, address, moved)),
    )
