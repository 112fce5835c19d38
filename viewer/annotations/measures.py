"""Measures of many annotations at once (the set summary), vectorised over one flat point array.

Every function takes *points*, an (N, 2) float64 array of every annotation's points one after the
other (slide space, level-0 px), and *offsets*, the (n + 1,) int64 start of each annotation in it
(annotation ``k`` is ``points[offsets[k]:offsets[k + 1]]``), and returns one value per annotation,
equal bit for bit to what :mod:`viewer.annotations.geometry`'s function of one annotation returns:

* :func:`asap_areas`: :func:`geometry.asap_area` (float32 shoelace terms, left-to-right double sum);
* :func:`bounding_boxes`: :func:`geometry.bounding_box`;
* :func:`longest_diameters`: :func:`geometry.longest_diameter` (the largest ``dx*dx + dy*dy`` over
  pairs of vertices of the GEOS convex hull of the scaled points). Hulls of up to
  :data:`BRUTE_FORCE_MAX_VERTICES` vertices compare every pair; bigger ones (a 200-vertex circle's
  hull has 200) compare each edge's end points with the vertices around the edge's antipodal
  vertex (rotating calipers, found for every edge of every hull at once by one ``searchsorted``
  over the edges' unwrapped angles), which include the diameter's pair.

Python loops run over size classes (powers of two), never over annotations or points: the cold
summary of 5,000 annotations of 200 points is a few numpy and GEOS calls.
"""

from __future__ import annotations

import numpy as np
import shapely

#: Hulls with at most this many vertices (closing one included) compare every pair of vertices.
BRUTE_FORCE_MAX_VERTICES = 64
#: Antipodal vertices compared on each side of the one found by angle (absorbs angle rounding).
_WINDOW = 2
#: Elements of one brute-force block (k hulls x w x w distances).
_BLOCK = 1 << 20


def sizes_of(offsets: np.ndarray) -> np.ndarray:
    """Points per annotation."""
    return np.diff(np.asarray(offsets, dtype=np.int64))


