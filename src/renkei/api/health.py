"""``/healthz``: is this deployment able to serve? Checks the database and the loaded spec."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from renkei.api.deps import Platform, platform
from renkei.errors import RenkeiError

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="稼働確認 (health)")
def healthz(p: Annotated[Platform, Depends(platform)]) -> JSONResponse:
    checks: dict[str, Any] = {"spec": {"status": "ok", "version": p.spec.version, "digest": p.spec.digest}}
    try:
        p.storage.database.check()
        checks["database"] = {"status": "ok", "dialect": p.storage.database.dialect}
    except RenkeiError as exc:
        checks["database"] = {"status": "fail", "code": exc.code, "detail": exc.message}
    ok = all(c["status"] == "ok" for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "fail", "time": p.clock.now().isoformat(), "checks": checks},
        status_code=200 if ok else 503,
    )
