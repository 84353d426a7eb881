"""The OpenAPI 3.1.0 document of the REST interface: a path per query service in the X-Road REST form,
webhooks per notification topic, and a schema per information kind.

Component schema names are the spec identifiers themselves (injective, unlike any case conversion):
``<kind-id>`` for a record, ``<service-id>.request`` / ``<service-id>.response`` for a query service,
``<topic-id>.event`` for a notification envelope, plus ``Problem`` and ``InstanceProblem``. A query
answers with one record of the response items; no match is a 404 problem.
"""

from __future__ import annotations

from typing import Any

from renkei.spec.export.typemap import carried_items, json_schema, object_schema
from renkei.spec.models import InformationKind, Service, ServiceKind, Spec

OPENAPI_VERSION = "3.1.0"
PATH_PREFIX = "/r1/{xRoadInstance}/{memberClass}/{memberCode}/{subsystemCode}"
"""X-Road REST service path: ``/r1/{instance}/{class}/{member}/{subsystem}/{service}``."""


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def request_schema(spec: Spec, kind: InformationKind, service: Service) -> dict[str, Any]:
    """The request of a query service: every request item but the service's ``optional`` ones is required."""
    items = [spec.request_item(kind, r) for r in service.request]
    return {
        "title": f"{service.name} 照会条件",
        "description": f"{service.name_en}: request",
        **object_schema(spec, items, required=list(service.required_request)),
    }


def response_schema(spec: Spec, kind: InformationKind, service: Service) -> dict[str, Any]:
    """The response of a query service, or the ``data`` of a notification event: the listed items."""
    items = [kind.item(r) for r in service.response]
    return {
        "title": f"{service.name} 応答",
        "description": f"{service.name_en}: response",
        **object_schema(spec, items),
    }


def event_schema(spec: Spec, kind: InformationKind, service: Service) -> dict[str, Any]:
    """The envelope of one event of a notification topic; ``person_fugo`` is required for personal kinds."""
    assert service.event_code is not None  # guaranteed by the model for notifications
    dictionary = spec.dictionary(service.event_code)
    try:
        fugo = json_schema(spec, spec.parameter("person_fugo"))
    except KeyError:
        fugo = {"title": "符号", "description": "Organisation-specific person code (fugo)", "type": "string"}
    data = response_schema(spec, kind, service)
    data["title"] = f"{service.name} データ"
    data["description"] = f"{service.name_en}: data"
    required = [
        "event_id",
        "topic",
        "event_type",
        "occurred_at",
        *(["person_fugo"] if kind.personal else []),
        "data",
    ]
    return {
        "title": f"{service.name} イベント",
        "description": f"{service.name_en}: event",
        "type": "object",
        "properties": {
            "event_id": {
                "title": "イベントID",
                "description": "Event id, unique per topic; receivers deduplicate on it",
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
            },
            "topic": {"title": "トピック", "description": "Topic id", "type": "string", "const": service.id},
            "event_type": {
                "title": dictionary.name,
                "description": dictionary.name_en,
                "type": "string",
                "enum": list(service.events),
                "x-code-dictionary": dictionary.id,
                "x-codes": {e: dictionary.label(e) for e in service.events},
            },
            "occurred_at": {
                "title": "発生日時",
                "description": "When the change happened",
                "type": "string",
                "format": "date-time",
            },
            "person_fugo": fugo,
            "data": data,
        },
        "required": required,
        "additionalProperties": False,
    }


def _problem_schemas() -> dict[str, Any]:
    return {
        "Problem": {
            "title": "問題詳細",
            "description": "RFC 9457 problem details; `code` is renkei's stable dotted error code",
            "type": "object",
            "properties": {
                "type": {"type": "string", "format": "uri-reference"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 100, "maximum": 599},
                "detail": {"type": "string"},
                "code": {"type": "string", "examples": ["spec.instance.invalid"]},
                "instance": {"type": "string", "format": "uri-reference"},
                "errors": {"type": "array", "items": _ref("schemas", "InstanceProblem")},
            },
            "required": ["type", "title", "status", "code"],
        },
        "InstanceProblem": {
            "title": "インスタンスの問題",
            "description": "One located problem of an instance document (line, column, record, field)",
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "line": {"type": "integer", "minimum": 1},
                "column": {"type": "integer", "minimum": 1},
                "record": {"type": "integer", "minimum": 1},
                "field": {"type": "string"},
                "name": {"type": "string"},
            },
            "required": ["message"],
        },
    }


