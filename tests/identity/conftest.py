"""Fixtures of the identity tests: SQLite storage in ``tmp_path``, in-memory keys, a frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import renkei.storage.sql.identity  # noqa: F401  registers the identity tables until schema.py imports them
from renkei.identity.card import CardAuthenticator, CardIssuer, CardReader, CertificateAuthority
from renkei.identity.keys import MemoryKeyStore
from renkei.identity.models import BasicInfo, Sex
from renkei.identity.numbering import NumberCodec, NumberIssuer
from renkei.identity.service import IdentityService, LinkageBase
from renkei.storage.clock import FixedClock
from renkei.storage.ports import Storage
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.identity import SqlIdentityRepository

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
LG_A = "JP/LG/131016"  # 千代田区
LG_B = "JP/LG/131041"  # 新宿区


def basic_info(name: str = "山田 太郎", address: str = "東京都千代田区千代田1-1") -> BasicInfo:
    return BasicInfo(name=name, address=address, birth_date=date(1980, 5, 17), sex=Sex.MALE)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with create_storage(f"sqlite:///{tmp_path / 'renkei.db'}") as opened:
        yield opened


@pytest.fixture
def repository(storage: Storage) -> SqlIdentityRepository:
    return SqlIdentityRepository(connection_source(storage))


@pytest.fixture
def keys() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def codec(keys: MemoryKeyStore) -> NumberCodec:
    return NumberCodec(keys)


@pytest.fixture
def issuer(repository: SqlIdentityRepository, codec: NumberCodec) -> NumberIssuer:
    return NumberIssuer(repository, codec)


@pytest.fixture
def identity(repository: SqlIdentityRepository, codec: NumberCodec, clock: FixedClock) -> IdentityService:
    return IdentityService(repository, codec, clock)


@pytest.fixture
def linkage(repository: SqlIdentityRepository, keys: MemoryKeyStore, clock: FixedClock) -> LinkageBase:
    base = LinkageBase(repository, keys, clock)
    base.register_organisation(LG_A)
    base.register_organisation(LG_B)
    return base


@pytest.fixture
def authority(keys: MemoryKeyStore, clock: FixedClock) -> CertificateAuthority:
    return CertificateAuthority(keys, clock)


@pytest.fixture
def card_issuer(
    repository: SqlIdentityRepository, authority: CertificateAuthority, clock: FixedClock
) -> CardIssuer:
    return CardIssuer(repository, authority, clock)


@pytest.fixture
def reader(repository: SqlIdentityRepository, clock: FixedClock) -> CardReader:
    return CardReader(repository, clock)


@pytest.fixture
def authenticator(
    repository: SqlIdentityRepository, authority: CertificateAuthority, clock: FixedClock
) -> CardAuthenticator:
    return CardAuthenticator(repository, authority.root, clock)
