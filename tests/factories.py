"""Builders for test data shared across packages."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def copy_spec_data(to: Path) -> Path:
    """A writable copy of the packaged spec data, for tests that break it on purpose."""
    source = Path(str(resources.files("renkei.spec").joinpath("data")))
    target = to / "spec-data"
    shutil.copytree(source, target)
    return target
