"""Federation with other deployments: this deployment's identity, the peers it trusts, and routing.

:class:`Federation` is the use-case service: ``configure`` this deployment (``DC1`` and its hub URL),
``export_trust_list`` for the peers' operators, ``trust`` a peer's list after verifying it, and ``route`` a
member system to this hub (:class:`~renkei.tenancy.models.Local`) or to the peer hosting it
(:class:`~renkei.tenancy.models.Remote`). The query flow (``ExchangeHub``) asks ``route(provider)``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from cryptography import x509

from renkei.registry.identifiers import MemberId
from renkei.storage.ports import Clock
from renkei.tenancy.errors import (
    DeploymentConflict,
    DeploymentUnconfigured,
    PeerConflict,
    PeerUnknown,
    RouteAmbiguous,
    TrustFingerprintMismatch,
    TrustListInvalid,
)
from renkei.tenancy.models import (
    Deployment,
    Local,
    Peer,
    Remote,
    Route,
    check_deployment_id,
    check_hub_url,
    fingerprint,
    normalise_fingerprint,
)
from renkei.tenancy.ports import Authority, LocalDirectory, PeerDirectory
from renkei.tenancy.trust import TrustList, canonical, read_trust_list, write_trust_list

log = logging.getLogger(__name__)

DEFAULT_TRUST_LIST_VALIDITY = timedelta(days=30)


class Federation:
    """This deployment among its peers. Services arrive through the constructor (``app.py`` wires them)."""

    def __init__(
        self, peers: PeerDirectory, local: LocalDirectory, authority: Authority, clock: Clock
    ) -> None:
        self._peers = peers
        self._local = local
        self._authority = authority
        self._clock = clock

    # --- this deployment -----------------------------------------------------------------------------

    def configure(self, deployment_id: str, hub_url: str) -> Deployment:
        """Name this deployment and say where its hub listens for peers. The id is fixed once set (peers
        trust it by that name); the URL may change (then export and hand out a fresh trust list)."""
        wanted = Deployment(check_deployment_id(deployment_id), check_hub_url(hub_url), self._clock.now())
        if self._peers.peer(wanted.id) is not None:
            raise PeerConflict(f"a trusted peer is already called {wanted.id}", deployment=wanted.id)
        stored = self._peers.configure(wanted)
        if stored.id != wanted.id:
            raise DeploymentConflict(
                f"this deployment is already {stored.id}; its id cannot change to {wanted.id}",
                deployment=stored.id,
            )
        log.info("tenancy: this deployment is %s at %s", stored.id, stored.hub_url)
        return stored

    def deployment(self) -> Deployment:
        """This deployment's identity, or ``tenancy.deployment.unconfigured``."""
        found = self._peers.deployment()
        if found is None:
            raise DeploymentUnconfigured(
                "this deployment has no federation identity: run `renkei federation init`"
                " --deployment DC1 --hub-url https://HOST:PORT"
            )
        return found

    def ca_fingerprint(self) -> str:
        """SHA-256 of this deployment's CA certificate: read it to the peer's operator."""

        return fingerprint(x509.load_pem_x509_certificate(self._authority.certificate_pem()))

    def export_trust_list(self, *, validity: timedelta = DEFAULT_TRUST_LIST_VALIDITY) -> bytes:
        """This deployment's trust list (JSON), signed by its CA: the id, the hub URL, the CA certificate,
        and every organisation and member system its registry holds. It may be imported until
        ``validity`` from now."""
        if validity <= timedelta(0):
            raise TrustListInvalid(f"validity must be positive, got {validity}", field="expires_at")
        deployment = self.deployment()
        now = self._clock.now().replace(microsecond=0)
        trust_list = TrustList(
            deployment=deployment.id,
            hub_url=deployment.hub_url,
            ca_certificate_pem=self._authority.certificate_pem().decode("ascii"),
            organisations=tuple(sorted(o.id for o in self._local.organisations())),
            members=tuple(sorted(m.id for m in self._local.members())),
            issued_at=now,
            expires_at=now + validity,
        )
        return write_trust_list(trust_list, self._authority.sign(canonical(trust_list.body())))

    # --- peers ---------------------------------------------------------------------------------------

    def trust(self, document: bytes, *, expect_fingerprint: str | None = None) -> Peer:
        """Verify a peer's trust list and trust it (a new peer, or an update of a known one).

        Refused with a typed error, nothing stored: a malformed list, a bad signature, an expired list or
        CA certificate (``tenancy.trust.*``); a CA other than ``expect_fingerprint``, or another CA than
        the one already trusted for that peer (a CA change is a new trust decision: ``forget`` first); a
        list older than the one already imported; this deployment's own id, or a member system another
        peer hosts (``tenancy.peer.conflict``).
        """
        now = self._clock.now()
        trust_list = read_trust_list(document, now)
        certificate_pem = trust_list.ca_certificate_pem

        actual = fingerprint(x509.load_pem_x509_certificate(certificate_pem.encode("ascii")))
        if expect_fingerprint is not None and normalise_fingerprint(expect_fingerprint) != actual:
            raise TrustFingerprintMismatch(
                f"the CA of {trust_list.deployment} has fingerprint {actual}, not the one expected",
                deployment=trust_list.deployment,
                fingerprint=actual,
            )
        own = self._peers.deployment()
        if own is not None and own.id == trust_list.deployment:
            raise PeerConflict(
                f"{trust_list.deployment} is this deployment's own id", deployment=trust_list.deployment
            )
        known = self._peers.peer(trust_list.deployment)
        if known is not None:
            if known.ca_fingerprint != actual:
                raise TrustFingerprintMismatch(
                    f"{known.deployment} is trusted with CA {known.ca_fingerprint}; this list carries"
                    f" {actual}. A new CA is a new trust decision: forget the peer, then trust it again",
                    deployment=known.deployment,
                    fingerprint=actual,
                )
            if trust_list.issued_at < known.list_issued_at:
                raise TrustListInvalid(
                    f"this trust list of {known.deployment} is older than the one already imported"
                    f" ({known.list_issued_at.isoformat()})",
                    field="issued_at",
                    deployment=known.deployment,
                )
        ours = {m.id for m in self._local.members()}
        local = [m for m in trust_list.members if m in ours]
        if local:
            raise PeerConflict(
                f"{local[0]} is a member system of this deployment; {trust_list.deployment} cannot host it",
                deployment=trust_list.deployment,
                member=str(local[0]),
            )
        peer = Peer(
            deployment=trust_list.deployment,
            hub_url=trust_list.hub_url,
            ca_certificate_pem=certificate_pem,
            organisations=trust_list.organisations,
            members=trust_list.members,
            list_issued_at=trust_list.issued_at,
            trusted_at=now,
        )
        self._peers.put_peer(peer)
        log.info("tenancy: trusting %s at %s (CA %s)", peer.deployment, peer.hub_url, actual)
        return peer

    def peers(self) -> list[Peer]:
        return self._peers.peers()

    def peer(self, deployment: str) -> Peer:
        """The trusted peer, or ``tenancy.peer.unknown``."""
        found = self._peers.peer(check_deployment_id(deployment))
        if found is None:
            raise PeerUnknown(f"{deployment} is not a trusted peer", deployment=deployment)
        return found

    def forget(self, deployment: str) -> None:
        """Stop trusting a peer (its hub's certificate no longer identifies anyone here)."""
        if not self._peers.remove_peer(check_deployment_id(deployment)):
            raise PeerUnknown(f"{deployment} is not a trusted peer", deployment=deployment)
        log.info("tenancy: no longer trusting %s", deployment)

    # --- routing -------------------------------------------------------------------------------------

    def route(self, member: MemberId) -> Route:
        """Where ``member`` is served: :class:`Local` when this deployment's registry has it, else
        :class:`Remote` with the peer whose trust list names it (or, failing that, the one peer hosting
        its organisation), else :class:`Local` (the local hub then reports it unknown as usual).

        Raises ``tenancy.route.ambiguous`` when several peers host the organisation and none names the
        member system.
        """
        if self._local.find_member(member) is not None:
            return Local()
        hosting = self._peers.peers_hosting_member(member)
        if hosting:
            return Remote(hosting[0])
        by_organisation = self._peers.peers_hosting_organisation(member.organisation)
        if len(by_organisation) > 1:
            raise RouteAmbiguous(
                f"{member.organisation} is hosted by {', '.join(p.deployment for p in by_organisation)}"
                f" and none of them lists {member}",
                member=str(member),
                peers=[p.deployment for p in by_organisation],
            )
        if by_organisation:
            return Remote(by_organisation[0])
        return Local()