def subset(points: np.ndarray, offsets: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points and offsets of the *chosen* annotations (indices, increasing) alone."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = sizes_of(offsets)
    if len(chosen) == len(sizes):
        return points, offsets
    keep = np.zeros(len(sizes), dtype=bool)
    keep[chosen] = True
    out = np.zeros(len(chosen) + 1, dtype=np.int64)
    np.cumsum(sizes[chosen], out=out[1:])
    return points[np.repeat(keep, sizes)], out


def _size_classes(sizes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(width, annotation indices) for every power-of-two width that some non-empty size needs."""
    nonempty = np.flatnonzero(sizes > 0)
    widths = np.left_shift(1, np.ceil(np.log2(sizes[nonempty])).astype(np.int64))
    return [(int(w), nonempty[widths == w]) for w in np.unique(widths)]


def _padded(
    values: np.ndarray, offsets: np.ndarray, chosen: np.ndarray, width: int, fill: np.ndarray | float
) -> np.ndarray:
    """The rows ``values[offsets[k]:offsets[k + 1]]`` of the *chosen* annotations, each padded to
    *width* with *fill* (a scalar, or one row per chosen annotation): shape (len(chosen), width, ...)."""
    starts, sizes = offsets[chosen], offsets[chosen + 1] - offsets[chosen]
    out = np.empty((len(chosen), width, *values.shape[1:]), dtype=values.dtype)
    out[...] = fill[:, None] if isinstance(fill, np.ndarray) else fill
    row = np.repeat(np.arange(len(chosen)), sizes)
    col = np.arange(len(row)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[row, col] = values[np.repeat(starts, sizes) + col]
    return out


def sequential_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The left-to-right double sum of each annotation's *values* (as C++'s loop and ``np.cumsum``
    add; ``np.add.reduceat`` and ``sum`` add pairwise and round differently). Padding with
    trailing zeros changes no sum, so each size class is one ``cumsum`` over rows."""
    offsets = np.asarray(offsets, dtype=np.int64)
    out = np.zeros(len(offsets) - 1, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    for width, chosen in _size_classes(sizes_of(offsets)):
        rows = _padded(values, offsets, chosen, width, 0.0)
        out[chosen] = np.cumsum(rows, axis=1)[:, -1]
    return out


def asap_areas(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """:func:`geometry.asap_area` of every annotation: float32 terms ``(x[j]+x[i])*(y[j]-y[i])``
    with j the previous point (cyclically), summed left to right in double, |sum/2| in float32."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = sizes_of(offsets)
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    previous = np.arange(len(pts)) - 1
    nonempty = sizes > 0
    previous[offsets[:-1][nonempty]] = offsets[1:][nonempty] - 1
    prev = pts[previous]
    terms = (prev[:, 0] + pts[:, 0]) * (prev[:, 1] - pts[:, 1])  # float32 arithmetic
    totals = sequential_sums(terms, offsets)
    return np.abs(totals * 0.5).astype(np.float32).astype(np.float64)


def bounding_boxes(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n, 4) of :func:`geometry.bounding_box`: min x, min y, max x, max y; zeros for no points."""
    offsets = np.asarray(offsets, dtype=np.int64)
    out = np.zeros((len(offsets) - 1, 4), dtype=np.float64)
    nonempty = np.flatnonzero(sizes_of(offsets) > 0)
    if len(nonempty):
        starts = offsets[nonempty]  # the non-empty annotations' rows partition the points
        out[nonempty, :2] = np.minimum.reduceat(points, starts, axis=0)
        out[nonempty, 2:] = np.maximum.reduceat(points, starts, axis=0)
    return out


def longest_diameters(points: np.ndarray, offsets: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """:func:`geometry.longest_diameter` of every annotation with the points scaled by *scale*
    (µm per px, x and y: the result is in µm); 0 for fewer than 2 points."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = sizes_of(offsets)
    out = np.zeros(len(sizes), dtype=np.float64)
    todo = np.flatnonzero(sizes >= 2)
    if not len(todo):
        return out
    scaled = np.asarray(points, dtype=np.float64).reshape(-1, 2) * np.array([scale[0], scale[1]])
    keep = np.repeat(sizes >= 2, sizes)
    # one line string per annotation: GEOS hulls its vertices as it hulls a MultiPoint of them
    lines = shapely.linestrings(scaled[keep], indices=np.repeat(np.arange(len(todo)), sizes[todo]))
    hulls = shapely.convex_hull(lines)
    coords, owner = shapely.get_coordinates(hulls, return_index=True)
    hull_offsets = np.searchsorted(owner, np.arange(len(todo) + 1))
    hull_sizes = np.diff(hull_offsets)
    best = np.zeros(len(todo), dtype=np.float64)
    small = hull_sizes <= BRUTE_FORCE_MAX_VERTICES
    if small.any():
        best[small] = _pairwise_max(coords, hull_offsets, np.flatnonzero(small))
    if not small.all():
        best[~small] = _antipodal_max(coords, hull_offsets, np.flatnonzero(~small))
    out[todo] = np.sqrt(best)
    return out


def _pairwise_max(coords: np.ndarray, offsets: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Largest ``dx*dx + dy*dy`` over every pair of vertices of each chosen hull (padded with its
    first vertex, which adds no new distance)."""
    out = np.zeros(len(offsets) - 1, dtype=np.float64)
    sizes = sizes_of(offsets)
    for width, group in _size_classes(sizes[chosen]):
        hulls = chosen[group]
        step = max(1, _BLOCK // (width * width))
        for start in range(0, len(hulls), step):
            part = hulls[start : start + step]
            rows = _padded(coords, offsets, part, width, coords[offsets[part]])
            dx = rows[:, :, None, 0] - rows[:, None, :, 0]
            dy = rows[:, :, None, 1] - rows[:, None, :, 1]
            out[part] = (dx * dx + dy * dy).reshape(len(part), -1).max(axis=1)
    chosen_out: np.ndarray = out[chosen]
    return chosen_out


def _antipodal_max(coords: np.ndarray, offsets: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Largest ``dx*dx + dy*dy`` over the antipodal pairs of each chosen hull (closed polygon rings
    of more than 3 vertices), found for every edge of every hull at once."""
    # the open rings, counter-clockwise, one after the other; per edge: its hull's start and size
    sizes = sizes_of(offsets)[chosen] - 1
    starts = np.cumsum(sizes) - sizes
    hull = np.repeat(np.arange(len(chosen)), sizes)
    first, size = starts[hull], sizes[hull]
    local = np.arange(len(hull)) - first
    base = offsets[chosen][hull]
    nxt = first + (local + 1) % size
    rel = coords[base + local] - coords[base]  # relative to a vertex: no cancellation below
    clockwise = np.add.reduceat(rel[:, 0] * rel[nxt, 1] - rel[nxt, 0] * rel[:, 1], starts) < 0
    ring = coords[base + np.where(clockwise[hull], size - 1 - local, local)]
    x, y = ring[:, 0].copy(), ring[:, 1].copy()
    # edge angles, unwrapped per hull: a convex ring only turns left (turns in [0, pi))
    angle = np.arctan2(y[nxt] - y, x[nxt] - x)
    turn = np.clip(np.mod(np.diff(angle, prepend=angle[:1]) + np.pi, 2 * np.pi) - np.pi, 0.0, None)
    turn[starts] = 0.0
    total = np.cumsum(turn)
    unwrapped = angle[first] + total - total[first] + 8 * np.pi * hull  # hulls 8pi apart
    # each hull's angles twice (the second turn +2pi): one increasing sequence
    seq = np.empty(2 * len(hull), dtype=np.float64)
    seq[local + 2 * first] = unwrapped
    seq[local + 2 * first + size] = unwrapped + 2 * np.pi
    # the vertex between the edges whose angles bracket edge i's + pi is antipodal to edge i
    found = np.searchsorted(seq, unwrapped + np.pi) - 2 * first
    window = np.arange(-_WINDOW, _WINDOW + 1)
    other = first[:, None] + (found[:, None] + window) % size[:, None]
    ox, oy = x[other], y[other]
    best = np.zeros(len(hull), dtype=np.float64)
    for end in (np.arange(len(hull)), nxt):
        dx, dy = x[end][:, None] - ox, y[end][:, None] - oy
        best = np.maximum(best, (dx * dx + dy * dy).max(axis=1))
    out: np.ndarray = np.maximum.reduceat(best, starts)
    return out
