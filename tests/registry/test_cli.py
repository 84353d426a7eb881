"""``renkei registry …`` in process: enrol, provide, list; key files 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cryptography import x509
from typer.testing import CliRunner

from renkei.cli.registry import app
from renkei.registry.errors import ServiceNotProvidable


def run(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_enrol_a_member_and_list_the_directory(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert "JP/LG/131016" in run(
        data, "org", "add", "--class", "LG", "--code", "131016", "--name", "千代田区"
    )
    out = tmp_path / "keys"
    added = run(
        data,
        "member",
        "add",
        "JP/LG/131016",
        "--unit",
        "6",
        "--endpoint",
        "https://zei.example.lg.jp/",
        "--out",
        str(out),
    )
    assert added.startswith("JP/LG/131016/u06\t個人住民税")
    for name in ("member.key", "member.crt", "ca.crt"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((out / "member.crt").read_bytes())
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate((out / "ca.crt").read_bytes()))
    assert stat.S_IMODE((data / "registry" / "ca" / "ca.key").stat().st_mode) == 0o600
    run(data, "service", "add", "JP/LG/131016/u06", "income-certificate")
    run(
        data,
        "purpose",
        "add",
        "infant-medical-subsidy",
        "--name",
        "乳幼児医療費助成",
        "--legal-basis",
        "条例",
        "--use",
        "individual-resident-tax:taxable_income,atena_number",
    )
    listing = json.loads(run(data, "list", "--format", "json"))
    [organisation] = listing["organisations"]
    [member] = organisation["members"]
    assert member["id"] == "JP/LG/131016/u06"
    assert member["services"][0]["service"] == "income-certificate"
    assert listing["purposes"][0]["uses"] == [
        {"information": "individual-resident-tax", "items": ["atena_number", "taxable_income"]}
    ]
    assert "千代田区" in run(data, "list")
    kid = member["credentials"][0]["kid"]
    assert kid in run(data, "member", "revoke", kid, "--reason", "key-compromise")
    assert "BEGIN X509 CRL" in run(data, "crl")


def test_typed_errors_surface(tmp_path: Path) -> None:
    data = tmp_path / "var"
    run(data, "org", "add", "--class", "LG", "--code", "131016", "--name", "千代田区")
    run(
        data,
        "member",
        "add",
        "JP/LG/131016",
        "--unit",
        "6",
        "--out",
        str(tmp_path / "keys"),
        "--endpoint",
        "https://x.example/",
    )
    result = CliRunner().invoke(
        app, ["--data-dir", str(data), "service", "add", "JP/LG/131016/u06", "resident-changes"]
    )
    assert isinstance(result.exception, ServiceNotProvidable)
