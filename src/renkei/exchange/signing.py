"""The hub's signature on every request it forwards to a provider, so that a provider can tell that a
request came from its hub, unaltered and recently.

``X-Renkei-Hub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256>`` over the UTF-8 lines::

    renkei-hub-v1
    <METHOD>
    <path of the provider's URL>
    <t>
    <X-Road-Id>
    <X-Road-Client>
    <X-Road-Service>
    <hex SHA-256 of the body>

with the hub key (32 random bytes the deployment keeps as ``exchange.hub.hmac``; given to each provider
out of band). :func:`verify_hub_signature` is the provider side.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

HUB_SIGNATURE_HEADER = "X-Renkei-Hub-Signature"
HUB_KEY_NAME = "exchange.hub.hmac"
DEFAULT_WINDOW_SECONDS = 300


def _message(
    method: str, path: str, t: int, message_id: str, client: str, service: str, body: bytes
) -> bytes:
    lines = (
        "renkei-hub-v1",
        method.upper(),
        path,
        str(t),
        message_id,
        client,
        service,
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode("utf-8")


class HubSigner:
    """Signs forwarded requests with the hub key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the hub key needs at least 32 bytes")
        self._key = key

    def sign(
        self, method: str, path: str, t: int, message_id: str, client: str, service: str, body: bytes
    ) -> str:
        """The header value for one forwarded request."""
        mac = hmac.new(self._key, _message(method, path, t, message_id, client, service, body), "sha256")
        return f"t={t},v1={mac.hexdigest()}"


def verify_hub_signature(
    key: bytes,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: int,
    *,
    window: int = DEFAULT_WINDOW_SECONDS,
) -> bool:
    """Whether ``headers`` (any case) carry a valid, fresh hub signature of this request."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(HUB_SIGNATURE_HEADER.lower(), "")
    parts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - t) > window:
        return False
    expected = _message(
        method,
        path,
        t,
        lowered.get("x-road-id", ""),
        lowered.get("x-road-client", ""),
        lowered.get("x-road-service", ""),
        body,
    )
    mac = hmac.new(key, expected, "sha256").hexdigest()
    return hmac.compare_digest(mac, parts.get("v1", ""))
