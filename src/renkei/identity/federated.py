"""The linkage base across deployments (情報連携基盤): one deployment issues 符号 and converts ids for others.

Which deployment is the base is configuration (``RENKEI_LINKAGE_BASE``: unset = this deployment is its own
base, as before; a peer id = that peer is). Two halves:

* :class:`FederatedLinkage` — **at the base**, the service behind ``POST /federation/linkage/…``
  (``renkei.api.linkage``) for trusted peer hubs on the mutual-TLS listener. A peer acquires the 符号 of
  an organisation its trust list hosts, by 住民票コード (as J-LIS issues 符号 from the 住民票コード; the
  個人番号 is never used), and converts a 符号 of one of its organisations into another organisation's 符号.
* :class:`RemoteLinkage` — **at a non-base deployment**, the client: acquire (one, or batches of up to
  1,000), adopt what the base issued as the local organisation's 符号 (:meth:`LinkageBase.adopt_fugo`), and
  convert through the base with a short cache (the hub calls :meth:`RemoteLinkage.convert_fugo`).

Why in ``identity`` and not ``tenancy``: issuing and converting 符号 is the linkage base's business and
its errors are ``identity.linkage.*``; ``tenancy`` only supplies who the peer is (:class:`Peer`) and the
mutual-TLS transport (:class:`PeerLink`), whose failures stay ``tenancy.peer.*``.

Nothing here logs, or puts in an error, a 住民票コード or a 符号: log lines carry the operation, the
organisations, the peer and counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from renkei.identity.errors import (
    BatchTooLarge,
    LinkageForbidden,
    LinkageRefused,
    NotLinkageBase,
    UnknownResident,
)
from renkei.identity.models import Fugo, PersonKey, parse_fugo, parse_org
from renkei.identity.service import LinkageBase
from renkei.registry.identifiers import OrganisationId
from renkei.tenancy.link import PeerLink
from renkei.tenancy.models import Peer

log = logging.getLogger(__name__)

BATCH_LIMIT: Final = 1000
"""Most 住民票コード one batch acquisition carries."""
ACQUIRE_PATH: Final = "/federation/linkage/fugo"
BATCH_PATH: Final = "/federation/linkage/fugo:batch"
CONVERT_PATH: Final = "/federation/linkage/convert"
DEFAULT_CONVERSION_TTL: Final = 30.0
CONVERSION_CACHE_LIMIT: Final = 100_000
_JSON: Final = {"content-type": "application/json", "accept": "application/json"}


def _hosted(peer: Peer | None, org: str, *, operation: str) -> Peer:
    """``peer`` if it is a trusted peer hosting ``org``; else ``identity.linkage.forbidden``."""
    if peer is None:
        raise LinkageForbidden(
            "連携基盤は信頼済みの他環境ハブからの相互TLS接続にのみ応答します"
            " (only a trusted peer hub over mutual TLS may use the linkage base)",
            reason="not_a_peer",
        )
    organisation = parse_org(org)
    if not peer.hosts_organisation(OrganisationId.parse(organisation)):
        log.warning(
            "identity: linkage %s refused: %s does not host %s", operation, peer.deployment, organisation
        )
        raise LinkageForbidden(
            f"{peer.deployment} does not host {organisation} (as its trust list says)",
            reason="organisation_not_hosted",
            deployment=peer.deployment,
            org=organisation,
        )
    return peer


class FederatedLinkage:
    """The linkage base's service for other deployments' hubs (see the module docstring).

    ``is_base`` False (this deployment has a remote base) makes every call ``identity.linkage.not_base``.
    The peer is checked first, so a caller that is not a trusted peer learns nothing about the set-up.
    """

    def __init__(self, linkage: LinkageBase, *, is_base: bool = True) -> None:
        self._linkage = linkage
        self._is_base = is_base

    @property
    def is_base(self) -> bool:
        return self._is_base

    def _require_base(self) -> None:
        if not self._is_base:
            raise NotLinkageBase(
                "この環境は情報連携基盤ではありません (this deployment is not the linkage base; another"
                " deployment issues 符号)"
            )

    def acquire(self, peer: Peer | None, org: str, resident_code: str) -> Fugo:
        """``org``'s 符号 of the person with this 住民票コード (stored on first use); ``org`` must be hosted
        by ``peer``; an unknown code is ``identity.linkage.unknown_resident``."""
        caller = _hosted(peer, org, operation="acquire")
        self._require_base()
        person = self._linkage.person_by_resident_code(resident_code)
        if person is None:
            log.info("identity: linkage acquire for %s by %s: unknown resident", org, caller.deployment)
            raise UnknownResident("no person with this 住民票コード at the linkage base", org=org)
        self._linkage.ensure_organisation(org)
        fugo = self._linkage.fugo_for(org, person)
        log.info("identity: linkage acquire for %s by %s: issued", org, caller.deployment)
        return fugo

    def acquire_many(self, peer: Peer | None, org: str, resident_codes: Sequence[str]) -> list[Fugo | None]:
        """:meth:`acquire` for up to :data:`BATCH_LIMIT` codes at once: per code, in order, the 符号 or
        None when no person has that code. One malformed code refuses the whole batch (nothing issued)."""
        caller = _hosted(peer, org, operation="acquire_many")
        self._require_base()
        if not 1 <= len(resident_codes) <= BATCH_LIMIT:
            raise BatchTooLarge(
                f"a batch carries 1 to {BATCH_LIMIT} 住民票コード",
                limit=BATCH_LIMIT,
                count=len(resident_codes),
            )
        persons = self._linkage.persons_by_resident_codes(resident_codes)
        known = [p for p in persons if p is not None]
        if known:
            self._linkage.ensure_organisation(org)
        fugos = dict(zip(known, self._linkage.fugos_for(org, known), strict=True))
        issued = [None if p is None else fugos[p] for p in persons]
        unknown = sum(1 for p in persons if p is None)
        log.info(
            "identity: linkage acquire_many for %s by %s: %d issued, %d unknown",
            org,
            caller.deployment,
            len(persons) - unknown,
            unknown,
        )
        return issued

    def convert(self, peer: Peer | None, from_org: str, fugo: str, to_org: str) -> Fugo:
        """``from_org``'s 符号 → ``to_org``'s 符号 of the same person. ``from_org`` must be hosted by the
        peer; ``to_org`` may be any organisation the base knows (``identity.organisation.unknown``)."""
        caller = _hosted(peer, from_org, operation="convert")
        self._require_base()
        converted = self._linkage.convert_fugo(from_org, parse_fugo(fugo), parse_org(to_org))
        log.info("identity: linkage convert %s → %s by %s", from_org, to_org, caller.deployment)
        return converted


@dataclass(frozen=True, slots=True)
class AcquireReport:
    """What :meth:`RemoteLinkage.acquire_for` did, person by person, in counts."""

    acquired: int = 0
    """符号 issued by the base and adopted now."""
    already_held: int = 0
    """The person already held exactly this 符号 (an earlier run)."""
    unknown_at_base: int = 0
    """The base knows no person with the 住民票コード."""
    conflicts: int = 0
    """The person holds another 符号 here (e.g. derived locally before a base was configured)."""

    @property
    def total(self) -> int:
        return self.acquired + self.already_held + self.unknown_at_base + self.conflicts


class RemoteLinkage:
    """A non-base deployment's client of the linkage base (the peer ``base()`` names, over ``link``).

    Transport failures stay ``tenancy.peer.*`` (unreachable, timeout, untrusted); an error answer of the
    base becomes ``identity.linkage.refused`` with the base's code in ``detail["base_code"]``.
    Conversions are cached for ``cache_ttl`` seconds (符号 change only by rotation, which has a grace
    period far longer than the cache).
    """

    def __init__(
        self,
        link: PeerLink,
        base: Callable[[], Peer],
        *,
        local: LinkageBase | None = None,
        cache_ttl: float = DEFAULT_CONVERSION_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = link
        self._base = base
        self._local = local
        self._ttl = cache_ttl
        self._monotonic = monotonic
        self._conversions: dict[tuple[str, str, str], tuple[float, str]] = {}

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        peer = self._base()
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        response = await self._link.post(peer, path, body, _JSON)
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = None
        if not response.is_success:
            code = answer.get("code") if isinstance(answer, dict) else None
            raise LinkageRefused(
                f"the linkage base {peer.deployment} refused ({response.status}"
                f" {code if isinstance(code, str) else 'without a renkei error code'})",
                deployment=peer.deployment,
                status=response.status,
                base_code=code if isinstance(code, str) else None,
            )
        if not isinstance(answer, dict):
            raise LinkageRefused(
                f"the linkage base {peer.deployment} answered {response.status} with no JSON object",
                deployment=peer.deployment,
                status=response.status,
                base_code=None,
            )
        return answer

    async def acquire(self, org: str, resident_code: str) -> Fugo:
        """``org``'s 符号 of the resident, issued by the base."""
        answer = await self._post(ACQUIRE_PATH, {"org": org, "resident_code": resident_code})
        return parse_fugo(str(answer.get("fugo")))

    async def acquire_many(self, org: str, resident_codes: Sequence[str]) -> list[Fugo | None]:
        """Per code, in order, ``org``'s 符号 or None (unknown at the base); sent in batches of
        :data:`BATCH_LIMIT`."""
        issued: list[Fugo | None] = []
        for start in range(0, len(resident_codes), BATCH_LIMIT):
            chunk = list(resident_codes[start : start + BATCH_LIMIT])
            answer = await self._post(BATCH_PATH, {"org": org, "resident_codes": chunk})
            results = answer.get("fugo")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise LinkageRefused(
                    "the linkage base's batch answer does not match the request",
                    deployment=self._base().deployment,
                    status=200,
                    base_code=None,
                )
            issued.extend(None if r is None else parse_fugo(str(r)) for r in results)
        return issued

    async def convert_fugo(self, from_org: str, fugo: str, to_org: str) -> str:
        """``from_org``'s 符号 → ``to_org``'s 符号, converted by the base (cached ``cache_ttl`` s)."""
        key = (from_org, fugo, to_org)
        now = self._monotonic()
        hit = self._conversions.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        answer = await self._post(CONVERT_PATH, {"from_org": from_org, "fugo": fugo, "to_org": to_org})
        converted = parse_fugo(str(answer.get("fugo")))
        if self._ttl > 0:
            if len(self._conversions) >= CONVERSION_CACHE_LIMIT:
                self._conversions = {}
            self._conversions[key] = (now + self._ttl, converted)
        return converted

    async def acquire_for(self, org: str, persons: Iterable[tuple[PersonKey, str]]) -> AcquireReport:
        """Acquire ``org``'s 符号 from the base for each (local person, 住民票コード) and adopt each as the
        local organisation's 符号 (:meth:`LinkageBase.adopt_fugo`); counts what happened."""
        if self._local is None:
            raise LinkageRefused(
                "RemoteLinkage was built without the local linkage base: nothing to adopt into",
                deployment=None,
                status=None,
                base_code=None,
            )
        local = self._local
        counts = {"acquired": 0, "already_held": 0, "unknown_at_base": 0, "conflicts": 0}
        batch: list[tuple[PersonKey, str]] = []

        async def flush() -> None:
            issued = await self.acquire_many(org, [code for _, code in batch])
            pairs = [(person, fugo) for (person, _), fugo in zip(batch, issued, strict=True)]
            for outcome in await asyncio.to_thread(_adopt_all, local, org, pairs):
                counts[outcome] += 1
            batch.clear()

        for pair in persons:
            batch.append(pair)
            if len(batch) == BATCH_LIMIT:
                await flush()
        if batch:
            await flush()
        report = AcquireReport(**counts)
        log.info(
            "identity: acquired 符号 for %s from %s: %d acquired, %d already held, %d unknown at the base,"
            " %d conflicts",
            org,
            self._base().deployment,
            report.acquired,
            report.already_held,
            report.unknown_at_base,
            report.conflicts,
        )
        return report


def _adopt_all(local: LinkageBase, org: str, pairs: Sequence[tuple[PersonKey, Fugo | None]]) -> list[str]:
    known = [(person, fugo) for person, fugo in pairs if fugo is not None]
    outcomes = iter(local.adopt_fugos(org, known))
    return ["unknown_at_base" if fugo is None else next(outcomes) for _, fugo in pairs]
