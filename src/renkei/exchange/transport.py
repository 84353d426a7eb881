"""The HTTP transport to providers: one ``httpx.AsyncClient`` owned by the hub, with bounded timeouts."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from renkei.exchange.errors import ProviderTimeout, ProviderUnreachable, ServiceFailed
from renkei.exchange.ports import ProviderReply

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 10.0
RESPONSE_MAX = 4 * 1024 * 1024


class HttpTransport:
    """POSTs to providers; connection failures become ``Server.Unreachable``, slowness ``Server.Timeout``."""

    def __init__(
        self,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = 100,
    ) -> None:
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> ProviderReply:
        try:
            async with self._client.stream("POST", url, headers=dict(headers), content=body) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > RESPONSE_MAX:
                        raise ServiceFailed("the provider's response is too large", limit=RESPONSE_MAX)
                    chunks.append(chunk)
                return ProviderReply(response.status_code, b"".join(chunks))
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(
                f"the provider did not answer in time ({type(exc).__name__})", reason=type(exc).__name__
            ) from None
        except httpx.TransportError as exc:
            raise ProviderUnreachable(
                f"the provider cannot be reached ({type(exc).__name__})", reason=type(exc).__name__
            ) from None

    async def aclose(self) -> None:
        await self._client.aclose()
