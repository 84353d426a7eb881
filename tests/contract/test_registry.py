"""The registry's storage on every backend: directory records, conflicts, revocation, replay store, schema."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from renkei.registry.identifiers import MemberClass, MemberId, OrganisationId
from renkei.registry.models import (
    Credential,
    KeyType,
    MemberSystem,
    Organisation,
    ProvidedService,
    Purpose,
    PurposeUse,
    ServiceProtocol,
)
from renkei.storage.sql import registry as registry_tables
from renkei.storage.sql.backend import build_engine
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.registry import SqlRegistryRepository, SqlReplayStore
from renkei.storage.sql.tables import metadata
from renkei.types import InformationId, ItemId, ServiceId, UnitNumber
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=UTC)
CHIYODA = OrganisationId("JP", MemberClass.LG, "131016")
TAX = MemberId(CHIYODA, UnitNumber(6))
INFANT = MemberId(CHIYODA, UnitNumber(17))


def repository(backend: Backend) -> SqlRegistryRepository:
    return SqlRegistryRepository(connection_source(backend.storage))


def seeded(backend: Backend) -> SqlRegistryRepository:
    repo = repository(backend)
    assert repo.add_organisation(Organisation(CHIYODA, "千代田区", T0))
    assert repo.add_member(
        MemberSystem(TAX, "個人住民税", T0, "https://zei.example.lg.jp/", ServiceProtocol.REST)
    )
    assert repo.add_member(MemberSystem(INFANT, "乳幼児医療", T0))
    return repo


def credential(kid: str, member: MemberId = TAX, at: datetime = T0) -> Credential:
    return Credential(
        kid=kid,
        member=member,
        key_type=KeyType.P256,
        public_key_pem="-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n",
        certificate_pem=None,
        serial=str(2**150),
        not_before=at,
        not_after=at + timedelta(days=365),
        registered_at=at,
    )


def test_the_registry_tables_are_exactly_what_the_migration_makes(backend: Backend) -> None:
    engine = build_engine(backend.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, metadata) if "registry_" in repr(d)]
    finally:
        engine.dispose()
    assert differences == []
    assert registry_tables.registry_replay.name in metadata.tables


def test_organisations_and_members_are_stored_once(backend: Backend) -> None:
    repo = seeded(backend)
    assert not repo.add_organisation(Organisation(CHIYODA, "別名", T0 + timedelta(days=1)))
    assert repo.organisation(CHIYODA) == Organisation(CHIYODA, "千代田区", T0)
    assert repo.organisations() == [Organisation(CHIYODA, "千代田区", T0)]
    assert not repo.add_member(MemberSystem(TAX, "別名", T0))
    assert repo.member(TAX) == MemberSystem(
        TAX, "個人住民税", T0, "https://zei.example.lg.jp/", ServiceProtocol.REST
    )
    assert [m.id for m in repo.members()] == [TAX, INFANT], "ordered by unit number, not text"
    assert [m.id for m in repo.members(CHIYODA)] == [TAX, INFANT]
    assert repo.members(OrganisationId("JP", MemberClass.LG, "131024")) == []
    assert repo.member(MemberId(CHIYODA, UnitNumber(1))) is None


def test_credentials_are_revoked_once(backend: Backend) -> None:
    repo = seeded(backend)
    first, second = credential("a" * 64), credential("b" * 64, INFANT, T0 + timedelta(seconds=1))
    assert repo.add_credential(first)
    assert repo.add_credential(second)
    assert not repo.add_credential(first)
    assert repo.credential("a" * 64) == first
    assert repo.credential("c" * 64) is None
    assert repo.credential("x" * 500) is None
    assert repo.credentials() == [first, second]
    assert repo.credentials(INFANT) == [second]
    revoked = repo.revoke_credential("a" * 64, T0 + timedelta(hours=1), "key-compromise")
    assert revoked is not None
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    again = repo.revoke_credential("a" * 64, T0 + timedelta(hours=2), "other")
    assert again == revoked
    assert repo.revoke_credential("c" * 64, T0, "x") is None


def test_services_are_put_and_listed(backend: Backend) -> None:
    repo = seeded(backend)
    income = ProvidedService(
        TAX,
        ServiceId("income-certificate"),
        InformationId("individual-resident-tax"),
        "https://zei.example.lg.jp/",
        ServiceProtocol.REST,
        T0,
    )
    assert repo.put_service(income) == income
    moved = ProvidedService(
        TAX,
        income.service,
        income.information,
        "https://new.example.lg.jp/soap",
        ServiceProtocol.SOAP,
        T0 + timedelta(days=1),
    )
    stored = repo.put_service(moved)
    assert stored.endpoint == "https://new.example.lg.jp/soap"
    assert stored.protocol is ServiceProtocol.SOAP
    assert stored.registered_at == T0
    medical = ProvidedService(
        INFANT,
        ServiceId("medical-subsidy-inquiry"),
        InformationId("medical-subsidy"),
        "file:///in",
        ServiceProtocol.FILE,
        T0,
    )
    repo.put_service(medical)
    assert repo.provided_services() == [stored, medical]
    assert repo.provided_services(INFANT) == [medical]
    assert repo.providers("income-certificate") == [stored]
    assert repo.remove_service(TAX, "income-certificate")
    assert not repo.remove_service(TAX, "income-certificate")
    assert repo.providers("income-certificate") == []


def test_purposes_keep_their_uses_in_order(backend: Backend) -> None:
    repo = repository(backend)
    purpose = Purpose(
        id="infant-medical-subsidy",
        name="乳幼児医療費助成",
        legal_basis="児童福祉法 / 条例 𠮷",
        uses=(
            PurposeUse(
                InformationId("individual-resident-tax"), (ItemId("taxable_income"), ItemId("atena_number"))
            ),
            PurposeUse(InformationId("resident-record"), (ItemId("name"),)),
        ),
        registered_at=T0,
    )
    assert repo.add_purpose(purpose)
    assert not repo.add_purpose(purpose)
    assert repo.purpose("infant-medical-subsidy") == purpose
    assert repo.purpose("other") is None
    assert repo.purposes() == [purpose]


def test_a_nonce_is_accepted_once_until_it_expires(backend: Backend) -> None:
    replays = SqlReplayStore(connection_source(backend.storage))
    until = T0 + timedelta(minutes=5)
    assert replays.remember(TAX, "nonce-0000000000001", until, T0)
    assert not replays.remember(TAX, "nonce-0000000000001", until, T0 + timedelta(minutes=4))
    assert replays.remember(INFANT, "nonce-0000000000001", until, T0), "nonces are per member"
    assert replays.remember(TAX, "nonce-0000000000001", until + timedelta(minutes=5), until), (
        "expired: forgotten"
    )
    assert replays.remember(TAX, "nonce-0000000000002", until, T0)
    assert replays.purge(until) == 2
    assert replays.purge(until) == 0


def test_concurrent_replays_let_exactly_one_through(backend: Backend) -> None:
    stores = [SqlReplayStore(connection_source(backend.open())) for _ in range(4)]
    until = T0 + timedelta(minutes=5)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: s.remember(TAX, "same-nonce-000000001", until, T0), stores))
    assert sorted(results) == [False, False, False, True]
