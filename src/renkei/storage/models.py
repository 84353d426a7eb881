"""Records the storage ports hand back: plain frozen values, never live rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SpecRelease:
    """A version of the standard (仕様) that was put in force on this deployment.

    ``digest`` fingerprints the spec data of that version; ``activated_at`` is tz-aware UTC.
    """

    version: str
    digest: str
    activated_at: datetime
