"""Enrol the demo into a deployment: organisations, member systems with their keys, the services they
provide (pointing at the simulated member systems), purposes (事務), and every resident in the numbering
authority and the linkage base.

:func:`seed_demo` is idempotent: a second call with the same populations changes nothing. Residents are
enrolled in population order, so the residents already enrolled are a prefix of the population; a binary
search over 宛名番号 finds where to resume (after a crash too) in O(log n) lookups. The manifest
(``DATA_DIR/demo/manifest.json``) records which populations were seeded, so that ``renkei serve`` can
rebuild them for the simulated member systems.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Protocol

from renkei.demo.errors import ManifestInvalid, PopulationConflict, PopulationInvalid
from renkei.demo.moving import Move, apply_moves, moved_residents
from renkei.demo.population import (
    DEFAULT_MUNICIPALITY,
    SECOND_MUNICIPALITY,
    Population,
    generate_population,
)
from renkei.demo.records import UNIT_KINDS
from renkei.exchange.notifications.models import DeliveryMode
from renkei.exchange.notifications.service import NotificationHub
from renkei.identity.models import BasicInfo, PersonKey
from renkei.identity.service import IdentityService, LinkageBase
from renkei.japanese import MunicipalityTable
from renkei.masterdata.intake import INTAKE_KEYS, enrol_intake
from renkei.registry.identifiers import MemberClass, MemberId, OrganisationId
from renkei.registry.keystore import write_private
from renkei.registry.service import Enrolment, Registry
from renkei.spec.models import ServiceKind
from renkei.storage.ports import Clock
from renkei.types import UnitNumber

DEMO_DIRECTORY: Final = "demo"
MANIFEST_FILE: Final = "manifest.json"
MEMBER_KEYS: Final = "members"
DEFAULT_BASE_URL: Final = "http://127.0.0.1:8080"
MEMBERS_PATH: Final = "/demo/members"
"""Where the simulated member systems are mounted on the platform's HTTP application."""
DEMO_MUNICIPALITIES: Final = (DEFAULT_MUNICIPALITY, SECOND_MUNICIPALITY)
"""千代田区 and 中央区: always enrolled as organisations with their member systems."""
JST: Final = timezone(timedelta(hours=9), "JST")
CHANGE_TOPIC: Final = "resident-changes"
"""住民異動通知: published by each municipality's 住基 (u01)."""
CHANGE_SUBSCRIBERS: Final[tuple[tuple[UnitNumber, str, DeliveryMode], ...]] = (
    (UnitNumber(6), "resident-tax-assessment", DeliveryMode.WEBHOOK),
    (UnitNumber(10), "nhi-assessment", DeliveryMode.WEBHOOK),
    (UnitNumber(15), "child-allowance-certification", DeliveryMode.WEBHOOK),
    (UnitNumber(17), "infant-medical-subsidy", DeliveryMode.POLL),
)
"""Who subscribes to 住民異動 in each demo municipality, for which 事務, how: u17 reads the feed."""


@dataclass(frozen=True, slots=True)
class DemoPurpose:
    """事務 the demo registers: id, name, legal basis and the items of each kind it may use."""

    id: str
    name: str
    legal_basis: str
    uses: dict[str, list[str] | None] = field(default_factory=dict)


PURPOSES: Final[tuple[DemoPurpose, ...]] = (
    DemoPurpose(
        "infant-medical-subsidy",
        "乳幼児医療費助成",
        "番号法 第9条第2項 (条例で定める独自利用事務)・乳幼児医療費助成条例",
        {
            "individual-resident-tax": [
                "fiscal_year", "tax_status", "total_income", "aggregate_income", "taxable_income",
                "has_spouse_deduction", "dependants", "dependants_under_16", "income_levy", "tax_amount",
            ],
            "resident-record": None,
            "national-health-insurance": None,
        },
    ),
    DemoPurpose(
        "child-allowance-certification",
        "児童手当の認定",
        "児童手当法 第7条・番号法 第19条第8号 (別表第二)",
        {"individual-resident-tax": None, "resident-record": None, "national-health-insurance": None},
    ),
    DemoPurpose(
        "nhi-assessment",
        "国民健康保険税の賦課",
        "地方税法 第703条の4・国民健康保険法 第76条",
        {"individual-resident-tax": None, "resident-record": None},
    ),
    DemoPurpose(
        "resident-tax-assessment",
        "個人住民税の賦課",
        "地方税法 第294条",
        {"resident-record": None},
    ),
)  # fmt: skip


