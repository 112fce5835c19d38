"""Shape measures of annotations: ASAP's numbers, true areas, validity, splines, simplification.

With :mod:`viewer.annotations.measures` (the same measures of many annotations at once, for the
set summary), the only module that imports ``shapely``. Every function takes a coordinate list in
**slide space** (level-0 px, x right, y down; ASAP stores rings open, closure implicit) and returns
pixels unless its name says ``_um``/``_mm``. Pixel sizes (``mpp``, micrometres per pixel) come from the slide.

Two kinds of area exist on purpose:

* :func:`asap_area` is ASAP's own number (``Annotation::getArea``): the shoelace formula over the
  stored points with each term in float32. It is what ASAP's GUI shows, bit for bit, and what
  CAMELYON tooling reports. A bow-tie gives 0 and a Spline gives its control polygon's area.
* :func:`true_area` is the area of the region the mask rasteriser fills: the part of the plane with
  a non-zero winding number around the ring (so a bow-tie counts both lobes, a ring that loops twice
  counts once).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry

from viewer.annotations.model import Annotation, AnnotationSet, Group

#: A coordinate list (x, y) in slide space, or an (n, 2) array of them.
Coords = Sequence[tuple[float, float]] | np.ndarray

#: Types whose ring encloses an area (ASAP computes an "area" for every type; these mean one).
AREA_TYPES = frozenset({"Polygon", "Spline", "Rectangle"})
#: CAMELYON metastasis categories (the names of the CAMELYON17 ``stage_labels.csv``).
NEGATIVE, ITC, MICRO, MACRO = "negative", "itc", "micro", "macro"
_CATEGORY_RANK = {NEGATIVE: 0, ITC: 1, MICRO: 2, MACRO: 3}
#: Groups that mark non-tumour regions in the CAMELYON files (CAMELYON16 ``_2``, CAMELYON17
#: ``normal``, and ``negative`` as in tumor_039.xml); they never count towards a slide's category.
NON_TUMOUR_GROUPS = frozenset({"_2", "normal", "negative"})
_UM_PER_MM = 1000.0
_MAX_REPORTED_POINTS = 1000


def _array(coords: Coords) -> np.ndarray:
    """(n, 2) float64 array of *coords* (empty -> shape (0, 2))."""
    arr = np.asarray(coords, dtype=np.float64)
    return arr.reshape(-1, 2)


# --------------------------------------------------------------------------------------------------
# ASAP's measures (annotation/Annotation.cpp)


def asap_area(coords: Coords) -> float:
    """ASAP's area in px²: shoelace over the stored points, float32 terms, double sum, float32 result.

    Matches ``Annotation::getArea`` exactly: term ``(x[j]+x[i])*(y[j]-y[i])`` in float32, summed in
    double, ``|0.5*sum|`` rounded to float32. Applies to every type (a Dot gives 0).
    """
    pts = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
    if len(pts) == 0:
        return 0.0
    prev = np.roll(pts, 1, axis=0)
    terms = (prev[:, 0] + pts[:, 0]) * (prev[:, 1] - pts[:, 1])  # float32 arithmetic
    return float(np.float32(abs(_sequential_sum(terms) * 0.5)))


def _sequential_sum(terms: np.ndarray) -> float:
    """Left-to-right double sum, as C++'s loop does (numpy's pairwise sum rounds differently)."""
    total = 0.0
    for value in terms.astype(np.float64).tolist():
        total += value
    return total


def asap_group_area(aset: AnnotationSet, group: str | Group) -> float:
    """ASAP's group area in px²: a float32 running sum over sub-groups (recursively), then members.

    *group* is one of ``aset.groups`` or a name, meaning the group that name binds to (the last of
    that name). An earlier group sharing its name with a later one has no members and no
    sub-groups, so its area is 0, as in ASAP. A group that is its own ancestor (invalid)
    contributes nothing on the second visit.
    """
    bound = {id(g) for g in {g.name: g for g in aset.groups}.values()}

    def area(name: str, seen: frozenset[str]) -> np.float32:
        total = np.float32(0.0)
        for child in aset.children(name):
            if id(child) in bound and child.name not in seen:
                total = np.float32(total + area(child.name, seen | {child.name}))
        for member in aset.members(name):
            total = np.float32(total + np.float32(asap_area(member.coordinates)))
        return total

    if isinstance(group, Group):
        if id(group) not in bound:
            return 0.0
        group = group.name
    return float(area(group, frozenset({group})))


def is_clockwise(coords: Coords) -> bool:
    """ASAP's ``isClockwise``: Σ(x₂−x₁)(y₂+y₁) < 0 with float32 terms, i.e. clockwise on screen."""
    pts = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
    if len(pts) == 0:
        return False
    nxt = np.roll(pts, -1, axis=0)
    terms = (nxt[:, 0] - pts[:, 0]) * (nxt[:, 1] + pts[:, 1])
    return _sequential_sum(terms) < 0


