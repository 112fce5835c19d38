"""Alignment of value tiles with the slide's Deep Zoom grid: maps whose values encode their own
position (uint16 value = grid index), read back through ``tile()`` at several levels on a plain
slide and on a slide with a bounds offset; every tile px is compared with the grid cell its centre
falls in (in slide space), computed here from the Deep Zoom rules, not from the library's code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _overlay_helpers import overlay_library, write_sparse_tiles_slide
from _slide_helpers import make_test_slide

from viewer.overlays import AddOptions, Overlay, OverlayLibrary, decode_png
from viewer.slides import DeepZoomGeometry, SlideLibrary, TileOptions


def index_map(width: int, height: int) -> np.ndarray:
    """uint16 grid whose cell (i, j) holds j * width + i (< 65536)."""
    assert width * height <= 65536
    return (np.arange(height)[:, None] * width + np.arange(width)[None, :]).astype(np.uint16)


def expected_cells(geometry: DeepZoomGeometry, overlay: Overlay, level: int, col: int, row: int,
                   shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, inside) of the cell under each px centre of tile (level, col, row)."""
    d = 2 ** (geometry.level_count - 1 - level)
    ts, ov = geometry.tile_size, geometry.overlap
    x0 = col * ts - (ov if col else 0)
    y0 = row * ts - (ov if row else 0)
    sx = (x0 + np.arange(shape[1]) + 0.5) * d + geometry.offset_x
    sy = (y0 + np.arange(shape[0]) + 0.5) * d + geometry.offset_y
    i = np.floor((sx - overlay.origin_x) / overlay.scale).astype(int)
    j = np.floor((sy - overlay.origin_y) / overlay.scale).astype(int)
    inside = ((j >= 0) & (j < overlay.height))[:, None] & ((i >= 0) & (i < overlay.width))[None, :]
    return i, j, inside


def check_level(overlays: OverlayLibrary, geometry: DeepZoomGeometry, overlay: Overlay, grid: np.ndarray,
                level: int) -> int:
    """Every tile of *level*: codes equal the grid index of the cell under each px, transparent
    outside the grid. The number of px compared inside the grid."""
    d = 2 ** (geometry.level_count - 1 - level)
    lw, lh = -(-geometry.width // d), -(-geometry.height // d)
    checked = 0
    for row in range(-(-lh // geometry.tile_size)):
        for col in range(-(-lw // geometry.tile_size)):
            values, codes = decode_png(overlay, overlays.tile(overlay.id, level, col, row))
            i, j, inside = expected_cells(geometry, overlay, level, col, row, codes.shape)
            expected = grid[np.clip(j, 0, grid.shape[0] - 1)][:, np.clip(i, 0, grid.shape[1] - 1)]
            np.testing.assert_array_equal(np.isnan(values), ~inside, err_msg=f"alpha {level}/{col}_{row}")
            np.testing.assert_array_equal(codes[inside], expected[inside], err_msg=f"{level}/{col}_{row}")
            checked += int(inside.sum())
    return checked


@pytest.mark.parametrize("options", [TileOptions(tile_size=254, overlap=1), TileOptions()],
                         ids=["254+1", "stored tiles 256+0"])
def test_alignment_on_a_plain_slide(tmp_path: Path, options: TileOptions) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    make_test_slide(root / "plain.tif", 2000, 1500)
    slides = SlideLibrary(root, options=options)
    overlays = overlay_library(tmp_path, slides)
    grid = index_map(-(-2000 // 16), -(-1500 // 16))  # 125 x 94, scale 16 from the ratio
    np.save(tmp_path / "index.npy", grid)
    overlay = overlays.add("plain.tif", tmp_path / "index.npy", "index.npy", AddOptions())
    assert overlay.scale == 16 and overlay.encoding == "u16" and overlay.value_max == 65535
    geometry = slides.geometry("plain.tif")
    assert (geometry.offset_x, geometry.offset_y) == (0, 0)
    assert (geometry.tile_size, geometry.overlap) == ((254, 1) if options.tile_size else (256, 0))
    deepest = geometry.level_count - 1
    assert overlay.native_level == deepest - 4
    # d = 1, 2 and 16 (the native level): every px the cell its centre is in
    for level in (deepest, deepest - 1, deepest - 4):
        assert check_level(overlays, geometry, overlay, grid, level) > 0
    # an origin and a scale that is not a power of two: still the cell under each px
    moved = overlays.add("plain.tif", tmp_path / "index.npy", "index.npy",
                         AddOptions(scale=12, origin_x=37.5, origin_y=101))
    for level in (deepest, deepest - 2, deepest - 3):
        assert check_level(overlays, geometry, moved, grid, level) > 0


@pytest.fixture(scope="module")
def sparse_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generic-tiff bounds slide of ../shared/tools (12288 x 9216, bounds 2304, 1792, 6144 x 4608)."""
    return write_sparse_tiles_slide(tmp_path_factory.mktemp("bounds"))


def test_alignment_on_a_slide_with_a_bounds_offset(tmp_path: Path, sparse_tiles: Path) -> None:
    slides = SlideLibrary(sparse_tiles, options=TileOptions(tile_size=254, overlap=1, limit_bounds=True))
    [info] = slides.scan()
    geometry = slides.geometry(info.id)
    assert (geometry.offset_x, geometry.offset_y) == (2304, 1792)
    overlays = overlay_library(tmp_path, slides)
    # a 1/64 map of the whole level 0 (as CAMELYON maps are): 192 x 144 cells, scale from the ratio
    grid = index_map(192, 144)
    np.save(tmp_path / "index.npy", grid)
    overlay = overlays.add(info.id, tmp_path / "index.npy", "whole.npy", AddOptions())
    assert overlay.scale == 64
    deepest = geometry.level_count - 1
    for level in (deepest - 6, deepest - 5):  # d = 64 (native) and 32
        assert check_level(overlays, geometry, overlay, grid, level) > 0
    # a map of the bounds only, placed with its origin, at 1/16: the cells under every px at d = 16, 8
    inner = index_map(6144 // 32, 4608 // 32)
    np.save(tmp_path / "inner.npy", inner)
    placed = overlays.add(info.id, tmp_path / "inner.npy", "inner.npy",
                          AddOptions(scale=32, origin_x=2304, origin_y=1792))
    assert placed.native_level == deepest - 5
    for level in (deepest - 5, deepest - 4):
        assert check_level(overlays, geometry, placed, inner, level) > 0
    # a coarser level than native: the mean of the 2 x 2 blocks of cells (pyramid level 1) under each px
    level = deepest - 6
    d = 64
    field = overlays.field(placed.id)
    halved = inner.reshape(72, 2, 96, 2).astype(np.float64).mean(axis=(1, 3))
    np.testing.assert_allclose(field.level(1), halved)
    values, codes = decode_png(placed, overlays.tile(placed.id, level, 0, 0))
    sx = (np.arange(codes.shape[1]) + 0.5) * d + geometry.offset_x
    sy = (np.arange(codes.shape[0]) + 0.5) * d + geometry.offset_y
    i = np.floor((sx - 2304) / 64).astype(int)
    j = np.floor((sy - 1792) / 64).astype(int)
    np.testing.assert_array_equal(codes, np.rint(halved[j][:, i]))
