"""The 住民票コード table on SQLite and PostgreSQL: one code per person and one person per code, batch lookup
by digest, paged listing of persons with a code and a 宛名番号 at an organisation, and its migration."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from renkei.identity.errors import ResidentCodeConflict
from renkei.identity.models import AtenaNumber, BasicInfo, OrgId, PersonKey, ResidentCodeRecord, Sex
from renkei.storage.sql.backend import build_engine
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.identity import SqlIdentityRepository
from renkei.storage.sql.tables import metadata
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, tzinfo=UTC)
ORG = OrgId("JP/LG/131024")
OTHER_ORG = OrgId("JP/LG/131016")


def _person(repository: SqlIdentityRepository, n: int) -> PersonKey:
    key = PersonKey(f"{n:032x}")
    repository.add_person(
        key, 10**9 + n, BasicInfo("山田 太郎", "東京都中央区", date(1980, 5, 17), Sex.MALE), T0
    )
    return key


def _record(person: PersonKey, n: int) -> ResidentCodeRecord:
    return ResidentCodeRecord(person, f"{n:064x}", f"sealed-{n}", T0)


def test_the_resident_code_table_matches_its_migration(backend: Backend) -> None:
    engine = build_engine(backend.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, metadata) if "identity_resident" in repr(d)]
    finally:
        engine.dispose()
    assert differences == []


def test_one_code_per_person_and_one_person_per_code(backend: Backend) -> None:
    repository = SqlIdentityRepository(connection_source(backend.storage))
    alice, bob = _person(repository, 1), _person(repository, 2)
    repository.put_resident_code(_record(alice, 1))
    repository.put_resident_code(_record(alice, 1))  # idempotent
    with pytest.raises(ResidentCodeConflict):
        repository.put_resident_code(_record(bob, 1))
    with pytest.raises(ResidentCodeConflict):
        repository.put_resident_code(_record(alice, 2))
    repository.put_resident_code(_record(bob, 2))
    found = repository.persons_by_resident_digests([f"{1:064x}", f"{2:064x}", f"{3:064x}", f"{1:064x}"])
    assert found == {f"{1:064x}": alice, f"{2:064x}": bob}
    assert repository.persons_by_resident_digests([]) == {}


def test_persons_with_a_code_and_a_local_id_are_paged_by_key(backend: Backend) -> None:
    repository = SqlIdentityRepository(connection_source(backend.storage))
    for org in (ORG, OTHER_ORG):
        repository.add_organisation(org, T0)
    persons = [_person(repository, n) for n in range(1, 8)]
    for n, person in enumerate(persons, start=1):
        if n != 3:
            repository.put_resident_code(_record(person, n))
        if n != 5:
            repository.put_local_id(ORG if n != 6 else OTHER_ORG, AtenaNumber(f"{n:012d}"), person, T0)
    listed: list[PersonKey] = []
    after: PersonKey | None = None
    while page := repository.resident_codes_at(ORG, after, 2):
        listed.extend(r.person_key for r in page)
        after = page[-1].person_key
    assert listed == [persons[n - 1] for n in (1, 2, 4, 7)]
    assert [r.sealed for r in repository.resident_codes_at(OTHER_ORG, None, 10)] == ["sealed-6"]
