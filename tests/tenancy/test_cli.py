"""``renkei federation …`` in process, two data directories standing for two deployments: init, export the
trust list to a file, trust the other's with the fingerprint read out, list and forget peers."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from renkei.cli.federation import federation_app
from renkei.cli.registry import app as registry_app
from renkei.tenancy.errors import DeploymentConflict, TrustFingerprintMismatch, TrustSignatureInvalid


def run(data_dir: Path, *args: str, app: typer.Typer = federation_app) -> tuple[str, str]:
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def init(data_dir: Path, deployment: str, port: int, code: str, name: str, unit: int) -> str:
    run(data_dir, "org", "add", "--class", "LG", "--code", code, "--name", name, app=registry_app)
    run(
        data_dir,
        "member",
        "add",
        f"JP/LG/{code}",
        "--unit",
        str(unit),
        "--out",
        str(data_dir / "m"),
        app=registry_app,
    )
    out, err = run(data_dir, "init", "--deployment", deployment, "--hub-url", f"https://127.0.0.1:{port}")
    assert out.startswith(f"{deployment}\thttps://127.0.0.1:{port}\n")
    hub = data_dir / "tenancy" / "tls" / "hub.pem"
    assert str(hub) in err
    assert stat.S_IMODE(hub.stat().st_mode) == 0o600
    found = re.search(r"CA fingerprint \(SHA-256\): ([0-9a-f]{64})", out)
    assert found is not None
    return found.group(1)


def test_two_deployments_are_linked_from_the_command_line(tmp_path: Path) -> None:
    dc1, dc2 = tmp_path / "dc1", tmp_path / "dc2"
    dc1_fingerprint = init(dc1, "DC1", 8443, "131016", "千代田区", 17)
    dc2_fingerprint = init(dc2, "DC2", 9443, "131024", "中央区", 6)
    for source, target, fingerprint in ((dc1, dc2, dc1_fingerprint), (dc2, dc1, dc2_fingerprint)):
        document, note = run(source, "export-trust", "--valid-days", "7")
        assert fingerprint in note
        exported = tmp_path / f"{source.name}.json"
        exported.write_text(document, encoding="utf-8")
        out, _ = run(target, "trust", str(exported), "--expect-fingerprint", fingerprint)
        assert out.startswith(source.name.upper() + "\t")
    peers = json.loads(run(dc1, "peers", "--format", "json")[0])
    assert [(p["deployment"], p["hub_url"], p["ca_fingerprint"]) for p in peers] == [
        ("DC2", "https://127.0.0.1:9443", dc2_fingerprint)
    ]
    assert peers[0]["members"] == ["JP/LG/131024/u06"]
    assert "DC2" in run(dc1, "peers")[0]
    run(dc1, "forget", "DC2")
    assert json.loads(run(dc1, "peers", "--format", "json")[0]) == []


def test_a_tampered_file_a_wrong_fingerprint_and_a_rename_are_refused(tmp_path: Path) -> None:
    dc1, dc2 = tmp_path / "dc1", tmp_path / "dc2"
    init(dc1, "DC1", 8443, "131016", "千代田区", 17)
    dc2_fingerprint = init(dc2, "DC2", 9443, "131024", "中央区", 6)
    document = json.loads(run(dc2, "export-trust")[0])
    document["hub_url"] = "https://127.0.0.1:6666"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(TrustSignatureInvalid):
        run(dc1, "trust", str(tampered))
    genuine = tmp_path / "dc2.json"
    genuine.write_text(run(dc2, "export-trust")[0], encoding="utf-8")
    with pytest.raises(TrustFingerprintMismatch):
        run(dc1, "trust", str(genuine), "--expect-fingerprint", dc2_fingerprint[::-1])
    with pytest.raises(DeploymentConflict):
        run(dc1, "init", "--deployment", "DC9", "--hub-url", "https://127.0.0.1:8443")
    assert json.loads(run(dc1, "peers", "--format", "json")[0]) == []
