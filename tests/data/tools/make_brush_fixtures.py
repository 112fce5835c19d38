#!/usr/bin/env python3
"""Write the brush fixtures (``tests/data/brush/*.json``): a polygon (outer ring and holes, slide
px), a stroke, a width, and shapely's answer for adding the stroke to the polygon and cutting it
from it (``LineString(stroke).buffer(width / 2, cap_style="round", join_style="round")``, then
``union`` / ``difference``): the area, the number of pieces and of holes. ``tests/js/brush.test.mjs``
checks ``static/js/editor/brush.js`` against them; ``tests/test_brush_fixtures.py`` checks this
script writes the committed files again.

    python make_brush_fixtures.py [OUTDIR]    (default: tests/data/brush beside this folder)

Deterministic: coordinates come from ``random.Random(seed)`` and are rounded to 0.01 px; areas are
rounded to 0.01 px².
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

OUT = Path(__file__).resolve().parent.parent / "brush"

#: Simplification tolerance the JS side uses for these fixtures (slide px: 0.5 screen px at 2x).
TOLERANCE = 0.25

XY = list[float]


def blob(cx: float, cy: float, radius: float, vertices: int, seed: int, wobble: float = 0.15) -> list[XY]:
    """A star-shaped ring: radius modulated by a few random harmonics (never self-intersecting)."""
    rng = random.Random(seed)
    harmonics = [
        (rng.randint(2, 9), rng.uniform(-wobble, wobble) / 3, rng.uniform(0, 2 * math.pi)) for _ in range(3)
    ]
    ring = []
    for i in range(vertices):
        a = 2 * math.pi * i / vertices
        r = radius * (1 + sum(amp * math.sin(k * a + phase) for k, amp, phase in harmonics))
        ring.append([round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2)])
    return ring


def wavy_stroke(
    x0: float, y0: float, x1: float, y1: float, points: int, amplitude: float, seed: int,
) -> list[XY]:
    """A hand-drawn-like stroke from (x0, y0) to (x1, y1): a line with a random wave across it."""
    rng = random.Random(seed)
    length = math.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    phase = rng.uniform(0, 2 * math.pi)
    out = []
    for i in range(points):
        t = i / (points - 1)
        w = amplitude * math.sin(3 * math.pi * t + phase) + rng.uniform(-0.3, 0.3)
        out.append([round(x0 + t * (x1 - x0) + w * nx, 2), round(y0 + t * (y1 - y0) + w * ny, 2)])
    return out


def stroke_shape(stroke: list[XY], width: float) -> BaseGeometry:
    geometry = Point(stroke[0]) if len(stroke) == 1 else LineString(stroke)
    return geometry.buffer(width / 2, quad_segs=32, cap_style="round", join_style="round")


def summary(geometry: BaseGeometry) -> dict[str, Any]:
    if isinstance(geometry, MultiPolygon):
        parts = list(geometry.geoms)
    else:
        parts = [] if geometry.is_empty else [geometry]
    assert all(isinstance(p, Polygon) for p in parts), geometry.geom_type
    return {
        "area": round(geometry.area, 2),
        "pieces": len(parts),
        "holes": sum(len(p.interiors) for p in parts),
    }


def case(
    name: str, what: str, outer: list[XY], holes: list[list[XY]], stroke: list[XY], width: float,
) -> dict[str, Any]:
    polygon = Polygon(outer, holes)
    assert polygon.is_valid, name
    brush = stroke_shape(stroke, width)
    return {
        "name": name,
        "what": what,
        "outer": outer,
        "holes": holes,
        "stroke": stroke,
        "width": width,
        "tolerance": TOLERANCE,
        "polygon": summary(polygon),
        "add": summary(polygon.union(brush)),
        "cut": summary(polygon.difference(brush)),
    }


def cases() -> list[dict[str, Any]]:
    """Every fixture, in a fixed order."""
    outer = blob(500, 500, 300, 400, seed=1)
    ring_hole = blob(500, 500, 60, 80, seed=2, wobble=0.05)
    big = blob(5000, 5000, 3000, 10_000, seed=3, wobble=0.1)
    loop = [[700.0, 400.0], [900.0, 400.0], [900.0, 600.0], [700.0, 600.0], [700.0, 470.0], [950.0, 500.0]]
    return [
        case("crossing", "a stroke right across the polygon: the cut splits it in two pieces",
             outer, [], wavy_stroke(100, 480, 900, 520, 100, 30, seed=10), 40),
        case("inside", "a stroke inside the polygon: the cut makes a hole, the add changes nothing",
             outer, [], wavy_stroke(380, 480, 620, 520, 60, 20, seed=11), 40),
        case("outside", "a stroke away from the polygon: the add makes a second piece, the cut nothing",
             outer, [], wavy_stroke(900, 100, 980, 300, 40, 10, seed=12), 30),
        case("edge", "a stroke along the edge: the add grows the polygon, the cut bites into it",
             outer, [], [[round(500 + 300 * math.cos(a / 20), 2), round(500 + 300 * math.sin(a / 20), 2)]
                         for a in range(0, 40)], 50),
        case("self-intersecting",
             "a stroke that crosses itself across the edge: its loops close holes outside the polygon",
             outer, [], loop, 24),
        case("hole", "a polygon with a hole (our holes group) and a stroke across the hole's edge",
             outer, [ring_hole], wavy_stroke(350, 500, 520, 520, 50, 8, seed=13), 30),
        case("dab", "a press without a drag: a disc on the edge",
             outer, [], [[outer[0][0], outer[0][1]]], 60),
        case("big", "a 10,000-vertex polygon and a 100-point stroke across its edge (the benchmark's case)",
             big, [], wavy_stroke(7600, 4000, 8600, 6000, 100, 80, seed=14), 120),
    ]


def write(out: Path) -> list[Path]:
    """Write every fixture into *out*; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fixture in cases():
        path = out / f"{fixture['name']}.json"
        path.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(written_path)
