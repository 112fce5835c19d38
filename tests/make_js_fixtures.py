"""Write the fixtures the browser's geometry tests compare against: the Python geometry module's
own results (``viewer.annotations.geometry``, ``viewer.annotations.geojson.parse_color``) for the
same inputs, so the JS ports in ``static/js/layers/`` can never drift from them.

    python tests/make_js_fixtures.py            # rewrite tests/js/fixtures/geometry.json
    python tests/make_js_fixtures.py --check    # exit 1 if the committed file is out of date

Inputs: the first two Splines (of up to 200 points) of each real ASAP file in
``tests/data/asap/real`` (ASAP's own curves), seeded random control polygons (open and closed, two
flatness thresholds), measures of real annotations, colour strings, and points against real
outlines for the hit-test geometry. NaN (ASAP's coincident control points) is written as null.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from viewer.annotations import geometry  # noqa: E402
from viewer.annotations.asap import read_asap  # noqa: E402
from viewer.annotations.geojson import parse_color  # noqa: E402

REAL = ROOT / "tests" / "data" / "asap" / "real"
OUT = ROOT / "tests" / "js" / "fixtures" / "geometry.json"
SPLINE_FILES = ["tumor_009.xml", "tumor_111.xml", "tumor_076.xml", "OSCAR_AH_4006_OSCC_Biopsy.xml",
                "elm-asap-pathology-format_sampleXml.xml"]
MEASURE_FILES = ["tumor_111.xml", "tumor_031.xml", "normal_042.xml", "patient_004_node_4.xml"]


def _num(v: float) -> float | None:
    return None if math.isnan(v) else v


def _pts(points: list[tuple[float, float]]) -> list[list[float | None]]:
    return [[_num(x), _num(y)] for x, y in points]


def _splines() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for name in SPLINE_FILES:
        aset = read_asap(REAL / name)
        for a in [a for a in aset.annotations if a.type == "Spline" and len(a.coordinates) <= 200][:2]:
            coords = [(float(x), float(y)) for x, y in a.coordinates]
            cases.append({"source": f"{name}: {a.name}", "points": coords, "closed": True, "threshold": 0.5,
                          "flat": _pts(geometry.flatten_spline(coords, closed=True, threshold_px=0.5))})
    rng = random.Random(12)
    for i in range(12):
        n = rng.randint(2, 9)
        scale = rng.choice([3.0, 50.0, 4000.0])
        base = (rng.uniform(0, 90000), rng.uniform(0, 90000))
        coords = [(round(base[0] + rng.uniform(-scale, scale), 3),
                   round(base[1] + rng.uniform(-scale, scale), 3)) for _ in range(n)]
        if i == 3:
            coords.insert(2, coords[1])  # a consecutive duplicate: dropped first
        closed = i % 3 != 2
        threshold = 0.5 if i % 2 else 2.0
        cases.append({"source": f"random {i}", "points": coords, "closed": closed, "threshold": threshold,
                      "flat": _pts(geometry.flatten_spline(coords, closed=closed, threshold_px=threshold))})
    return cases


def _measures() -> list[dict[str, Any]]:
    cases = []
    mpp = (0.243, 0.25)
    for name in MEASURE_FILES:
        aset = read_asap(REAL / name)
        for a in aset.annotations[:6]:
            coords = [(float(x), float(y)) for x, y in a.coordinates]
            cases.append({
                "source": f"{name}: {a.name}", "type": a.type, "points": coords,
                "asap_area": geometry.asap_area(coords),
                "measurement_length": geometry.measurement_length(coords),
                "longest_diameter": geometry.longest_diameter(coords),
                "longest_diameter_um": geometry.longest_diameter(coords, mpp),
            })
    return cases


def _hits() -> list[dict[str, Any]]:
    """Points near and inside real outlines: inside (non-zero = even-odd for these simple rings)
    and the distance to the outline, from shapely through the geometry module."""
    aset = read_asap(REAL / "tumor_111.xml")
    rng = random.Random(7)
    cases = []
    for a in aset.annotations[:3]:
        coords = [(float(x), float(y)) for x, y in a.coordinates]
        shape = geometry.geometry_of(coords)
        x0, y0, x1, y1 = geometry.bounding_box(coords)
        probes = []
        for _ in range(40):
            px, py = rng.uniform(x0 - 20, x1 + 20), rng.uniform(y0 - 20, y1 + 20)
            point = geometry.geometry_of([(px, py)])
            probes.append({"x": px, "y": py, "inside": bool(shape.contains(point)),
                           "edge": float(shape.boundary.distance(point)),
                           "line": float(geometry.geometry_of(coords[:2]).distance(point))})
        cases.append({"source": f"tumor_111.xml: {a.name}", "points": coords, "probes": probes})
    return cases


def build() -> dict[str, Any]:
    """Every fixture as one JSON document."""
    colours = ["#ff0000", "#F4FA58", "#64FE2E", "#abc", "#80ff8000", "#fff000fff", "#ffff00000000",
               "red", "Lime", " blue ", "grey", "#12345", "ff0000", "#gg0000", "", "#", "chartreuse"]
    diameters = [0.0, 199.9, 200.0, 200.0001, 1999.0, 2000.0, 2000.5, 12345.0]
    return {
        "generator": "tests/make_js_fixtures.py",
        "splines": _splines(),
        "measures": _measures(),
        "hits": _hits(),
        "colors": [{"text": t, "rgb": list(rgb) if (rgb := parse_color(t)) else None} for t in colours],
        "categories": [{"diameter_um": d, "category": geometry.metastasis_category(d)} for d in diameters],
    }


def render() -> str:
    """The fixture file's exact text."""
    doc = build()
    # one case per line: diffs stay readable and the file small
    lines = [f"{json.dumps(k)}: [\n" + ",\n".join(json.dumps(c, allow_nan=False, separators=(",", ":"))
                                                   for c in v) + "\n]"
             if isinstance(v, list) else f"{json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    """Write the fixtures, or with ``--check`` say whether the committed ones are current."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python tests/make_js_fixtures.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
