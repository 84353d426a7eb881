"""``renkei registry …`` in process: enrol, provide, list; key files 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cryptography import x509
from typer.testing import CliRunner

from renkei.cli.registry import app
from renkei.exchange.signing import HUB_KEY_NAME, member_hub_key
from renkei.identity.errors import KeyStoreError
from renkei.identity.keys import FileKeyStore
from renkei.registry.errors import MemberUnknown, ServiceNotProvidable


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
    hub_key = FileKeyStore(data / "keys").secret(HUB_KEY_NAME, 32)  # as the deployment's first start makes it
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
    for name in ("member.key", "member.crt", "ca.crt", "hub.key"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    # The key this member checks the hub's signature with: its own, derived from the deployment's.
    assert (out / "hub.key").read_text() == member_hub_key(hub_key, "JP/LG/131016/u06").hex() + "\n"
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


def test_a_member_hub_key_is_written_for_a_registered_member_only(tmp_path: Path) -> None:
    data = tmp_path / "var"
    run(data, "org", "add", "--class", "LG", "--code", "131024", "--name", "中央区")
    # No hub key in this data directory yet: none is made up here (it would be the wrong one).
    early = CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(data),
            "member",
            "add",
            "JP/LG/131024",
            "--unit",
            "10",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert early.exit_code == 0 and not (tmp_path / "e" / "hub.key").exists()
    assert "no hub.key" in early.stderr and not (data / "keys" / f"{HUB_KEY_NAME}.key").exists()
    missing = CliRunner().invoke(
        app, ["--data-dir", str(data), "member", "hub-key", "JP/LG/131024/u10", "--out", str(tmp_path / "m")]
    )
    assert isinstance(missing.exception, KeyStoreError) and not (tmp_path / "m").exists()
    FileKeyStore(data / "keys").secret(HUB_KEY_NAME, 32)  # the deployment has started
    result = CliRunner().invoke(
        app, ["--data-dir", str(data), "member", "hub-key", "JP/LG/131024/u06", "--out", str(tmp_path / "k")]
    )
    assert isinstance(result.exception, MemberUnknown) and not (tmp_path / "k").exists()
    CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(data),
            "member",
            "add",
            "JP/LG/131024",
            "--unit",
            "6",
            "--out",
            str(tmp_path / "a"),
        ],
        catch_exceptions=False,
    )
    run(data, "member", "hub-key", "JP/LG/131024/u06", "--out", str(tmp_path / "k"))
    key = bytes.fromhex((tmp_path / "k").read_text())
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert key == member_hub_key(FileKeyStore(data / "keys").secret(HUB_KEY_NAME, 32), "JP/LG/131024/u06")
    assert (tmp_path / "k").read_text() == (tmp_path / "a" / "hub.key").read_text()
