"""Directory services (X-Road / GovStack Information Mediator metaservices): ``listClients``,
``listMethods``, ``allowedMethods``, ``getOpenAPI``.

Each is served twice: with X-Road's ``/r1/`` prefix (as ``GovStack_IM_Directory_Services_API.yaml`` has it
for the three per-member services) and without it (as GovStack's test harness calls them). ``listClients``
is at ``/listClients`` (the YAML) and ``/r1/listClients``. Responses are ``application/json;
charset=utf-8``. The directory is public metadata: unknown members get ``{"member": []}``.

The router reads the :class:`~renkei.registry.directory.Directory` from ``app.state.platform.directory``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from renkei.registry.directory import Directory, read_client, read_member
from renkei.registry.errors import IdentifierInvalid
from renkei.registry.identifiers import MemberId

JSON = "application/json; charset=utf-8"
YAML = "text/yaml; charset=utf-8"
MEMBER_PATH = "/{instanceId}/{memberClass}/{memberCode}/{applicationCode}"

router = APIRouter(tags=["directory"])


def directory(request: Request) -> Directory:
    """The deployment's directory, as ``app.build_app`` wired it."""
    found = request.app.state.platform.directory
    assert isinstance(found, Directory)
    return found


def provider(
    instance_id: Annotated[str, Path(alias="instanceId")],
    member_class: Annotated[str, Path(alias="memberClass")],
    member_code: Annotated[str, Path(alias="memberCode")],
    application_code: Annotated[str, Path(alias="applicationCode")],
) -> MemberId | None:
    """The member system the path names, or None when it names none (malformed or unknown)."""
    return read_member(instance_id, member_class, member_code, application_code)


Dir = Annotated[Directory, Depends(directory)]
Provider = Annotated[MemberId | None, Depends(provider)]
ServiceIdQuery = Annotated[str | None, Query(alias="serviceId", description="only this service")]


def _json(body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=JSON)


def _get(
    path: str, summary: str, operation_id: str
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register ``endpoint`` at ``/r1{path}`` (in the OpenAPI) and at ``{path}`` (the harness's form)."""

    def register(endpoint: Callable[..., Response]) -> Callable[..., Response]:
        for prefixed in (True, False):
            router.add_api_route(
                f"/r1{path}" if prefixed else path,
                endpoint,
                methods=["GET"],
                summary=summary,
                operation_id=operation_id if prefixed else f"{operation_id}Unprefixed",
                include_in_schema=prefixed,
                response_class=Response,
                responses={200: {"content": {"application/json": {}}}},
            )
        return endpoint

    return register


@_get("/listClients", "メンバー一覧 (organisations and member systems)", "listClients")
def list_clients(d: Dir, instance_id: Annotated[str | None, Query(alias="instanceId")] = None) -> Response:
    return _json(d.list_clients(instance_id))


@_get(f"{MEMBER_PATH}/listMethods", "提供サービス一覧 (services a member system provides)", "listMethods")
def list_methods(d: Dir, member: Provider, service_id: ServiceIdQuery = None) -> Response:
    return _json(d.list_methods(member, service_id))


@_get(
    f"{MEMBER_PATH}/allowedMethods", "利用可能サービス一覧 (services the caller may call)", "allowedMethods"
)
def allowed_methods(
    d: Dir,
    member: Provider,
    service_id: ServiceIdQuery = None,
    x_road_client: Annotated[str | None, Header(alias="X-Road-Client")] = None,
    govstack_client: Annotated[str | None, Header(alias="X-GovStack-Client")] = None,
    mediator_client: Annotated[str | None, Header(alias="Information-Mediator-Client")] = None,
) -> Response:
    client = read_client(x_road_client or govstack_client or mediator_client)
    return _json(d.allowed_methods(member, client, service_id))


@_get(f"{MEMBER_PATH}/getOpenAPI", "サービスの OpenAPI (OpenAPI description of one service)", "getOpenAPI")
def get_openapi(
    d: Dir,
    member: Provider,
    service_code: Annotated[str | None, Query(alias="serviceCode")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The document as a JSON string (``application/json``, the GovStack shape), or as YAML text when the
    request accepts ``text/yaml`` or ``application/yaml`` and not JSON."""
    if member is None:
        raise IdentifierInvalid("the path does not name a member system (INSTANCE/CLASS/MEMBER/uNN)")
    if not service_code:
        raise IdentifierInvalid("serviceCode is required", field="serviceCode")
    document = d.open_api(member, service_code)
    wanted = (accept or "").lower()
    if "yaml" in wanted and "json" not in wanted:
        return Response(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), media_type=YAML)
    return _json(json.dumps(document, ensure_ascii=False, indent=2))