def area_um2(coords: Coords, mpp: tuple[float, float]) -> float:
    """ASAP's area (:func:`asap_area`) in µm², given (mpp_x, mpp_y) in µm per level-0 pixel."""
    return asap_area(coords) * mpp[0] * mpp[1]


def area_mm2(coords: Coords, mpp: tuple[float, float]) -> float:
    """ASAP's area in mm²."""
    return area_um2(coords, mpp) / (_UM_PER_MM * _UM_PER_MM)


def measurement_length(coords: Coords) -> float:
    """ASAP's Measurement length in px: the distance from the first to the last point."""
    if len(coords) < 2:
        return 0.0
    (x0, y0), (x1, y1) = coords[0], coords[-1]
    return math.hypot(x1 - x0, y1 - y0)


def measurement_length_um(coords: Coords, mpp_x: float) -> float:
    """ASAP's Measurement length in µm: px length × x spacing only, as ASAP's viewer computes it."""
    return measurement_length(coords) * mpp_x


def bounding_box(coords: Coords) -> tuple[float, float, float, float]:
    """(min_x, min_y, max_x, max_y) of the stored points in px; (0, 0, 0, 0) for no points."""
    arr = _array(coords)
    if len(arr) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    lo, hi = arr.min(axis=0), arr.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


# --------------------------------------------------------------------------------------------------
# True geometry (shapely)


def perimeter(coords: Coords, closed: bool = True) -> float:
    """Length in px of the drawn outline: the closed ring (or the open polyline when not *closed*)."""
    arr = _array(coords)
    if len(arr) < 2:
        return 0.0
    if closed:
        arr = np.vstack([arr, arr[:1]])
    return float(np.sum(np.hypot(*np.diff(arr, axis=0).T)))


