"""``renkei demo seed`` and ``renkei demo show``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from renkei.cli.demo import demo_app

runner = CliRunner()


def test_seed_twice_then_show(tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "var"), "--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]
    sizes = ["--residents", "60", "--second-residents", "20", "--seed", "5"]
    first = runner.invoke(demo_app, ["seed", *where, *sizes])
    assert first.exit_code == 0, first.output
    assert "80 residents" in first.output
    assert "10 member systems" in first.output
    second = runner.invoke(demo_app, ["seed", *where, *sizes])
    assert second.exit_code == 0, second.output
    assert "nothing to do" in second.output
    shown = runner.invoke(demo_app, ["show", *where, "--format", "json"])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.stdout)
    assert [(p["municipality"], p["residents"], p["enrolled_residents"]) for p in summary["populations"]] == [
        ("131016", 60, 60),
        ("131024", 20, 20),
    ]
    assert len(summary["members"]) == 12  # u01 u06 u10 u15 u17 and the 統合DB (u09) of each municipality
    assert summary["services"] == 10
    table = runner.invoke(demo_app, ["show", *where])
    assert table.exit_code == 0, table.output
    assert "千代田区" in table.output


def test_show_without_a_demo(tmp_path: Path) -> None:
    result = runner.invoke(demo_app, ["show", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1


def test_fugo_prints_the_municipality_code_of_a_resident(tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "var"), "--database-url", f"sqlite:///{tmp_path / 'demo.db'}"]
    assert (
        runner.invoke(demo_app, ["seed", *where, "--residents", "5", "--second-residents", "0"]).exit_code
        == 0
    )
    first = runner.invoke(demo_app, ["fugo", "000000000000019", *where])
    assert first.exit_code == 0, first.output
    code = first.stdout.strip()
    assert len(code) == 32
    assert runner.invoke(demo_app, ["fugo", "000000000000019", *where]).stdout.strip() == code
