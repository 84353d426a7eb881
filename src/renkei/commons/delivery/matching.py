"""Which subscribers want an alert: by area (prefecture, municipality, polygon) and by message type."""

from __future__ import annotations

from collections.abc import Sequence

from renkei.commons.model import Alert
from renkei.commons.ports import SubscriberRecord

LatLon = tuple[float, float]


def area_codes(alert: Alert) -> tuple[str, ...]:
    """The 地方公共団体コード of every area of every info, in order, without repeats."""
    found: list[str] = []
    for info in alert.infos:
        for area in info.areas:
            found += [c for c in area.local_government_codes() if c not in found]
    return tuple(found)


def alert_points(alert: Alert) -> list[LatLon]:
    """Every vertex of the alert's polygons and the centre of its circles."""
    points: list[LatLon] = []
    for info in alert.infos:
        for area in info.areas:
            points += [(p.lat, p.lon) for polygon in area.polygons for p in polygon.points]
            points += [(c.center.lat, c.center.lon) for c in area.circles]
    return points


def inside(point: LatLon, polygon: Sequence[LatLon]) -> bool:
    """Ray casting: is ``point`` inside ``polygon`` (vertices in order, closed or not)?"""
    lat, lon = point
    result = False
    n = len(polygon)
    for i in range(n):
        a_lat, a_lon = polygon[i]
        b_lat, b_lon = polygon[(i + 1) % n]
        if (a_lon > lon) != (b_lon > lon):
            crossing = a_lat + (lon - a_lon) * (b_lat - a_lat) / (b_lon - a_lon)
            if lat < crossing:
                result = not result
    return result


def wants(subscriber: SubscriberRecord, alert: Alert) -> bool:
    """True if ``subscriber`` (active) asked for alerts of this type in any of this alert's areas.

    Municipality codes compare on their first five digits (JIS X 0402 without the check digit), so a
    5-digit and a 6-digit 全国地方公共団体コード name the same municipality.
    """
    if not subscriber.active:
        return False
    if subscriber.message_types and alert.msg_type.value not in subscriber.message_types:
        return False
    areas = subscriber.areas
    if areas.everywhere:
        return True
    codes = area_codes(alert)
    if any(code[:2] in areas.prefectures for code in codes):
        return True
    wanted = {m[:5] for m in areas.municipalities}
    if any(code[:5] in wanted for code in codes):
        return True
    if len(areas.polygon) >= 3:
        return any(inside(p, areas.polygon) for p in alert_points(alert))
    return False
