"""``renkei identity issue`` and ``renkei identity check`` (the Typer sub-app, until the lead wires it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stdnum.jp import cn, in_
from typer.testing import CliRunner

from renkei.cli.identity import identity_app

runner = CliRunner()


# Allowlisted for the leak scan (tests/leakscan.py): printing issued numbers is this command's job; its
# stderr, logs and errors are still scanned.
@pytest.mark.prints_individual_numbers
def test_issue_prints_one_number_a_line_and_never_repeats(tmp_path: Path) -> None:
    first = runner.invoke(identity_app, ["issue", "--count", "50", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    numbers = first.stdout.splitlines()
    assert len(numbers) == 50
    assert all(map(in_.is_valid, numbers))
    second = runner.invoke(
        identity_app, ["issue", "-n", "50", "--format", "json", "--data-dir", str(tmp_path)]
    )
    more = json.loads(second.stdout)
    assert len(more) == 50
    assert not set(more) & set(numbers)
    assert (tmp_path / "keys" / "identity.individual-number.ff1.key").stat().st_mode & 0o077 == 0


def test_issue_corporate(tmp_path: Path) -> None:
    result = runner.invoke(
        identity_app, ["issue", "-n", "5", "--kind", "corporate", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0
    assert all(cn.is_valid(n) for n in result.stdout.splitlines())


def test_check_exit_status_and_reason() -> None:
    ok = runner.invoke(identity_app, ["check", "123456789018"])
    assert ok.exit_code == 0
    assert "個人番号" in ok.stdout
    assert "123456789018" not in ok.output
    assert runner.invoke(identity_app, ["check", "5835678256246"]).exit_code == 0
    for text, reason in (
        ("123456789017", "check_digit"),
        ("１２３４５６７８９０１８", "full_width_digits"),
        ("12345", "length"),
        ("1234567890ab", "non_digit"),
    ):
        result = runner.invoke(identity_app, ["check", text])
        assert result.exit_code == 1
        assert reason in result.stderr
        assert text not in result.output
