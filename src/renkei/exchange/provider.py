"""A demo provider member system: 個人住民税 answering ``income-certificate`` from an in-memory table keyed
by its own 符号. Used by the tests and the benchmark; it checks the hub's signature when given the key."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response

from renkei.exchange.signing import verify_hub_signature


def income_provider(
    table: Mapping[str, Mapping[str, Any]],
    *,
    hub_key: bytes | None = None,
    seen: list[dict[str, Any]] | None = None,
    delay: float = 0.0,
    now: Callable[[], float] = time.time,
) -> FastAPI:
    """The provider app: ``POST /income-certificate`` with ``{"person_fugo", "fiscal_year"}``.

    ``seen`` collects the bodies and hub-signature verdicts it received (for tests); ``delay`` makes it slow.
    """
    app = FastAPI()

    @app.post("/income-certificate")
    async def income_certificate(request: Request) -> Response:
        body = await request.body()
        if delay:
            await asyncio.sleep(delay)
        if hub_key is not None and not verify_hub_signature(
            hub_key, dict(request.headers), "POST", request.url.path, body, int(now())
        ):
            return Response(status_code=401)
        data = json.loads(body)
        if seen is not None:
            seen.append({"body": data, "headers": dict(request.headers)})
        row = table.get(str(data.get("person_fugo")))
        if row is None:
            return Response(status_code=404)
        answer = {"fiscal_year": data.get("fiscal_year"), **row}
        return Response(json.dumps(answer, ensure_ascii=False), media_type="application/json")

    return app
