"""Planar geometry for CAP polygons: segment intersection and ring self-intersection.

Coordinates are treated as planar (lon, lat), which is what CAP consumers draw; rings near the
antimeridian are out of scope for Japan.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Final

XY = tuple[float, float]

#: Rings with more points than this are not checked (the sweep is quadratic in the worst case).
MAX_CHECKED_POINTS: Final = 10_000
#: Segment-pair tests allowed per document, so a hostile file cannot make validation slow.
DEFAULT_PAIR_BUDGET: Final = 100_000


class TooComplex(Exception):  # noqa: N818 - internal signal, never leaves the validation package
    """The work budget ran out before the check finished."""


@dataclass
class WorkBudget:
    """Segment-pair tests left for one document."""

    remaining: int = DEFAULT_PAIR_BUDGET

    def spend(self, count: int) -> None:
        self.remaining -= count
        if self.remaining < 0:
            raise TooComplex


def _orientation(a: XY, b: XY, c: XY) -> int:
    value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (value > 0) - (value < 0)


def _on_segment(a: XY, b: XY, p: XY) -> bool:
    """``p`` (collinear with a–b) lies within the bounding box of a–b."""
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(p1: XY, p2: XY, q1: XY, q2: XY) -> bool:
    """Whether closed segments p1–p2 and q1–q2 share at least one point (touching counts)."""
    o1, o2 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    o3, o4 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on_segment(p1, p2, q1))
        or (o2 == 0 and _on_segment(p1, p2, q2))
        or (o3 == 0 and _on_segment(q1, q2, p1))
        or (o4 == 0 and _on_segment(q1, q2, p2))
    )


def _adjacent_overlap(a: XY, shared: XY, b: XY) -> bool:
    """Adjacent segments a–shared and shared–b fold back onto each other (a spike)."""
    if _orientation(a, shared, b) != 0:
        return False
    # Collinear: they overlap beyond the shared point when a and b lie on the same side of it.
    dot = (a[0] - shared[0]) * (b[0] - shared[0]) + (a[1] - shared[1]) * (b[1] - shared[1])
    return dot > 0


def self_intersection(ring: list[XY], budget: WorkBudget | None = None) -> tuple[int, int] | None:
    """First pair of (0-based) segment indices of a closed ring that intersect, or ``None``.

    ``ring`` is closed (first == last). Consecutive duplicate points are ignored. Adjacent segments may
    share their common point but must not fold back onto each other. Raises :class:`TooComplex` when
    ``budget`` runs out.
    """
    budget = budget or WorkBudget()
    points = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
    segments = list(pairwise(points))
    n = len(segments)
    if n < 3:
        return None
    for i in range(n):
        j = (i + 1) % n
        if _adjacent_overlap(segments[i][0], segments[i][1], segments[j][1]):
            return (i, j)
    # Sweep along x: only segments whose x-ranges overlap can intersect.
    order = sorted(range(n), key=lambda k: min(segments[k][0][0], segments[k][1][0]))
    active: list[int] = []
    for k in order:
        a, b = segments[k]
        low = min(a[0], b[0])
        active = [m for m in active if max(segments[m][0][0], segments[m][1][0]) >= low]
        budget.spend(len(active) + 1)
        for m in active:
            if abs(k - m) in {1, n - 1}:
                continue
            if segments_intersect(a, b, *segments[m]):
                return (min(k, m), max(k, m))
        active.append(k)
    return None
