"""ImageScope's ellipses (as the Polygon they become, and recognised again by their geometry) and
its colours (Windows COLORREF); NDPA circles use the ellipses too."""

from __future__ import annotations

import math

from viewer.annotations.geojson import parse_color

Point = tuple[float, float]

#: Vertices of the Polygon an ImageScope ellipse becomes (a multiple of 4, so the extremes are
#: vertices): its area is within 0.04 % of the ellipse's (the issue asks 0.1 %).
ELLIPSE_VERTICES = 128


def ellipse_polygon(cx: float, cy: float, a: float, b: float, n: int = ELLIPSE_VERTICES) -> list[Point]:
    """*n* points on the axis-aligned ellipse centred (cx, cy) with semi-axes a (x) and b (y), at
    angles 2πk/n from the +x axis (clockwise on screen, y down)."""
    points = []
    for k in range(n):
        angle = 2 * math.pi * k / n
        points.append((cx + a * math.cos(angle), cy + b * math.sin(angle)))
    return points


def ellipse_parameters(coords: list[Point]) -> tuple[float, float, float, float] | None:
    """(cx, cy, a, b) when *coords* is exactly what :func:`ellipse_polygon` makes (within float32
    rounding, as ASAP XML stores it), else None."""
    n = ELLIPSE_VERTICES
    if len(coords) != n:
        return None
    (x0, _), (_, y1), (x2, _), (_, y3) = coords[0], coords[n // 4], coords[n // 2], coords[3 * n // 4]
    cx, cy, a, b = (x0 + x2) / 2, (y1 + y3) / 2, (x0 - x2) / 2, (y1 - y3) / 2
    if not (a > 0 and b > 0):
        return None
    tolerance = 1e-3 + 4e-7 * max(abs(cx) + a, abs(cy) + b)  # a few float32 ulps of the coordinates
    for (x, y), (ex, ey) in zip(coords, ellipse_polygon(cx, cy, a, b), strict=True):
        if abs(x - ex) > tolerance or abs(y - ey) > tolerance:
            return None
    return cx, cy, a, b


def ellipse_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation (relative error under 1e-9 for these shapes)."""
    h = ((a - b) / (a + b)) ** 2 if a + b > 0 else 0.0
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def colorref_to_hex(value: int) -> str:
    """A Windows COLORREF (``0x00BBGGRR``, ImageScope's ``LineColor``) as ``#rrggbb``."""
    return f"#{value & 0xFF:02x}{(value >> 8) & 0xFF:02x}{(value >> 16) & 0xFF:02x}"


def hex_to_colorref(color: str) -> int | None:
    """``#rrggbb`` (any colour Qt reads) as a COLORREF; None when it is not a colour."""
    rgb = parse_color(color)
    return None if rgb is None else rgb[0] | (rgb[1] << 8) | (rgb[2] << 16)
