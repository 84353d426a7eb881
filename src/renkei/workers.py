"""``renkei serve --workers N``: N processes serving one deployment on one port, under a supervisor.

One Python process uses one core for the hub's work (the GIL). The supervisor lets a deployment use more:

1. it migrates the database and creates the keys and the CA once (``build_platform``), so that the workers
   never race to do it;
2. it binds the listening socket and starts N worker processes (``spawn``) that accept on it, each the
   whole application (``build_app``) on the same database and data directory;
3. it restarts a worker that dies, and stops them all on SIGINT or SIGTERM (each finishes its requests and
   its lifespan, as one ``renkei serve`` does), giving up when workers keep dying as soon as they start.

What the workers share and how: the database (nonce claims, access records, the message log and the
idempotency keys are written with the constraints and locks that make concurrent writers safe); the
background jobs, run by one worker at a time (``leadership.py``: the holder of ``run/leader.lock``); the
Prometheus counters, kept by each worker in ``run/metrics`` and summed by whichever answers ``/metrics``.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from renkei.api.logging import configure_logging
from renkei.app import build_app, build_platform
from renkei.settings import Settings, share_metrics

log = logging.getLogger(__name__)

RUN_DIRECTORY = "run"
LEADER_LOCK = "leader.lock"
METRICS_DIRECTORY = "metrics"
QUICK_EXIT_S = 10.0
"""A worker that exits sooner than this after starting did not come up."""
QUICK_EXITS_ALLOWED = 3
"""Give up after this many workers in a row did not come up (a broken configuration, not bad luck)."""
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What every worker process is given (picklable: it crosses to ``spawn``-ed processes)."""

    settings: Settings
    run_dir: Path
    server_options: dict[str, Any]
    """``uvicorn.Config`` keyword arguments besides the app (log level, access log, lifespan …)."""


def run_directory(settings: Settings) -> Path:
    """Where the workers of ``settings``'s deployment meet: the leader lock and the shared metrics."""
    return settings.data_dir / RUN_DIRECTORY


def serve_workers(settings: Settings, workers: int, server_options: dict[str, Any]) -> int:
    """Serve the deployment with ``workers`` processes until SIGINT or SIGTERM; the exit status (0, or 1
    when workers kept failing to start)."""
    if workers < 2:
        raise ValueError("serve_workers is for two or more workers; one process serves itself")
    run_dir = run_directory(settings)
    metrics = run_dir / METRICS_DIRECTORY
    # Counters restart with the deployment, as they do for one process; stale files would be summed in.
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    share_metrics(metrics)
    # Migrations, the spec release, keys and the CA: once, here, before any worker opens the database.
    build_platform(settings).storage.close()
    listener = _bind(settings.host, settings.port)
    plan = WorkerPlan(settings, run_dir, dict(server_options))
    return _Supervisor(plan, listener, workers).run()


def _bind(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except BaseException:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


class _Supervisor:
    def __init__(self, plan: WorkerPlan, listener: socket.socket, workers: int) -> None:
        self._plan = plan
        self._listener = listener
        self._count = workers
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False
        self._processes: list[tuple[BaseProcess, float]] = []

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for _ in range(self._count):
                self._processes.append(self._start())
            log.info("serving with %d worker processes", self._count)
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._listener.close()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self) -> tuple[BaseProcess, float]:
        process = self._context.Process(
            target=work, args=(self._plan, self._listener), name="renkei-worker", daemon=False
        )
        process.start()
        return process, time.monotonic()

    def _watch(self) -> int:
        quick_exits = 0
        while not self._stopping:
            wait([p.sentinel for p, _ in self._processes], timeout=0.5)
            for index, (process, started) in enumerate(self._processes):
                if process.is_alive() or self._stopping:
                    continue
                lived = time.monotonic() - started
                quick_exits = quick_exits + 1 if lived < QUICK_EXIT_S else 0
                log.warning(
                    "worker pid %s exited (status %s) after %.1f s", process.pid, process.exitcode, lived
                )
                if quick_exits >= QUICK_EXITS_ALLOWED:
                    log.error("%d workers in a row did not come up: stopping", quick_exits)
                    return 1
                self._processes[index] = self._start()
        return 0

    def _stop_all(self) -> None:
        for process, _ in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests and its lifespan
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process, _ in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker pid %s did not stop in %.0f s: killing it", process.pid, STOP_TIMEOUT_S)
                process.kill()
                process.join()


def work(plan: WorkerPlan, listener: socket.socket) -> None:
    """One worker process: the whole application, accepting on the supervisor's socket."""
    settings = plan.settings
    app = build_app(
        settings,
        platform=build_platform(settings, migrate=False),
        leader_lock=plan.run_dir / LEADER_LOCK,
        metrics_dir=plan.run_dir / METRICS_DIRECTORY,
    )
    configure_logging(settings.log_level, request_ids=app.state.request_ids)
    uvicorn.Server(uvicorn.Config(app, **plan.server_options)).run(sockets=[listener])
