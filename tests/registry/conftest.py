"""Registry fixtures: a registry in memory with the deployment's CA, frozen in time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from renkei.registry.ca import CertificateAuthority
from renkei.registry.keystore import MemoryAuthorityStore
from renkei.registry.memory import MemoryRegistryRepository, MemoryReplayStore
from renkei.registry.service import Enrolment, Registry
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
CHIYODA = "131016"
"""千代田区 (13101 + check digit 6)."""
CHUO = "131024"
"""中央区."""


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def authority(clock: FixedClock) -> CertificateAuthority:
    return CertificateAuthority(MemoryAuthorityStore(), clock)


@pytest.fixture
def registry(spec: Spec, clock: FixedClock, authority: CertificateAuthority) -> Registry:
    return Registry(spec, MemoryRegistryRepository(), clock, authority=authority)


@pytest.fixture
def replays() -> MemoryReplayStore:
    return MemoryReplayStore()


@pytest.fixture
def chiyoda_tax(registry: Registry) -> Enrolment:
    """千代田区's 個人住民税 system, JP/LG/131016/u06, providing income-certificate."""
    registry.add_organisation("LG", CHIYODA, "千代田区")
    enrolment = registry.enrol(f"JP/LG/{CHIYODA}", 6, endpoint="https://zei.chiyoda.example.lg.jp/renkei")
    registry.provide(enrolment.member.id, "income-certificate")
    return enrolment
