"""Database URLs: the accepted forms, their canonical form, and names without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from renkei.storage.errors import StorageUrlInvalid
from renkei.storage.sql.urls import describe, parse_url, sqlite_path


def test_an_absolute_sqlite_path_is_kept() -> None:
    url = parse_url("sqlite:////var/lib/renkei/renkei.db")
    assert url.drivername == "sqlite"
    assert sqlite_path(url) == Path("/var/lib/renkei/renkei.db")


def test_a_relative_sqlite_path_is_fixed_against_the_working_directory_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = parse_url("sqlite:///var/renkei.db")
    assert sqlite_path(url) == tmp_path / "var" / "renkei.db"


def test_the_pysqlite_driver_name_is_accepted() -> None:
    assert parse_url("sqlite+pysqlite:////x/renkei.db").drivername == "sqlite"


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"],
)
def test_postgresql_always_uses_psycopg_3(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.username, parsed.host, parsed.database) == ("u", "h", "db")
    assert sqlite_path(parsed) is None


def test_a_unix_socket_url_keeps_its_host_parameter() -> None:
    parsed = parse_url("postgresql+psycopg://renkei@/renkei?host=/tmp/renkei-pg-x/sock")
    assert parsed.query["host"] == "/tmp/renkei-pg-x/sock"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///file:x.db?mode=memory&uri=true", "in-memory"),
        ("sqlite:///file:x.db?uri=true", "URI filenames"),
        ("sqlite+aiosqlite:////x.db", "aiosqlite"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3"),
        ("postgresql+asyncpg://u@h/db", "psycopg 3"),
        ("postgresql://u@h", "names no database"),
        ("mysql://u@h/db", "'mysql' is not supported"),
        ("not a url", "cannot parse"),
        ("", "cannot parse"),
    ],
)
def test_unsupported_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(StorageUrlInvalid, match=reason) as raised:
        parse_url(url)
    assert raised.value.code == "storage.url.invalid"


def test_a_refused_url_is_not_echoed_with_its_password() -> None:
    with pytest.raises(StorageUrlInvalid) as raised:
        parse_url("mysql://admin:hunter2@db/renkei")
    assert "hunter2" not in str(raised.value)


def test_describe_never_shows_the_password() -> None:
    name = describe(parse_url("postgresql://renkei:hunter2@db.example:5432/renkei"))
    assert "hunter2" not in name
    assert "db.example" in name
    assert name == "PostgreSQL database 'renkei' at renkei@db.example:5432"
    assert describe(make_url("sqlite:////x/renkei.db")) == "SQLite database /x/renkei.db"


def test_describe_names_a_socket_directory_plainly() -> None:
    name = describe(parse_url("postgresql+psycopg://renkei:pw@/renkei?host=/tmp/renkei-pg-x/sock"))
    assert name == "PostgreSQL database 'renkei' at renkei@/tmp/renkei-pg-x/sock"
