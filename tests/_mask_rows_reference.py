"""The first mask rasteriser (row by row: every band visits every edge, and a binary search per
(edge, row) crossing), kept verbatim as a test oracle for the scanline engine that replaced it in
``viewer.annotations.masks``: same pixels, same TIFF bytes, on random polygons."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from viewer.annotations.masks import (
    TILE_SIZE,
    MaskPlan,
    _Ring,
    _sample_positions,
    mask_level_sizes,
    plan_mask,
)
from viewer.annotations.model import AnnotationSet
from viewer.errors import InvalidInputError

_MAX_CELLS = 1 << 22
_ONE = np.float32(1.0)

def _first_crossing(
    a_b: np.ndarray,
    x0: np.ndarray,
    dyp: np.ndarray,
    cols: np.ndarray,
    compare: Callable[[np.ndarray, np.float32], np.ndarray],
    threshold: np.float32,
) -> np.ndarray:
    """Per crossing i, the first column k with ``compare(isLeft(i, k), threshold)`` (len(cols) if none).

    ASAP's ``isLeft`` before its int conversion, in float32 (note its y-down sign):
    ``fl(fl(x1-x0) * fl(y0-py) - fl(fl(px-x0) * fl(y0-y1)))`` = ``a_b - fl(cols[k] - x0) * dyp``.
    It is monotone in k, so the predicate is False ... False True ... True and a vectorised binary
    search over the columns finds its first True exactly.
    """
    n = len(a_b)
    left = np.zeros(n, dtype=np.int64)
    right = np.full(n, len(cols), dtype=np.int64)
    which = np.arange(n)
    while True:
        active = which[left < right]
        if not len(active):
            return left
        mid = (left[active] + right[active]) // 2
        ok = compare(a_b[active] - (cols[mid] - x0[active]) * dyp[active], threshold)
        right[active[ok]] = mid[ok]
        left[active[~ok]] = mid[~ok] + 1


def _paint(
    out: np.ndarray, ring: _Ring, xs: np.ndarray, ys: np.ndarray, ordered: bool, int_limit: np.float32
) -> None:
    """Composite one ring into *out* (rows = *ys*, columns = *xs*, level-0 sample coordinates)."""
    min_x, min_y, max_x, max_y = ring.bbox
    # Strict bounding box (ASAP: x > bbox.min && x < bbox.max), as column / row index ranges.
    c_lo, c_hi = int(np.searchsorted(xs, min_x, "right")), int(np.searchsorted(xs, max_x, "left"))
    r_lo, r_hi = int(np.searchsorted(ys, min_y, "right")), int(np.searchsorted(ys, max_y, "left"))
    if c_lo >= c_hi or r_lo >= r_hi:
        return
    cols = xs[c_lo:c_hi].astype(np.float32)
    ncols = c_hi - c_lo
    rows_per_chunk = max(1, _MAX_CELLS // (ncols + 1))
    up = ring.y1 > ring.y0
    down = ring.y1 < ring.y0
    # The rows each edge crosses: upward y0 <= y < y1, downward y1 <= y < y0.
    lo_y = np.where(up, ring.y0, ring.y1)
    hi_y = np.where(up, ring.y1, ring.y0)
    moving = up | down
    for r0 in range(r_lo, r_hi, rows_per_chunk):
        r1 = min(r_hi, r0 + rows_per_chunk)
        row_y = ys[r0:r1]
        ja = np.searchsorted(row_y, lo_y, "left")
        jb = np.searchsorted(row_y, hi_y, "left")
        counts = np.where(moving, jb - ja, 0)
        total = int(counts.sum())
        if total == 0:
            continue
        edge = np.repeat(np.arange(len(counts)), counts)
        row = ja[edge] + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        py = row_y[row].astype(np.float32)
        ex0, dyp = ring.x0[edge], ring.dyp[edge]
        a_b = ring.dx[edge] * (ring.y0[edge] - py)  # fl(fl(x1-x0) * fl(y0-py)), fixed along the row
        steps: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        iu = np.flatnonzero(up[edge])
        if len(iu):
            # Upward (y0 <= y < y1): +1 where 1 <= isLeft < 2^31; isLeft grows with x.
            args = (a_b[iu], ex0[iu], dyp[iu], cols)
            start = _first_crossing(*args, operator.ge, _ONE)
            end = _first_crossing(*args, operator.ge, int_limit)
            steps.append((row[iu], start, end, 1))
        idn = np.flatnonzero(~up[edge])
        if len(idn):
            # Downward: -1 where isLeft >= 2^31 (INT_MIN) or isLeft <= -1; isLeft falls with x.
            args = (a_b[idn], ex0[idn], dyp[idn], cols)
            end = _first_crossing(*args, operator.lt, int_limit)
            start = _first_crossing(*args, operator.le, -_ONE)
            steps.append((row[idn], np.zeros(len(idn), np.int64), end, -1))
            steps.append((row[idn], start, np.full(len(idn), ncols, np.int64), -1))
        width = ncols + 1
        diff = np.zeros((r1 - r0) * width, dtype=np.int32)
        for srow, s, e, sign in steps:
            keep = s < e
            base = srow[keep] * width
            np.add.at(diff, base + s[keep], sign)
            np.add.at(diff, base + e[keep], -sign)
        inside = np.cumsum(diff.reshape(r1 - r0, width), axis=1, dtype=np.int32)[:, :ncols] != 0
        target = out[r0:r1, c_lo:c_hi]
        label = ring.label
        if ordered:
            target[inside] = label & 0xFF
        elif label > 0:
            # ASAP: pixel = in*label > pixel ? in*label : pixel, compared as int, stored as uchar.
            target[inside & (target.astype(np.int64) < label)] = label & 0xFF


def rasterize_plan(
    plan: MaskPlan, x0: int, y0: int, width: int, height: int, downsample: float = 1.0
) -> np.ndarray:
    """The (height, width) uint8 mask window whose top-left output pixel is (x0, y0).

    (x0, y0, width, height) are pixels at *downsample* (level 0 when 1.0).
    """
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"mask window must have a positive size, got {width}x{height}")
    if not downsample > 0 or not math.isfinite(downsample):
        raise InvalidInputError(f"downsample must be a positive number, got {downsample!r}")
    out = np.zeros((height, width), dtype=np.uint8)
    xs = _sample_positions(x0, width, downsample)
    ys = _sample_positions(y0, height, downsample)
    for ring in plan.rings:
        min_x, min_y, max_x, max_y = ring.bbox
        if max_x <= xs[0] or min_x >= xs[-1] or max_y <= ys[0] or min_y >= ys[-1]:
            continue
        _paint(out, ring, xs, ys, plan.ordered, plan.int_limit)
    return out




def write_mask_tiff_rows(
    aset: AnnotationSet,
    out_path: str | Path,
    width: int,
    height: int,
    labels: dict[str, int] | None = None,
    order: Sequence[str] | None = None,
    level_downsample: float = 1.0,
    mpp: tuple[float, float] | None = None,
    tile_size: int = TILE_SIZE,
) -> None:
    """The first ``write_mask_tiff``: every pyramid level rasterised from scratch, band by band."""
    from viewer.tiffwriter import encode_tile, write_pyramid_tiff

    plan = plan_mask(aset, labels, order)
    sizes = mask_level_sizes(width, height, tile_size)
    uniform_tiles: dict[int, bytes] = {}

    def encode(tile: np.ndarray) -> bytes:
        low = int(tile.min())
        if low == int(tile.max()) and tile.shape == (tile_size, tile_size):
            if low not in uniform_tiles:
                uniform_tiles[low] = encode_tile(tile, "deflate")
            return uniform_tiles[low]
        return encode_tile(tile, "deflate", tile_size=tile_size, pad_value=0)

    def tiles(level: int) -> Iterator[bytes]:
        level_w, level_h = sizes[level]
        downsample = level_downsample * (2**level)
        for band_y in range(0, level_h, tile_size):
            band_h = min(tile_size, level_h - band_y)
            band = rasterize_plan(plan, 0, band_y, level_w, band_h, downsample)
            for tx in range(0, level_w, tile_size):
                yield encode(band[:, tx : tx + tile_size])

    level_mpp = None if mpp is None else (mpp[0] * level_downsample, mpp[1] * level_downsample)
    write_pyramid_tiff(
        out_path, sizes, tile_size, tiles, samples_per_pixel=1, photometric="minisblack",
        compression="deflate", mpp=level_mpp,
        description="wsi-viewer annotation mask (ASAP AnnotationToMask rules)",
    )