def _parameters() -> dict[str, Any]:
    def path(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "string", "minLength": 1},
        }

    def header(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
        return {
            "name": name,
            "in": "header",
            "required": required,
            "description": description,
            "schema": {"type": "string", **schema},
        }

    return {
        "xRoadInstance": path("xRoadInstance", "X-Road instance of the service provider"),
        "memberClass": path("memberClass", "Member class of the service provider (e.g. GOV)"),
        "memberCode": path("memberCode", "Member code of the service provider (団体コード)"),
        "subsystemCode": path("subsystemCode", "Subsystem of the service provider (業務ユニット)"),
        "X-Road-Client": header(
            "X-Road-Client",
            "照会元 (the client): INSTANCE/CLASS/MEMBER/SUBSYSTEM",
            required=True,
            pattern="^[^/]+/[^/]+/[^/]+(/[^/]+)?$",
        ),
        "X-Road-Id": header("X-Road-Id", "Message id, unique per client", maxLength=255),
        "X-Road-UserId": header(
            "X-Road-UserId", "照会を行った職員 (the user behind the request)", maxLength=255
        ),
        "X-Road-Issue": header("X-Road-Issue", "案件番号 (the case the request belongs to)", maxLength=255),
        "Idempotency-Key": header(
            "Idempotency-Key", "Retries with the same key are answered once", maxLength=255
        ),
    }


_PATH_PARAMETERS = ("xRoadInstance", "memberClass", "memberCode", "subsystemCode")
_HEADER_PARAMETERS = ("X-Road-Client", "X-Road-Id", "X-Road-UserId", "X-Road-Issue", "Idempotency-Key")


def _json_body(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("schemas", schema)}}}


def _query_operation(kind: InformationKind, service: Service) -> dict[str, Any]:
    return {
        "post": {
            "operationId": service.id,
            "summary": service.name,
            "description": f"{service.name_en} ({kind.name} / {kind.name_en})",
            "tags": [kind.id],
            "parameters": [_ref("parameters", p) for p in _PATH_PARAMETERS + _HEADER_PARAMETERS],
            "requestBody": {"required": True, **_json_body(f"{service.id}.request", "照会条件 (request)")},
            "responses": {
                "200": _json_body(f"{service.id}.response", "応答 (the record)"),
                "4XX": _ref("responses", "Problem"),
                "5XX": _ref("responses", "Problem"),
            },
        }
    }


def _webhook(kind: InformationKind, service: Service) -> dict[str, Any]:
    return {
        "post": {
            "operationId": service.id,
            "summary": service.name,
            "description": f"{service.name_en} ({kind.name} / {kind.name_en})",
            "tags": [kind.id],
            "requestBody": {
                "required": True,
                **_json_body(f"{service.id}.event", "異動イベント (the event)"),
            },
            "responses": {"2XX": {"description": "受信しました (received)"}},
        }
    }


def build_openapi(spec: Spec) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of every query service and notification topic of ``spec``."""
    schemas: dict[str, Any] = {}
    for kind in spec.information:
        schema = {"title": kind.name, "description": kind.name_en, **object_schema(spec, carried_items(kind))}
        schemas[kind.id] = schema
    paths: dict[str, Any] = {}
    webhooks: dict[str, Any] = {}
    for kind, service in spec.services():
        if service.kind is ServiceKind.QUERY:
            schemas[f"{service.id}.request"] = request_schema(spec, kind, service)
            schemas[f"{service.id}.response"] = response_schema(spec, kind, service)
            paths[f"{PATH_PREFIX}/{service.id}"] = _query_operation(kind, service)
        else:
            schemas[f"{service.id}.event"] = event_schema(spec, kind, service)
            webhooks[service.id] = _webhook(kind, service)
    schemas |= _problem_schemas()
    header = spec.header
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"renkei: {header.name}",
            "version": spec.version,
            "summary": "地域情報プラットフォーム 照会・異動通知 API (Regional Information Platform API)",
            "description": (
                "照会サービスは X-Road REST 形式のパスで、異動通知は webhooks で提供します。"
                " (Query services use X-Road REST paths; change notifications are webhooks.)"
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "x-renkei-spec": {"name": header.name, "version": header.version, "source": header.source},
        },
        "tags": [
            {"name": kind.id, "description": f"{kind.name} ({kind.name_en})"} for kind in spec.information
        ],
        "paths": paths,
        "webhooks": webhooks,
        "components": {
            "schemas": schemas,
            "parameters": _parameters(),
            "responses": {
                "Problem": {
                    "description": "問題詳細 (problem details)",
                    "content": {"application/problem+json": {"schema": _ref("schemas", "Problem")}},
                }
            },
        },
    }
