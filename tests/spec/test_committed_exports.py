"""The committed exports are exactly what the spec generates: regenerate and compare byte for byte."""

from __future__ import annotations

from pathlib import Path

from renkei.spec.export import write_exports
from renkei.spec.models import Spec

ROOT = Path(__file__).resolve().parents[2]


def test_committed_exports_match_the_spec(tmp_path: Path, spec: Spec) -> None:
    fresh = tmp_path / "exports"
    written = write_exports(spec, fresh)
    committed = ROOT / "exports"
    stale = []
    for path in written:
        rel = path.relative_to(fresh)
        target = ROOT / "docs" / "spec.md" if rel.as_posix() == "spec.md" else committed / rel
        if not target.exists() or target.read_bytes() != path.read_bytes():
            stale.append(rel.as_posix())
    extra = sorted(
        p.relative_to(committed).as_posix()
        for p in committed.rglob("*")
        if p.is_file() and not (fresh / p.relative_to(committed)).exists()
    )
    assert stale == [], f"regenerate with `make exports`: {stale}"
    assert extra == [], f"committed exports the spec no longer generates: {extra}"
