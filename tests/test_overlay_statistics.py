"""Per-annotation overlay statistics (viewer/overlays/statistics.py): the cells whose centre is
inside each closed annotation, checked against an independent winding-number test of every
centre, on a grid whose values encode their own cell."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.annotations.geometry import _winding_numbers, flatten_spline
from viewer.annotations.model import Annotation
from viewer.overlays.statistics import CellStatistics, annotation_statistics

SCALE = 8.0
ORIGIN = (100.0, 40.0)
H, W = 60, 90


def _grid() -> np.ndarray:
    """Value = column + 1000 * row (float32 holds these exactly)."""
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx + 1000 * yy).astype(np.float32)


def _expected(grid: np.ndarray, ring: list[tuple[float, float]]) -> CellStatistics:
    yy, xx = np.mgrid[0:H, 0:W]
    centres = np.column_stack([ORIGIN[0] + (xx.ravel() + 0.5) * SCALE,
                               ORIGIN[1] + (yy.ravel() + 0.5) * SCALE])
    inside = _winding_numbers(centres, np.asarray(ring, dtype=np.float64)) != 0
    values = grid.ravel()[inside]
    values = values[~np.isnan(values)]
    if not len(values):
        return CellStatistics(None, None, 0)
    return CellStatistics(float(values.max()), float(values.astype(np.float64).mean()), len(values))


@pytest.mark.parametrize("batch_cost", [0, 1 << 16, 1 << 40], ids=["swept", "default", "batched"])
def test_cells_whose_centre_is_inside_each_closed_annotation(batch_cost: int) -> None:
    """The same cells whether a ring is swept by the scanline engine or tested in a batch."""
    grid = _grid()
    grid[30:33, 40:45] = np.nan  # nodata: not counted
    triangle = [(150.3, 77.1), (611.9, 130.2), (333.3, 501.7)]
    rectangle = [(203.0, 203.0), (403.0, 203.0), (403.0, 303.0), (203.0, 303.0)]  # edges off the centres
    star = [(503.3 + 150 * np.cos(t) * (1 if k % 2 else 0.4), 301.7 + 150 * np.sin(t) * (1 if k % 2 else 0.4))
            for k, t in enumerate(np.linspace(0, 2 * np.pi, 20, endpoint=False))]
    over_nodata = [(100 + 40.2 * SCALE, 40 + 30.2 * SCALE), (100 + 44.8 * SCALE, 40 + 30.2 * SCALE),
                   (100 + 44.8 * SCALE, 40 + 32.8 * SCALE), (100 + 40.2 * SCALE, 40 + 32.8 * SCALE)]
    tiny = [(300.1, 300.1), (302.0, 300.1), (302.0, 302.0)]  # smaller than a cell: no centre inside
    spline = [(150.0, 150.0), (400.0, 160.0), (380.0, 400.0), (170.0, 380.0)]
    # 122 edges along cell boundaries (4 px from any centre): swept by the scanline engine by default
    top = [(100 + 8 * (10 + k + d), 40 + 8 * (10 + 2 * (k % 2))) for k in range(60) for d in (0, 1)]
    bottom = [(100 + 8 * 70, 40 + 8 * 25), (100 + 8 * 10, 40 + 8 * 25)]
    staircase = [(float(x), float(y)) for x, y in [*top, *bottom]]
    annotations = [
        Annotation("triangle", coordinates=triangle),
        Annotation("rectangle", type="Rectangle", coordinates=rectangle),
        Annotation("dot", type="Dot", coordinates=[(300.0, 300.0)]),
        Annotation("star", coordinates=[(float(x), float(y)) for x, y in star]),
        Annotation("ruler", type="Measurement", coordinates=[(150.0, 150.0), (500.0, 400.0)]),
        Annotation("nodata", coordinates=over_nodata),
        Annotation("tiny", coordinates=tiny),
        Annotation("spline", type="Spline", coordinates=spline),
        Annotation("outside", coordinates=[(-500.0, -500.0), (-400.0, -500.0), (-400.0, -400.0)]),
        Annotation("staircase", coordinates=staircase),
    ]
    got = annotation_statistics(grid, annotations, scale=SCALE, origin=ORIGIN, batch_cost=batch_cost)
    assert got[2] is None and got[4] is None  # open shapes
    assert got[0] == _expected(grid, triangle)
    assert got[0] is not None and got[0].cells > 100
    assert got[1] == _expected(grid, rectangle)
    # rectangle: columns whose centre 100 + (i + 0.5) * 8 lies in (203, 403): i = 13..37; rows 20..32
    assert got[1] == CellStatistics(32 * 1000 + 37.0, 26 * 1000 + 25.0, 25 * 13)
    assert got[3] == _expected(grid, [(float(x), float(y)) for x, y in star])
    assert got[5] == CellStatistics(None, None, 0)
    assert got[6] == CellStatistics(None, None, 0)
    assert got[7] == _expected(grid, flatten_spline(spline, closed=True))
    assert got[7] != _expected(grid, spline)  # the curve, not the control polygon
    assert got[8] == CellStatistics(None, None, 0)
    assert got[9] == _expected(grid, staircase)
    assert got[9] is not None and got[9].cells == 60 * 15 - 30 * 2  # every other column 2 rows shorter
    assert got[1] is not None and got[1].to_json() == {"max": 32037.0, "mean": 26025.0, "cells": 325}


def test_label_maps_and_a_slide_sized_outline() -> None:
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[:, 45:] = 3
    everything = [(0.0, 0.0), (1e6, 0.0), (1e6, 1e6), (0.0, 1e6)]  # long edges: no int wrap-around
    (stats,) = annotation_statistics(labels, [Annotation("all", coordinates=everything)], scale=SCALE,
                                     origin=ORIGIN)
    assert stats == CellStatistics(3.0, pytest.approx(1.5), H * W)


def test_the_batch_and_the_sweep_find_the_same_cells_at_asap_edges() -> None:
    """Centres within ASAP's ±1 band of an edge (short edges: a 400-gon) are decided by the ring's
    direction; the batched pairs and the scanline sweep decide them alike (either direction)."""
    grid = _grid()
    circle = [(float(450.1 + 230 * np.cos(t)), float(260.3 + 200 * np.sin(t)))
              for t in np.linspace(0, 2 * np.pi, 400, endpoint=False)]
    shapes = [Annotation("ccw", coordinates=circle), Annotation("cw", coordinates=circle[::-1])]
    swept = annotation_statistics(grid, shapes, scale=SCALE, origin=ORIGIN, batch_cost=0)
    batched = annotation_statistics(grid, shapes, scale=SCALE, origin=ORIGIN, batch_cost=1 << 40)
    assert swept == batched
    assert swept[0] == swept[1]
    assert swept[0] is not None and abs(swept[0].cells - _expected(grid, circle).cells) <= 8
