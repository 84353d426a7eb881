"""Names the exports derive from spec identifiers, in one place so every artefact agrees."""

from __future__ import annotations

import re
from collections.abc import Iterable

from renkei.spec.export.errors import ExportConflict
from renkei.spec.models import InformationKind, Spec

SERVICE_NAMESPACE = "urn:renkei:service"
"""Target namespace of the WSDL and of its inline schema."""


def kind_namespace(kind: InformationKind) -> str:
    """The XML namespace of an information kind's records: ``urn:renkei:spec:<kind-id>``."""
    return f"urn:renkei:spec:{kind.id}"


def kind_urn(spec: Spec, kind: InformationKind) -> str:
    """The ``$id`` of a kind's JSON Schema: ``urn:renkei:spec:<version>:<kind-id>``."""
    return f"urn:renkei:spec:{spec.version}:{kind.id}"


def soap_action(service_id: str) -> str:
    return f"urn:renkei:service:{service_id}"


def lower_camel(identifier: str) -> str:
    """``income-certificate`` → ``incomeCertificate``; ``ltc_premium-2`` → ``ltcPremium2``."""
    head, *rest = re.split(r"[-_]", identifier)
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def unique(names: Iterable[tuple[str, str]], what: str) -> None:
    """Refuse when two identifiers (first) map onto one generated name (second)."""
    seen: dict[str, str] = {}
    for identifier, name in names:
        other = seen.setdefault(name, identifier)
        if other != identifier:
            raise ExportConflict(
                f"{other!r} と {identifier!r} が同じ{what}名 {name!r} になります "
                f"(both map onto the {what} name {name!r})",
                name=name,
                identifiers=[other, identifier],
            )


def resolve(spec: Spec, kind: InformationKind | str) -> InformationKind:
    """A kind given as itself, its id or its Japanese name."""
    return kind if isinstance(kind, InformationKind) else spec.kind(kind)
