"""The stored pyramid against a plain reference: heatmap levels are the mean of the valid cells of
2 x 2 blocks (NaN where none is), label levels the level-0 cell at each cell's centre. Grids taller
than the band of rows the writer handles at once, so the band seams are checked too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.overlays.pyramid import level_count, write_pyramid


def reference_mean(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    out = np.full((-(-h // 2), -(-w // 2)), np.nan)
    for j in range(out.shape[0]):
        block = a[2 * j:2 * j + 2]
        for i in range(out.shape[1]):
            cells = block[:, 2 * i:2 * i + 2]
            cells = cells[~np.isnan(cells)]
            if cells.size:
                out[j, i] = cells.astype(np.float64).mean()
    return out


def test_heatmap_levels_are_means_of_the_valid_level_0_cells(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    grid = rng.random((2501, 37)).astype(np.float32)
    grid[rng.random(grid.shape) < 0.3] = np.nan
    grid[1000:1030, :] = np.nan  # a band of nodata across a band seam
    grid[:64, :16] = np.nan  # a block with no valid cell up to level 4
    count = write_pyramid(tmp_path, grid, np.dtype(np.float32), "heatmap")
    assert count == level_count(37, 2501) == 13
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"level-{k}.npy" for k in range(count))
    for k in range(count):
        stored = np.load(tmp_path / f"level-{k}.npy", mmap_mode="r")
        assert stored.dtype == np.float32 and stored.shape == (-(-2501 // 2**k), -(-37 // 2**k))
        step = 2**k
        for j in range(0, stored.shape[0], max(1, stored.shape[0] // 40)):  # rows across the seams
            for i in range(stored.shape[1]):
                cells = grid[j * step:(j + 1) * step, i * step:(i + 1) * step]
                cells = cells[~np.isnan(cells)]
                expected = cells.astype(np.float64).mean() if cells.size else np.nan
                np.testing.assert_allclose(stored[j, i], expected, rtol=1e-5, err_msg=f"level {k} ({i}, {j})")
    assert np.isnan(np.load(tmp_path / "level-4.npy")[0, 0])
    assert np.load(tmp_path / f"level-{count - 1}.npy").shape == (1, 1)


def test_label_levels_take_the_cell_at_the_centre(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 5, (2100, 45)).astype(np.uint8)
    count = write_pyramid(tmp_path, labels, np.dtype(np.uint8), "labels")
    np.testing.assert_array_equal(np.load(tmp_path / "level-0.npy"), labels)
    for k in range(1, count):
        stored = np.load(tmp_path / f"level-{k}.npy")
        step = 1 << k
        ys = np.minimum(np.arange(stored.shape[0]) * step + step // 2, 2099)
        xs = np.minimum(np.arange(stored.shape[1]) * step + step // 2, 44)
        assert stored.dtype == np.uint8
        np.testing.assert_array_equal(stored, labels[np.ix_(ys, xs)], err_msg=f"level {k}")
