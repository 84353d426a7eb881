"""Settings read once from the environment: ``RENKEI_WORKERS`` and the metrics shared between workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renkei.settings import METRICS_DIRECTORY_VARIABLE, Settings, SettingsInvalid, share_metrics


@given(st.integers(min_value=1, max_value=256))
def test_workers_from_one_to_256(workers: int) -> None:
    assert Settings.from_env({"RENKEI_WORKERS": str(workers)}).workers == workers


@given(st.text(max_size=8).filter(lambda t: not (t.isascii() and t.isdigit() and 1 <= int(t) <= 256)))
def test_anything_else_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(SettingsInvalid, match="RENKEI_WORKERS"):
        Settings.from_env({"RENKEI_WORKERS": text})


def test_one_worker_unless_told_and_the_flag_wins() -> None:
    assert Settings.from_env({}).workers == 1
    assert Settings.from_env({"RENKEI_WORKERS": "4"}).with_overrides(workers=2).workers == 2
    assert Settings.from_env({"RENKEI_WORKERS": "4"}).with_overrides(workers=None).workers == 4


def test_share_metrics_tells_the_processes_started_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(METRICS_DIRECTORY_VARIABLE, "restored after the test")
    share_metrics(tmp_path / "metrics")
    assert os.environ[METRICS_DIRECTORY_VARIABLE] == str(tmp_path / "metrics")
