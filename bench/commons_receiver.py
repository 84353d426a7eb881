"""A loopback webhook receiver for the Commons benchmarks, in a process of its own (so it does not share
the sender's GIL or event loop).

How it receives: a real HTTP/1.1 server written on a raw :class:`asyncio.Protocol` (no framework), with
keep-alive and ``Content-Length`` request bodies. ``POST /hook/{n}`` reads the whole request, records its
``X-Commons-Delivery-Id``'s first arrival (wall clock, taken when the last body byte is in) and answers
``204 No Content``; ``GET /stats`` returns ``{"times": {delivery id: time}, "paths": distinct hooks,
"hits": requests}``. A framework server (uvicorn + Starlette) tops out near 3,000 requests/s on this
2-core machine and made the receiver, not the Commons, the thing measured.

Run as ``python bench/commons_receiver.py PORT``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


class _Stats:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.paths: set[bytes] = set()
        self.hits = 0

    def json(self) -> bytes:
        data = {"times": self.times, "paths": len(self.paths), "hits": self.hits}
        return json.dumps(data).encode()


class _Http(asyncio.Protocol):
    """One connection: parse pipelined/keep-alive requests out of a buffer and answer each in order."""

    def __init__(self, stats: _Stats) -> None:
        self._stats = stats
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self._buffer) < end + 4 + length:
                return  # wait for the rest of the body
            self._buffer = self._buffer[end + 4 + length :]
            self._answer(head[0], headers)

    def _answer(self, request_line: bytes, headers: dict[bytes, bytes]) -> None:
        assert self._transport is not None
        method, path, _ = request_line.split(b" ", 2)
        close = headers.get(b"connection", b"").lower() == b"close"
        if method == b"POST" and path.startswith(b"/hook/"):
            delivery = headers.get(b"x-commons-delivery-id", b"").decode()
            self._stats.times.setdefault(delivery, time.time())
            self._stats.paths.add(path)
            self._stats.hits += 1
            self._transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif method == b"GET" and path == b"/stats":
            body = self._stats.json()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            self._transport.write(head.encode() + body)
        else:
            self._transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        if close:
            self._transport.close()
            self._transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


def _serve(port: int) -> None:
    async def main() -> None:
        stats = _Stats()
        server = await asyncio.get_running_loop().create_server(
            lambda: _Http(stats), "127.0.0.1", port, backlog=4096
        )
        async with server:
            await server.serve_forever()

    asyncio.run(main())


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
