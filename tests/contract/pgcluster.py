"""pytest plugin: a throwaway PostgreSQL cluster for the tests marked ``pg``.

The session-scoped fixture :func:`pg_url` yields a SQLAlchemy URL of a database the tests may use freely
(including ``CREATE DATABASE``: the role is a superuser). Where it comes from:

1. ``RENKEI_TEST_PG_URL`` set: that existing server (the role needs ``CREATEDB``); nothing is started.
2. Otherwise a new cluster, started once per test session and removed at its end: ``initdb`` into
   ``/tmp/renkei-pg-XXXX`` and ``pg_ctl start`` listening on a Unix socket in that directory only (no TCP
   port, so parallel runs never collide), with durability switched off (``fsync``, ``synchronous_commit``,
   ``full_page_writes``) for speed. PostgreSQL refuses to run as root, so as root the cluster runs as the
   ``postgres`` user (else ``nobody``) through ``runuser`` (or ``setpriv``). The cluster is stopped with
   ``pg_ctl stop -m fast`` by the fixture's finaliser, and again by an ``atexit`` hook should the session
   end abnormally; clusters orphaned by a killed run (their owner process gone) are reaped at the next start.

Binaries are looked for in ``RENKEI_TEST_PG_BINDIR`` if set (and only there), else in
``/usr/lib/postgresql/15/bin``, then ``pg_config --bindir``, then ``initdb`` on ``PATH``, then any
``/usr/lib/postgresql/*/bin``. If none are found and tests marked ``pg`` were selected,
the run stops with a usage error saying how to fix it, unless ``RENKEI_TEST_PG=skip``: then those tests
are deselected and the terminal summary says so loudly. ``RENKEI_TEST_PG=skip`` deselects them even when
PostgreSQL is installed.

Registered by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

MODE_VARIABLE = "RENKEI_TEST_PG"
URL_VARIABLE = "RENKEI_TEST_PG_URL"
BINDIR_VARIABLE = "RENKEI_TEST_PG_BINDIR"
PREFERRED_BINDIR = Path("/usr/lib/postgresql/15/bin")
TMP_PREFIX = "renkei-pg-"
OWNER_FILE = "owner.pid"
ROLE = "renkei"
DATABASE = "renkei"
SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
COMMAND_TIMEOUT_S = 120


class ClusterError(Exception):
    """The throwaway cluster could not be set up; the message has the commands' output and the server log."""


@dataclass
class PgRunState:
    """What this plugin decided and did in one session, for the terminal summary."""

    deselected: int = 0
    reason: str = ""
    cluster: ThrowawayCluster | None = None
    external_url: str | None = None


STATE = pytest.StashKey[PgRunState]()


def _skip_requested() -> bool:
    return os.environ.get(MODE_VARIABLE, "").strip().lower() == "skip"


def find_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``."""
    override = os.environ.get(BINDIR_VARIABLE)
    if override is not None:
        candidates: list[Path] = [Path(override)] if override else []
        return next((d for d in candidates if _has_server_binaries(d)), None)
    candidates = [PREFERRED_BINDIR]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    return next((d for d in candidates if _has_server_binaries(d)), None)


def _has_server_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ClusterError(
        "running as root, but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
    )


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory, reachable only through its Unix socket."""

    def __init__(self, bindir: Path, root: Path | None = None) -> None:
        self.bindir = bindir
        self.root = root
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None
        self.started_in_s = 0.0
        self.version = ""
        self._running = False

    @property
    def _root(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root

    @property
    def data(self) -> Path:
        return self._root / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root / "sock"

    @property
    def log(self) -> Path:
        return self._root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{ROLE}@/{DATABASE}?host={self.socket_dir}"

    def _command(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        if shutil.which("runuser"):
            return ["runuser", "-u", self.run_as.pw_name, "--", *args]
        return [
            "setpriv",
            f"--reuid={self.run_as.pw_uid}",
            f"--regid={self.run_as.pw_gid}",
            "--clear-groups",
            *args,
        ]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the cluster's owner, in the cluster's directory."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        return subprocess.run(
            self._command(*args),
            cwd=self._root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        """initdb, start, create the database; on any failure clean up and raise :class:`ClusterError`."""
        began = time.perf_counter()
        reap_orphans()
        self.root = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp"))
        (self.root / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
        self.socket_dir.mkdir()
        if self.run_as is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        # From here on, whatever happens, the cluster and its directory go away with this process.
        atexit.register(self.stop)
        try:
            initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", ROLE, "--auth=trust"]
            initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
            self._check(self.run(*initdb), "initdb")
            options = f"-c listen_addresses='' -k {self.socket_dir} {SERVER_OPTIONS}"
            self._running = True
            pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options]
            with _adopting():
                self._check(self.run(*pg_ctl, "-w", "-t", "60", "start"), "pg_ctl start")
            with psycopg.connect(
                host=str(self.socket_dir), dbname="postgres", user=ROLE, autocommit=True
            ) as connection:
                connection.execute(f'CREATE DATABASE "{DATABASE}"')
                row = connection.execute("SHOW server_version").fetchone()
                self.version = str(row[0]) if row else "?"
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.perf_counter() - began

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode == 0:
            return
        log = self.log.read_text(encoding="utf-8", errors="replace")[-3000:] if self.log.exists() else ""
        raise ClusterError(
            f"throwaway PostgreSQL: {what} failed (exit {result.returncode}) in {self.root}\n"
            f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}\n"
            f"--- server log\n{log}"
        )

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call more than once."""
        atexit.unregister(self.stop)
        if self.root is None or not self.root.exists():
            return
        if self._running or (self.data / "postmaster.pid").exists():
            self._running = False
            _stop_cluster(self.data, self.run, self.bindir)
        shutil.rmtree(self.root, ignore_errors=True)


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text(encoding="ascii").splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop_cluster(data: Path, run: Runner, bindir: Path) -> None:
    pid = _postmaster_pid(data)
    pg_ctl = str(bindir / "pg_ctl")
    for mode in ("fast", "immediate"):
        with contextlib.suppress(subprocess.TimeoutExpired):
            if run(pg_ctl, "-D", str(data), "-m", mode, "-w", "-t", "30", "stop", timeout=45).returncode == 0:
                break
        if not (data / "postmaster.pid").exists():
            break
    else:
        # Last resort: the postmaster this plugin started is still there and ignores pg_ctl.
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    if pid is not None:
        _await_exit(pid)


def _await_exit(pid: int, timeout_s: float = 5.0) -> None:
    """Wait until the stopped postmaster has left the process table, so ``pgrep postgres`` is empty after.

    If it is our child (see :func:`_adopting`) we reap it at once; otherwise its parent is init, which
    reaps it a moment later (until then it shows as ``[postgres] <defunct>``).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            if not _alive(pid):
                return
        else:
            if reaped == pid:
                return
        time.sleep(0.02)


_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


@contextlib.contextmanager
def _adopting() -> Iterator[None]:
    """Make this process adopt orphans started in the block (Linux ``PR_SET_CHILD_SUBREAPER``).

    ``pg_ctl start`` daemonises the postmaster; adopted, it becomes our child, and :func:`_await_exit`
    reaps it the moment it stops instead of leaving a zombie for init to collect. Only the duration of
    ``pg_ctl start`` is affected; elsewhere a no-op.
    """
    if sys.platform != "linux":
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    before = ctypes.c_int(0)
    if libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0) != 0:
        yield
        return
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)


