"""How hard a webhook worker tries: attempts, backoff with jitter, and the time one attempt may take
(shared by the Commons delivery worker and the exchange's notification worker)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt ``n`` (1-based) failed → wait about ``base · 2^(n-1)``.

    The wait is drawn uniformly from [½, 1] of that (capped at ``cap_s``), so subscribers that failed
    together do not all come back at the same instant. After ``max_attempts`` the delivery is failed.
    """

    max_attempts: int = 8
    base_s: float = 2.0
    cap_s: float = 300.0
    timeout_s: float = 10.0
    """The whole of one attempt (connect, send, wait for the answer, read it)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_s <= 0 or self.cap_s < self.base_s or self.timeout_s <= 0:
            raise ValueError(f"inconsistent retry policy {self!r}")

    def backoff(self, attempts: int, rng: random.Random) -> timedelta | None:
        """How long to wait after ``attempts`` failed attempts, or ``None`` when they are used up."""
        if attempts >= self.max_attempts:
            return None
        full = min(self.cap_s, self.base_s * 2 ** (attempts - 1))
        return timedelta(seconds=full / 2 + rng.uniform(0, full / 2))
