"""Queries to member systems hosted by another deployment (federation, issue 6).

:class:`PeerForwarder` is the hub's view of its peers: :meth:`locate` says which trusted deployment hosts a
provider (``renkei.tenancy.federation.Federation.route``), :meth:`forward` POSTs the query to that
deployment's hub over mutual TLS (``renkei.tenancy.link.PeerLink``) and turns ``tenancy.peer.*`` failures
into ``exchange.peer.unavailable`` (an X-Road ``Server.*`` fault). The peer hub sees this hub's
certificate, trusts the asserted ``X-Road-Client`` because this hub hosts it (its trust list says so),
authorises the query by its own registry, calls its member system and records the provision there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Protocol

from renkei.errors import RenkeiError
from renkei.exchange.errors import PeerUnavailable, RouteAmbiguous
from renkei.exchange.ports import ProviderReply
from renkei.registry.identifiers import MemberId
from renkei.tenancy.errors import TenancyError
from renkei.tenancy.federation import Federation
from renkei.tenancy.link import PeerLink
from renkei.tenancy.models import Remote

log = logging.getLogger(__name__)


class Peers(Protocol):
    """Where providers live beyond this deployment, and how to reach them."""

    def locate(self, member: MemberId) -> str | None:
        """The id of the peer deployment hosting ``member``, or None when this deployment serves it."""
        ...

    async def forward(
        self, deployment: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> ProviderReply:
        """POST ``body`` to ``path`` on the peer's hub; ``exchange.peer.unavailable`` when it cannot."""
        ...


class BaseConverter(Protocol):
    """ID conversion by the linkage base in another deployment (identity.federated.RemoteLinkage)."""

    async def convert_fugo(self, from_org: str, fugo: str, to_org: str) -> str: ...


class PeerForwarder:
    """:class:`Peers` over the federation's trust set and a mutual-TLS :class:`PeerLink`.

    Where a member lives is remembered for ``ttl`` seconds (a newly trusted or forgotten peer takes effect
    within it); the local registry's own answer is cached by the registry."""

    def __init__(self, federation: Federation, link: PeerLink, *, ttl: float = 5.0) -> None:
        self._federation = federation
        self._link = link
        self._ttl = ttl
        self._located: dict[MemberId, tuple[float, str | None]] = {}

    def locate(self, member: MemberId) -> str | None:
        now = time.monotonic()
        hit = self._located.get(member)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            route = self._federation.route(member)
        except TenancyError as error:  # tenancy.route.ambiguous: several peers host the organisation
            raise RouteAmbiguous(error.message, **error.detail) from None
        found = route.peer.deployment if isinstance(route, Remote) else None
        if len(self._located) >= 4096:
            self._located.clear()
        self._located[member] = (now + self._ttl, found)
        return found

    async def forward(
        self, deployment: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> ProviderReply:
        try:
            peer = self._federation.peer(deployment)
            answer = await self._link.post(peer, path, body, headers)
        except TenancyError as error:
            raise peer_unavailable(error, deployment) from None
        return ProviderReply(answer.status, answer.body)


def peer_unavailable(error: RenkeiError, deployment: str | None) -> PeerUnavailable:
    """``exchange.peer.unavailable`` for a ``tenancy.peer.*`` failure reaching ``deployment`` (a peer hub, or
    the linkage base), naming the tenancy code and its reason."""
    name = deployment or str(error.detail.get("deployment", "the peer"))
    log.warning("exchange: %s unavailable (%s)", name, error.code)
    return PeerUnavailable(
        f"{name} を利用できません (the peer deployment is unavailable): {error.message}",
        deployment=name,
        peer_code=error.code,
        reason=str(error.detail.get("reason", "")),
    )
