"""May this client query this service of this provider for this purpose? Each refusal names its rule.

Rules, in order (the first that fails names the denial):

1. ``spec.service`` — the service is a query service of the spec (404 ``exchange.service.unknown``);
2. ``spec.matrix`` — the linkage matrix lets the provider's unit send the service's information kind to
   the client's unit (:func:`renkei.spec.authorisation.decide`);
3. ``registry.service`` — the provider is registered and provides the service (for a provider hosted by a
   peer deployment, that deployment's hub checks this rule against its own registry);
4. ``registry.purpose`` — the purpose (``X-Road-Issue``) is registered, uses the information kind, and
   allows at least one of the service's response items. Response items outside the purpose are *removed*
   from the answer (not denied): the grant lists the items that may be returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from renkei.errors import RenkeiError
from renkei.exchange.errors import AccessDenied, ServiceNotFound
from renkei.registry.identifiers import MemberId
from renkei.registry.models import ProvidedService, Purpose
from renkei.registry.service import Registry
from renkei.spec.authorisation import decide
from renkei.spec.models import InformationKind, Service, ServiceKind, Triple
from renkei.types import ItemId


@dataclass(frozen=True, slots=True)
class Grant:
    """An allowed query: what the matrix row, the registry and the purpose let through."""

    kind: InformationKind
    service: Service
    provided: ProvidedService | None
    """The provider's registration here; None for a provider another deployment hosts."""
    purpose: Purpose
    rule: Triple
    items: tuple[ItemId, ...]
    """Response items the client may receive (the service's, narrowed by the purpose)."""


def authorise(
    registry: Registry,
    client: MemberId,
    provider: MemberId,
    service_id: str,
    purpose_id: str | None,
    *,
    remote: bool = False,
) -> Grant:
    """The grant for this query, or ``exchange.client.unauthorised`` naming the rule that denied.

    ``remote``: the provider is hosted by a peer deployment, which checks ``registry.service`` itself."""
    spec = registry.spec
    try:
        kind, service = spec.service(service_id)
    except RenkeiError:
        raise ServiceNotFound(
            f"サービス {service_id!r} は標準仕様にありません (no such service)",
            rule="spec.service",
            service=service_id,
        ) from None
    if service.kind is not ServiceKind.QUERY:
        raise ServiceNotFound(
            f"{service_id} は照会サービスではありません (a notification topic)",
            rule="spec.service",
            service=service_id,
        )
    try:
        spec.unit(provider.unit), spec.unit(client.unit)
    except RenkeiError:  # a subsystem code naming no unit of the standard (u99 …)
        raise AccessDenied(
            f"{provider} / {client}: 業務ユニットが標準仕様にありません (unit not in the standard)",
            rule="spec.unit",
            provider=str(provider),
            client=str(client),
        ) from None
    rule = spec.rule(kind.id, provider.unit, client.unit)
    if rule is None:  # the full verdict only to explain the denial
        raise AccessDenied(
            decide(spec, kind.id, provider.unit, client.unit).explain(spec).splitlines()[0],
            rule="spec.matrix",
            information=kind.id,
            sender=provider.unit,
            receiver=client.unit,
        )
    try:
        provided = None if remote else registry.provided_service(provider, service.id)
    except RenkeiError:
        raise AccessDenied(
            f"{provider} does not provide {service.id}",
            rule="registry.service",
            provider=str(provider),
            service=service.id,
        ) from None
    if not purpose_id:
        raise AccessDenied("X-Road-Issue (the purpose, 事務) is required", rule="registry.purpose")
    try:
        purpose = registry.purpose(purpose_id)
    except RenkeiError:
        raise AccessDenied(
            f"事務 {purpose_id!r} は登録されていません (purpose not registered)",
            rule="registry.purpose",
            purpose=purpose_id,
        ) from None
    usable = set(purpose.items_of(kind.id))
    items = tuple(i for i in service.response if i in usable)
    if not items:
        raise AccessDenied(
            f"事務 {purpose.id} は {kind.name} を利用できません (the purpose does not use {kind.id})",
            rule="registry.purpose",
            purpose=purpose.id,
            information=kind.id,
        )
    return Grant(kind, service, provided, purpose, rule, items)
