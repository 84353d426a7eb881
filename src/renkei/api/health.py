"""``/healthz``: is this deployment able to serve? Checks the database, the loaded spec, and — when the
composition root wires them on ``app.state`` — the keys and the notification outbox:

* ``app.state.key_checks``: a mapping of key name → callable that loads the key (raises if it cannot;
  :func:`key_file` makes one for a raw key file);
* ``app.state.outbox_stats``: a callable returning an object with ``depth``, ``dead_letters`` and
  ``lag_seconds`` (:meth:`renkei.exchange.notifications.service.NotificationHub.stats`).

Under a running lifespan the answer also says which process gave it (``process``: its ``pid``, and
whether it runs the deployment's ``background_jobs``; see ``leadership.py``).

Each check is ``ok``, ``degraded`` (serving, but an operator should look: dead letters, a lagging or deep
outbox) or ``fail``. The answer is 200 unless a check failed (503); its ``status`` is the worst check's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from renkei.api.deps import Platform, platform
from renkei.errors import RenkeiError

router = APIRouter(tags=["operations"])

OUTBOX_LAG_DEGRADED_S: Final = 300.0
"""The oldest due delivery has waited longer than this: the worker is not keeping up (or not running)."""
OUTBOX_DEPTH_DEGRADED: Final = 50_000
"""More pending deliveries than this: subscribers are down or slow."""
_RANK: Final = {"ok": 0, "degraded": 1, "fail": 2}


def key_file(path: Path, size: int) -> Callable[[], None]:
    """A key check for ``app.state.key_checks``: the file is there, ``size`` bytes, readable by its owner
    only. It reads; it never creates (a key store that makes a missing key would hide its loss)."""

    def check() -> None:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError("the key file is accessible to group or others")
        if len(path.read_bytes()) != size:
            raise ValueError(f"the key file does not hold {size} bytes")

    return check


def _failure(exc: Exception) -> dict[str, Any]:
    # The error's code or type only: a key loader's message may name paths, never key material, but a
    # health endpoint is public and needs no more to say what failed.
    if isinstance(exc, RenkeiError):
        return {"status": "fail", "code": exc.code}
    return {"status": "fail", "error": type(exc).__name__}


def _keys(checks: Mapping[str, Callable[[], object]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, load in checks.items():
        try:
            load()
        except Exception as exc:  # any failure to load a key is what this check reports
            found[name] = _failure(exc)
        else:
            found[name] = {"status": "ok"}
    worst = max((v["status"] for v in found.values()), key=_RANK.__getitem__, default="ok")
    return {"status": worst, **found}


def _outbox(stats: Callable[[], Any]) -> dict[str, Any]:
    try:
        measured = stats()
    except Exception as exc:  # the outbox cannot be read: that is the check's answer
        return _failure(exc)
    depth, dead, lag = int(measured.depth), int(measured.dead_letters), float(measured.lag_seconds)
    degraded = dead > 0 or lag > OUTBOX_LAG_DEGRADED_S or depth > OUTBOX_DEPTH_DEGRADED
    return {
        "status": "degraded" if degraded else "ok",
        "depth": depth,
        "dead_letters": dead,
        "lag_seconds": round(lag, 3),
    }


@router.get("/healthz", summary="稼働確認 (health)")
def healthz(request: Request, p: Annotated[Platform, Depends(platform)]) -> JSONResponse:
    checks: dict[str, Any] = {"spec": {"status": "ok", "version": p.spec.version, "digest": p.spec.digest}}
    try:
        p.storage.database.check()
        checks["database"] = {"status": "ok", "dialect": p.storage.database.dialect}
    except RenkeiError as exc:
        checks["database"] = {"status": "fail", "code": exc.code, "detail": exc.message}
    key_checks = getattr(request.app.state, "key_checks", None)
    if key_checks is not None:
        checks["keys"] = _keys(key_checks)
    outbox_stats = getattr(request.app.state, "outbox_stats", None)
    if outbox_stats is not None:
        checks["outbox"] = _outbox(outbox_stats)
    status = max((c["status"] for c in checks.values()), key=_RANK.__getitem__)
    answer: dict[str, Any] = {"status": status, "time": p.clock.now().isoformat(), "checks": checks}
    role = getattr(request.app.state, "role", None)
    if role is not None:
        # Which process answered, and whether it runs the background jobs (``renkei serve --workers``).
        answer["process"] = {"pid": os.getpid(), "background_jobs": bool(role.leader)}
    return JSONResponse(answer, status_code=503 if status == "fail" else 200)