class DemoPlatform(Protocol):
    """What seeding needs of a deployment (``renkei.api.deps.Platform`` has it)."""

    @property
    def registry(self) -> Registry: ...

    @property
    def identity(self) -> IdentityService: ...

    @property
    def linkage(self) -> LinkageBase: ...

    @property
    def clock(self) -> Clock: ...


# --- manifest -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class PopulationSpec:
    """How to regenerate one seeded population."""

    municipality: str
    residents: int
    seed: int
    reference_date: date

    @classmethod
    def of(cls, population: Population) -> PopulationSpec:
        return cls(
            population.municipality.code,
            len(population.residents),
            population.seed,
            population.reference_date,
        )

    def generate(self, table: MunicipalityTable | None = None) -> Population:
        return generate_population(
            self.residents,
            seed=self.seed,
            municipality=self.municipality,
            reference_date=self.reference_date,
            table=table,
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``DATA_DIR/demo/manifest.json`` records: the seeded populations (as generated), the moves
    applied to them (:mod:`renkei.demo.moving`) and the members' base URL."""

    populations: tuple[PopulationSpec, ...]
    base_url: str
    moves: tuple[Move, ...] = ()

    def as_json(self) -> dict[str, Any]:
        moves = {"moves": [m.as_json() for m in self.moves]} if self.moves else {}
        return {
            "base_url": self.base_url,
            **moves,
            "populations": [
                {
                    "municipality": p.municipality,
                    "residents": p.residents,
                    "seed": p.seed,
                    "reference_date": p.reference_date.isoformat(),
                }
                for p in self.populations
            ],
        }

    def generate(self) -> list[Population]:
        """The populations, regenerated with the moves applied (deterministic: the ones that were seeded)."""
        table = MunicipalityTable.load()
        return apply_moves([p.generate(table) for p in self.populations], self.moves)


def demo_directory(data_dir: Path) -> Path:
    return data_dir / DEMO_DIRECTORY


def load_manifest(data_dir: Path) -> Manifest | None:
    """The demo seeded into ``data_dir``, or None when it was never seeded."""
    path = demo_directory(data_dir) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(
            populations=tuple(
                PopulationSpec(
                    str(p["municipality"]),
                    int(p["residents"]),
                    int(p["seed"]),
                    date.fromisoformat(p["reference_date"]),
                )
                for p in raw["populations"]
            ),
            base_url=str(raw["base_url"]),
            moves=tuple(Move.from_json(m) for m in raw.get("moves", ())),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestInvalid(f"{path}: {exc}", path=str(path)) from None


def _write_manifest(data_dir: Path, manifest: Manifest) -> bool:
    if load_manifest(data_dir) == manifest:
        return False
    path = demo_directory(data_dir) / MANIFEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        json.dumps(manifest.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    temporary.replace(path)
    return True


# --- seeding ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SeedReport:
    """What one :func:`seed_demo` call changed (all zero on a second call)."""

    organisations: int = 0
    members: int = 0
    services: int = 0
    purposes: int = 0
    residents: int = 0
    key_files: int = 0
    manifest: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.organisations
            or self.members
            or self.services
            or self.purposes
            or self.residents
            or self.key_files
            or self.manifest
        )


Progress = Callable[[str, int, int], None]
"""Called as ``progress(municipality code, residents enrolled, residents in the population)``."""


def member_key_directory(data_dir: Path, member: MemberId) -> Path:
    """Where a simulated member system's ``member.key``, ``member.crt`` and ``ca.crt`` are (0600)."""
    org = member.organisation
    return demo_directory(data_dir) / MEMBER_KEYS / f"{org.member_class.value}-{org.code}-{member.subsystem}"


def member_endpoint(base_url: str, member: MemberId) -> str:
    """The simulated member system's base URL: ``http://127.0.0.1:8080/demo/members/131016/u06``."""
    return f"{base_url.rstrip('/')}{MEMBERS_PATH}/{member.organisation.code}/{member.subsystem}"


def _write_keys(directory: Path, enrolment: Enrolment) -> int:
    write_private(directory / "member.key", enrolment.private_key_pem)
    write_private(directory / "member.crt", enrolment.certificate_pem)
    write_private(directory / "ca.crt", enrolment.ca_certificate_pem)
    return 3


def _seed_registry(
    platform: DemoPlatform,
    municipalities: Sequence[tuple[str, str, Sequence[UnitNumber]]],
    data_dir: Path,
    base_url: str,
) -> SeedReport:
    registry = platform.registry
    report = SeedReport()
    known = {o.id for o in registry.organisations()}
    for code, name, units in municipalities:
        organisation = OrganisationId.of(MemberClass.LG, code, instance=registry.instance)
        if organisation not in known and units:
            registry.add_organisation(MemberClass.LG, code, name)
            report.organisations += 1
        platform.linkage.register_organisation(f"JP/LG/{code}")
        for unit, information in sorted(UNIT_KINDS.items()):
            if unit not in units:
                continue
            member = MemberId(organisation, unit)
            endpoint = member_endpoint(base_url, member)
            keys = member_key_directory(data_dir, member)
            if registry.find_member(member) is None:
                report.key_files += _write_keys(keys, registry.enrol(organisation, unit, endpoint=endpoint))
                report.members += 1
            elif not (keys / "member.key").exists():
                report.key_files += _write_keys(keys, registry.renew(member))
            provided = {p.service: p.endpoint for p in registry.provided_services(member)}
            for kind, service in registry.providable_services(unit):
                if kind.id != information or service.kind is not ServiceKind.QUERY:
                    continue
                where = endpoint
                if provided.get(service.id) != where:
                    registry.provide(member, service.id, endpoint=where)
                    report.services += 1
    registered = {p.id for p in registry.purposes()}
    for purpose in PURPOSES:
        if purpose.id not in registered:
            registry.add_purpose(purpose.id, purpose.name, purpose.legal_basis, purpose.uses)
            report.purposes += 1
    return report


def member_events_url(base_url: str, member: MemberId) -> str:
    """Where a simulated member system receives change notifications: ``…/demo/members/131016/u06/events``."""
    return member_endpoint(base_url, member) + "/events"


def seed_subscriptions(
    notifications: NotificationHub,
    organisations: Sequence[OrganisationId],
    base_url: str,
    registry: Registry | None = None,
) -> int:
    """Subscribe each municipality's u06, u10 and u15 (webhooks at their simulated systems) and u17 (a
    poller) to its own 住基's 住民異動通知; idempotent. How many subscriptions were written. Given the
    ``registry``, only the member systems this deployment enrols, and only where its 住基 (u01) is here."""
    written = 0
    for organisation in organisations:
        existing = {
            s.subscriber: s
            for s in notifications.subscriptions(topic=CHANGE_TOPIC)
            if s.source == str(organisation)
        }
        if registry is not None and registry.find_member(MemberId(organisation, UnitNumber(1))) is None:
            continue  # no 住基 here to publish 住民異動
        for unit, purpose, mode in CHANGE_SUBSCRIBERS:
            member = MemberId(organisation, unit)
            if registry is not None and registry.find_member(member) is None:
                continue
            url = member_events_url(base_url, member) if mode is DeliveryMode.WEBHOOK else None
            found = existing.get(str(member))
            if found is not None and (found.mode, found.url, found.purpose) == (mode, url, purpose):
                continue
            notifications.subscribe(
                str(member), CHANGE_TOPIC, mode=mode.value, url=url, purpose=purpose, source=str(organisation)
            )
            written += 1
    return written


def _person(linkage: LinkageBase, org: str, atena_number: str) -> PersonKey | None:
    """The person registered under ``org``'s 宛名番号, inside the linkage base (never leaves it)."""
    return linkage.person_by_local_id(org, atena_number)


def _basic_info(population: Population, index: int) -> BasicInfo:
    resident = population.residents[index]
    household = population.household_of(resident)
    address = household.address.text
    if household.address.extra is not None:
        address = f"{address}\u3000{household.address.extra}"
    return BasicInfo(resident.name, address, resident.birth_date, resident.sex)


def enrolled_residents(platform: DemoPlatform, population: Population) -> int:
    """How many of the population's residents the deployment holds (a prefix, by the enrolment order).

    Raises ``demo.population.conflict`` when the deployment holds other persons under these 宛名番号 (a
    population of another seed or size was seeded into it)."""
    org = population.organisation
    linkage = platform.linkage
    low, high = 0, len(population.residents)
    while low < high:
        middle = (low + high) // 2
        if _person(linkage, org, population.residents[middle].atena_number) is None:
            high = middle
        else:
            low = middle + 1
    for index in {0, low - 1} if low else ():
        person = _person(linkage, org, population.residents[index].atena_number)
        expected = _basic_info(population, index)
        found = platform.identity.basic_info(person) if person is not None else None
        if found is None or (found.name, found.birth_date) != (expected.name, expected.birth_date):
            raise PopulationConflict(
                f"{population.municipality.name} ({org}) holds other residents under the demo's 宛名番号: "
                "the data directory was seeded with another seed or size; use a fresh --data-dir",
                organisation=org,
            )
    return low


def _valid_from(day: date, now: datetime) -> datetime:
    return min(now, datetime.combine(day, time(0), tzinfo=JST).astimezone(UTC))


def _seed_residents(
    platform: DemoPlatform,
    population: Population,
    progress: Progress | None,
    moved_in: Mapping[str, tuple[str, str]],
) -> int:
    """Enrol the residents not yet enrolled. ``moved_in`` maps a resident's 宛名番号 here to the
    organisation and 宛名番号 they had before a move: when that person is already in this deployment (the
    base holds everyone), they keep their person (and 住民票コード), with the new address from the move."""
    org = population.organisation
    start = enrolled_residents(platform, population)
    total = len(population.residents)
    now = platform.clock.now()
    for index in range(start, total):
        resident = population.residents[index]
        info = _basic_info(population, index)
        since = _valid_from(resident.became_resident, now)
        before = moved_in.get(resident.atena_number)
        person = None if before is None else _person(platform.linkage, before[0], before[1])
        if person is None:
            person = platform.identity.enrol(info, valid_from=since).person_key
            platform.linkage.register_resident_code(person, resident.resident_code)
        else:
            platform.identity.update_basic_info(person, info, since)
        platform.linkage.register_local_id(org, resident.atena_number, person)
        if progress is not None and (index + 1) % 500 == 0:
            progress(population.municipality.code, index + 1, total)
    if progress is not None:
        progress(population.municipality.code, total, total)
    return total - start


ALL_UNITS: Final[tuple[UnitNumber, ...]] = tuple(sorted(UNIT_KINDS))


def seed_demo(
    platform: DemoPlatform,
    populations: Sequence[Population],
    *,
    data_dir: Path,
    base_url: str = DEFAULT_BASE_URL,
    progress: Progress | None = None,
    notifications: NotificationHub | None = None,
    members: Mapping[str, Sequence[UnitNumber]] | None = None,
    moves: Sequence[Move] = (),
) -> SeedReport:
    """Enrol the demo organisations (千代田区, 中央区 and the populations' municipalities), their member
    systems for units 1, 6, 10, 15 and 17 (keys written under ``DATA_DIR/demo/members/``), the query
    services each provides at the simulated member systems under ``base_url``, the demo purposes, every
    resident of ``populations`` (基本4情報, 宛名番号 and 住民票コード), and — given ``notifications`` — the
    subscriptions to each 住基's 住民異動通知 (:func:`seed_subscriptions`). Idempotent.

    ``members`` (municipality code → units) limits the member systems to those this deployment hosts
    (a population whose municipality has none here is enrolled as persons only: the linkage base of a
    federation holds every person). ``moves`` are applied to the populations (:mod:`renkei.demo.moving`):
    the moved persons are enrolled once, under the 宛名番号 of both municipalities when both are here."""
    table = MunicipalityTable.load()
    codes = list(dict.fromkeys([*DEMO_MUNICIPALITIES, *(p.municipality.code for p in populations)]))
    if len({p.municipality.code for p in populations}) != len(populations):
        raise PopulationConflict("one population per municipality", field="populations")
    hosted = {c: tuple(ALL_UNITS) for c in codes} if members is None else dict(members)
    unknown = [u for units in hosted.values() for u in units if u not in UNIT_KINDS]
    if unknown:
        raise PopulationInvalid(f"the demo has no member system for unit {unknown[0]}", field="members")
    codes = list(dict.fromkeys([*codes, *hosted]))
    enrolled = [(c, table.get(c).name, tuple(hosted.get(c, ()))) for c in codes]
    report = _seed_registry(platform, enrolled, data_dir, base_url)
    if notifications is not None:
        organisations = [
            OrganisationId.of(MemberClass.LG, c, instance=platform.registry.instance)
            for c in codes
            if hosted.get(c)
        ]
        seed_subscriptions(notifications, organisations, base_url, platform.registry)
        # Each municipality's integrated DB (統合DB) reads its 住基's 異動 through the hub (a poller).
        for code in codes:
            if 1 in hosted.get(code, ()):
                enrol_intake(platform.registry, notifications, code, data_dir / INTAKE_KEYS)
    moved = apply_moves(populations, moves)
    moved_in: dict[str, dict[str, tuple[str, str]]] = {}
    for person in moved_residents(populations, moved, moves):
        moved_in.setdefault(person.target_org, {})[person.after.atena_number] = (
            person.source_org,
            person.before.atena_number,
        )
    sources = {m.source for m in moves}
    for population in sorted(moved, key=lambda p: p.municipality.code not in sources):
        report.residents += _seed_residents(
            platform, population, progress, moved_in.get(population.organisation, {})
        )
    manifest = Manifest(tuple(sorted(PopulationSpec.of(p) for p in populations)), base_url, tuple(moves))
    report.manifest = _write_manifest(data_dir, manifest)
    return report
