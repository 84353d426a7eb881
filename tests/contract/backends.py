"""Builders for the contract suite's backends (the fixtures that use them are in ``conftest.py``)."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from renkei.storage.ports import Storage
from renkei.storage.sql import create_storage
from tests.contract.pgcluster import admin_execute

examples = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
"""Hypothesis settings for contract tests: one database serves all examples of a test (so examples must not
collide), and no example database is written into the working tree."""

BACKENDS = ("sqlite", "postgresql")
_database_numbers = itertools.count(1)


@dataclass
class Backend:
    """One backend under test: its name, the URL of this test's database, and storage opened on it."""

    name: str
    url: str
    storage: Storage
    scratch: Path
    _make_database: Callable[[], str]
    _drop_database: Callable[[str], None]
    _opened: list[Storage] = field(default_factory=list)
    _databases: list[str] = field(default_factory=list)

    def open(self, url: str | None = None, *, migrate: bool = False) -> Storage:
        """Another :class:`Storage` (own engine and pool, like another process); closed at teardown."""
        storage = create_storage(url or self.url, migrate=migrate)
        self._opened.append(storage)
        return storage

    def empty_url(self) -> str:
        """The URL of a new, empty (never migrated) database of this backend."""
        url = self._make_database()
        self._databases.append(url)
        return url

    def unreachable_url(self) -> str:
        """A URL of this backend where no database can ever be reached."""
        if self.name == "sqlite":
            blocker = self.scratch / "not-a-directory"
            blocker.write_text("a file where the database's directory should be", encoding="utf-8")
            return f"sqlite:///{blocker}/renkei.db"
        socket_dir = self.scratch / "no-server-here"
        socket_dir.mkdir(exist_ok=True)
        return f"postgresql+psycopg://renkei@/renkei?host={socket_dir}"

    def vanishing_storage(self) -> tuple[Storage, Callable[[], None]]:
        """Storage on a database of its own, and a function that makes that database disappear under it."""
        url = self.empty_url()
        storage = self.open(url, migrate=True)
        if self.name == "sqlite":
            path = make_url(url).database
            assert path is not None
            return storage, lambda: shutil.rmtree(Path(path).parent)
        return storage, lambda: self._drop_database(url)

    def close(self) -> None:
        self.storage.close()
        for storage in self._opened:
            storage.close()
        for url in self._databases:
            self._drop_database(url)


def sqlite_backend(tmp_path: Path) -> Backend:
    numbers = itertools.count(1)

    def make() -> str:
        return f"sqlite:///{tmp_path / f'db{next(numbers)}' / 'renkei.db'}"

    def drop(url: str) -> None:
        path = make_url(url).database
        assert path is not None
        shutil.rmtree(Path(path).parent, ignore_errors=True)

    url = f"sqlite:///{tmp_path / 'renkei.db'}"
    return Backend("sqlite", url, create_storage(url, migrate=True), tmp_path, make, drop)


@dataclass(frozen=True)
class PgTemplate:
    """A migrated database on the session's server, cloned for each test (``CREATE DATABASE … TEMPLATE``)."""

    server_url: str
    name: str

    def url_of(self, database: str) -> str:
        return make_url(self.server_url).set(database=database).render_as_string(hide_password=False)

    def create(self, *, template: bool = True) -> str:
        name = f"renkei_t{os.getpid()}_{next(_database_numbers)}"
        clause = f' TEMPLATE "{self.name}"' if template else ""
        admin_execute(self.server_url, [f'CREATE DATABASE "{name}"{clause}'])
        return self.url_of(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        admin_execute(self.server_url, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


def postgresql_backend(template: PgTemplate, tmp_path: Path) -> Backend:
    url = template.create()
    try:
        storage = create_storage(url, migrate=False)
    except BaseException:
        template.drop(url)
        raise
    backend = Backend(
        "postgresql", url, storage, tmp_path, lambda: template.create(template=False), template.drop
    )
    backend._databases.append(url)
    return backend
