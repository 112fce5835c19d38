"""The stored value grid: a pyramid of ``level-<k>.npy`` files (cell = scale * 2**k), memory-mapped.

Heatmaps are float32 with NaN for nodata, each coarser level the mean of the valid cells of 2 x 2
blocks; label maps stay uint8/uint16 and a coarser level takes, for each of its cells, the level-0
cell at the cell's centre (nearest: classes are never averaged).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from viewer.overlays.model import Overlay, OverlayKind

#: The pyramid stops at the first level whose larger side is at most this many cells.
_TOP_SIZE = 1


def _halve_mean(a: np.ndarray) -> np.ndarray:
    """The next heatmap level: the mean of the valid (non-NaN) cells of each 2 x 2 block."""
    h, w = a.shape
    h2, w2 = -(-h // 2), -(-w // 2)
    if (h % 2) or (w % 2):
        padded = np.full((h2 * 2, w2 * 2), np.nan, np.float32)
        padded[:h, :w] = a
        a = padded
    blocks = a.reshape(h2, 2, w2, 2)
    valid = ~np.isnan(blocks)
    sums = np.where(valid, blocks, np.float32(0)).sum(axis=(1, 3), dtype=np.float32)
    counts = valid.sum(axis=(1, 3), dtype=np.int32)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    result: np.ndarray = out.astype(np.float32, copy=False)
    return result


def _nearest_level(a0: np.ndarray, k: int) -> np.ndarray:
    """Label level *k* taken from level 0: each cell's value is the level-0 cell at its centre."""
    step = 1 << k
    h, w = a0.shape
    ys = np.minimum(np.arange(-(-h // step)) * step + step // 2, h - 1)
    xs = np.minimum(np.arange(-(-w // step)) * step + step // 2, w - 1)
    return np.ascontiguousarray(a0[ys][:, xs])


def level_count(width: int, height: int) -> int:
    """How many pyramid levels a ``width x height`` grid gets (down to one cell on the larger side)."""
    return 1 + max(0, math.ceil(math.log2(max(width, height, 1) / _TOP_SIZE)))


def write_pyramid(directory: Path, values: np.ndarray, kind: OverlayKind) -> int:
    """Write ``level-<k>.npy`` for every level of *values* (level 0 as given) into *directory*;
    the number of levels."""
    count = level_count(values.shape[1], values.shape[0])
    np.save(directory / "level-0.npy", values, allow_pickle=False)
    current = values
    for k in range(1, count):
        current = _halve_mean(current) if kind == "heatmap" else _nearest_level(values, k)
        np.save(directory / f"level-{k}.npy", current, allow_pickle=False)
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
