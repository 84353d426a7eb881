"""The HTTP transport to providers: the lean keep-alive client (:class:`renkei.net.http.HttpClient`) owned
by the hub, under one deadline per forwarded request.

Why not httpx: it cost 6–8 ms of CPU per forwarded request here (pool re-scans, anyio, a failed ``import``
retried per request), more than the rest of the hub; the lean client writes a request in one ``write`` and
reads the answer with buffered ``readuntil``/``readexactly`` (≈ 0.1 ms).

Faults: no connection (refused, reset, closed before or inside the answer, not HTTP) is
``exchange.provider.unreachable``; no complete answer before the deadline is ``exchange.provider.timeout``
(the connection is then closed, so a late answer is never read as the next one's); an answer longer than
``max_response`` bytes is ``exchange.provider.failed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from renkei.exchange.errors import ProviderTimeout, ProviderUnreachable, ServiceFailed
from renkei.exchange.ports import ProviderReply
from renkei.net.http import HttpClient, HttpTransportError

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 10.0
RESPONSE_MAX = 4 * 1024 * 1024
USER_AGENT = "renkei-hub/1"


class HttpTransport:
    """POSTs to providers; connection failures become ``Server.Unreachable``, slowness ``Server.Timeout``.

    The deadline of one forward is ``connect_timeout + read_timeout`` from the moment it starts: the lean
    client connects only when no kept-alive connection is idle, and does not time the phases apart, so a
    provider that accepts no connection is given the whole budget (it is refused at once when nothing
    listens). ``max_connections`` bounds the idle connections kept per provider origin.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = 100,
        max_response: int = RESPONSE_MAX,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._deadline = connect_timeout + read_timeout
        self._max_response = max_response
        # One byte over the limit is read, so that an answer of exactly the limit is told from a longer one.
        self._client = HttpClient(
            idle_per_origin=max_connections, max_body=max_response + 1, user_agent=USER_AGENT
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> ProviderReply:
        try:
            async with asyncio.timeout(self._deadline):
                answer = await self._client.post(url, body, headers)
        except TimeoutError:
            raise ProviderTimeout(
                f"the provider did not answer within {self._deadline:g} s", reason="deadline"
            ) from None
        except HttpTransportError:
            # Not the client's text: it may quote a header value the caller sent.
            raise ProviderUnreachable("the provider cannot be reached", reason="transport") from None
        if len(answer.body) > self._max_response:
            raise ServiceFailed("the provider's response is too large", limit=self._max_response)
        return ProviderReply(answer.status, answer.body)

    async def aclose(self) -> None:
        await self._client.aclose()
