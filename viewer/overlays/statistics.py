"""Per-annotation overlay statistics: the largest and mean value of the grid cells whose *centre*
lies inside each closed annotation (Polygon, Rectangle, Spline: its flattened outline), as the
annotation list shows them. No Flask.

Cell (i, j)'s centre is the slide point ``(origin_x + (i + 0.5) * scale, origin_y + (j + 0.5) *
scale)`` (the convention of :mod:`viewer.overlays.contours`). Inside is ASAP's rule, rasterised by
:mod:`viewer.annotations.mask_raster` (the engine of our training masks): the non-zero winding
number of the closed ring, points strictly inside its bounding box, evaluated on those centres
instead of integer pixels (ASAP's x86 INT_MIN quirk off: cross products of long edges of a
slide-sized outline are meant, not wrapped). Nodata cells are not counted: ``cells`` is the number
of cells with a value, and ``max``/``mean`` are None when there are none (an annotation smaller
than a cell, or over nodata). Open shapes (dots, point sets, measurements, lines) get no entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.annotations import measures
from viewer.annotations.geometry import AREA_TYPES, flatten_spline
from viewer.annotations.mask_raster import MAX_CELLS, RingRaster, _chunks, _expand
from viewer.annotations.model import Annotation

_ONE = np.float32(1.0)
_FLT_MIN = float(np.finfo(np.float32).tiny)  # ASAP's bbox max corner starts here, not at -FLT_MAX

#: Rings whose window cells x edges are at most this are tested together (see ring_statistics).
BATCH_COST = 1 << 16
#: (cell, edge) pairs evaluated at once (bounds the temporaries, ~40 bytes each).
_MAX_PAIRS = 1 << 21


@dataclass(frozen=True)
class CellStatistics:
    """The cells of one annotation: largest and mean value (None without cells), count."""

    max: float | None
    mean: float | None
    cells: int

    def to_json(self) -> dict[str, float | int | None]:
        """``{"max", "mean", "cells"}``."""
        return {"max": self.max, "mean": self.mean, "cells": self.cells}


def is_closed(annotation: Annotation) -> bool:
    """Whether *annotation* encloses an area statistics are taken over (3 points at least)."""
    return annotation.type in AREA_TYPES and len(annotation.coordinates) >= 3


def outline(annotation: Annotation) -> list[tuple[float, float]]:
    """The ring the cells are tested against: the points, or a Spline's flattened curve."""
    if annotation.type == "Spline":
        return flatten_spline(annotation.coordinates, closed=True)
    return annotation.coordinates


def cell_centres(count: int, origin: float, scale: float) -> np.ndarray:
    """Slide coordinates of the centres of cells 0..count-1 along one axis."""
    centres: np.ndarray = origin + (np.arange(count, dtype=np.float64) + 0.5) * scale
    return centres


def annotation_statistics(
    grid: np.ndarray,
    annotations: Sequence[Annotation],
    *,
    scale: float,
    origin: tuple[float, float] = (0.0, 0.0),
    batch_cost: int = BATCH_COST,
) -> list[CellStatistics | None]:
    """The statistics of each of *annotations* over *grid* (``[y, x]``, float NaN = nodata), in
    order; None for an open shape (:func:`is_closed` false). *batch_cost*: see :func:`ring_statistics`."""
    closed = [k for k, a in enumerate(annotations) if is_closed(a)]
    rings = [np.asarray(outline(annotations[k]), dtype=np.float64).reshape(-1, 2) for k in closed]
    offsets = np.zeros(len(rings) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rings], out=offsets[1:])
    points = np.concatenate(rings) if rings else np.zeros((0, 2))
    found = ring_statistics(grid, points, offsets, scale=scale, origin=origin, batch_cost=batch_cost)
    out: list[CellStatistics | None] = [None] * len(annotations)
    for k, stats in zip(closed, found, strict=True):
        out[k] = stats
    return out


