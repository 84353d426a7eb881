"""Fixtures of the demo tests: small populations of the two demo cities and a platform seeded with them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from renkei.api.deps import Platform
from renkei.app import build_platform
from renkei.demo.population import DEFAULT_MUNICIPALITY, SECOND_MUNICIPALITY, Population, generate_population
from renkei.demo.seed import SeedReport, seed_demo
from renkei.settings import Settings
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
BASE_URL = "http://127.0.0.1:8080"


@pytest.fixture(scope="session")
def chiyoda() -> Population:
    return generate_population(160, seed=7, municipality=DEFAULT_MUNICIPALITY)


@pytest.fixture(scope="session")
def chuo() -> Population:
    return generate_population(40, seed=7, municipality=SECOND_MUNICIPALITY)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def platform(data_dir: Path, spec: Spec) -> Iterator[Platform]:
    built = build_platform(Settings(data_dir=data_dir), spec=spec, clock=FixedClock(NOW))
    try:
        yield built
    finally:
        built.storage.close()


@pytest.fixture
def seeded(platform: Platform, data_dir: Path, chiyoda: Population, chuo: Population) -> SeedReport:
    return seed_demo(platform, [chiyoda, chuo], data_dir=data_dir, base_url=BASE_URL)
