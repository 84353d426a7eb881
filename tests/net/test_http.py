"""The lean webhook HTTP client against raw loopback servers: keep-alive reuse, Content-Length, chunked and
close-delimited answers, a receiver that drops idle connections, refused connections, header injection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from renkei.net.http import HttpClient, HttpTransportError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return lines[0], headers, body


class Serving:
    """A raw loopback server for ``handler``; on exit every connection it accepted is closed and awaited."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.base = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self._handler(reader, writer)

    async def __aenter__(self) -> Serving:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.base = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(0.01)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def test_keep_alive_reuses_one_connection_and_reads_every_answer_form() -> None:
    connections = 0
    answers = [
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        + '{"受領":true}'.encode(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
    ]
    seen: list[tuple[bytes, dict[bytes, bytes], bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for answer in answers:
            seen.append(await read_request(reader))
            writer.write(answer)
            await writer.drain()
        writer.close()

    async def scenario() -> list[tuple[int, str]]:
        async with Serving(handler) as serving, HttpClient() as client:
            base = serving.base
            out = []
            for n in range(4):
                response = await client.post(f"{base}/hook/{n}?q=1", "避難指示".encode(), {"X-Id": str(n)})
                out.append((response.status, response.text))
            return out

    results = asyncio.run(scenario())
    assert results == [(204, ""), (200, '{"受領":true}'), (200, "abcde"), (500, "boom")]
    assert connections == 1, "every push went over one kept-alive connection"
    line, headers, body = seen[0]
    assert line == b"POST /hook/0?q=1 HTTP/1.1"
    assert headers[b"host"].startswith(b"127.0.0.1:")
    assert headers[b"x-id"] == b"0"
    assert body == "避難指示".encode()


def test_a_dropped_idle_connection_is_retried_once_on_a_new_one_and_close_is_honoured() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        if connections == 3:  # HTTP/1.0-style: the answer ends with the connection
            writer.write(b"HTTP/1.0 200 OK\r\n\r\nthe end")
        else:
            # answers as keep-alive, then drops the connection anyway (an idle timeout on the receiver)
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> list[int]:
        async with Serving(handler) as serving, HttpClient() as client:
            base = serving.base
            first = await client.post(f"{base}/a", b"1", {})
            await asyncio.sleep(0.05)  # the server's close arrives meanwhile
            second = await client.post(f"{base}/a", b"2", {})
            third = await client.post(f"{base}/a", b"3", {})
            return [first.status, second.status, third.status, len(third.body)]

    assert asyncio.run(scenario()) == [204, 204, 200, 7]
    assert connections == 3


def test_refused_connections_bad_answers_and_header_injection_are_transport_errors() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with Serving(garbage) as serving, HttpClient() as client:
            base = serving.base
            with pytest.raises(HttpTransportError, match="not an HTTP"):
                await client.post(f"{base}/x", b"", {})
            with pytest.raises(HttpTransportError, match="control characters"):
                await client.post(f"{base}/x", b"", {"X-Evil": "a\r\nInjected: 1"})
            with pytest.raises(HttpTransportError, match="http"):
                await client.post("ftp://127.0.0.1/x", b"", {})
        async with HttpClient() as refused:  # the server is gone now
            with pytest.raises(HttpTransportError, match="cannot connect"):
                await refused.post(f"{base}/gone", b"", {})

    asyncio.run(scenario())


def test_a_push_cancelled_by_its_time_limit_does_not_poison_the_pool() -> None:
    calls = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        while True:
            await read_request(reader)
            calls += 1
            if calls == 1:
                await asyncio.sleep(0.3)  # too slow: the client gives up
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async def scenario() -> str:
        async with Serving(handler) as serving, HttpClient() as client:
            base = serving.base
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await client.post(f"{base}/slow", b"", {})
            return (await client.post(f"{base}/next", b"", {})).text

    assert asyncio.run(scenario()) == "ok"
