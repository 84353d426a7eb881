"""Webhook signatures: HMAC-SHA256 over the timestamp, the delivery id and the body.

The signed string is ``{timestamp}.{delivery_id}.`` followed by the raw body bytes, so a receiver can
check that the body, its delivery id (its de-duplication key) and its time all came from the Commons with
its secret; refusing timestamps older than a few minutes stops replays.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Commons-Signature"
DELIVERY_HEADER = "X-Commons-Delivery-Id"
TIMESTAMP_HEADER = "X-Commons-Timestamp"
ALERT_HEADER = "X-Commons-Alert-Id"
REVISION_HEADER = "X-Commons-Revision"
ATTEMPT_HEADER = "X-Commons-Attempt"
CHANNEL_HEADER = "X-Commons-Channel"
PREFIX = "sha256="


def signature(secret: str, timestamp: str, delivery_id: str, body: bytes) -> str:
    """The ``X-Commons-Signature`` value: ``sha256=<hex HMAC>``."""
    message = f"{timestamp}.{delivery_id}.".encode() + body
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance_s: float = 300
) -> bool:
    """True if ``headers`` carry a valid signature of ``body`` made within ``tolerance_s`` of ``now``.

    ``headers`` is looked up case-insensitively (pass e.g. a Starlette/httpx ``Headers``), ``now`` is a
    POSIX timestamp. For receivers and tests.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    delivery_id = lowered.get(DELIVERY_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, delivery_id, body))
