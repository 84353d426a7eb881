"""The generated artefacts: each one valid for its own toolchain (openapi-spec-validator, jsonschema, lxml,
xmlschema, zeep), in step with the spec, and byte-identical when generated twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
import zeep
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree
from openapi_spec_validator import validate

from renkei.spec.errors import InstanceInvalid
from renkei.spec.export import (
    build_csv_layout,
    build_json_schemas,
    build_metaschema,
    build_openapi,
    build_service_xsd,
    build_spec_markdown,
    build_wsdl,
    build_xsd,
    csv_header,
    render_exports,
    write_exports,
)
from renkei.spec.export.errors import ExportConflict
from renkei.spec.export.naming import lower_camel
from renkei.spec.export.openapi import PATH_PREFIX
from renkei.spec.export.typemap import carried_items, sample_record
from renkei.spec.loader import default_data_dir
from renkei.spec.models import ServiceKind, Spec
from renkei.spec.xmlcodec import record_to_xml, records_to_xml

DATA = Path(str(default_data_dir()))


def queries(spec: Spec) -> list[str]:
    return [s.id for _, s in spec.services() if s.kind is ServiceKind.QUERY]


def topics(spec: Spec) -> list[str]:
    return [s.id for _, s in spec.services() if s.kind is ServiceKind.NOTIFICATION]


# OpenAPI ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(spec: Spec) -> dict[str, Any]:
    return build_openapi(spec)


def test_openapi_is_valid_3_1(openapi: dict[str, Any], spec: Spec) -> None:
    validate(openapi)
    assert openapi["openapi"] == "3.1.0"
    assert openapi["info"]["version"] == spec.version
    assert openapi["info"]["x-renkei-spec"]["version"] == spec.version


def test_openapi_has_a_path_per_query_service(openapi: dict[str, Any], spec: Spec) -> None:
    assert sorted(openapi["paths"]) == sorted(f"{PATH_PREFIX}/{q}" for q in queries(spec))
    operation = openapi["paths"][f"{PATH_PREFIX}/income-certificate"]["post"]
    params = [
        openapi["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] for p in operation["parameters"]
    ]
    headers = {p["name"]: p["required"] for p in params if p["in"] == "header"}
    assert headers == {
        "X-Road-Client": True,
        "X-Road-Id": False,
        "X-Road-UserId": False,
        "X-Road-Issue": False,
        "Idempotency-Key": False,
    }
    assert {p["name"] for p in params if p["in"] == "path"} == {
        "xRoadInstance",
        "memberClass",
        "memberCode",
        "subsystemCode",
    }
    problem = openapi["components"]["responses"]["Problem"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert (
        operation["responses"]["4XX"]
        == operation["responses"]["5XX"]
        == {"$ref": "#/components/responses/Problem"}
    )
    assert set(openapi["components"]["schemas"]["Problem"]["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
        "code",
    }


def test_openapi_request_and_response_schemas(openapi: dict[str, Any], spec: Spec) -> None:
    schemas = openapi["components"]["schemas"]
    for kind, service in spec.services():
        if service.kind is not ServiceKind.QUERY:
            continue
        request = schemas[f"{service.id}.request"]
        response = schemas[f"{service.id}.response"]
        assert list(request["properties"]) == list(service.request)
        assert request["required"] == list(service.required_request)
        assert list(response["properties"]) == list(service.response)
        for item_id in service.request:
            item = spec.request_item(kind, item_id)
            assert request["properties"][item_id]["title"] == item.name
    income = schemas["income-certificate.request"]["properties"]
    assert income["fiscal_year"] == {
        "title": "年度",
        "description": "Fiscal year",
        "type": "integer",
        "format": "int32",
        "minimum": 1868,
        "maximum": 2999,
        "x-personal": False,
        "x-specific-personal": False,
    }


def test_openapi_webhooks_carry_the_event_envelope(openapi: dict[str, Any], spec: Spec) -> None:
    assert sorted(openapi["webhooks"]) == sorted(topics(spec))
    for kind, service in spec.services():
        if service.kind is ServiceKind.NOTIFICATION:
            event = openapi["components"]["schemas"][f"{service.id}.event"]
            assert set(event["properties"]) == {
                "event_id",
                "topic",
                "event_type",
                "occurred_at",
                "person_fugo",
                "data",
            }
            assert event["properties"]["event_type"]["enum"] == list(service.events)
            assert list(event["properties"]["data"]["properties"]) == list(service.response)
            assert ("person_fugo" in event["required"]) == kind.personal
            body = openapi["webhooks"][service.id]["post"]["requestBody"]["content"]["application/json"]
            assert body["schema"] == {"$ref": f"#/components/schemas/{service.id}.event"}


def test_openapi_type_mapping(openapi: dict[str, Any]) -> None:
    record = openapi["components"]["schemas"]["individual-resident-tax"]["properties"]
    assert record["atena_number"]["pattern"] == "^[0-9]{15}$"
    assert record["tax_status"]["enum"] == ["1", "2", "3", "4"]
    assert record["tax_status"]["x-codes"]["1"] == "課税"
    assert record["total_income"]["type"] == "integer"


# JSON Schema -----------------------------------------------------------------------------------------


def test_json_schemas_are_valid_and_accept_a_sample(spec: Spec) -> None:
    schemas = build_json_schemas(spec)
    assert list(schemas) == [k.id for k in spec.information]
    for kind in spec.information:
        schema = schemas[kind.id]
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"urn:renkei:spec:{spec.version}:{kind.id}"
        assert schema["title"] == kind.name
        assert schema["additionalProperties"] is False
        assert schema.get("required", []) == [i.id for i in carried_items(kind) if i.required]
        for item in carried_items(kind):
            assert schema["properties"][item.id]["title"] == item.name
            assert schema["properties"][item.id]["description"] == item.name_en
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(sample_record(spec, kind))


def test_local_only_items_are_in_no_exchange_format(spec: Spec) -> None:
    kind = spec.kind("resident-record")
    local = [i.id for i in kind.items if i.local_only]
    assert local  # 個人番号, 住民票コード
    schema = build_json_schemas(spec)[kind.id]
    layout = build_csv_layout(spec, kind)
    xsd = build_xsd(spec, kind)
    for item_id in local:
        assert item_id not in schema["properties"]
        assert item_id not in [c["id"] for c in layout["columns"]]
        assert f'name="{item_id}"' not in xsd


def test_open_dictionaries_accept_unlisted_codes_of_their_shape(spec: Spec) -> None:
    kind = next(k for k in spec.information for i in k.items if i.code == "nationality")
    item = next(i for i in kind.items if i.code == "nationality")
    prop = build_json_schemas(spec)[kind.id]["properties"][item.id]
    assert "enum" not in prop
    assert prop["pattern"] == "^[0-9]{3}$"
    assert prop["x-open-codes"] is True


# XSD -------------------------------------------------------------------------------------------------


def test_every_xsd_loads_and_validates_samples(spec: Spec) -> None:
    for kind in spec.information:
        text = build_xsd(spec, kind)
        root = etree.fromstring(text.encode("utf-8"))
        assert root.get("targetNamespace") == f"urn:renkei:spec:{kind.id}"
        assert root.get("elementFormDefault") == "qualified"
        lxml_schema = etree.XMLSchema(root)
        other = xmlschema.XMLSchema(text)
        sample = sample_record(spec, kind)
        for document in (record_to_xml(spec, kind, sample), records_to_xml(spec, kind, [sample, sample])):
            lxml_schema.assertValid(etree.fromstring(document))
            other.validate(document.decode("utf-8"))


def test_xsd_elements_follow_the_items_in_order(spec: Spec) -> None:
    kind = spec.kind("individual-resident-tax")
    root = etree.fromstring(build_xsd(spec, kind).encode())
    xs = {"xs": "http://www.w3.org/2001/XMLSchema"}
    names = root.xpath("xs:complexType[@name='Record']/xs:sequence/xs:element/@name", namespaces=xs)
    assert names == [i.id for i in carried_items(kind)]
    optional = root.xpath("xs:complexType/xs:sequence/xs:element[@minOccurs='0']/@name", namespaces=xs)
    assert optional == [i.id for i in carried_items(kind) if not i.required]
    assert root.xpath("xs:element/@name", namespaces=xs) == [kind.id, "records"]


# WSDL ------------------------------------------------------------------------------------------------


def test_wsdl_loads_in_zeep_with_every_operation(tmp_path: Path, spec: Spec) -> None:
    path = tmp_path / "renkei.wsdl"
    path.write_text(build_wsdl(spec), encoding="utf-8")
    client = zeep.Client(str(path))  # type: ignore[no-untyped-call]
    service = client.wsdl.services["RenkeiQueryService"]
    port = service.ports["RenkeiQueryPort"]
    assert port.binding_options["address"] == "http://127.0.0.1:8080/soap"
    operations = port.binding._operations
    assert sorted(operations) == sorted(lower_camel(q) for q in queries(spec))
    assert operations["incomeCertificate"].soapaction == "urn:renkei:service:income-certificate"
    message = client.create_message(  # type: ignore[no-untyped-call]
        client.service, "incomeCertificate", person_fugo="F-1", fiscal_year=2024
    )
    body = message.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    request = body[0]
    assert request.tag == "{urn:renkei:service}incomeCertificate"
    assert [child.tag.split("}")[1] for child in request] == ["person_fugo", "fiscal_year"]
    xs = etree.XMLSchema(etree.fromstring(build_service_xsd(spec).encode()))
    xs.assertValid(request)


def test_wsdl_location_is_a_parameter(spec: Spec) -> None:
    root = etree.fromstring(build_wsdl(spec, location="https://renkei.example.lg.jp/soap").encode())
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == "https://renkei.example.lg.jp/soap"
    binding = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}binding")
    assert binding is not None
    assert binding.get("style") == "document"
    assert binding.get("transport") == "http://schemas.xmlsoap.org/soap/http"


def test_operation_names_that_collide_are_refused(spec: Spec) -> None:
    kind = spec.kind("individual-resident-tax")
    service = next(s for s in kind.services if s.kind is ServiceKind.QUERY)
    twin = service.model_copy(update={"id": service.id.replace("-", "_")})
    clash = Spec(
        header=spec.header,
        units=spec.units,
        codes=spec.codes,
        parameters=spec.parameters,
        information=(kind.model_copy(update={"services": (*kind.services, twin)}),),
        flows=(),
        labels=(),
    )
    with pytest.raises(ExportConflict) as caught:
        build_wsdl(clash)
    assert caught.value.code == "spec.export.conflict"


def test_lower_camel() -> None:
    assert lower_camel("income-certificate") == "incomeCertificate"
    assert lower_camel("ltc_premium-2x") == "ltcPremium2x"
    assert lower_camel("nhi") == "nhi"


# CSV -------------------------------------------------------------------------------------------------


def test_csv_layout(spec: Spec) -> None:
    kind = spec.kind("individual-resident-tax")
    layout = build_csv_layout(spec, kind)
    assert layout["information"] == kind.id
    assert layout["version"] == spec.version
    assert layout["encoding"] == {"accepted": ["UTF-8", "CP932"], "default": "UTF-8"}
    assert (layout["header"], layout["delimiter"], layout["line_terminator"]) == (True, ",", "\r\n")
    columns = layout["columns"]
    assert [c["position"] for c in columns] == list(range(1, len(columns) + 1))
    assert columns[0] == {
        "position": 1,
        "id": "atena_number",
        "name": "宛名番号",
        "name_en": "Addressee number",
        "type": "digits",
        "length": 15,
        "code": None,
        "required": True,
    }
    assert csv_header(kind) == ",".join(c["name"] for c in columns)


# Markdown and metaschema -----------------------------------------------------------------------------


def test_markdown_reference(spec: Spec) -> None:
    text = build_spec_markdown(spec)
    assert text.startswith(f"# {spec.header.name} {spec.version}\n")
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert "## 変更履歴 (Change log)" in text
    assert spec.header.changelog[0].changes[0] in text
    for unit in spec.units:
        assert f"| {unit.number} | {unit.name} | {unit.name_en} |" in text
    for kind in spec.information:
        assert f"### {kind.name} (`{kind.id}`)" in text
    grid = next(line for line in text.splitlines() if line.startswith("| 送信元＼送信先"))
    receivers = sorted({r for f in spec.flows for r in f.receivers}, key=[u.number for u in spec.units].index)
    assert grid.split(" | ")[1:] == [*map(str, receivers[:-1]), f"{receivers[-1]} |"]
    assert "| 17 | 個人住民税情報 (`individual-resident-tax`) | 6 | 16 |" in text
    for dictionary in spec.codes:
        assert f"### {dictionary.name} (`{dictionary.id}`)" in text


def test_metaschema_validates_the_spec_data_files() -> None:
    schema = build_metaschema()
    Draft202012Validator.check_schema(schema)
    files = schema["x-renkei-files"]
    for pattern, ref in files.items():
        paths = sorted(DATA.glob(pattern))
        assert paths, pattern
        sub = {"$ref": ref, "$defs": schema["$defs"]}
        validator = Draft202012Validator(sub, format_checker=FormatChecker())
        for path in paths:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            validator.validate(json.loads(json.dumps(document, default=str)))
    broken = {"id": "x", "name": "x", "name_en": "x", "type": "nope", "personal": True}
    assert list(
        Draft202012Validator({"$ref": "#/$defs/DataItem", "$defs": schema["$defs"]}).iter_errors(broken)
    )


# The whole export ------------------------------------------------------------------------------------


def test_write_exports_layout_and_determinism(tmp_path: Path, spec: Spec) -> None:
    first = write_exports(spec, tmp_path / "a")
    second = write_exports(spec, tmp_path / "b")
    relative = [p.relative_to(tmp_path / "a").as_posix() for p in first]
    assert first == sorted(first)
    expected = {"openapi.json", "wsdl/renkei.wsdl", "spec-metaschema.json", "spec.md"}
    for kind in spec.information:
        expected |= {
            f"jsonschema/{kind.id}.schema.json",
            f"xsd/{kind.id}.xsd",
            f"csv/{kind.id}.layout.json",
        }
    assert set(relative) == expected
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        data = a.read_bytes()
        assert data.endswith(b"\n")
        assert b"\r\n" not in data
        if a.suffix == ".json":
            json.loads(data)
    assert "個人住民税情報" in (tmp_path / "a" / "openapi.json").read_text(encoding="utf-8")


def test_exports_do_not_depend_on_spec_object_identity() -> None:
    from renkei.spec.loader import load_spec

    assert render_exports(load_spec()) == render_exports(load_spec())


def test_record_to_xml_refuses_values_xml_cannot_hold(spec: Spec) -> None:
    kind = spec.kind("individual-resident-tax")
    record = {**sample_record(spec, kind), "tax_status": "\x01"}
    with pytest.raises(InstanceInvalid):
        record_to_xml(spec, kind, record)