def reap_orphans() -> None:
    """Stop clusters left by test sessions that were killed before their cleanup ran."""
    bindir = find_bindir()
    for root in Path("/tmp").glob(f"{TMP_PREFIX}*"):
        owner = root / OWNER_FILE
        try:
            pid = int(owner.read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        if bindir is not None and (root / "data" / "postmaster.pid").exists():
            orphan = ThrowawayCluster(bindir, root)
            _stop_cluster(orphan.data, orphan.run, bindir)
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- hooks -----------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STATE] = PgRunState()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Decide, before anything runs, whether the selected ``pg`` tests can run."""
    pg_items = [item for item in items if item.get_closest_marker("pg") is not None]
    if not pg_items:
        return
    state = config.stash[STATE]
    if _skip_requested():
        state.deselected = len(pg_items)
        state.reason = f"{MODE_VARIABLE}=skip"
        keep = [item for item in items if item.get_closest_marker("pg") is None]
        config.hook.pytest_deselected(items=pg_items)
        items[:] = keep
        return
    if os.environ.get(URL_VARIABLE):
        return
    if find_bindir() is None:
        raise pytest.UsageError(_missing_message(len(pg_items)))


def _missing_message(count: int) -> str:
    return (
        f"{count} selected tests need PostgreSQL (marker 'pg'), but no PostgreSQL server binaries were "
        f"found (looked in {PREFERRED_BINDIR}, `pg_config --bindir`, `initdb` on PATH, "
        "/usr/lib/postgresql/*/bin).\n"
        "  Install them:                apt-get install -y postgresql-15   (or postgresql)\n"
        f"  or use a running server:     {URL_VARIABLE}=postgresql+psycopg://user@host/db\n"
        f"  or knowingly skip them:      {MODE_VARIABLE}=skip   (or deselect with -m 'not pg')"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.deselected:
        terminalreporter.write_sep(
            "!",
            f"PostgreSQL NOT TESTED: {state.deselected} tests marked 'pg' were deselected ({state.reason})",
            red=True,
            bold=True,
        )
    elif state.cluster is not None:
        c = state.cluster
        terminalreporter.write_line(
            f"renkei pg: throwaway PostgreSQL {c.version} cluster (started in {c.started_in_s:.1f} s, "
            f"socket {c.socket_dir}) stopped and removed"
        )
    elif state.external_url is not None:
        terminalreporter.write_line(f"renkei pg: used the server at {URL_VARIABLE}")


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) of a database on a PostgreSQL server for this session."""
    state = pytestconfig.stash[STATE]
    if _skip_requested():
        pytest.skip(
            f"{MODE_VARIABLE}=skip (mark the test 'pg' so that it is deselected, and reported, instead)"
        )
    external = os.environ.get(URL_VARIABLE)
    if external:
        state.external_url = external
        yield external
        return
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(_missing_message(1), pytrace=False)
    try:
        cluster = ThrowawayCluster(bindir)
        cluster.start()
    except ClusterError as error:
        pytest.fail(str(error), pytrace=False)
    state.cluster = cluster
    try:
        yield cluster.url
    finally:
        cluster.stop()


def admin_execute(url: str, statements: Sequence[str]) -> None:
    """Run ``statements`` in autocommit mode (``CREATE DATABASE`` cannot run in a transaction)."""
    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)
