"""Fixtures of the integrated DB's tests: a master on a fresh SQLite file with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from renkei.masterdata.service import MasterData
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock
from renkei.storage.ports import Storage
from tests.masterdata.builders import sqlite_master


@dataclass
class Master:
    service: MasterData
    storage: Storage
    clock: FixedClock


@pytest.fixture
def master(tmp_path: Path, spec: Spec) -> Iterator[Master]:
    with sqlite_master(tmp_path, spec) as (service, storage, clock):
        yield Master(service, storage, clock)
