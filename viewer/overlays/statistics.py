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

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.annotations.geometry import AREA_TYPES, flatten_spline
from viewer.annotations.mask_raster import MAX_CELLS, RingRaster
from viewer.annotations.masks import plan_mask
from viewer.annotations.model import Annotation, AnnotationSet


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
) -> list[CellStatistics | None]:
    """The statistics of each of *annotations* over *grid* (``[y, x]``, float NaN = nodata), in
    order; None for an open shape (:func:`is_closed` false)."""
    closed = [k for k, a in enumerate(annotations) if is_closed(a)]
    rings = AnnotationSet(annotations=[Annotation("", coordinates=outline(annotations[k])) for k in closed])
    plan = plan_mask(rings, asap_int_overflow=False)  # every ring, in order, labelled 1
    xs = cell_centres(grid.shape[1], origin[0], scale)
    ys = cell_centres(grid.shape[0], origin[1], scale)
    floating = np.issubdtype(grid.dtype, np.floating)
    out: list[CellStatistics | None] = [None] * len(annotations)
    for k, ring in zip(closed, plan.rings, strict=True):
        sweep = RingRaster(ring.x0, ring.y0, ring.y1, ring.dx, ring.dyp, ring.bbox, xs, ys, plan.int_limit)
        largest, total, cells = -math.inf, 0.0, 0
        step = max(1, MAX_CELLS // (sweep.ncols + 1))
        for row in range(sweep.r_lo, sweep.r_lo if sweep.empty else sweep.r_hi, step):
            count = min(step, sweep.r_hi - row)
            inside = sweep.rows(count)
            values = np.asarray(grid[row : row + count, sweep.c_lo : sweep.c_hi])[inside]
            if floating:
                values = values[~np.isnan(values)]
            if len(values):
                largest = max(largest, float(values.max()))
                total += float(values.sum(dtype=np.float64))
                cells += len(values)
        out[k] = CellStatistics(largest, total / cells, cells) if cells else CellStatistics(None, None, 0)
    return out
