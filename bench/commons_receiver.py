"""A loopback webhook receiver for the Commons benchmarks, in a process of its own (so it does not share
the sender's GIL): ``POST /hook/{n}`` records each delivery id's first arrival (wall clock);
``GET /stats`` returns them. Run as ``python bench/commons_receiver.py PORT``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def _serve(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    times: dict[str, float] = {}
    paths: set[str] = set()
    hits = [0]

    async def hook(request: Request) -> Response:
        await request.body()
        hits[0] += 1
        times.setdefault(request.headers.get("x-commons-delivery-id", ""), time.time())
        paths.add(request.path_params["n"])
        return Response(status_code=204)

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse({"times": times, "paths": len(paths), "hits": hits[0]})

    app = Starlette(routes=[Route("/hook/{n}", hook, methods=["POST"]), Route("/stats", stats)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, backlog=4096)


@contextmanager
def receiver() -> Iterator[tuple[str, httpx.Client]]:
    """Start the receiver process; yield the hook base URL and a client for ``/stats``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, str(port)])
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.get("/stats")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hook/", client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
