"""The directory services of X-Road / GovStack Information Mediator (``listClients``, ``listMethods``,
``allowedMethods``, ``getOpenAPI``), answered from the registry in the JSON shapes of GovStack's
``GovStack_IM_Directory_Services_API.yaml``.

Everything here is public metadata: an unknown or malformed member is answered with an empty list, never an
error, so the directory reveals nothing that the lists themselves do not.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from renkei.errors import RenkeiError
from renkei.registry.errors import IdentifierInvalid, OrganisationInvalid, ServiceUnknown
from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.models import ProvidedService
from renkei.registry.service import Registry
from renkei.spec.export.openapi import PATH_PREFIX, build_openapi
from renkei.spec.models import ServiceKind

SERVICE_CODE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
CLIENT_HEADERS = ("X-Road-Client", "X-GovStack-Client", "Information-Mediator-Client")
"""Headers naming the caller of ``allowedMethods``: X-Road's, the GovStack API's, and the one GovStack's
test harness sends."""


def read_member(instance: str, member_class: str, member_code: str, application: str) -> MemberId | None:
    """The member system the four path segments name, or None when they name none."""
    try:
        return MemberId.parse(f"{instance}/{member_class}/{member_code}/{application}")
    except (IdentifierInvalid, OrganisationInvalid):
        return None


def read_client(value: str | None) -> MemberId | None:
    """The member system an ``X-Road-Client`` style header names (``JP/LG/131016/u17``), or None."""
    if not value:
        return None
    try:
        return MemberId.parse(value.strip())
    except (IdentifierInvalid, OrganisationInvalid):
        return None


class Directory:
    """Answers the four directory services. Built once per deployment (it caches the spec's OpenAPI)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @cached_property
    def _openapi(self) -> dict[str, Any]:
        return build_openapi(self.registry.spec)

    def list_clients(self, instance_id: str | None = None) -> dict[str, Any]:
        """``restClientDetailsListType``: every organisation (``MEMBER``) and member system
        (``APPLICATION``) of this instance; another ``instanceId`` (a federated hub) gets none yet."""
        if instance_id not in (None, "", self.registry.instance):
            return {"member": []}
        names = {o.id: o.name for o in self.registry.organisations()}
        clients: list[dict[str, Any]] = []
        for organisation_id, name in names.items():
            clients.append({"name": name, "id": _member_ref("MEMBER", organisation_id)})
        for member in self.registry.members():
            clients.append(
                {
                    "name": f"{names.get(member.id.organisation, '')} {member.name}".strip(),
                    "id": {
                        **_member_ref("APPLICATION", member.id.organisation),
                        "applicationCode": member.id.subsystem,
                    },
                }
            )
        return {"member": clients}

    def list_methods(self, provider: MemberId | None, service_id: str | None = None) -> dict[str, Any]:
        """``restServiceDetailsListType``: the services ``provider`` offers (one, with ``service_id``)."""
        return {"member": [self._method(p) for p in self._provided(provider, service_id)]}

    def allowed_methods(
        self, provider: MemberId | None, client: MemberId | None, service_id: str | None = None
    ) -> dict[str, Any]:
        """The services of ``provider`` that ``client`` may call: those whose information kind the linkage
        matrix lets the provider's unit send to the client's unit. Unknown clients may call nothing."""
        if client is None or self.registry.find_member(client) is None:
            return {"member": []}
        spec = self.registry.spec
        allowed = [
            p
            for p in self._provided(provider, service_id)
            if spec.rule(p.information, p.provider.unit, client.unit) is not None
        ]
        return {"member": [self._method(p) for p in allowed]}

    def open_api(self, provider: MemberId, service_code: str) -> dict[str, Any]:
        """The OpenAPI document of one service ``provider`` offers: the spec's OpenAPI cut down to that
        service's path (or webhook, for a notification topic) and the components it references.

        Raises ``registry.identifier.invalid`` for a malformed service code and ``registry.service.unknown``
        when the provider does not offer it."""
        if not SERVICE_CODE.fullmatch(service_code):
            raise IdentifierInvalid(
                f"serviceCode {service_code!r} is not a service identifier", field="serviceCode"
            )
        if not self._provided(provider, service_code):
            raise ServiceUnknown(
                f"{provider} does not provide {service_code!r}", member=str(provider), service=service_code
            )
        return self._cut(provider, service_code)

    def _provided(self, provider: MemberId | None, service_id: str | None) -> list[ProvidedService]:
        if provider is None:
            return []
        try:
            provided = self.registry.provided_services(provider)
        except RenkeiError:
            return []
        return [p for p in provided if service_id in (None, "", p.service)]

    def _method(self, provided: ProvidedService) -> dict[str, Any]:
        _, service = self.registry.spec.service(provided.service)
        endpoints = [{"method": "POST", "path": "/"}] if service.kind is ServiceKind.QUERY else []
        member = provided.provider
        return {
            "objectType": "SERVICE",
            "serviceType": "REST",
            **{k: v for k, v in _member_ref("SERVICE", member.organisation).items() if k != "objectType"},
            "applicationCode": member.subsystem,
            "serviceCode": provided.service,
            "serviceVersion": self.registry.spec.version,
            "endpointList": {"member": endpoints},
        }

    def _cut(self, provider: MemberId, service_code: str) -> dict[str, Any]:
        full = self._openapi
        _, service = self.registry.spec.service(service_code)
        document = {
            k: copy.deepcopy(v) for k, v in full.items() if k not in ("paths", "webhooks", "components")
        }
        document["info"]["title"] = f"{service.name} ({service.name_en}) — {provider}"
        if service.kind is ServiceKind.QUERY:
            path = f"{PATH_PREFIX}/{service.id}"
            document["paths"] = {path: copy.deepcopy(full["paths"][path])}
        else:
            document["paths"] = {}
            document["webhooks"] = {service.id: copy.deepcopy(full["webhooks"][service.id])}
        components: dict[str, dict[str, Any]] = {}
        pending = list(_refs(document))
        while pending:
            section, name = pending.pop()
            if name in components.get(section, {}):
                continue
            found = copy.deepcopy(full["components"][section][name])
            components.setdefault(section, {})[name] = found
            pending.extend(_refs(found))
        document["components"] = {
            section: dict(sorted(found.items())) for section, found in sorted(components.items())
        }
        used_tags = {t for operation in _operations(document) for t in operation.get("tags", ())}
        document["tags"] = [t for t in full.get("tags", ()) if t["name"] in used_tags]
        return document


def _member_ref(object_type: str, organisation: OrganisationId) -> dict[str, str]:
    return {
        "objectType": object_type,
        "instanceId": organisation.instance,
        "memberClass": organisation.member_class.value,
        "memberCode": organisation.code,
    }


def _refs(node: Any) -> Iterator[tuple[str, str]]:
    """Every ``#/components/<section>/<name>`` reference inside ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                section, _, name = value.removeprefix("#/components/").partition("/")
                yield section, name.replace("~1", "/").replace("~0", "~")
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for section in ("paths", "webhooks"):
        for item in document.get(section, {}).values():
            yield from (op for op in item.values() if isinstance(op, dict))
