"""The stored value grid: a pyramid of ``level-<k>.npy`` files (cell = scale * 2**k), memory-mapped.

Heatmaps are float32 with NaN for nodata, each coarser level the mean of the valid level-0 cells
under each of its cells (NaN where there is none); label maps stay uint8/uint16 and a coarser level
takes, for each of its cells, the level-0 cell at the cell's centre (nearest: never averaged).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from viewer.overlays.model import Overlay, OverlayKind

#: The pyramid stops at the first level whose larger side is at most this many cells.
_TOP_SIZE = 1
#: Rows of a level written at once (even: a band of the next level is half of it).
_BAND = 1024


def _pad_even(a: np.ndarray, fill: float) -> np.ndarray:
    """*a* padded with *fill* to even sides."""
    h, w = a.shape
    if not (h % 2 or w % 2):
        return a
    padded = np.full((h + h % 2, w + w % 2), fill, a.dtype)
    padded[:h, :w] = a
    return padded


def _block_sum(a: np.ndarray, dtype: type[np.generic]) -> np.ndarray:
    """The sums of the 2 x 2 blocks of *a* (even sides), as four strided adds (far faster than a
    reduction over the axes of a reshaped view)."""
    out = a[0::2, 0::2].astype(dtype)
    out += a[1::2, 0::2]
    out += a[0::2, 1::2]
    out += a[1::2, 1::2]
    return out


def _halve_mean(means: np.ndarray, counts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The next heatmap level of a band: the mean of the valid level-0 cells under each 2 x 2 block
    (each cell of *means* weighted by its count of valid level-0 cells; *counts* None: level 0,
    where a cell counts 1 unless it is NaN), and the new counts."""
    valid = ~np.isnan(means)
    if counts is None:
        counts = valid.view(np.uint8)
        weighted = np.where(valid, means, np.float32(0))
    else:
        weighted = np.where(valid, means * counts.astype(np.float32), np.float32(0))
    sums = _block_sum(_pad_even(weighted, 0.0), np.float32)
    total = _block_sum(_pad_even(counts, 0), np.uint32)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / total.astype(np.float32)
    return out.astype(np.float32, copy=False), total


def _nearest_rows(a0: np.ndarray, k: int, start: int, stop: int, width: int) -> np.ndarray:
    """Rows start..stop of label level *k*, from level 0: each cell takes the level-0 cell at its
    centre (classes are never averaged)."""
    step = 1 << k
    h, w = a0.shape
    ys = np.minimum(np.arange(start, stop) * step + step // 2, h - 1)
    xs = np.minimum(np.arange(width) * step + step // 2, w - 1)
    return np.asarray(a0[ys])[:, xs]


def level_count(width: int, height: int) -> int:
    """How many pyramid levels a ``width x height`` grid gets (down to one cell on the larger side)."""
    return 1 + max(0, math.ceil(math.log2(max(width, height, 1) / _TOP_SIZE)))


def write_pyramid(directory: Path, values: np.ndarray, dtype: np.dtype[Any], kind: OverlayKind) -> int:
    """Write ``level-<k>.npy`` for every level of *values* (level 0 = *values* as *dtype*) into
    *directory*; the number of levels.

    Each level is written into a memory-mapped file in bands of rows, so a grid near OVERLAY_MAX_MPX
    never needs more than a band of it in memory besides the source.
    """
    count = level_count(values.shape[1], values.shape[0])
    level0 = np.lib.format.open_memmap(directory / "level-0.npy", mode="w+", dtype=dtype, shape=values.shape)
    for y in range(0, values.shape[0], _BAND):
        level0[y:y + _BAND] = values[y:y + _BAND]
    level0.flush()
    previous: np.ndarray = level0
    counts: np.ndarray | None = None  # valid level-0 cells under each cell of *previous* (heatmaps)
    for k in range(1, count):
        h, w = -(-values.shape[0] // (1 << k)), -(-values.shape[1] // (1 << k))
        out = np.lib.format.open_memmap(directory / f"level-{k}.npy", mode="w+", dtype=dtype, shape=(h, w))
        new_counts = (np.lib.format.open_memmap(directory / f".counts-{k}.npy", mode="w+", dtype=np.uint32,
                                                shape=(h, w)) if kind == "heatmap" else None)
        for y in range(0, h, _BAND // 2):
            rows = slice(y, min(h, y + _BAND // 2))
            below = slice(2 * rows.start, 2 * rows.stop)
            if new_counts is not None:
                band_counts = None if counts is None else np.asarray(counts[below])
                out[rows], new_counts[rows] = _halve_mean(np.asarray(previous[below]), band_counts)
            else:
                out[rows] = _nearest_rows(level0, k, rows.start, rows.stop, w)
        out.flush()
        previous, counts = out, new_counts
        if kind == "heatmap":
            (directory / f".counts-{k - 1}.npy").unlink(missing_ok=True)
    (directory / f".counts-{count - 1}.npy").unlink(missing_ok=True)
    del previous, level0, counts
    return count


class ValueField:
    """The values of one overlay for polygons and statistics: its pyramid, memory-mapped."""

    def __init__(self, overlay: Overlay, directory: Path) -> None:
        self.overlay = overlay
        self.directory = directory
        self.levels = level_count(overlay.width, overlay.height)
        self._levels: dict[int, np.ndarray] = {}

    def level(self, k: int = 0) -> np.ndarray:
        """Pyramid level *k* (cell = scale * 2**k), read-only and memory-mapped; heatmaps float32 with
        NaN = nodata, label maps uint8/uint16."""
        if not 0 <= k < self.levels:
            raise IndexError(f"pyramid level {k} outside 0..{self.levels - 1}")
        found = self._levels.get(k)
        if found is None:
            found = np.load(self.directory / f"level-{k}.npy", mmap_mode="r", allow_pickle=False)
            self._levels[k] = found
        return found

    def value_at(self, x: float, y: float) -> float | None:
        """The stored value at slide point (x, y); None outside the grid or on nodata."""
        o = self.overlay
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        i = math.floor((x - o.origin_x) / o.scale)
        j = math.floor((y - o.origin_y) / o.scale)
        if not (0 <= i < o.width and 0 <= j < o.height):
            return None
        value = float(self.level(0)[j, i])
        return None if math.isnan(value) else value
