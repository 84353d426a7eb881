"""Time-ordered identifiers: UUID version 7 (RFC 9562) for rows the hub writes in bulk."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 0x7 << 76
_VARIANT = 0x2 << 62
_KEEP = ~((0xF << 76) | (0x3 << 62))


def time_ordered_id(at: datetime) -> str:
    """A UUIDv7 for the instant ``at`` (timezone-aware, not before 1970): 48 bits of Unix milliseconds, the
    version and variant, 74 random bits. Ids made later sort later, so new rows land at the end of their
    indexes (a random UUID dirties a random page of each index it is in: measured 14 % of the hub's journal
    write, ``bench/journal_write.py``). The id reveals its instant to the millisecond, as the row it names
    already does."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("time_ordered_id needs a timezone-aware instant")
    millis = (at - EPOCH) // timedelta(milliseconds=1)
    if millis < 0:
        raise ValueError("time_ordered_id: instants before 1970 have no UUIDv7")
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return str(uuid.UUID(int=(value & _KEEP) | _VERSION | _VARIANT))