def _winding_numbers(points: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Non-zero winding numbers of *points* (m, 2) around the closed *ring* (n, 2), in double."""
    a, b = ring, np.roll(ring, -1, axis=0)
    wn = np.zeros(len(points), dtype=np.int64)
    for start in range(0, len(a), 4096):  # chunked: m × 4096 temporaries
        a0, b0 = a[start : start + 4096], b[start : start + 4096]
        px, py = points[:, :1], points[:, 1:]
        cross = (b0[:, 0] - a0[:, 0]) * (py - a0[:, 1]) - (px - a0[:, 0]) * (b0[:, 1] - a0[:, 1])
        up = (a0[:, 1] <= py) & (b0[:, 1] > py) & (cross > 0)
        down = (a0[:, 1] > py) & (b0[:, 1] <= py) & (cross < 0)
        wn += up.sum(axis=1) - down.sum(axis=1)
    return wn


def valid_polygon(coords: Coords) -> BaseGeometry:
    """The region with a non-zero winding number around the ring, as a valid (Multi)Polygon.

    That is the region the mask rasteriser fills. Fewer than 3 points give an empty polygon.
    """
    arr = _array(coords)
    if len(arr) < 3:
        return Polygon()
    simple = Polygon(arr)
    if simple.is_valid:
        return simple
    ring = LineString(np.vstack([arr, arr[:1]]))
    faces = [
        f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.node(ring)))) if f.area > 0
    ]
    if not faces:
        return Polygon()
    reps = np.array([f.representative_point().coords[0] for f in faces])
    keep = [f for f, wn in zip(faces, _winding_numbers(reps, arr), strict=True) if wn != 0]
    return shapely.union_all(keep) if keep else Polygon()


def true_area(coords: Coords) -> float:
    """Area in px² of :func:`valid_polygon` (a bow-tie counts both lobes, overlaps count once)."""
    return float(valid_polygon(coords).area)


def centroid(coords: Coords) -> tuple[float, float]:
    """Centre of mass in px: of the filled region for ≥3 points, else of the points themselves."""
    arr = _array(coords)
    if len(arr) == 0:
        return (0.0, 0.0)
    shape = valid_polygon(arr) if len(arr) >= 3 else Polygon()
    if shape.is_empty or shape.area == 0:
        mean = arr.mean(axis=0)
        return (float(mean[0]), float(mean[1]))
    c = shape.centroid
    return (float(c.x), float(c.y))


def longest_diameter(coords: Coords, mpp: tuple[float, float] | None = None) -> float:
    """Largest distance between two points of the annotation, in px (or µm when *mpp* is given).

    The diameter of a point set is that of its convex hull, so only hull vertices are compared.
    With anisotropic pixels the coordinates are scaled to µm first.
    """
    arr = _array(coords)
    if len(arr) < 2:
        return 0.0
    if mpp is not None:
        arr = arr * np.array([mpp[0], mpp[1]])
    hull = MultiPoint(arr).convex_hull
    pts = np.asarray(hull.exterior.coords if isinstance(hull, Polygon) else hull.coords)
    best = 0.0
    for start in range(0, len(pts), 1024):
        block = pts[start : start + 1024]
        d2 = ((block[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2)
        best = max(best, float(d2.max()))
    return math.sqrt(best)


# --------------------------------------------------------------------------------------------------
# Validity


@dataclass
class ValidityReport:
    """Whether a ring is a valid simple polygon, and where it is not (slide-space px)."""

    valid: bool
    reason: str
    #: Points where the ring crosses, touches or overlaps itself (at most 1000 listed).
    locations: list[tuple[float, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form: {"valid", "reason", "locations": [[x, y], ...]}."""
        return {"valid": self.valid, "reason": self.reason, "locations": [list(p) for p in self.locations]}


def self_intersections(coords: Coords) -> list[tuple[float, float]]:
    """Every point where the closed ring meets itself other than at consecutive edges, in px.

    Found by noding the ring: a node of degree other than 2 is a crossing, a touch or the end of an
    overlap. Duplicate consecutive vertices are not self-intersections.
    """
    arr = _array(coords)
    if len(arr) < 3:
        return []
    ring = LineString(np.vstack([arr, arr[:1]]))
    if ring.is_simple:
        return []
    parts = shapely.get_parts(shapely.node(ring))
    ends = np.concatenate(
        [
            shapely.get_coordinates(shapely.get_point(parts, 0)),
            shapely.get_coordinates(shapely.get_point(parts, -1)),
        ]
    )
    nodes, counts = np.unique(ends, axis=0, return_counts=True)
    return [(float(x), float(y)) for (x, y) in nodes[counts != 2][:_MAX_REPORTED_POINTS]]


def validity(coords: Coords) -> ValidityReport:
    """Validity of the annotation's ring as a polygon, with the locations of every problem."""
    arr = _array(coords)
    if len(arr) < 3:
        return ValidityReport(False, f"a polygon needs at least 3 points, got {len(arr)}")
    if len(np.unique(arr, axis=0)) < 3:
        return ValidityReport(False, "fewer than 3 distinct points")
    polygon = Polygon(arr)
    reason = shapely.is_valid_reason(polygon)
    if reason == "Valid Geometry":
        if polygon.area == 0:
            return ValidityReport(False, "zero area (all points on one line)")
        return ValidityReport(True, "valid")
    locations = self_intersections(arr)
    # GEOS names one location in the reason, e.g. "Self-intersection[5 5]"; keep it too.
    if "[" in reason and reason.endswith("]"):
        try:
            x, y = (float(v) for v in reason[reason.index("[") + 1 : -1].split()[:2])
            if (x, y) not in locations:
                locations.insert(0, (x, y))
        except ValueError:
            pass
    return ValidityReport(False, reason, locations[:_MAX_REPORTED_POINTS])


# --------------------------------------------------------------------------------------------------
# Splines (ASAP/annotation/PolyQtAnnotation.cpp)


def _f32(v: float) -> float:
    return float(np.float32(v))


def _catmull_rom_to_bezier(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """ASAP's ``catmullRomToBezier``: the two inner Bézier control points of segment p1→p2.

    Rounding follows the C++: distances and their roots are float, the weighted sums double, the
    results stored as float. Coincident points give NaN, as in ASAP.
    """
    d1 = _f32(math.sqrt((p1[0] - p0[0]) ** 2 + (p1[1] - p0[1]) ** 2))
    d2 = _f32(math.sqrt((p2[0] - p1[0]) ** 2 + (p2[1] - p1[1]) ** 2))
    d3 = _f32(math.sqrt((p3[0] - p2[0]) ** 2 + (p3[1] - p2[1]) ** 2))
    rd1, rd2, rd3 = _f32(math.sqrt(d1)), _f32(math.sqrt(d2)), _f32(math.sqrt(d3))
    w1 = _f32(_f32(_f32(2 * d1) + _f32(_f32(3 * rd1) * rd2)) + d2)
    w2 = _f32(_f32(_f32(2 * d3) + _f32(_f32(3 * rd3) * rd2)) + d2)
    den1 = _f32(_f32(3 * rd1) * _f32(rd1 + rd2))
    den2 = _f32(_f32(3 * rd3) * _f32(rd3 + rd2))

    def ratio(num: float, den: float) -> float:
        if den == 0:
            return math.nan
        return _f32(num / den)

    b1 = (
        ratio(d1 * p2[0] - d2 * p0[0] + w1 * p1[0], den1),
        ratio(d1 * p2[1] - d2 * p0[1] + w1 * p1[1], den1),
    )
    b2 = (
        ratio(d3 * p1[0] - d2 * p3[0] + w2 * p2[0], den2),
        ratio(d3 * p1[1] - d2 * p3[1] + w2 * p2[1], den2),
    )
    return b1, b2


Bezier = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


def spline_beziers(coords: Coords, closed: bool = True) -> list[Bezier]:
    """The cubic Bézier segments (start, control 1, control 2, end) ASAP draws for a Spline.

    A centripetal Catmull-Rom spline with ASAP's exact end conditions (ASAP_FORMAT.md §5): the first
    segment of a closed spline uses the last point as P0, every segment into the last point and
    the closing segment use reflected neighbours. Loaded and finished splines are *closed*.
    """
    pts = [(float(x), float(y)) for x, y in coords]
    n = len(pts)
    out: list[Bezier] = []
    if n < 2:
        return out

    def reflect(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        return (a[0] - (b[0] - a[0]), a[1] - (b[1] - a[1]))

    for i in range(n - 1):
        p1, p2 = pts[i], pts[i + 1]
        p0 = reflect(p1, p2)
        if i > 0:
            p0 = pts[i - 1]
        elif closed and n > 2:
            p0 = pts[n - 1]
        p3 = (p2[0] + (p2[0] - p1[0]), p2[1] + (p2[1] - p1[1]))
        if i < n - 2:
            p3 = pts[i + 2]
        b1, b2 = _catmull_rom_to_bezier(p0, p1, p2, p3)
        out.append((p1, b1, b2, p2))
    if closed:
        p1, p2 = pts[n - 1], pts[0]
        # ASAP means coords[n-2] here, but a shadowed variable keeps the reflection.
        p0 = reflect(p1, p2)
        b1, b2 = _catmull_rom_to_bezier(p0, p1, p2, pts[1])
        out.append((p1, b1, b2, p2))
    return out


def _flatten_bezier(b: Bezier, threshold: float, out: list[tuple[float, float]]) -> None:
    """Append the end points of Qt's flattening of one cubic (``QBezier::addToPolygon``)."""
    stack = [(b[0][0], b[0][1], b[1][0], b[1][1], b[2][0], b[2][1], b[3][0], b[3][1], 9)]
    while stack:
        x1, y1, x2, y2, x3, y3, x4, y4, level = stack[-1]
        y4y1, x4x1 = y4 - y1, x4 - x1
        length = abs(x4x1) + abs(y4y1)
        if length > 1.0:
            d = abs(x4x1 * (y1 - y2) - y4y1 * (x1 - x2)) + abs(x4x1 * (y1 - y3) - y4y1 * (x1 - x3))
        else:
            d = abs(x1 - x2) + abs(y1 - y2) + abs(x1 - x3) + abs(y1 - y3)
            length = 1.0
        if d < threshold * length or level == 0 or not math.isfinite(d):
            out.append((x4, y4))
            stack.pop()
            continue
        # de Casteljau split at t = 0.5; the first half is processed first (top of the stack).
        ax, ay = (x1 + x2) / 2, (y1 + y2) / 2
        bx, by = (x2 + x3) / 2, (y2 + y3) / 2
        cx, cy = (x3 + x4) / 2, (y3 + y4) / 2
        abx, aby = (ax + bx) / 2, (ay + by) / 2
        bcx, bcy = (bx + cx) / 2, (by + cy) / 2
        mx, my = (abx + bcx) / 2, (aby + bcy) / 2
        stack[-1] = (mx, my, bcx, bcy, cx, cy, x4, y4, level - 1)
        stack.append((x1, y1, ax, ay, abx, aby, mx, my, level - 1))


def flatten_spline(
    coords: Coords, closed: bool = True, threshold_px: float = 0.5
) -> list[tuple[float, float]]:
    """The polyline ASAP draws for a Spline, in px: its Bézier segments flattened the way Qt does.

    *threshold_px* is Qt's flatness threshold (0.5 of a device pixel in ASAP's view; here a level-0
    px unless you scale it). Consecutive duplicate control points are dropped first, because ASAP
    would draw NaN control points for them. For a closed spline the result ends at its start point.
    """
    pts: list[tuple[float, float]] = []
    for x, y in coords:
        point = (float(x), float(y))
        if not pts or point != pts[-1]:
            pts.append(point)
    if closed and len(pts) > 1 and pts[0] == pts[-1]:
        pts.pop()
    if len(pts) < 2:
        return pts
    out = [pts[0]]
    for bezier in spline_beziers(pts, closed=closed):
        _flatten_bezier(bezier, threshold_px, out)
    return out


# --------------------------------------------------------------------------------------------------
# Simplification


def simplify(coords: Coords, tolerance_px: float, closed: bool = True) -> list[tuple[float, float]]:
    """Douglas-Peucker simplification to *tolerance_px* (px), keeping the ring simple where that is
    affordable.

    A closed ring stays open-stored (no repeated first point) and keeps at least 3 points. Plain
    Douglas-Peucker comes first; only when it makes the outline cross itself, and the outline is
    small, is GEOS's topology-preserving simplifier used: that one costs seconds to a minute on a
    jagged 10^5-vertex outline (a 120,000-vertex star at 1 px: 47 s against 0.08 s, the same vertex
    count out), and the only caller draws the result, where a crossing within the tolerance is
    under a screen pixel.
    """
    arr = _array(coords)
    if tolerance_px <= 0 or len(arr) < 3:
        return [(float(x), float(y)) for x, y in arr]
    line = LineString(np.vstack([arr, arr[:1]])) if closed else LineString(arr)
    simple = shapely.simplify(line, tolerance_px, preserve_topology=False)
    if len(arr) <= _TOPOLOGY_PRESERVING_MAX_VERTICES and not simple.is_simple and line.is_simple:
        simple = shapely.simplify(line, tolerance_px, preserve_topology=True)
    out = np.asarray(simple.coords)
    if closed:
        out = out[:-1]
        if len(out) < 3:  # collapsed: keep the original rather than a degenerate shape
            return [(float(x), float(y)) for x, y in arr]
    return [(float(x), float(y)) for x, y in out]


#: Outlines up to this many vertices that plain Douglas-Peucker would make cross themselves are
#: simplified topology-preserving instead (tens of milliseconds at this size).
_TOPOLOGY_PRESERVING_MAX_VERTICES = 20_000


# --------------------------------------------------------------------------------------------------
# CAMELYON categories


def metastasis_category(diameter_um: float) -> str:
    """CAMELYON category from a longest diameter in µm.

    ``itc`` (isolated tumour cells) ≤ 0.2 mm, ``micro`` > 0.2 mm and ≤ 2 mm, ``macro`` > 2 mm.
    """
    if not math.isfinite(diameter_um) or diameter_um < 0:
        raise ValueError(f"diameter must be a finite non-negative number of µm, got {diameter_um!r}")
    if diameter_um <= 200.0:
        return ITC
    if diameter_um <= 2000.0:
        return MICRO
    return MACRO


def tumour_annotations(aset: AnnotationSet, groups: Iterable[str] | None = None) -> list[Annotation]:
    """The area annotations that count as tumour: in *groups* if given, else every area annotation
    outside the :data:`NON_TUMOUR_GROUPS`."""
    chosen = set(groups) if groups is not None else None
    result = []
    for a in aset.annotations:
        if a.type not in AREA_TYPES or len(a.coordinates) < 2:
            continue
        if chosen is not None and a.group not in chosen:
            continue
        if chosen is None and a.group in NON_TUMOUR_GROUPS:
            continue
        result.append(a)
    return result


def slide_metastasis_category(
    aset: AnnotationSet, mpp: tuple[float, float], groups: Iterable[str] | None = None
) -> str:
    """The largest CAMELYON category among the slide's tumour annotations (``negative`` if none)."""
    best = NEGATIVE
    for a in tumour_annotations(aset, groups):
        category = metastasis_category(longest_diameter(a.coordinates, mpp))
        if _CATEGORY_RANK[category] > _CATEGORY_RANK[best]:
            best = category
    return best


def measures(annotation: Annotation, mpp: tuple[float, float] | None = None) -> dict[str, Any]:
    """Every measure of one annotation as plain JSON (px always; µm/mm when *mpp* is known)."""
    coords = annotation.coordinates
    closed = annotation.type in AREA_TYPES or annotation.type == "None"
    out: dict[str, Any] = {
        "points": len(coords),
        "area_px2": asap_area(coords),
        "valid_area_px2": true_area(coords) if closed else 0.0,
        "perimeter_px": perimeter(coords, closed=closed),
        "longest_diameter_px": longest_diameter(coords),
        "bbox": list(bounding_box(coords)),
        "centroid": list(centroid(coords)),
        "clockwise": is_clockwise(coords),
    }
    if annotation.type == "Measurement":
        out["length_px"] = measurement_length(coords)
    if mpp is not None:
        out["area_um2"] = area_um2(coords, mpp)
        out["area_mm2"] = area_mm2(coords, mpp)
        out["valid_area_um2"] = out["valid_area_px2"] * mpp[0] * mpp[1]
        out["longest_diameter_um"] = longest_diameter(coords, mpp)
        if annotation.type in AREA_TYPES:
            out["category"] = metastasis_category(out["longest_diameter_um"])
        if annotation.type == "Measurement":
            out["length_um"] = measurement_length_um(coords, mpp[0])
    return out


def geometry_of(coords: Coords) -> BaseGeometry:
    """A shapely geometry for other modules' shape operations: Point, LineString or valid polygon."""
    arr = _array(coords)
    if len(arr) == 0:
        return Polygon()
    if len(arr) == 1:
        return Point(arr[0])
    if len(arr) == 2:
        return LineString(arr)
    return valid_polygon(arr)
