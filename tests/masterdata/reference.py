"""The integrated DB's semantics in the simplest form, as a reference for property tests.

A person's history is the list of assertions the master accepted: (異動日, occurrence, arrival, record, the
instant it was recorded). "As of day V as known at instant R" is the record of the assertion recorded by R
with the greatest (異動日, occurrence, arrival) among those whose 異動日 is on or before V. No intervals,
no supersessions: if the SQL master's versions agree with this for every V and R, its bookkeeping is right.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from renkei.masterdata.models import Version
from renkei.masterdata.service import MasterData
from renkei.storage.clock import FixedClock
from tests.masterdata.builders import atena, household, occurred, resident

ACTIVE = {"1", "2"}
DAYS = (date(2026, 4, 1), date(2026, 4, 15), date(2026, 5, 1), date(2026, 6, 1))
PROBE_DAYS = (
    date(2026, 3, 31),
    date(2026, 4, 1),
    date(2026, 4, 14),
    date(2026, 4, 15),
    date(2026, 5, 1),
    date(2026, 5, 31),
    date(2026, 6, 1),
)
TICK = timedelta(microseconds=1)
REASONS = ("101", "301", "302", "306", "310", "201", "203")


@dataclass(frozen=True)
class Told:
    valid_from: date
    occurred: datetime
    arrival: int
    recorded_at: datetime
    items: Mapping[str, Any]


@dataclass
class Reference:
    told: dict[str, list[Told]] = field(default_factory=dict)

    def tell(
        self, atena: str, valid_from: date, at: datetime, recorded_at: datetime, items: Mapping[str, Any]
    ) -> None:
        mine = self.told.setdefault(atena, [])
        mine.append(Told(valid_from, at, len(mine), recorded_at, dict(items)))

    def as_of(self, atena: str, day: date, known_at: datetime) -> Mapping[str, Any] | None:
        candidates = [
            t for t in self.told.get(atena, []) if t.recorded_at <= known_at and t.valid_from <= day
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda t: (t.valid_from, t.occurred, t.arrival)).items

    def household(self, household_number: str, day: date, known_at: datetime) -> list[str]:
        members = []
        for person in sorted(self.told):
            record = self.as_of(person, day, known_at)
            if (
                record is not None
                and record["household_number"] == household_number
                and record["resident_status"] in ACTIVE
            ):
                members.append(person)
        return members


@dataclass(frozen=True)
class Step:
    """One event to apply (or, with ``replay``, the re-delivery of an earlier one) after ``pause`` seconds."""

    person: int
    day: date
    hour: int
    reason: str
    name: str
    home: int
    status: str
    pause: int
    replay: int | None

    def items(self) -> dict[str, Any]:
        return resident(
            self.person, reason=self.reason, on=self.day, name=self.name, home=self.home, status=self.status
        )

    def occurred(self) -> datetime:
        return occurred(self.day, self.hour)


steps = st.builds(
    Step,
    person=st.integers(1, 3),
    day=st.sampled_from(DAYS),
    hour=st.integers(8, 11),
    reason=st.sampled_from(REASONS),
    name=st.sampled_from(("山田 花子", "鈴木 花子", "髙橋 𠮷子")),
    home=st.integers(1, 2),
    status=st.sampled_from(("1", "1", "2", "3")),
    pause=st.integers(0, 2),
    replay=st.none() | st.integers(0, 20),
)
HOUSEHOLDS = (household(1), household(2))


def run_and_compare(master: MasterData, clock: FixedClock, tenant: str, plan: list[Step]) -> None:
    """Apply ``plan`` to ``tenant`` (replays re-deliver an earlier event), then compare every (day, instant)
    probe of every person and household with :class:`Reference`."""
    model = Reference()
    sent: list[tuple[str, Step]] = []
    instants: list[datetime] = []
    for index, step in enumerate(plan):
        clock.advance(timedelta(seconds=step.pause))
        if step.replay is not None and sent:
            event_id, original = sent[step.replay % len(sent)]
            again = master.apply(tenant, event_id, original.reason, original.items(), original.occurred())
            assert again.duplicate
            continue
        event_id = f"ev-{index}"
        applied = master.apply(tenant, event_id, step.reason, step.items(), step.occurred())
        assert not applied.duplicate
        sent.append((event_id, step))
        model.tell(applied.atena_number, step.day, step.occurred(), applied.recorded_at, step.items())
        instants.append(applied.recorded_at)
    # Each instant an event was recorded at (it must count from there on, and not at the previous such
    # instant), the instant before anything was, and now.
    probes = sorted({clock.now(), *instants, *([instants[0] - TICK] if instants else [])})
    for known_at in probes:
        for day in PROBE_DAYS:
            for person in (1, 2, 3):
                number = atena(person)
                found = master.person(tenant, number, valid_at=day, known_at=known_at)
                expected = model.as_of(number, day, known_at)
                assert (None if found is None else dict(found.items)) == expected, (number, day, known_at)
            for home in HOUSEHOLDS:
                members = master.household(tenant, home, valid_at=day, known_at=known_at)
                assert [m.atena_number for m in members] == model.household(home, day, known_at)
    for person in (1, 2, 3):
        _check_history(master.history(tenant, atena(person)))


def _check_history(versions: list[Version]) -> None:
    """Every recorded interval is well formed, and the versions believed at any instant partition time."""
    for version in versions:
        assert version.recorded_to is None or version.recorded_from <= version.recorded_to
        assert version.valid_to is None or version.valid_from < version.valid_to
    believed = [v for v in versions if v.recorded_to is None]
    believed.sort(key=lambda v: v.valid_from)
    for before, after in itertools.pairwise(believed):
        assert before.valid_to == after.valid_from
    if believed:
        assert believed[-1].valid_to is None
