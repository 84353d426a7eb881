"""Directory services over HTTP, in the shapes of GovStack's Directory Services API, both path forms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from renkei.api.directory import router
from renkei.api.errors import install_error_handlers
from renkei.registry.ca import CertificateAuthority
from renkei.registry.directory import Directory
from renkei.registry.keystore import MemoryAuthorityStore
from renkei.registry.memory import MemoryRegistryRepository
from renkei.registry.service import Registry
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock

TAX = "JP/LG/131016/u06"
INFANT = "JP/LG/131016/u17"
JSON = "application/json; charset=utf-8"


@pytest.fixture
def client(spec: Spec) -> Iterator[TestClient]:
    clock = FixedClock(datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    registry = Registry(
        spec, MemoryRegistryRepository(), clock, authority=CertificateAuthority(MemoryAuthorityStore(), clock)
    )
    registry.add_organisation("LG", "131016", "千代田区")
    registry.add_member("JP/LG/131016", 6, endpoint="https://zei.example.lg.jp/")
    registry.add_member("JP/LG/131016", 17)
    registry.add_member("JP/LG/131016", 1)
    registry.provide(TAX, "income-certificate")
    registry.provide(TAX, "individual-resident-tax-changes")
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = SimpleNamespace(directory=Directory(registry))
    app.include_router(router)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("path", ["/listClients", "/r1/listClients"])
def test_list_clients(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    members = response.json()["member"]
    assert members[0] == {
        "name": "千代田区",
        "id": {"objectType": "MEMBER", "instanceId": "JP", "memberClass": "LG", "memberCode": "131016"},
    }
    assert {
        "name": "千代田区 個人住民税",
        "id": {
            "objectType": "APPLICATION",
            "instanceId": "JP",
            "memberClass": "LG",
            "memberCode": "131016",
            "applicationCode": "u06",
        },
    } in members
    assert len(members) == 4
    assert client.get(path, params={"instanceId": "FI"}).json() == {"member": []}
    assert len(client.get(path, params={"instanceId": "JP", "serviceId": "x"}).json()["member"]) == 4


@pytest.mark.parametrize("prefix", ["/r1", ""])
def test_list_methods(client: TestClient, spec: Spec, prefix: str) -> None:
    response = client.get(f"{prefix}/{TAX}/listMethods")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    services = response.json()["member"]
    assert services[0] == {
        "objectType": "SERVICE",
        "serviceType": "REST",
        "instanceId": "JP",
        "memberClass": "LG",
        "memberCode": "131016",
        "applicationCode": "u06",
        "serviceCode": "income-certificate",
        "serviceVersion": spec.version,
        "endpointList": {"member": [{"method": "POST", "path": "/"}]},
    }
    assert services[1]["serviceCode"] == "individual-resident-tax-changes"
    assert services[1]["endpointList"] == {"member": []}
    only = client.get(f"{prefix}/{TAX}/listMethods", params={"serviceId": "income-certificate"}).json()
    assert [s["serviceCode"] for s in only["member"]] == ["income-certificate"]


@pytest.mark.parametrize("member", ["JP/LG/131024/u06", "identifier/identifier/alp4aNum3r1c/alp4aNum3r1c"])
def test_unknown_members_have_no_methods(client: TestClient, member: str) -> None:
    for operation in ("listMethods", "allowedMethods"):
        for prefix in ("/r1", ""):
            response = client.get(f"{prefix}/{member}/{operation}", headers={"X-Road-Client": INFANT})
            assert response.status_code == 200
            assert response.json() == {"member": []}


@pytest.mark.parametrize("header", ["X-Road-Client", "X-GovStack-Client", "Information-Mediator-Client"])
def test_allowed_methods_follow_the_linkage_matrix(client: TestClient, header: str) -> None:
    allowed = client.get(f"/r1/{TAX}/allowedMethods", headers={header: INFANT}).json()["member"]
    assert [s["serviceCode"] for s in allowed] == ["income-certificate", "individual-resident-tax-changes"]
    # 住基 (unit 1) does not receive 個人住民税情報 from unit 6.
    assert client.get(f"/{TAX}/allowedMethods", headers={header: "JP/LG/131016/u01"}).json() == {"member": []}
    assert client.get(f"/{TAX}/allowedMethods").json() == {"member": []}
    assert client.get(f"/{TAX}/allowedMethods", headers={header: "JP/LG/131024/u17"}).json() == {"member": []}


@pytest.mark.parametrize("prefix", ["/r1", ""])
def test_get_openapi_is_the_one_service(client: TestClient, prefix: str) -> None:
    response = client.get(f"{prefix}/{TAX}/getOpenAPI", params={"serviceCode": "income-certificate"})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    text = response.json()
    assert isinstance(text, str), "the GovStack API returns the description as a string"
    document = json.loads(text)
    assert document["openapi"] == "3.1.0"
    assert list(document["paths"]) == [
        "/r1/{xRoadInstance}/{memberClass}/{memberCode}/{subsystemCode}/income-certificate"
    ]
    schemas = document["components"]["schemas"]
    assert {"income-certificate.request", "income-certificate.response", "Problem"} <= set(schemas)
    assert "resident-record" not in schemas
    assert [t["name"] for t in document["tags"]] == ["individual-resident-tax"]
    from openapi_spec_validator import validate

    validate(document)


def test_get_openapi_of_a_topic_is_its_webhook(client: TestClient) -> None:
    response = client.get(
        f"/r1/{TAX}/getOpenAPI",
        params={"serviceCode": "individual-resident-tax-changes"},
        headers={"Accept": "text/yaml"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/yaml")
    document = yaml.safe_load(response.text)
    assert list(document["webhooks"]) == ["individual-resident-tax-changes"]
    assert document["paths"] == {}


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        (f"/r1/{TAX}/getOpenAPI", {}, 400, "registry.identifier.invalid"),
        (f"/r1/{TAX}/getOpenAPI", {"serviceCode": ""}, 400, "registry.identifier.invalid"),
        (f"/r1/{TAX}/getOpenAPI", {"serviceCode": "_invalid"}, 400, "registry.identifier.invalid"),
        (
            "/r1/JP/LG/131017/u06/getOpenAPI",
            {"serviceCode": "income-certificate"},
            400,
            "registry.identifier.invalid",
        ),
        (
            f"/r1/{TAX}/getOpenAPI",
            {"serviceCode": "resident-record-inquiry"},
            404,
            "registry.service.unknown",
        ),
        (f"/{INFANT}/getOpenAPI", {"serviceCode": "income-certificate"}, 404, "registry.service.unknown"),
    ],
)
def test_get_openapi_refusals(
    client: TestClient, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_only_the_prefixed_form_is_in_the_openapi(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert sorted(paths) == [
        "/r1/listClients",
        "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/allowedMethods",
        "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/getOpenAPI",
        "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods",
    ]
