"""Federation's storage on SQLAlchemy Core: this deployment's identity and the peers it trusts, with the
organisations and member systems each peer hosts.

Composition: ``SqlPeerDirectory(connection_source(storage))``; the tables register on ``tables.metadata``
when this module is imported (``storage/sql/schema.py`` imports it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection

from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.storage.sql.repositories import ConnectionSource, insert_or_ignore
from renkei.storage.sql.tables import UtcDateTime, metadata
from renkei.storage.values import check_text, to_utc
from renkei.tenancy.errors import PeerConflict
from renkei.tenancy.models import DEPLOYMENT_MAX, URL_MAX, Deployment, Peer

ID_MAX = 128
FINGERPRINT_MAX = 64
CERTIFICATE_MAX = 64 * 1024
#: The one row of ``tenancy_deployment``: a fixed key, so two first writers cannot both insert.
_SLOT = 1

tenancy_deployment = Table(
    "tenancy_deployment",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False, comment="always 1: one row"),
    Column("id", String(DEPLOYMENT_MAX), nullable=False, comment="this deployment's id, e.g. DC1"),
    Column("hub_url", String(URL_MAX), nullable=False),
    Column("configured_at", UtcDateTime, nullable=False),
    comment="This deployment's federation identity (one row)",
)

tenancy_peer = Table(
    "tenancy_peer",
    metadata,
    Column("deployment", String(DEPLOYMENT_MAX), primary_key=True, comment="the peer's id, e.g. DC2"),
    Column("hub_url", String(URL_MAX), nullable=False),
    Column("ca_certificate", Text, nullable=False, comment="the peer CA's certificate (PEM): trust anchor"),
    Column("ca_fingerprint", String(FINGERPRINT_MAX), nullable=False, index=True),
    Column("list_issued_at", UtcDateTime, nullable=False),
    Column("trusted_at", UtcDateTime, nullable=False),
    comment="Other deployments this one trusts, from their signed trust lists",
)

tenancy_peer_organisation = Table(
    "tenancy_peer_organisation",
    metadata,
    Column("deployment", String(DEPLOYMENT_MAX), ForeignKey("tenancy_peer.deployment"), nullable=False),
    Column("organisation_id", String(ID_MAX), nullable=False, index=True),
    PrimaryKeyConstraint("deployment", "organisation_id"),
    comment="Organisations a peer hosts (one organisation may be hosted by several deployments)",
)

tenancy_peer_member = Table(
    "tenancy_peer_member",
    metadata,
    Column("member_id", String(ID_MAX), primary_key=True, comment="a member system is hosted by one peer"),
    Column(
        "deployment",
        String(DEPLOYMENT_MAX),
        ForeignKey("tenancy_peer.deployment"),
        nullable=False,
        index=True,
    ),
    comment="Member systems a peer hosts",
)


class SqlPeerDirectory:
    """:class:`~renkei.tenancy.ports.PeerDirectory` on the ``tenancy_*`` tables."""

    def __init__(self, source: ConnectionSource) -> None:
        self._source = source

    # --- this deployment ---

    def deployment(self) -> Deployment | None:
        with self._source(False) as connection:
            return self._deployment(connection)

    def configure(self, deployment: Deployment) -> Deployment:
        values = {
            "slot": _SLOT,
            "id": check_text("deployment", deployment.id, max_length=DEPLOYMENT_MAX),
            "hub_url": check_text("hub_url", deployment.hub_url, max_length=URL_MAX),
            "configured_at": to_utc("configured_at", deployment.configured_at),
        }
        with self._source(True) as connection:
            connection.execute(insert_or_ignore(connection, tenancy_deployment, values, ["slot"]))
            connection.execute(
                update(tenancy_deployment)
                .where(tenancy_deployment.c.slot == _SLOT, tenancy_deployment.c.id == values["id"])
                .values(hub_url=values["hub_url"])
            )
            stored = self._deployment(connection)
        assert stored is not None  # inserted above, never deleted
        return stored

    @staticmethod
    def _deployment(connection: Connection) -> Deployment | None:
        row = connection.execute(select(tenancy_deployment).where(tenancy_deployment.c.slot == _SLOT)).first()
        if row is None:
            return None
        return Deployment(id=row.id, hub_url=row.hub_url, configured_at=row.configured_at)

    # --- peers ---

    def put_peer(self, peer: Peer) -> None:
        name = check_text("deployment", peer.deployment, max_length=DEPLOYMENT_MAX)
        values = {
            "deployment": name,
            "hub_url": check_text("hub_url", peer.hub_url, max_length=URL_MAX),
            "ca_certificate": check_text(
                "ca_certificate", peer.ca_certificate_pem, max_length=CERTIFICATE_MAX
            ),
            "ca_fingerprint": peer.ca_fingerprint,
            "list_issued_at": to_utc("list_issued_at", peer.list_issued_at),
            "trusted_at": to_utc("trusted_at", peer.trusted_at),
        }
        members = [check_text("member", str(m), max_length=ID_MAX) for m in peer.members]
        organisations = [check_text("organisation", str(o), max_length=ID_MAX) for o in peer.organisations]
        with self._source(True) as connection:
            taken = self._hosted_elsewhere(connection, name, members)
            if taken:
                raise PeerConflict(
                    f"{taken[0][0]} is already hosted by {taken[0][1]}; {name} cannot host it too",
                    deployment=name,
                    member=taken[0][0],
                    hosted_by=taken[0][1],
                )
            self._delete_children(connection, name)
            connection.execute(delete(tenancy_peer).where(tenancy_peer.c.deployment == name))
            connection.execute(tenancy_peer.insert().values(values))
            if organisations:
                connection.execute(
                    tenancy_peer_organisation.insert(),
                    [{"deployment": name, "organisation_id": o} for o in organisations],
                )
            if members:
                connection.execute(
                    tenancy_peer_member.insert(), [{"deployment": name, "member_id": m} for m in members]
                )

    @staticmethod
    def _hosted_elsewhere(connection: Connection, name: str, members: list[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for start in range(0, len(members), 500):  # bounded IN lists on every backend
            chunk = members[start : start + 500]
            query = (
                select(tenancy_peer_member.c.member_id, tenancy_peer_member.c.deployment)
                .where(tenancy_peer_member.c.member_id.in_(chunk), tenancy_peer_member.c.deployment != name)
                .order_by(tenancy_peer_member.c.member_id)
            )
            found.extend((row.member_id, row.deployment) for row in connection.execute(query))
        return found

    @staticmethod
    def _delete_children(connection: Connection, name: str) -> None:
        connection.execute(delete(tenancy_peer_member).where(tenancy_peer_member.c.deployment == name))
        connection.execute(
            delete(tenancy_peer_organisation).where(tenancy_peer_organisation.c.deployment == name)
        )

    def peer(self, deployment: str) -> Peer | None:
        if len(deployment) > DEPLOYMENT_MAX:
            return None
        with self._source(False) as connection:
            peers = self._load(connection, [deployment])
        return peers[0] if peers else None

    def peers(self) -> list[Peer]:
        with self._source(False) as connection:
            return self._load(connection, None)

    def remove_peer(self, deployment: str) -> bool:
        if len(deployment) > DEPLOYMENT_MAX:
            return False
        with self._source(True) as connection:
            self._delete_children(connection, deployment)
            result = connection.execute(delete(tenancy_peer).where(tenancy_peer.c.deployment == deployment))
        return result.rowcount > 0

    def peers_hosting_member(self, member: MemberId) -> list[Peer]:
        query = select(tenancy_peer_member.c.deployment).where(tenancy_peer_member.c.member_id == str(member))
        with self._source(False) as connection:
            names = [row.deployment for row in connection.execute(query)]
            return self._load(connection, names) if names else []

    def peers_hosting_organisation(self, organisation: OrganisationId) -> list[Peer]:
        query = select(tenancy_peer_organisation.c.deployment).where(
            tenancy_peer_organisation.c.organisation_id == str(organisation)
        )
        with self._source(False) as connection:
            names = [row.deployment for row in connection.execute(query)]
            return self._load(connection, names) if names else []

    @staticmethod
    def _load(connection: Connection, names: Iterable[str] | None) -> list[Peer]:
        query = select(tenancy_peer).order_by(tenancy_peer.c.deployment)
        organisations = select(tenancy_peer_organisation).order_by(
            tenancy_peer_organisation.c.organisation_id
        )
        members = select(tenancy_peer_member).order_by(tenancy_peer_member.c.member_id)
        if names is not None:
            wanted = sorted(set(names))
            query = query.where(tenancy_peer.c.deployment.in_(wanted))
            organisations = organisations.where(tenancy_peer_organisation.c.deployment.in_(wanted))
            members = members.where(tenancy_peer_member.c.deployment.in_(wanted))
        hosted_organisations: dict[str, list[OrganisationId]] = {}
        for row in connection.execute(organisations):
            hosted_organisations.setdefault(row.deployment, []).append(
                OrganisationId.parse(row.organisation_id)
            )
        hosted_members: dict[str, list[MemberId]] = {}
        for row in connection.execute(members):
            hosted_members.setdefault(row.deployment, []).append(MemberId.parse(row.member_id))
        return [
            _peer(row, hosted_organisations.get(row.deployment, []), hosted_members.get(row.deployment, []))
            for row in connection.execute(query)
        ]


def _peer(row: Row[tuple[object, ...]], organisations: list[OrganisationId], members: list[MemberId]) -> Peer:
    issued: datetime = row.list_issued_at
    trusted: datetime = row.trusted_at
    return Peer(
        deployment=row.deployment,
        hub_url=row.hub_url,
        ca_certificate_pem=row.ca_certificate,
        organisations=tuple(sorted(organisations)),
        members=tuple(sorted(members)),
        list_issued_at=issued,
        trusted_at=trusted,
    )
