"""`renkei spec …` as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from renkei.spec.models import Spec


def renkei(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renkei", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_units_json_lists_exactly_27(spec: Spec) -> None:
    out = renkei("spec", "units", "--format", "json")
    assert out.returncode == 0, out.stderr
    units = json.loads(out.stdout)
    assert len(units) == 27
    assert all(set(u) == {"number", "name", "name_en", "status"} for u in units)
    assert {u["number"]: u["status"] for u in units}[3] == "superseded"


def test_flows_json_has_one_object_per_triple(spec: Spec) -> None:
    out = renkei("spec", "flows", "--format", "json")
    assert out.returncode == 0, out.stderr
    flows = json.loads(out.stdout)
    assert all(set(f) == {"information", "from", "to", "provenance", "row"} for f in flows)
    assert len({(f["information"], f["from"], f["to"]) for f in flows}) == len(flows) == len(spec.triples())
    assert {f["row"] for f in flows} == set(range(1, 44))
    assert {f["provenance"] for f in flows if f["row"] >= 41} == {"seed-inferred"}


def test_tables_render() -> None:
    for what in ("units", "flows", "items", "codes", "services"):
        out = renkei("spec", what)
        assert out.returncode == 0, (what, out.stderr)
        assert out.stdout.strip()


def test_why_exit_status_follows_the_verdict() -> None:
    ok = renkei("spec", "why", "6", "16", "個人住民税情報")
    assert ok.returncode == 0 and "行17" in ok.stdout
    no = renkei("spec", "why", "16", "1", "個人住民税情報")
    assert no.returncode == 1 and "不許可" in no.stdout


def test_typed_error_goes_to_stderr_with_its_code() -> None:
    out = renkei("spec", "why", "1", "99", "住基情報")
    assert out.returncode == 2
    assert "spec.unit.unknown" in out.stderr


def test_export_writes_every_artefact(tmp_path: Path, spec: Spec) -> None:
    out = renkei("spec", "export", "--to", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    written = {Path(p).relative_to(tmp_path / "out").as_posix() for p in out.stdout.split()}
    assert "openapi.json" in written and "wsdl/renkei.wsdl" in written and "spec.md" in written
    for kind in spec.information:
        assert f"xsd/{kind.id}.xsd" in written
        assert f"jsonschema/{kind.id}.schema.json" in written
        assert f"csv/{kind.id}.layout.json" in written
