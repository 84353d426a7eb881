"""The storage contract suite: every test here runs once per backend, SQLite and PostgreSQL.

A test takes the ``backend`` fixture and gets a fresh, migrated :class:`~renkei.storage.ports.Storage`
(SQLite: a file in ``tmp_path``; PostgreSQL: a database cloned from a migrated template, dropped after the
test). The PostgreSQL server comes from the ``pg_url`` fixture of :mod:`tests.contract.pgcluster`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from renkei.storage.sql import migrate
from tests.contract.backends import BACKENDS, Backend, PgTemplate, postgresql_backend, sqlite_backend
from tests.contract.pgcluster import admin_execute


@pytest.fixture(scope="session")
def pg_template(pg_url: str) -> Iterator[PgTemplate]:
    template = PgTemplate(pg_url, f"renkei_template{os.getpid()}")
    admin_execute(
        pg_url, [f'DROP DATABASE IF EXISTS "{template.name}"', f'CREATE DATABASE "{template.name}"']
    )
    migrate(template.url_of(template.name))
    yield template
    admin_execute(pg_url, [f'DROP DATABASE IF EXISTS "{template.name}" WITH (FORCE)'])


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.pg),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, migrated storage on each backend in turn."""
    name: str = request.param
    request.node.user_properties.append(("backend", name))
    if name == "sqlite":
        made = sqlite_backend(tmp_path)
    else:
        made = postgresql_backend(request.getfixturevalue("pg_template"), tmp_path)
    try:
        yield made
    finally:
        made.close()


# --- per-backend tally in the terminal summary ------------------------------------------------------


def _outcome(report: pytest.TestReport) -> str | None:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when == "call":
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """``renkei storage contract: sqlite 14 passed, postgresql 14 passed``: proof that both backends ran."""
    tally: dict[str, Counter[str]] = {name: Counter() for name in BACKENDS}
    seen: set[int] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if not isinstance(report, pytest.TestReport) or id(report) in seen:
                continue
            seen.add(id(report))
            backend = dict(report.user_properties).get("backend")
            outcome = _outcome(report)
            if isinstance(backend, str) and backend in tally and outcome is not None:
                tally[backend][outcome] += 1
    if not any(tally.values()):
        return
    order = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    parts = []
    for name, counts in tally.items():
        text = " / ".join(f"{counts[o]} {o}" for o in order if counts[o]) or "NOT RUN"
        parts.append(f"{name} {text}")
    bad = any(counts["failed"] or counts["error"] or not counts["passed"] for counts in tally.values())
    terminalreporter.write_line(
        f"renkei storage contract: {', '.join(parts)}", red=bad, green=not bad, bold=True
    )
