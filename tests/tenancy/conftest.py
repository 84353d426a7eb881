"""Fixtures of the federation tests: two deployments, DC1 (千代田区) and DC2 (中央区), that trust each other,
each on a database of its own — two SQLite files, or two PostgreSQL databases (marker ``pg``)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from tests.contract.pgcluster import admin_execute
from tests.tenancy.harness import CHIYODA, CHUO, Site, build_site

_numbers = itertools.count(1)


def enrol(site: Site, code: str, name: str, *units: int) -> None:
    site.registry.add_organisation("LG", code, name)
    for unit in units:
        site.registry.add_member(f"JP/LG/{code}", unit)


def link(a: Site, b: Site) -> None:
    """Each operator imports the other's trust list, checking the fingerprint it was told."""
    a.federation.trust(b.federation.export_trust_list(), expect_fingerprint=b.federation.ca_fingerprint())
    b.federation.trust(a.federation.export_trust_list(), expect_fingerprint=a.federation.ca_fingerprint())


@pytest.fixture
def clock() -> SystemClock:
    # Real time: OpenSSL checks certificate validity against the system clock, not an injected one.
    return SystemClock()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.pg),
    ]
)
def database(request: pytest.FixtureRequest) -> Iterator[Callable[[], str | None]]:
    """Makes one database per deployment: None (SQLite in the data directory) or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield lambda: None
        return
    server: str = request.getfixturevalue("pg_url")
    made: list[str] = []

    def make() -> str:
        name = f"renkei_fed{os.getpid()}_{next(_numbers)}"
        admin_execute(server, [f'CREATE DATABASE "{name}"'])
        made.append(name)
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        admin_execute(server, [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in made])


@pytest.fixture
def sites(
    tmp_path: Path, spec: Spec, clock: SystemClock, database: Callable[[], str | None]
) -> Iterator[tuple[Site, Site]]:
    dc1 = build_site("DC1", tmp_path, spec, clock, database_url=database())
    dc2 = build_site("DC2", tmp_path, spec, clock, database_url=database())
    try:
        enrol(dc1, CHIYODA, "千代田区", 17)  # city A's 乳幼児医療
        enrol(dc2, CHUO, "中央区", 6)  # city B's 個人住民税
        link(dc1, dc2)
        yield dc1, dc2
    finally:
        dc1.close()
        dc2.close()
