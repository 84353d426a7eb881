"""Seeding the demo into a real platform (SQLite): everything enrolled once, a second run changes nothing."""

from __future__ import annotations

import stat
from dataclasses import asdict
from pathlib import Path

import pytest

from renkei.api.deps import Platform
from renkei.demo.errors import PopulationConflict
from renkei.demo.population import Population, generate_population
from renkei.demo.seed import (
    PURPOSES,
    SeedReport,
    enrolled_residents,
    load_manifest,
    member_key_directory,
    seed_demo,
)
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.identifiers import MemberId

from .conftest import BASE_URL, NOW


def snapshot(platform: Platform) -> dict[str, object]:
    registry = platform.registry
    return {
        "organisations": registry.organisations(),
        "members": registry.members(),
        "credentials": registry.credentials(),
        "services": registry.provided_services(),
        "purposes": registry.purposes(),
    }


def test_seeding_enrols_everything(
    seeded: SeedReport, platform: Platform, chiyoda: Population, chuo: Population, data_dir: Path
) -> None:
    assert asdict(seeded) == {
        "organisations": 2,
        "members": 10,
        "services": 10,
        "purposes": len(PURPOSES),
        "residents": 200,
        "key_files": 30,
        "manifest": True,
    }
    registry = platform.registry
    assert {str(o.id): o.name for o in registry.organisations()} == {
        "JP/LG/131016": "千代田区",
        "JP/LG/131024": "中央区",
    }
    income = registry.provided_service("JP/LG/131016/u06", "income-certificate")
    # The hub appends the service id to the member's endpoint (docs/exchange.md).
    assert income.endpoint == f"{BASE_URL}/demo/members/131016/u06"
    assert {p.service for p in registry.provided_services("JP/LG/131024/u17")} == {"medical-subsidy-inquiry"}
    assert "individual-resident-tax" in {
        u.information for u in registry.purpose("infant-medical-subsidy").uses
    }
    for population in (chiyoda, chuo):
        assert enrolled_residents(platform, population) == len(population.residents)
        resident = population.residents[-1]
        person = platform.linkage.resolve(
            population.organisation,
            platform.linkage.convert(
                population.organisation, resident.atena_number, population.organisation
            ).fugo,
        )
        info = platform.identity.basic_info(person)
        assert (info.name, info.birth_date, info.sex) == (resident.name, resident.birth_date, resident.sex)
    manifest = load_manifest(data_dir)
    assert manifest is not None
    assert [p.residents for p in manifest.populations] == [160, 40]
    assert manifest.generate() == [chiyoda, chuo]


def test_a_second_seeding_changes_nothing(
    seeded: SeedReport, platform: Platform, chiyoda: Population, chuo: Population, data_dir: Path
) -> None:
    before = snapshot(platform)
    again = seed_demo(platform, [chiyoda, chuo], data_dir=data_dir, base_url=BASE_URL)
    assert not again.changed, again
    assert snapshot(platform) == before
    assert enrolled_residents(platform, chiyoda) == 160


def test_seeding_resumes_after_an_interruption(
    platform: Platform, data_dir: Path, chiyoda: Population
) -> None:
    def stop_after_100(code: str, done: int, total: int) -> None:
        if done >= 100:
            raise KeyboardInterrupt

    bigger = generate_population(600, seed=7)
    with pytest.raises(KeyboardInterrupt):
        seed_demo(platform, [bigger], data_dir=data_dir, progress=stop_after_100)
    assert enrolled_residents(platform, bigger) == 500  # progress is reported every 500
    resumed = seed_demo(platform, [bigger], data_dir=data_dir)
    assert resumed.residents == 100
    assert enrolled_residents(platform, bigger) == 600


def test_another_population_in_the_same_deployment_is_refused(
    seeded: SeedReport, platform: Platform, data_dir: Path
) -> None:
    other = generate_population(160, seed=8)
    with pytest.raises(PopulationConflict):
        seed_demo(platform, [other], data_dir=data_dir)


def test_member_keys_are_written_private_and_sign_requests(
    seeded: SeedReport, platform: Platform, data_dir: Path
) -> None:
    member = MemberId.parse("JP/LG/131016/u17")
    directory = member_key_directory(data_dir, member)
    for name in ("member.key", "member.crt", "ca.crt"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    body = b'{"person_fugo": "X", "fiscal_year": 2025}'
    path = "/r1/JP/LG/131016/u06/income-certificate"
    token = sign_request(
        (directory / "member.key").read_bytes(),
        member,
        "POST",
        path,
        body,
        NOW,
        certificate=(directory / "member.crt").read_bytes(),
    )
    assert SIGNATURE_HEADER
    assert platform.authenticator.authenticate(token, "POST", path, body) == member


def test_a_lost_key_is_reissued(
    seeded: SeedReport, platform: Platform, chiyoda: Population, chuo: Population, data_dir: Path
) -> None:
    member = MemberId.parse("JP/LG/131024/u01")
    (member_key_directory(data_dir, member) / "member.key").unlink()
    again = seed_demo(platform, [chiyoda, chuo], data_dir=data_dir, base_url=BASE_URL)
    assert (again.members, again.key_files, again.residents) == (0, 3, 0)
    assert len(platform.registry.credentials(member)) == 2
