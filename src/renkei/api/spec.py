"""The standard as a JSON API and its generated artefacts (OpenAPI, JSON Schema, XSD, WSDL, CSV layouts).

All of it is public metadata: no personal data is served here.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from renkei.api.deps import Platform, platform
from renkei.spec import catalogue
from renkei.spec.authorisation import decide
from renkei.spec.export.csvlayout import build_csv_layout
from renkei.spec.export.jsonschema import build_json_schemas
from renkei.spec.export.openapi import build_openapi
from renkei.spec.export.wsdl import build_wsdl
from renkei.spec.export.xsd import build_xsd
from renkei.spec.models import InformationKind, SpecHeader

router = APIRouter(prefix="/api/spec", tags=["spec"])
exports = APIRouter(prefix="/spec/exports", tags=["spec exports"])

Dep = Annotated[Platform, Depends(platform)]


def _json(body: Any, media_type: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False, indent=2), media_type=media_type)


@router.get("", summary="標準仕様の版と変更履歴 (spec version and change log)")
def header(p: Dep) -> SpecHeader:
    return p.spec.header


@router.get("/units", summary="業務ユニット一覧 (business units)")
def units(p: Dep) -> list[dict[str, Any]]:
    return catalogue.unit_records(p.spec)


@router.get("/flows", summary="連携マトリクス (linkage matrix, one entry per triple)")
def flows(p: Dep) -> list[dict[str, Any]]:
    return catalogue.flow_records(p.spec)


@router.get("/information", summary="連携データ一覧 (information kinds)")
def information_list(p: Dep) -> list[dict[str, Any]]:
    return [
        {"id": k.id, "name": k.name, "name_en": k.name_en, "items": len(k.items)} for k in p.spec.information
    ]


@router.get("/information/{information}", summary="連携データの項目とサービス (items and services)")
def information(p: Dep, information: str) -> InformationKind:
    return p.spec.kind(information)


@router.get("/services", summary="照会サービスと異動通知 (query services and notification topics)")
def services(p: Dep) -> list[dict[str, Any]]:
    return catalogue.service_records(p.spec)


@router.get("/codes", summary="コード辞書 (code dictionaries)")
def codes(p: Dep, dictionary: str | None = None) -> list[dict[str, Any]]:
    return catalogue.code_records(p.spec, dictionary)


@router.get("/why", summary="連携可否の判定 (may FROM send INFORMATION to TO?)")
def why(
    p: Dep,
    sender: Annotated[int, Query(alias="from", description="送信元の業務ユニット番号")],
    receiver: Annotated[int, Query(alias="to", description="送信先の業務ユニット番号")],
    information: Annotated[str, Query(description="連携データ (id or Japanese name)")],
) -> JSONResponse:
    verdict = decide(p.spec, information, sender, receiver)
    return JSONResponse(
        {
            "allowed": verdict.allowed,
            "information": verdict.information,
            "information_name": verdict.information_name,
            "from": verdict.sender,
            "to": verdict.receiver,
            "row": verdict.rule.row if verdict.rule else None,
            "provenance": verdict.rule.provenance if verdict.rule else None,
            "explanation": verdict.explain(p.spec),
        }
    )


@exports.get("/openapi.json", summary="照会サービスの OpenAPI 3.1")
def export_openapi(p: Dep) -> Response:
    return _json(build_openapi(p.spec))


@exports.get("/jsonschema/{information}.schema.json", summary="連携データの JSON Schema 2020-12")
def export_json_schema(p: Dep, information: str) -> Response:
    kind = p.spec.kind(information)
    return _json(build_json_schemas(p.spec)[kind.id], "application/schema+json")


@exports.get("/xsd/{information}.xsd", summary="連携データの XML Schema")
def export_xsd(p: Dep, information: str) -> Response:
    return Response(build_xsd(p.spec, p.spec.kind(information)), media_type="application/xml")


@exports.get("/wsdl/renkei.wsdl", summary="照会サービスの WSDL (SOAP 1.1, document/literal)")
def export_wsdl(p: Dep) -> Response:
    return Response(build_wsdl(p.spec), media_type="text/xml")


@exports.get("/csv/{information}.layout.json", summary="ファイル連携の CSV レイアウト")
def export_csv_layout(p: Dep, information: str) -> Response:
    return _json(build_csv_layout(p.spec, p.spec.kind(information)))
