"""The whole-run leak scan (``tests/leakscan.py``) catches planted 個人番号 and never prints them.

A planted run is a separate pytest process with the plugin: it must fail, name each test and place, and
mask every number. The database scanners are also run here, in process, on planted SQLite and PostgreSQL
databases (removed before this test ends, so that the surrounding run's own scan stays clean).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from renkei.identity.scan import find_individual_numbers
from renkei.japanese.checkdigit import individual_number_check_digit
from tests.contract.pgcluster import admin_execute
from tests.leakscan import LeakScan, _render

ROOT = Path(__file__).resolve().parents[2]
BASE = "31415926535"
NUMBER = BASE + individual_number_check_digit(BASE)  # computed: no literal number in this file
GROUPED = f"{NUMBER[:4]}-{NUMBER[4:8]}-{NUMBER[8:]}"

PLANTED = """
import logging
import sqlite3
from contextlib import closing

import pytest
from sqlalchemy import create_engine, text

from renkei.errors import RenkeiError
from renkei.japanese.checkdigit import individual_number_check_digit

NUMBER = "{base}" + individual_number_check_digit("{base}")


def test_logs_at_debug():
    logging.getLogger("planted.deep").debug("resident %s", NUMBER)


def test_prints_grouped():
    print("番号:", NUMBER[:4], NUMBER[4:8], NUMBER[8:])


@pytest.mark.prints_individual_numbers
def test_marked_prints():
    print(NUMBER)


def test_marked_still_has_its_errors_scanned():
    RenkeiError("not even raised", number=NUMBER)


def test_stores_in_sqlite(tmp_path):
    engine = create_engine(f"sqlite:///{{tmp_path / 'planted.db'}}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE message_log (id INTEGER, body TEXT)"))
        body = {{"body": f"<n>{{NUMBER}}</n>"}}
        connection.execute(text("INSERT INTO message_log VALUES (1, :body)"), body)
    engine.dispose()


def test_fails_with_the_number():
    assert NUMBER == "x"


def test_clean():
    logging.getLogger("planted").warning("nothing here but 123456789012 (check digit wrong)")
