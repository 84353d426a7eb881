"""The spec JSON API, exports and errors as problem+json."""

from __future__ import annotations

from fastapi.testclient import TestClient
from lxml import etree

from renkei.spec.models import Spec


def test_units_and_flows_have_the_cli_shapes(client: TestClient, spec: Spec) -> None:
    units = client.get("/api/spec/units").json()
    assert len(units) == 27
    assert set(units[0]) == {"number", "name", "name_en", "status"}
    flows = client.get("/api/spec/flows").json()
    assert len(flows) == len(spec.triples())
    assert {"information": "住基情報", "from": 1, "to": 6, "provenance": "seed", "row": 1} in flows


def test_why_allowed_and_denied(client: TestClient) -> None:
    ok = client.get("/api/spec/why", params={"from": 6, "to": 16, "information": "個人住民税情報"}).json()
    assert ok["allowed"] is True and ok["row"] == 17
    no = client.get("/api/spec/why", params={"from": 16, "to": 1, "information": "個人住民税情報"}).json()
    assert no["allowed"] is False and no["row"] is None


def test_unknown_information_is_problem_json(client: TestClient) -> None:
    res = client.get("/api/spec/information/no-such-kind")
    assert res.status_code == 404
    assert res.headers["content-type"] == "application/problem+json"
    body = res.json()
    assert body["code"] == "spec.information.unknown"
    assert body["type"] == "urn:renkei:error:spec.information.unknown"


def test_bad_query_parameter_is_problem_json(client: TestClient) -> None:
    res = client.get("/api/spec/why", params={"from": "x", "to": 1, "information": "住基情報"})
    assert res.status_code == 422
    assert res.json()["code"] == "http.request.invalid"


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    res = client.get("/no/such/page")
    assert res.status_code == 404
    assert res.json()["code"] == "http.not_found"


def test_exports_are_served(client: TestClient, spec: Spec) -> None:
    openapi = client.get("/spec/exports/openapi.json").json()
    assert openapi["openapi"].startswith("3.1")
    wsdl = client.get("/spec/exports/wsdl/renkei.wsdl")
    assert etree.fromstring(wsdl.content).tag.endswith("definitions")
    xsd = client.get("/spec/exports/xsd/resident-record.xsd")
    etree.XMLSchema(etree.fromstring(xsd.content))
    schema = client.get("/spec/exports/jsonschema/住基情報.schema.json").json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    layout = client.get("/spec/exports/csv/resident-record.layout.json").json()
    kind = spec.kind("resident-record")
    carried = [i.id for i in kind.items if not i.local_only]
    assert [c["id"] for c in layout["columns"]] == carried
    assert "my_number" not in carried


def test_healthz_reports_database_and_spec(client: TestClient, spec: Spec) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["dialect"] == "sqlite"
    assert body["checks"]["spec"]["version"] == spec.version
    assert body["time"] == "2026-04-01T09:00:00+00:00"


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/api/spec/information/resident-record")
    text = client.get("/metrics").text
    assert 'renkei_http_requests_total{method="GET",route="/healthz",status="2xx"} 1.0' in text
    assert 'route="/api/spec/information/{information}"' in text
    assert "resident-record" not in text  # ids never become labels
