"""The ``pg`` test policy of :mod:`tests.contract.pgcluster`, run in a separate pytest process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract import pgcluster

ROOT = Path(__file__).resolve().parents[2]

TESTS = """
import pytest

@pytest.mark.pg
def test_needs_postgresql(pg_url):
    assert pg_url

def test_plain():
    pass
"""


def _pytest(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    pg: needs PostgreSQL\n", encoding="utf-8")
    (tmp_path / "test_inner.py").write_text(TESTS, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RENKEI_TEST_PG")}
    environ.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.contract.pgcluster", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_skip_mode_deselects_the_pg_tests_and_says_so_loudly(tmp_path: Path) -> None:
    result = _pytest(tmp_path, **{pgcluster.MODE_VARIABLE: "skip"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 deselected" in result.stdout
    assert "PostgreSQL NOT TESTED: 1 tests marked 'pg' were deselected (RENKEI_TEST_PG=skip)" in result.stdout


def test_without_binaries_a_run_with_pg_tests_stops_with_instructions(tmp_path: Path) -> None:
    result = _pytest(tmp_path, **{pgcluster.BINDIR_VARIABLE: str(tmp_path / "nothing-here")})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "no PostgreSQL server binaries were found" in result.stderr
    assert "apt-get install" in result.stderr
    assert "RENKEI_TEST_PG=skip" in result.stderr


def test_without_binaries_a_run_without_pg_tests_is_unaffected(tmp_path: Path) -> None:
    result = _pytest(tmp_path, "-m", "not pg", **{pgcluster.BINDIR_VARIABLE: ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 deselected" in result.stdout
    assert "NOT TESTED" not in result.stdout