"""


def run_planted(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "run"
    work.mkdir()
    (work / "test_planted.py").write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RENKEI_"))}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "pytest", "-p", "tests.leakscan", "-p", "no:cacheprovider", "-q"]
    command += ["-W", "error", f"--basetemp={tmp_path / 'inner'}", "test_planted.py"]
    return subprocess.run(
        command, cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_planted_number_fails_the_run_naming_test_and_place_never_the_number(tmp_path: Path) -> None:
    try:
        result = run_planted(tmp_path, PLANTED.format(base=BASE))
    finally:
        shutil.rmtree(tmp_path / "inner", ignore_errors=True)  # the planted database
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]
    # The plugin's own report: from its headline to pytest's short summary, which follows it and which pytest
    # does not truncate when CI is set (it then repeats the failing test's assertion, number and all).
    start = out.index("renkei leak scan:")
    end = out.find("short test summary info", start)
    report = out[start : end if end >= 0 else len(out)]
    assert "valid 個人番号 found where none may be" in report
    expected = {
        "test_logs_at_debug [call] log planted.deep DEBUG",
        "test_prints_grouped [call] captured stdout call",
        "test_marked_still_has_its_errors_scanned [call] error RenkeiError [renkei.error]",
        "test_stores_in_sqlite [teardown] SQLite",
        "test_fails_with_the_number [call] failed text",
    }
    for place in expected:
        assert place in report, place
    assert "table message_log column body" in report
    assert "test_marked_prints " not in report  # its stdout is allowlisted, and it has nothing else
    assert "test_clean " not in report
    assert "[個人番号 #" in report
    # Never the number itself, in any form, anywhere in the output (the failing test's own assertion
    # text included: pytest prints it, the number is in it, so the plugin cannot hide that one — see
    # below — but the plugin's report masks it).
    assert NUMBER not in report
    assert GROUPED not in report
    assert f"{NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]}" not in report


def test_a_clean_run_passes_and_says_what_it_scanned(tmp_path: Path) -> None:
    clean = PLANTED.format(base=BASE).split("def test_logs_at_debug")[0]
    clean += "\ndef test_only_clean():\n    logging.getLogger('x').debug('12345678901 is eleven digits')\n"
    try:
        result = run_planted(tmp_path, clean)
    finally:
        shutil.rmtree(tmp_path / "inner", ignore_errors=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "renkei leak scan: no 個人番号 in " in result.stdout


def test_the_sqlite_scanner_finds_text_blob_and_integer_columns(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    path = tmp_path / "planted.sqlite"
    try:
        with closing(sqlite3.connect(path)) as connection:
            connection.execute("CREATE TABLE t (a TEXT, b BLOB, c INTEGER, d TEXT)")
            connection.execute(
                "INSERT INTO t VALUES (?, ?, ?, ?)",
                (f"x{GROUPED}y", f"<{NUMBER}>".encode("cp932"), int(NUMBER), "１２３４５６７８９０１２"),
            )
            connection.execute(
                "INSERT INTO t VALUES (?, ?, ?, ?)", ("clean", b"\x00" * 12, 123456789012, "-")
            )
            connection.commit()
        scan = LeakScan(pytestconfig)
        scan.scan_sqlite(path, "planted", "call")
    finally:
        path.unlink(missing_ok=True)
    assert sorted(leak.place.rsplit(" ", 1)[1] for leak in scan.leaks) == ["a", "b", "c"]
    assert scan.tally.rows == 2
    assert all(NUMBER not in leak.context and GROUPED not in leak.context for leak in scan.leaks)


@pytest.mark.pg
def test_the_postgresql_scanner_reads_every_table_of_a_database(
    pg_url: str, pytestconfig: pytest.Config
) -> None:
    name = f"renkei_leakscan_{os.getpid()}"
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin_execute(pg_url, [f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'])
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("CREATE SCHEMA other")
            connection.execute("CREATE TABLE other.outbox (payload jsonb, raw bytea, n bigint)")
            connection.execute(
                "INSERT INTO other.outbox VALUES (%s::jsonb, %s, %s)",
                (f'{{"to": "{NUMBER}"}}', b"clean", 1),
            )
            connection.execute("CREATE TABLE access_record (subject text)")
            connection.execute("INSERT INTO access_record VALUES ('fugo-only')")
        scan = LeakScan(pytestconfig)
        scan.scan_postgresql(url, "planted", "teardown")
    finally:
        admin_execute(pg_url, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])
    assert [leak.place for leak in scan.leaks] == [f"PostgreSQL {name} table outbox column payload"]
    assert scan.tally.rows == 2
    scan.scan_postgresql(url, "planted", "teardown")  # dropped: nothing to read, no error
    assert scan.tally.postgresql_databases == 1


def record(name: str, msg: str, *args: object, **extra: object) -> logging.LogRecord:
    """A record built directly, not through the record factory: the run's own scan must not see it."""
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def test_an_http_clients_own_request_line_is_input_but_its_status_is_scanned() -> None:
    formatter = logging.Formatter("%(message)s")
    line = 'HTTP Request: %s %s "%s %d %s"'
    own = record("httpx2", line, "GET", f"http://testserver/p/{NUMBER}", "HTTP/1.1", 200, "OK")
    assert not find_individual_numbers(_render(formatter, own))
    assert (
        isinstance(own.args, tuple) and own.args[1] == f"http://testserver/p/{NUMBER}"
    )  # rendering does not alter the record
    echoed = record("httpx2", line, "GET", "http://testserver/p", "HTTP/1.1", 200, NUMBER)
    assert find_individual_numbers(_render(formatter, echoed))
    elsewhere = record("renkei.x", "%s %s", "GET", NUMBER)
    assert find_individual_numbers(_render(formatter, elsewhere))
    extra = record("renkei.x", "done", fields={"who": NUMBER})
    assert find_individual_numbers(_render(formatter, extra))


@given(
    bases=st.lists(st.integers(0, 10**11 - 1), min_size=1, max_size=4),
    separator=st.sampled_from(["", " ", "-", "　"]),
)
def test_the_report_masks_every_number_and_tags_equal_numbers_equally(
    bases: list[int], separator: str, pytestconfig: pytest.Config
) -> None:
    scan = LeakScan(pytestconfig)
    numbers = [f"{b:011d}" + individual_number_check_digit(f"{b:011d}") for b in bases]
    text = " / ".join(separator.join((n[:4], n[4:8], n[8:])) for n in numbers)
    masked = scan.mask(text)
    assert not find_individual_numbers(masked)
    assert masked.count("[個人番号 #") == len(numbers)
    assert [scan.tag(n) for n in numbers] == [scan.tag(n) for n in numbers]
