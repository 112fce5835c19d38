"""ASAP's AnnotationToMask per-pixel loop, transcribed literally: the independent oracle the mask
rasteriser of ``viewer.annotations.masks`` is checked against (tests) and timed against
(``benchmarks/annotations.py``). O(pixels x edges): never part of the product."""

from __future__ import annotations

import numpy as np

from viewer.annotations.masks import MaskPlan


def reference_window(plan: MaskPlan, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """ASAP's per-pixel loop, transcribed literally (level 0 only): every pixel of every
    annotation's strict bounding box is tested against every edge.

    O(pixels × edges) and slow: the independent baseline for tests and benchmarks.
    """
    out = np.zeros((height, width), dtype=np.uint8)
    xs = np.arange(x0, x0 + width, dtype=np.float32)
    ys = np.arange(y0, y0 + height, dtype=np.float32)
    for ring in plan.rings:
        min_x, min_y, max_x, max_y = ring.bbox
        cols = np.flatnonzero((xs > min_x) & (xs < max_x))
        rows = np.flatnonzero((ys > min_y) & (ys < max_y))
        if len(cols) == 0 or len(rows) == 0:
            continue
        px = xs[cols][None, :]
        py = ys[rows][:, None]
        wn = np.zeros((len(rows), len(cols)), dtype=np.int64)
        for i in range(len(ring.x0)):
            x0_, y0_, y1_ = ring.x0[i], ring.y0[i], ring.y1[i]
            value = ring.dx[i] * (y0_ - py) - (px - x0_) * ring.dyp[i]
            with np.errstate(invalid="ignore"):
                # C's (int) conversion on x86: out of range or NaN gives INT_MIN
                as_int = np.where(
                    (value >= plan.int_limit) | (value < -(2.0**31)) | np.isnan(value),
                    -(2**31),
                    np.trunc(value),
                ).astype(np.int64)
            wn += (y0_ <= py) & (y1_ > py) & (as_int > 0)
            wn -= (y0_ > py) & (y1_ <= py) & (as_int < 0)
        window = out[np.ix_(rows, cols)]
        inside = wn != 0
        if plan.ordered:
            window[inside] = ring.label & 0xFF
        else:
            window[inside & (window.astype(np.int64) < ring.label)] = ring.label & 0xFF
        out[np.ix_(rows, cols)] = window
    return out
