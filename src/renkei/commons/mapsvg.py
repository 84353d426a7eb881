"""An alert's areas as a standalone SVG map: polygons, circles, and boxes for codes without geometry.

Equirectangular projection fitted to the bounding box of the geometry (x = lon·cos(φ₀), y = −lat, with
φ₀ the box's middle latitude), padded by 10 %. No tiles, no network. Municipality codes of areas without
polygon or circle are drawn as labelled placeholder boxes in a row under the map, named from the
:class:`~renkei.japanese.municipality.MunicipalityTable` when one is given.
"""

from __future__ import annotations

import math
from html import escape
from typing import Final

from renkei.commons.model import Alert, Area, Point
from renkei.japanese.errors import JapaneseError
from renkei.japanese.municipality import MunicipalityTable

_KM_PER_DEGREE: Final = 111.32
_BOX_HEIGHT: Final = 36


def _circle_box(center: Point, radius_km: float) -> list[Point]:
    dlat = radius_km / _KM_PER_DEGREE
    dlon = radius_km / (_KM_PER_DEGREE * max(math.cos(math.radians(center.lat)), 1e-6))
    return [Point(center.lat - dlat, center.lon - dlon), Point(center.lat + dlat, center.lon + dlon)]


def _label(code: str, municipalities: MunicipalityTable | None) -> str:
    if municipalities is None:
        return code
    try:
        entry = municipalities.get(code)
    except JapaneseError:
        return code
    return f"{entry.name} ({code})"


def map_svg(
    alert: Alert, municipalities: MunicipalityTable | None = None, width: int = 640, height: int = 480
) -> str:
    """Draw every area of every info of ``alert`` as an SVG document (text is XML-escaped)."""
    areas: list[Area] = [a for info in alert.infos for a in info.areas]
    points = [p for a in areas for poly in a.polygons for p in poly.points]
    points += [q for a in areas for c in a.circles for q in _circle_box(c.center, c.radius_km)]
    codes = [c for a in areas if not a.polygons and not a.circles for c in a.local_government_codes()]
    map_height = height - (_BOX_HEIGHT + 10 if codes else 0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(alert.identifier)}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f4" stroke="#999"/>',
    ]
    if points:
        south, north = min(p.lat for p in points), max(p.lat for p in points)
        west, east = min(p.lon for p in points), max(p.lon for p in points)
        scale_x = math.cos(math.radians((south + north) / 2))
        span_x = max((east - west) * scale_x, 1e-9) * 1.2
        span_y = max(north - south, 1e-9) * 1.2
        pixels = min(width / span_x, map_height / span_y)
        mid_x, mid_y = (east + west) / 2 * scale_x, (north + south) / 2

        def project(p: Point) -> tuple[float, float]:
            return (width / 2 + (p.lon * scale_x - mid_x) * pixels, map_height / 2 - (p.lat - mid_y) * pixels)

        for area in areas:
            title = f"<title>{escape(area.area_desc)}</title>"
            for polygon in area.polygons:
                coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(project, polygon.points))
                style = 'fill="#e6553a" fill-opacity="0.35" stroke="#b02a10"'
                out.append(f'<polygon points="{coords}" {style}>{title}</polygon>')
            for circle in area.circles:
                cx, cy = project(circle.center)
                radius = circle.radius_km / _KM_PER_DEGREE * pixels
                out.append(
                    f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" '
                    f'fill="#f0a030" fill-opacity="0.35" stroke="#a06000">{title}</circle>'
                )
    box_width = width / max(len(codes), 1)
    for index, code in enumerate(codes):
        x = index * box_width
        y = height - _BOX_HEIGHT - 5
        out.append(
            f'<g class="placeholder"><rect x="{x + 4:.1f}" y="{y}" width="{box_width - 8:.1f}" '
            f'height="{_BOX_HEIGHT}" fill="#ddd" stroke="#666" stroke-dasharray="4 2"/>'
            f'<text x="{x + box_width / 2:.1f}" y="{y + 23}" text-anchor="middle" font-size="14">'
            f"{escape(_label(code, municipalities))}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out)
