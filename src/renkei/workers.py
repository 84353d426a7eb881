"""``renkei serve --workers N``: N processes serving one deployment on one port, under a supervisor.

One Python process uses one core for the hub's work (the GIL). The supervisor lets a deployment use more:

1. it takes ``run/supervisor.lock`` (one supervisor per data directory) and binds the port, then migrates
   the database and creates the keys and the CA once (``build_platform``), so the workers never race to;
2. it starts N worker processes (``spawn``) that accept on the one listening socket, each the whole
   application (``build_app``) on the same database and data directory;
3. it restarts a worker that dies (at once if it had been up a while, else after a growing pause), stops
   them all on SIGINT or SIGTERM (each finishes its requests and its lifespan, as one ``renkei serve``
   does), and gives up (exit 1) only when every worker keeps dying as soon as it starts.

A worker stops by itself when its supervisor dies (however it died), so none is left serving alone.

What the workers share and how: the database (nonce claims, access records, the message log and the
idempotency keys are written with the constraints and locks that make concurrent writers safe); the
background jobs, run by one worker at a time (``leadership.py``: the holder of ``run/leader.lock``); the
Prometheus counters, kept by each worker in ``run/metrics`` and summed by whichever answers ``/metrics``.

The workers accept from one queue, as gunicorn's and uvicorn's do: a worker takes a connection when it is
free to, so a burst of new keep-alive connections can land unevenly (measured 24/8 of 32 over two workers).
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from renkei.api.logging import configure_logging
from renkei.app import build_app, build_platform
from renkei.errors import RenkeiError
from renkei.leadership import LeaderLock
from renkei.settings import Settings, share_metrics

log = logging.getLogger(__name__)

RUN_DIRECTORY = "run"
LEADER_LOCK = "leader.lock"
SUPERVISOR_LOCK = "supervisor.lock"
METRICS_DIRECTORY = "metrics"
QUICK_EXIT_S = 10.0
"""A worker that exits sooner than this after starting did not come up."""
QUICK_EXITS_ALLOWED = 3
"""Give up when every worker has failed to come up this many times in a row (a broken deployment)."""
RESTART_PAUSE_S = (0.5, 30.0)
"""The pause before restarting a worker that did not come up: the first, doubling up to the second."""
STOP_TIMEOUT_S = 30.0


class WorkersError(RenkeiError):
    code = "workers.error"


class AlreadyServingError(WorkersError):
    """Another supervisor already serves this data directory."""

    code = "workers.deployment_running"


class PortUnavailableError(WorkersError):
    """The address and port cannot be listened on (in use, or not this machine's)."""

    code = "workers.port_unavailable"


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What every worker process is given (picklable: it crosses to ``spawn``-ed processes)."""

    settings: Settings
    run_dir: Path
    server_options: dict[str, Any]
    """``uvicorn.Config`` keyword arguments besides the app (log level, access log, lifespan …)."""


def run_directory(settings: Settings) -> Path:
    """Where the processes serving ``settings``'s deployment meet: the locks and the shared metrics."""
    return settings.data_dir / RUN_DIRECTORY


def serve_workers(settings: Settings, workers: int, server_options: dict[str, Any]) -> int:
    """Serve the deployment with ``workers`` processes until SIGINT or SIGTERM; the exit status (0, or 1
    when the workers kept failing to start). Raises ``workers.deployment_running`` or
    ``workers.port_unavailable`` before touching anything."""
    if workers < 2:
        raise ValueError("serve_workers is for two or more workers; one process serves itself")
    run_dir = run_directory(settings)
    supervisor = LeaderLock(run_dir / SUPERVISOR_LOCK)
    if not supervisor.try_acquire():
        holder = (run_dir / SUPERVISOR_LOCK).read_text(encoding="ascii").strip()
        raise AlreadyServingError(
            f"another renkei serve --workers (pid {holder or '?'}) serves {settings.data_dir}",
            data_dir=str(settings.data_dir),
        )
    try:
        listener = _bind(settings.host, settings.port)
        try:
            metrics = run_dir / METRICS_DIRECTORY
            # Counters restart with the deployment, as one process's do; stale files would be summed in.
            shutil.rmtree(metrics, ignore_errors=True)
            metrics.mkdir(parents=True, exist_ok=True)
            share_metrics(metrics)
            # Migrations, the spec release, keys and the CA: once, here, before any worker opens them.
            build_platform(settings).storage.close()
            plan = WorkerPlan(settings, run_dir, dict(server_options))
            return _Supervisor(plan, listener, workers).run()
        finally:
            listener.close()
    finally:
        supervisor.release()


def _bind(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        reason = "in use" if error.errno == errno.EADDRINUSE else (error.strerror or "refused")
        raise PortUnavailableError(
            f"cannot listen on {host}:{port}: {reason}", host=host, port=port
        ) from None
    listener.set_inheritable(True)
    return listener


@dataclass(slots=True)
class _Slot:
    """One worker's place: its process (None while waiting to restart) and its record of failed starts."""

    process: BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0
    restart_at: float = 0.0


class _Supervisor:
    def __init__(self, plan: WorkerPlan, listener: socket.socket, workers: int) -> None:
        self._plan = plan
        self._listener = listener
        self._slots = [_Slot() for _ in range(workers)]
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            log.info("serving with %d worker processes", len(self._slots))
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self, slot: _Slot) -> None:
        process = self._context.Process(
            target=work, args=(self._plan, self._listener), name="renkei-worker", daemon=False
        )
        process.start()
        slot.process, slot.started = process, time.monotonic()

    def _watch(self) -> int:
        while not self._stopping:
            now = time.monotonic()
            for slot in self._slots:
                if slot.process is None and slot.restart_at <= now:
                    self._start(slot)
            running = [s.process.sentinel for s in self._slots if s.process is not None]
            if running:
                wait(running, timeout=0.5)
            else:
                time.sleep(0.5)
            for slot in self._slots:
                if slot.process is None or slot.process.is_alive() or self._stopping:
                    continue
                if self._ended(slot):
                    return 1
        return 0

    def _ended(self, slot: _Slot) -> bool:
        """Note a worker's exit and schedule its restart; True when every worker keeps failing to start."""
        assert slot.process is not None
        now = time.monotonic()
        lived = now - slot.started
        slot.quick_exits = slot.quick_exits + 1 if lived < QUICK_EXIT_S else 0
        log.warning(
            "worker pid %s exited (status %s) after %.1f s", slot.process.pid, slot.process.exitcode, lived
        )
        slot.process = None
        if all(s.quick_exits >= QUICK_EXITS_ALLOWED for s in self._slots):
            log.error("every worker failed to come up %d times in a row: stopping", QUICK_EXITS_ALLOWED)
            return True
        first, most = RESTART_PAUSE_S
        pause = 0.0 if slot.quick_exits == 0 else min(most, first * 2 ** (slot.quick_exits - 1))
        slot.restart_at = now + pause
        return False

    def _stop_all(self) -> None:
        processes = [s.process for s in self._slots if s.process is not None]
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests and its lifespan
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker pid %s did not stop in %.0f s: killing it", process.pid, STOP_TIMEOUT_S)
                process.kill()
                process.join()


class _WorkerServer(uvicorn.Server):
    """uvicorn's server, telling the application it is stopping as soon as it is told (a standby must not
    take the background jobs over from a leader that stops first)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def retire(self) -> None:
        role = getattr(self._app.state, "role", None)
        if role is not None:
            role.retire()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.retire()
        super().handle_exit(sig, frame)


def work(plan: WorkerPlan, listener: socket.socket) -> None:
    """One worker process: the whole application, accepting on the supervisor's socket, until it is
    signalled or its supervisor dies."""
    settings = plan.settings
    app = build_app(
        settings,
        platform=build_platform(settings, migrate=False),
        leader_lock=plan.run_dir / LEADER_LOCK,
        metrics_dir=plan.run_dir / METRICS_DIRECTORY,
    )
    configure_logging(settings.log_level, request_ids=app.state.request_ids)
    server = _WorkerServer(uvicorn.Config(app, **plan.server_options), app)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_outlive_not, args=(parent, server), daemon=True).start()
    server.run(sockets=[listener])


def _outlive_not(parent: BaseProcess, server: _WorkerServer) -> None:
    """Stop the worker (gracefully) once its supervisor is gone: its sentinel reads end-of-file then."""
    wait([parent.sentinel])
    log.warning("the supervisor is gone: this worker stops")
    server.retire()
    server.should_exit = True
