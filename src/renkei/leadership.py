"""One process of several runs the deployment's background jobs: whoever holds an exclusive lock on a file.

``renkei serve --workers N`` runs N processes of one application. Each serves requests, but the jobs the
lifespan starts — publishing the audit log's signed heads, the Commons and change-notification deliveries,
the 統合DB intake — must run once per deployment, not once per process. The process that takes the lock
(``flock``, exclusive, on ``run/leader.lock`` in the data directory) runs them; the others stand by and try
again every ``poll_s`` seconds. The kernel releases the lock when its holder dies however it dies (SIGKILL
included), so a standby takes over within ``poll_s`` of a leader's death and nothing is left to clean up.

The lock coordinates processes on one machine that share one data directory: that is what the supervisor
starts. Processes on other machines (a PostgreSQL deployment served from several hosts) each have their own
data directory and so their own leader; the delivery workers claim their work with leases and are safe
that way, the others are then run once per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

log = logging.getLogger(__name__)

Jobs = Callable[[], AbstractAsyncContextManager[None]]
"""Starts the background jobs on entry and stops them on exit."""


class LeaderLock:
    """An exclusive ``flock`` on ``path``: at most one holder at a time among the processes that try it.

    The holder writes its process id into the file (for operators and tests: ``cat run/leader.lock``) and
    empties it on release. Not for use by two holders in one process: each :meth:`try_acquire` opens the
    file anew, and ``flock`` locks belong to the open file, so a second lock in the same process fails too.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process now holds it (already held: True)."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)  # a full disk while writing the pid: the lock goes with the file
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (nothing when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the file releases the flock


class Role:
    """Whether this process runs the background jobs now (read by ``/healthz``), and whether it is on its
    way out (:meth:`retire`: a standby then no longer takes the jobs over)."""

    def __init__(self, *, leader: bool = False) -> None:
        self.leader = leader
        self.retired = False

    def retire(self) -> None:
        """This process is stopping: it must not start the jobs now, even if the lock comes free (the
        leader of a deployment being stopped gives it up while the others still finish requests)."""
        self.retired = True


@asynccontextmanager
async def run_once(lock: LeaderLock | None, jobs: Jobs, *, poll_s: float = 1.0) -> AsyncIterator[Role]:
    """Run ``jobs`` for the block in this process if it holds ``lock`` (None: no other process to share
    with, so always), else stand by and take them over if the lock comes free before the block ends.

    Taking the lock at once (the one process, or the first of several) starts the jobs before the block,
    so a job that fails to start fails the caller's startup. A standby that takes over and fails to start
    them logs it, gives the lock back and tries again after ``poll_s``.
    """
    if lock is None:
        async with jobs():
            yield Role(leader=True)
        return
    if lock.try_acquire():
        try:
            log.info("this process (pid %d) runs the background jobs", os.getpid())
            async with jobs():
                yield Role(leader=True)
        finally:
            lock.release()
        return
    role = Role(leader=False)
    stop = asyncio.Event()
    standby = asyncio.create_task(_stand_by(lock, jobs, role, stop, poll_s))
    try:
        yield role
    finally:
        stop.set()
        await standby


async def _stand_by(lock: LeaderLock, jobs: Jobs, role: Role, stop: asyncio.Event, poll_s: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
        if stop.is_set() or role.retired:
            continue
        try:
            if not lock.try_acquire():
                continue
        except OSError:  # the lock file cannot be opened or written now: keep standing by
            log.exception("the background jobs' lock %s cannot be taken; trying again", lock.path)
            continue
        try:
            log.info("this process (pid %d) takes over the background jobs", os.getpid())
            async with jobs():
                role.leader = True
                await stop.wait()
        except Exception:  # the jobs could not start (or stop) here: give the lock back, try again
            log.exception("running the background jobs failed in this process; trying again")
        finally:
            role.leader = False
            lock.release()
