"""What federation needs from the outside: where peers are stored, what this deployment hosts, and its CA.

:class:`PeerDirectory` is implemented on SQL by ``renkei.storage.sql.tenancy.SqlPeerDirectory``;
:class:`LocalDirectory` is the registry (:class:`renkei.registry.service.Registry` fits it);
:class:`Authority` is the deployment's CA (:class:`renkei.registry.ca.CertificateAuthority` fits it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from renkei.registry.ca import IssuedKey
from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.models import MemberSystem, Organisation
from renkei.tenancy.models import Deployment, Peer


class PeerDirectory(Protocol):
    """This deployment's identity and the peers it trusts. Each call is one transaction."""

    def deployment(self) -> Deployment | None:
        """This deployment's identity, or None before ``renkei federation init``."""
        ...

    def configure(self, deployment: Deployment) -> Deployment:
        """Record this deployment's identity and return what is stored. The first id recorded stays: when
        another id is already stored, nothing changes and the stored identity is returned (the caller
        reports the conflict); the same id again updates the hub URL."""
        ...

    def put_peer(self, peer: Peer) -> None:
        """Store ``peer``, replacing an earlier entry of the same deployment with its hosted organisations
        and members, all at once. Raises ``tenancy.peer.conflict`` (nothing written) when another peer
        already hosts one of its member systems."""
        ...

    def peer(self, deployment: str) -> Peer | None: ...

    def peers(self) -> list[Peer]:
        """Every trusted peer, ordered by deployment id."""
        ...

    def remove_peer(self, deployment: str) -> bool:
        """Forget a peer; False when there was none of that id."""
        ...

    def peers_hosting_member(self, member: MemberId) -> list[Peer]:
        """The peers whose trust list names ``member`` (at most one: the store keeps it unique)."""
        ...

    def peers_hosting_organisation(self, organisation: OrganisationId) -> list[Peer]:
        """The peers whose trust list names ``organisation``, ordered by deployment id."""
        ...


class LocalDirectory(Protocol):
    """What this deployment's registry hosts (the organisations and member systems it exports, and the
    member systems it serves itself)."""

    def organisations(self) -> list[Organisation]: ...

    def members(self) -> list[MemberSystem]: ...

    def find_member(self, member_id: MemberId) -> MemberSystem | None: ...


class Authority(Protocol):
    """The deployment's CA as federation uses it: its certificate, a signature over a trust list, and
    this hub's TLS certificate."""

    def certificate_pem(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...

    def issue_hub(self, deployment: str, *, hosts: Sequence[str] = ...) -> IssuedKey: ...
