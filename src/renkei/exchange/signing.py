"""The hub's signature on everything it sends a member system (a forwarded query, a change notification),
so that the member can tell it came from its hub, for it, unaltered and recently.

``X-Renkei-Hub-Signature: t=<unix seconds>,v2=<hex HMAC-SHA-256>`` over the UTF-8 lines::

    renkei-hub-v2
    <METHOD>
    <path of the member's URL>
    <t>
    <X-Road-Id>
    <X-Road-Client>
    <X-Road-Service>
    <hex SHA-256 of the body>

with the recipient's own hub key: :func:`member_hub_key`, derived (HKDF-SHA-256) from the deployment's
member-key root (32 random bytes kept as ``exchange.hub.member-root``, never given out) and the recipient's
member id, and given to that member system out of band (``renkei registry member hub-key MEMBER --out
FILE``). HMAC is symmetric: with one key for all, a provider could sign as the hub toward another
provider; with a key per member it can sign only toward itself. :func:`verify_hub_signature` is the
member's side.

Version 1 (``v1=``, until 2026-11-27) signed with one key, ``exchange.hub.hmac``, that every provider was
given. That key is retired, not reused: derived from it, the member keys would be known to every provider
that held it. ``v2`` marks the change, so a member still checking the old way fails visibly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HUB_SIGNATURE_HEADER = "X-Renkei-Hub-Signature"
MEMBER_KEY_CACHE = 4096
HUB_KEY_NAME = "exchange.hub.member-root"
"""The key store's name of the root the member keys are derived from (``exchange.hub.hmac``, the shared
key of version 1, is retired)."""
DEFAULT_WINDOW_SECONDS = 300


def _message(
    method: str, path: str, t: int, message_id: str, client: str, service: str, body: bytes
) -> bytes:
    lines = (
        "renkei-hub-v2",
        method.upper(),
        path,
        str(t),
        message_id,
        client,
        service,
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode("utf-8")


def member_hub_key(hub_key: bytes, member: str) -> bytes:
    """The 32-byte key the hub signs requests to ``member`` (a member id, ``JP/LG/131024/u06``) with:
    HKDF-SHA-256 of the deployment's member-key root ``hub_key``, no salt, info
    ``renkei-hub-v2 member\n<member>``."""
    if len(hub_key) < 32:
        raise ValueError("the hub key needs at least 32 bytes")
    info = b"renkei-hub-v2 member\n" + member.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(hub_key)


class HubSigner:
    """Signs what the hub sends a member system (forwarded queries, change notifications) with that
    member's own key (:func:`member_hub_key`)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the hub key needs at least 32 bytes")
        self._key = key
        self._members: dict[str, bytes] = {}

    def key_for(self, member: str) -> bytes:
        """``member``'s hub key (derived once per member, then kept)."""
        found = self._members.get(member)
        if found is None:
            if len(self._members) >= MEMBER_KEY_CACHE:
                self._members.clear()
            found = self._members[member] = member_hub_key(self._key, member)
        return found

    def sign(
        self,
        method: str,
        path: str,
        t: int,
        message_id: str,
        client: str,
        service: str,
        body: bytes,
        *,
        recipient: str,
    ) -> str:
        """The header value for one request to the member system ``recipient`` (its member id)."""
        message = _message(method, path, t, message_id, client, service, body)
        return f"t={t},v2={hmac.new(self.key_for(recipient), message, 'sha256').hexdigest()}"


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
    return hmac.compare_digest(mac, parts.get("v2", ""))
