"""One process of several runs the background jobs: the holder of an exclusive lock on a file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from renkei.leadership import LeaderLock, run_once

HOLD = """
import sys, time
from pathlib import Path
from renkei.leadership import LeaderLock
lock = LeaderLock(Path(sys.argv[1]))
print(lock.try_acquire(), flush=True)
time.sleep(60)
"""


class Jobs:
    """Background jobs that record when they start and stop (and can be made to fail to start)."""

    def __init__(self, failures: int = 0) -> None:
        self.events: list[str] = []
        self.failures = failures

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self.failures:
            self.failures -= 1
            self.events.append("failed")
            raise RuntimeError("the jobs cannot start")
        self.events.append("started")
        try:
            yield
        finally:
            self.events.append("stopped")


async def until(condition: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.01)


def test_one_holder_across_processes_and_the_lock_frees_when_its_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "run" / "leader.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        assert path.read_text() == f"{holder.pid}\n"
        ours = LeaderLock(path)
        assert not ours.try_acquire() and not ours.held
        holder.kill()  # SIGKILL: nothing of the holder's runs again, the kernel frees the lock
        holder.wait()
        assert ours.try_acquire() and ours.held
        assert path.read_text() == f"{os.getpid()}\n"
        assert ours.try_acquire()  # held already
        ours.release()
        assert not ours.held and path.read_text() == ""
        ours.release()  # nothing to give up
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first, second = LeaderLock(tmp_path / "leader.lock"), LeaderLock(tmp_path / "leader.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.anyio
async def test_without_a_lock_the_jobs_run_for_the_block() -> None:
    jobs = Jobs()
    async with run_once(None, jobs) as role:
        assert role.leader and jobs.events == ["started"]
    assert jobs.events == ["started", "stopped"]


@pytest.mark.anyio
async def test_the_first_process_runs_the_jobs_and_gives_the_lock_back(tmp_path: Path) -> None:
    jobs, lock = Jobs(), LeaderLock(tmp_path / "leader.lock")
    async with run_once(lock, jobs) as role:
        assert role.leader and lock.held and jobs.events == ["started"]
        assert not LeaderLock(tmp_path / "leader.lock").try_acquire()
    assert jobs.events == ["started", "stopped"] and not lock.held


@pytest.mark.anyio
async def test_jobs_that_fail_to_start_fail_the_startup_and_free_the_lock(tmp_path: Path) -> None:
    lock = LeaderLock(tmp_path / "leader.lock")
    with pytest.raises(RuntimeError, match="cannot start"):
        async with run_once(lock, Jobs(failures=1)):
            pytest.fail("the block must not run")  # pragma: no cover
    assert not lock.held and LeaderLock(tmp_path / "leader.lock").try_acquire()


@pytest.mark.anyio
async def test_a_standby_takes_over_when_the_leader_goes_and_stops_with_its_block(tmp_path: Path) -> None:
    leader = LeaderLock(tmp_path / "leader.lock")
    assert leader.try_acquire()
    jobs, lock = Jobs(), LeaderLock(tmp_path / "leader.lock")
    async with run_once(lock, jobs, poll_s=0.02) as role:
        await asyncio.sleep(0.1)
        assert not role.leader and jobs.events == []  # the other holds it: nothing runs here
        leader.release()
        await until(lambda: role.leader)
        assert jobs.events == ["started"] and lock.held
    assert jobs.events == ["started", "stopped"] and not lock.held


@pytest.mark.anyio
async def test_a_standby_whose_takeover_fails_gives_the_lock_back_and_tries_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jobs, lock = Jobs(failures=2), LeaderLock(tmp_path / "leader.lock")
    other = LeaderLock(tmp_path / "leader.lock")
    assert other.try_acquire()
    async with run_once(lock, jobs, poll_s=0.02) as role:
        other.release()
        await until(lambda: role.leader)
        assert jobs.events == ["failed", "failed", "started"]
    assert "running the background jobs failed" in caplog.text
    assert not lock.held


@pytest.mark.anyio
async def test_a_retired_standby_does_not_take_over(tmp_path: Path) -> None:
    # A deployment being stopped: its leader gives the lock up while this worker still finishes requests.
    leader = LeaderLock(tmp_path / "leader.lock")
    assert leader.try_acquire()
    jobs, lock = Jobs(), LeaderLock(tmp_path / "leader.lock")
    async with run_once(lock, jobs, poll_s=0.02) as role:
        role.retire()
        leader.release()
        await asyncio.sleep(0.2)
        assert not role.leader and jobs.events == [] and not lock.held


@pytest.mark.anyio
async def test_a_standby_that_cannot_open_the_lock_keeps_standing_by(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "run").mkdir()
    leader = LeaderLock(tmp_path / "run" / "leader.lock")
    assert leader.try_acquire()
    jobs, lock = Jobs(), LeaderLock(tmp_path / "run" / "leader.lock")
    async with run_once(lock, jobs, poll_s=0.02) as role:
        leader.release()
        (tmp_path / "run" / "leader.lock").unlink()
        (tmp_path / "run" / "leader.lock").mkdir()  # opening it now fails (EISDIR)
        await asyncio.sleep(0.1)
        assert not role.leader and "cannot be taken" in caplog.text
        (tmp_path / "run" / "leader.lock").rmdir()  # the fault passes: the standby takes over
        await until(lambda: role.leader)
    assert jobs.events == ["started", "stopped"]
