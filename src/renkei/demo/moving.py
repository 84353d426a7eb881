"""A family that moves from one demo municipality to another (転出・転入), for the federation demo.

Issue 6's case (a): a household of 中央区 (hosted by DC2) with a child under 6 and income for fiscal 2025
moves to 千代田区 (hosted by DC1). At DC1 the family becomes residents of 千代田区 — the same persons, with
the same 住民票コード, under new 千代田区 宛名番号 — and the child gets a 乳幼児医療 record there; at DC2 it
stays in 中央区's records (the 2025 個人住民税 was assessed by 中央区: they lived there on 1 January).

Everything is deterministic: the family is the first household of the source population that qualifies,
and the populations with the move applied are rebuilt from the manifest (:class:`Move`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from renkei.demo.errors import PopulationInvalid
from renkei.demo.population import (
    DEFAULT_MUNICIPALITY,
    SECOND_MUNICIPALITY,
    Household,
    Population,
    Resident,
    household_moved_in,
)
from renkei.demo.records import assess, guardian_of

MOVED_ON: Final = date(2025, 5, 12)
"""The day the demo family moves (after 1 January 2025: 中央区 assessed their 令和7年度 住民税)."""
INFANT_AGE: Final = 6


@dataclass(frozen=True, slots=True, order=True)
class Move:
    """One household of ``source`` (by its 世帯番号 there) moved into ``target`` on ``moved_on``."""

    source: str
    household_number: str
    target: str
    moved_on: date = MOVED_ON

    def as_json(self) -> dict[str, str]:
        return {
            "source": self.source,
            "household_number": self.household_number,
            "target": self.target,
            "moved_on": self.moved_on.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> Move:
        return cls(
            str(raw["source"]),
            str(raw["household_number"]),
            str(raw["target"]),
            date.fromisoformat(str(raw["moved_on"])),
        )


def moving_family(population: Population) -> Household:
    """The first household of ``population`` with a child under 6 on the reference date whose guardian
    (the parent who earns more) was assessed 個人住民税 with some income for the fiscal year."""
    assessments = assess(population)
    on = population.reference_date
    for household in population.households:
        if not any(m.relationship == "21" and m.age(on) < INFANT_AGE for m in household.members):
            continue
        guardian = guardian_of(household, assessments)
        tax = assessments[guardian.atena_number].tax
        if tax is not None and tax.total_income > 0:
            return household
    raise PopulationInvalid(
        f"{population.municipality.name} has no household with a child under 6 and an assessed income",
        field="residents",
    )


def family_move(source: Population, target_code: str = DEFAULT_MUNICIPALITY) -> Move:
    """The demo's move: :func:`moving_family` of ``source`` into ``target_code``."""
    return Move(source.municipality.code, moving_family(source).number, target_code)


def default_move(populations: Sequence[Population]) -> Move:
    """中央区's moving family into 千代田区, from the populations given (both must be among them)."""
    by_code = {p.municipality.code: p for p in populations}
    if SECOND_MUNICIPALITY not in by_code or DEFAULT_MUNICIPALITY not in by_code:
        raise PopulationInvalid("the move needs the populations of 千代田区 and 中央区", field="populations")
    return family_move(by_code[SECOND_MUNICIPALITY], DEFAULT_MUNICIPALITY)


@dataclass(frozen=True, slots=True)
class MovedResident:
    """One person of a moved household: who they were in the source and who they are in the target."""

    before: Resident
    after: Resident
    source_org: str
    target_org: str


def apply_moves(populations: Sequence[Population], moves: Sequence[Move]) -> list[Population]:
    """The populations with every move applied to its target (the sources keep the household: at their
    deployment the family stays in the records as former residents)."""
    by_code = {p.municipality.code: p for p in populations}
    result = dict(by_code)
    for move in moves:
        source, target = by_code.get(move.source), result.get(move.target)
        if source is None or target is None:
            raise PopulationInvalid(
                f"move {move.source} → {move.target}: both populations are needed", field="moves"
            )
        household = next((h for h in source.households if h.number == move.household_number), None)
        if household is None:
            raise PopulationInvalid(f"no household {move.household_number} in {move.source}", field="moves")
        result[move.target] = household_moved_in(target, household, move.moved_on)
    return [result[p.municipality.code] for p in populations]


def moved_residents(
    populations: Sequence[Population], moved: Sequence[Population], moves: Sequence[Move]
) -> list[MovedResident]:
    """Each person of each move, before (``populations``) and after (``moved`` = :func:`apply_moves`)."""
    before = {p.municipality.code: p for p in populations}
    after = {p.municipality.code: p for p in moved}
    found: list[MovedResident] = []
    for move in moves:
        source = before[move.source]
        household = next(h for h in source.households if h.number == move.household_number)
        codes = {r.resident_code: r for r in household.members}
        for resident in after[move.target].residents:
            old = codes.get(resident.resident_code)
            if old is not None:
                found.append(
                    MovedResident(old, resident, source.organisation, after[move.target].organisation)
                )
    return found
