"""Federation's storage on every backend: this deployment's one identity, peers replaced whole, a member
system hosted by one peer only, lookups by member and organisation, and the migrated schema."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from renkei.registry.ca import CertificateAuthority
from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.keystore import MemoryAuthorityStore
from renkei.storage.clock import FixedClock
from renkei.storage.errors import StorageValueInvalid
from renkei.storage.sql import tenancy as tenancy_tables
from renkei.storage.sql.backend import build_engine
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.tables import metadata
from renkei.storage.sql.tenancy import SqlPeerDirectory
from renkei.tenancy.errors import PeerConflict
from renkei.tenancy.models import Deployment, Peer
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=UTC)
CHIYODA = OrganisationId.parse("JP/LG/131016")
CHUO = OrganisationId.parse("JP/LG/131024")


def directory(backend: Backend) -> SqlPeerDirectory:
    return SqlPeerDirectory(connection_source(backend.storage))


def peer(name: str, *members: str, organisations: tuple[OrganisationId, ...] = (CHUO,)) -> Peer:
    ca = CertificateAuthority(MemoryAuthorityStore(), FixedClock(T0), name=f"renkei {name} CA")
    return Peer(
        deployment=name,
        hub_url=f"https://127.0.0.1:{8000 + len(name)}",
        ca_certificate_pem=ca.certificate_pem().decode("ascii"),
        organisations=organisations,
        members=tuple(MemberId.parse(m) for m in members),
        list_issued_at=T0,
        trusted_at=T0 + timedelta(seconds=1),
    )


def test_the_tenancy_tables_are_exactly_what_the_migration_makes(backend: Backend) -> None:
    engine = build_engine(backend.url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, metadata) if "tenancy_" in repr(d)]
    finally:
        engine.dispose()
    assert differences == []
    assert tenancy_tables.tenancy_peer_member.name in metadata.tables


def test_the_first_deployment_id_stays_and_its_url_may_change(backend: Backend) -> None:
    peers = directory(backend)
    assert peers.deployment() is None
    first = Deployment("DC1", "https://127.0.0.1:8443", T0)
    assert peers.configure(first) == first
    moved = peers.configure(Deployment("DC1", "https://hub.dc1.example:443", T0 + timedelta(days=1)))
    assert moved == Deployment("DC1", "https://hub.dc1.example:443", T0)
    assert peers.configure(Deployment("DC2", "https://127.0.0.1:9443", T0)) == moved
    assert peers.deployment() == moved


def test_two_first_configurations_at_once_leave_one_identity(backend: Backend) -> None:
    peers = directory(backend)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda n: peers.configure(Deployment(f"DC{n}", "https://127.0.0.1:8443", T0)), range(8))
        )
    assert len({r.id for r in results}) == 1
    assert peers.deployment() == results[0]


def test_a_peer_is_stored_and_replaced_whole(backend: Backend) -> None:
    peers = directory(backend)
    dc2 = peer("DC2", "JP/LG/131024/u10", "JP/LG/131024/u06")
    peers.put_peer(dc2)
    stored = peers.peer("DC2")
    assert stored == replace(dc2, members=tuple(sorted(dc2.members)))
    assert stored is not None and stored.ca_fingerprint == dc2.ca_fingerprint
    moved = replace(
        dc2,
        hub_url="https://127.0.0.1:9999",
        members=(MemberId.parse("JP/LG/131024/u01"),),
        organisations=(CHUO, CHIYODA),
        list_issued_at=T0 + timedelta(hours=1),
    )
    peers.put_peer(moved)
    assert peers.peer("DC2") == replace(moved, organisations=(CHIYODA, CHUO))
    assert peers.peers_hosting_member(MemberId.parse("JP/LG/131024/u06")) == []
    assert [p.deployment for p in peers.peers_hosting_organisation(CHIYODA)] == ["DC2"]
    assert peers.peer("DC9") is None
    assert peers.peer("X" * 100) is None


def test_a_member_system_is_hosted_by_one_peer_only(backend: Backend) -> None:
    peers = directory(backend)
    peers.put_peer(peer("DC2", "JP/LG/131024/u06"))
    with pytest.raises(PeerConflict) as conflict:
        peers.put_peer(peer("DC3", "JP/LG/131024/u10", "JP/LG/131024/u06"))
    assert conflict.value.detail["hosted_by"] == "DC2"
    assert peers.peer("DC3") is None  # nothing of DC3 was written
    assert peers.peers_hosting_member(MemberId.parse("JP/LG/131024/u10")) == []
    peers.put_peer(peer("DC3", "JP/LG/131024/u10"))  # the same organisation, another system: fine
    assert [p.deployment for p in peers.peers_hosting_organisation(CHUO)] == ["DC2", "DC3"]
    assert [p.deployment for p in peers.peers_hosting_member(MemberId.parse("JP/LG/131024/u10"))] == ["DC3"]
    assert [p.deployment for p in peers.peers()] == ["DC2", "DC3"]


def test_many_members_and_removal(backend: Backend) -> None:
    peers = directory(backend)
    many = [f"JP/LG/131024/u{n:02d}" for n in range(1, 100)]
    peers.put_peer(peer("DC2", *many))
    stored = peers.peer("DC2")
    assert stored is not None and len(stored.members) == 99
    with pytest.raises(PeerConflict):
        peers.put_peer(peer("DC3", *reversed(many)))
    assert peers.remove_peer("DC2")
    assert not peers.remove_peer("DC2")
    assert peers.peers() == []
    assert peers.peers_hosting_member(MemberId.parse("JP/LG/131024/u06")) == []
    assert peers.peers_hosting_organisation(CHUO) == []
    peers.put_peer(peer("DC3", *many))  # the systems are free again


def test_values_every_backend_cannot_store_are_refused_alike(backend: Backend) -> None:
    peers = directory(backend)
    with pytest.raises(StorageValueInvalid):
        peers.put_peer(replace(peer("DC2"), hub_url="https://127.0.0.1:1/\x00"))
    with pytest.raises(StorageValueInvalid):
        peers.configure(Deployment("DC1", "h" * 3000, T0))
    assert peers.peers() == []
