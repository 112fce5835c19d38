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
  hull has 200) compare each edge's first vertex with the edge's antipodal vertex and its
  neighbours (rotating calipers, the antipodal vertices of every edge of every hull found at once
  by one ``searchsorted`` over the edges' unwrapped angles). Every antipodal pair, the diameter's
  among them, is such a pair: a vertex v is antipodal to the vertices from the antipode of the
  edge into v to that of the edge out of v, and each of those but the last starts an edge whose
  antipode is v. The neighbours absorb the angles' rounding.

The diameters of many points are measured by two threads (GEOS and numpy release the GIL).

Python loops run over size classes (powers of two), never over annotations or points: the cold
summary of 5,000 annotations of 200 points is a few numpy and GEOS calls.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import shapely

#: Hulls with at most this many vertices (closing one included) compare every pair of vertices.
BRUTE_FORCE_MAX_VERTICES = 64
#: Vertices compared on each side of the antipodal one found by angle (absorbs angle rounding).
_WINDOW = 1
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
    exponents = np.ceil(np.log2(sizes[nonempty])).astype(np.int64)
    # (np.unique would import numpy.ma on first use: ~50 ms of a cold summary)
    return [(1 << int(e), nonempty[exponents == e]) for e in np.flatnonzero(np.bincount(exponents))]


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
    nonempty = sizes_of(offsets) > 0
    x = np.asarray(points[:, 0], dtype=np.float32)
    y = np.asarray(points[:, 1], dtype=np.float32)
    px, py = np.empty_like(x), np.empty_like(y)
    px[1:], py[1:] = x[:-1], y[:-1]
    first, last = offsets[:-1][nonempty], offsets[1:][nonempty] - 1
    px[first], py[first] = x[last], y[last]
    terms = (px + x) * (py - y)  # float32 arithmetic
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


def longest_diameters(
    points: np.ndarray, offsets: np.ndarray, scale: tuple[float, float], parallel: bool = True
) -> np.ndarray:
    """:func:`geometry.longest_diameter` of every annotation with the points scaled by *scale*
    (µm per px, x and y: the result is in µm); 0 for fewer than 2 points.

    With many points (and *parallel*), the second half of the annotations (by points) is measured
    by a worker thread while this one measures the first: GEOS and numpy's loops release the GIL,
    so two cores take about half the time."""
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = sizes_of(offsets)
    out = np.zeros(len(sizes), dtype=np.float64)
    todo = np.flatnonzero(sizes >= 2)
    if not len(todo):
        return out
    chosen, chosen_offsets = subset(np.asarray(points, dtype=np.float64).reshape(-1, 2), offsets, todo)
    scaled = chosen * np.array([scale[0], scale[1]])
    total = len(scaled)
    if not parallel or total < _PARALLEL_MIN_POINTS or len(todo) < 2:
        out[todo] = _diameters(scaled, chosen_offsets)
        return out
    half = min(max(int(np.searchsorted(chosen_offsets, total // 2)), 1), len(todo) - 1)
    cut = int(chosen_offsets[half])
    second = _worker().submit(_diameters, scaled[cut:], chosen_offsets[half:] - cut)
    first = _diameters(scaled[:cut], chosen_offsets[: half + 1])
    out[todo] = np.concatenate([first, second.result()])
    return out


def longest_diameters_later(
    points: np.ndarray, offsets: np.ndarray, scale: tuple[float, float]
) -> Future[np.ndarray]:
    """:func:`longest_diameters`, measured by the worker thread while the caller goes on."""
    return _worker().submit(longest_diameters, points, offsets, scale, False)


def _diameters(scaled: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The longest diameters of annotations of 2 points or more (already scaled)."""
    sizes = sizes_of(offsets)
    # one line string per annotation: GEOS hulls its vertices as it hulls a MultiPoint of them
    lines = shapely.linestrings(scaled, indices=np.repeat(np.arange(len(sizes)), sizes))
    hulls = shapely.convex_hull(lines)
    coords, owner = shapely.get_coordinates(hulls, return_index=True)
    hull_offsets = np.searchsorted(owner, np.arange(len(sizes) + 1))
    hull_sizes = np.diff(hull_offsets)
    best = np.zeros(len(sizes), dtype=np.float64)
    small = hull_sizes <= BRUTE_FORCE_MAX_VERTICES
    if small.any():
        best[small] = _pairwise_max(coords, hull_offsets, np.flatnonzero(small))
    if not small.all():
        best[~small] = _antipodal_max(coords, hull_offsets, np.flatnonzero(~small))
    out: np.ndarray = np.sqrt(best)
    return out


def _worker() -> ThreadPoolExecutor:
    """The one worker thread of :func:`longest_diameters`, made on first use in this process (a
    process forked after one was made, as gunicorn forks workers, has not the thread: a new one)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None or _WORKER[0] != os.getpid():
            _WORKER = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="diameters"))
        return _WORKER[1]


_WORKER: tuple[int, ThreadPoolExecutor] | None = None
_WORKER_LOCK = threading.Lock()
#: Below this many points one thread measures them all (a thread hand-off costs ~0.1 ms).
_PARALLEL_MIN_POINTS = 100_000


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
    of more than 3 vertices), found for every edge of every hull at once. 1-D arrays throughout:
    gathers of (n, 2) rows and 2-D index arithmetic cost several times more."""
    # the open rings one after the other; per vertex: its hull, the hull's first vertex and size
    sizes = sizes_of(offsets)[chosen] - 1
    starts = np.cumsum(sizes) - sizes
    hull = np.repeat(np.arange(len(chosen)), sizes)
    first = starts[hull]
    source = np.arange(len(hull)) + np.repeat(offsets[chosen] - starts, sizes)
    x, y = coords[source, 0], coords[source, 1]
    after = np.arange(1, len(hull) + 1)
    after[starts + sizes - 1] = starts  # each vertex's successor on its ring
    # counter-clockwise (GEOS makes them clockwise): a clockwise ring mirrored (x -> -x) is, and
    # mirroring changes no distance, not even in its rounding
    rx, ry = x - x[first], y - y[first]  # relative to a vertex: no cancellation in the sign
    clockwise = np.add.reduceat(rx * ry[after] - rx[after] * ry, starts) < 0
    x = np.where(clockwise[hull], -x, x)
    # edge angles, unwrapped per hull: a convex ring only turns left (turns in [0, pi))
    angle = np.arctan2(y[after] - y, x[after] - x)
    turn = np.diff(angle, prepend=angle[:1])
    turn = np.clip(np.mod(turn + np.pi, 2 * np.pi) - np.pi, 0.0, None)
    turn[starts] = 0.0
    total = np.cumsum(turn)
    lift = 8 * np.pi * hull  # hulls 8 pi apart: one increasing sequence for all
    unwrapped = (angle[starts] - total[starts])[hull] + total + lift
    # edge i's antipodal vertex is the one between the edges whose angles bracket its angle + pi
    # (taken within the hull's first turn): searchsorted gives the later edge's index, 0..size
    target = unwrapped + np.pi
    target -= np.where(target >= unwrapped[first] + 2 * np.pi, 2 * np.pi, 0.0)
    found = np.searchsorted(unwrapped, target) - first
    # each ring padded with its last _WINDOW vertices before and first _WINDOW + 1 after, so that
    # found + shift needs no modulo
    pad = 2 * _WINDOW + 1
    padded_starts = starts + pad * np.arange(len(chosen))
    width = np.repeat(sizes + pad, sizes + pad)
    local = np.arange(len(width)) - np.repeat(padded_starts, sizes + pad) - _WINDOW
    ring_index = np.repeat(starts, sizes + pad) + np.mod(local, width - pad)
    px, py = x[ring_index], y[ring_index]
    centre = padded_starts[hull] + _WINDOW + found
    best = np.zeros(len(hull), dtype=np.float64)
    for shift in range(-_WINDOW, _WINDOW + 1):
        dx, dy = x - px[centre + shift], y - py[centre + shift]
        np.maximum(best, dx * dx + dy * dy, out=best)
    out: np.ndarray = np.maximum.reduceat(best, starts)
    return out