def ring_statistics(
    grid: np.ndarray,
    points: np.ndarray,
    offsets: np.ndarray,
    *,
    scale: float,
    origin: tuple[float, float] = (0.0, 0.0),
    batch_cost: int = BATCH_COST,
) -> list[CellStatistics]:
    """The statistics of closed rings (ring k is ``points[offsets[k]:offsets[k + 1]]``, slide space,
    3 points or more) over *grid*.

    A ring whose window (the cells strictly inside its bounding box) times its edges is at most
    *batch_cost* is tested with many others at once: every (cell, edge) pair of them evaluated in
    one numpy pass with the scanline engine's exact float32 predicate (ASAP's ``isLeft`` against
    ±1 on the rows an edge spans, summed into winding numbers), so that thousands of small regions
    cost a few array operations rather than a sweep each. Larger rings are swept by
    :class:`~viewer.annotations.mask_raster.RingRaster`. Both give the same cells.
    """
    edges = _Edges(points, offsets)
    xs = cell_centres(grid.shape[1], origin[0], scale)
    ys = cell_centres(grid.shape[0], origin[1], scale)
    c_lo = np.searchsorted(xs, edges.bbox[:, 0], "right")
    c_hi = np.searchsorted(xs, edges.bbox[:, 2], "left")
    r_lo = np.searchsorted(ys, edges.bbox[:, 1], "right")
    r_hi = np.searchsorted(ys, edges.bbox[:, 3], "left")
    width, height = np.maximum(c_hi - c_lo, 0), np.maximum(r_hi - r_lo, 0)
    cells = width * height
    cost = cells * edges.sizes
    floating = np.issubdtype(grid.dtype, np.floating)
    largest = np.full(len(cost), -np.inf)
    total = np.zeros(len(cost))
    count = np.zeros(len(cost), dtype=np.int64)
    batched = np.flatnonzero((cost <= batch_cost) & (cells > 0))
    for part in _chunks(cost[batched], _MAX_PAIRS):
        rings = batched[part]
        owner, rank = _expand(cells[rings])  # every window cell of these rings
        row = r_lo[rings][owner] + rank // width[rings][owner]
        col = c_lo[rings][owner] + rank % width[rings][owner]
        inside = edges.winding(rings, owner, xs[col], ys[row]) != 0
        _add_values(grid, rings[owner[inside]], row[inside], col[inside], largest, total, count)
    for k in np.flatnonzero((cost > batch_cost) & (cells > 0)).tolist():
        sweep = edges.sweep(k, xs, ys)
        step = max(1, MAX_CELLS // (sweep.ncols + 1))
        for first in range(sweep.r_lo, sweep.r_hi, step):
            rows = min(step, sweep.r_hi - first)
            inside = sweep.rows(rows)
            values = np.asarray(grid[first : first + rows, sweep.c_lo : sweep.c_hi])[inside]
            if floating:
                values = values[~np.isnan(values)]
            if len(values):
                largest[k] = max(largest[k], float(values.max()))
                total[k] += float(values.sum(dtype=np.float64))
                count[k] += len(values)
    return [
        CellStatistics(float(largest[k]), float(total[k] / count[k]), int(count[k])) if count[k]
        else CellStatistics(None, None, 0)
        for k in range(len(cost))
    ]


def _add_values(grid: np.ndarray, ring: np.ndarray, row: np.ndarray, col: np.ndarray,
                largest: np.ndarray, total: np.ndarray, count: np.ndarray) -> None:
    """Add the values of cells (row, col), each inside ring *ring* (grouped: each ring's cells one
    run), to the rings' running figures (nodata left out)."""
    values = np.asarray(grid[row, col], dtype=np.float64)
    valid = ~np.isnan(values)
    ring, values = ring[valid], values[valid]
    if not len(ring):
        return
    starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    which = ring[starts]
    largest[which] = np.maximum(largest[which], np.maximum.reduceat(values, starts))
    total[which] += np.add.reduceat(values, starts)
    count[which] += np.diff(np.r_[starts, len(ring)])


class _Edges:
    """The float32 edges of closed rings, as ASAP's ``isLeft`` uses them (``dx = fl(x1 - x0)``,
    ``dyp = fl(y0 - y1)``), and each ring's bounding box as ASAP computes it."""

    def __init__(self, points: np.ndarray, offsets: np.ndarray) -> None:
        p32 = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.sizes = np.diff(self.offsets)
        after = np.arange(1, len(p32) + 1)
        after[self.offsets[1:] - 1] = self.offsets[:-1]  # each ring's last point joins its first
        # ASAP reverses every ring that is not clockwise (isClockwise: Σ(x₂−x₁)(y₂+y₁) < 0 in
        # float32 terms) before testing: its ±1 thresholds leave a band along each edge whose side
        # depends on the direction, so the direction decides the cells right at an edge
        terms = (p32[after, 0] - p32[:, 0]) * (p32[after, 1] + p32[:, 1])
        turned = np.repeat(measures.sequential_sums(terms, self.offsets) >= 0, self.sizes)
        ring = np.repeat(np.arange(len(self.sizes)), self.sizes)
        index = np.arange(len(p32))
        p32 = p32[np.where(turned, self.offsets[ring] + self.offsets[ring + 1] - 1 - index, index)]
        self.x0, self.y0 = p32[:, 0], p32[:, 1]
        self.y1 = self.y0[after]
        self.dx = self.x0[after] - self.x0
        self.dyp = self.y0 - self.y1
        starts = self.offsets[:-1]
        self.bbox = np.zeros((len(starts), 4))
        if len(p32):
            self.bbox[:, :2] = np.minimum.reduceat(p32, starts, axis=0)
            self.bbox[:, 2:] = np.maximum(np.maximum.reduceat(p32, starts, axis=0), _FLT_MIN)

    def winding(self, rings: np.ndarray, owner: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Non-zero winding numbers of points (*px*, *py*), point i against ring ``rings[owner[i]]``:
        per (point, edge) pair, +1 for an upward edge spanning the point's row (y0 <= py < y1)
        with isLeft >= 1, -1 for a downward one (y1 <= py < y0) with isLeft <= -1."""
        first, sizes = self.offsets[rings][owner], self.sizes[rings][owner]
        point, rank = _expand(sizes)
        e = first[point] + rank
        y0, y1, py64 = self.y0[e], self.y1[e], py[point]
        up = (y0 <= py64) & (py64 < y1)
        down = (y1 <= py64) & (py64 < y0)
        py32, px32 = py64.astype(np.float32), px[point].astype(np.float32)
        is_left = self.dx[e] * (y0 - py32) - (px32 - self.x0[e]) * self.dyp[e]  # float32 throughout
        step = (up & (is_left >= _ONE)).astype(np.int64) - (down & (is_left <= -_ONE))
        winding: np.ndarray = np.bincount(point, weights=step, minlength=len(px))
        return winding

    def sweep(self, k: int, xs: np.ndarray, ys: np.ndarray) -> RingRaster:
        """Ring *k*'s scanline sweep over the cell centres (ASAP's INT_MIN quirk off)."""
        s = slice(int(self.offsets[k]), int(self.offsets[k + 1]))
        x_lo, y_lo, x_hi, y_hi = (float(v) for v in self.bbox[k])
        bbox = (x_lo, y_lo, x_hi, y_hi)
        return RingRaster(self.x0[s], self.y0[s], self.y1[s], self.dx[s], self.dyp[s], bbox, xs, ys,
                          np.float32(np.inf))
