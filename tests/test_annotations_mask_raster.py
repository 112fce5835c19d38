"""The scanline engine of the mask rasteriser against the first (row by row) rasteriser, kept in
``tests/_mask_rows_reference.py``: the same pixels on random polygons, sweeps split into many
chunks, lower pyramid levels taken from the level above giving the same TIFF bytes, and work that
does not grow with edges × rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import viewer.annotations.mask_raster as mask_raster
import viewer.annotations.masks as masks
from tests._mask_rows_reference import rasterize_plan as rows_rasterize_plan
from tests._mask_rows_reference import write_mask_tiff_rows
from viewer.annotations.masks import plan_mask, rasterize_plan, write_mask_tiff
from viewer.annotations.model import Annotation, AnnotationSet, Group

GROUPS = [Group("a"), Group("b"), Group("c")]
CASES = [
    ({}, None),
    ({"a": 1, "b": 2, "c": 0}, None),
    ({"a": 3, "b": 1, "c": 0}, ["a", "c", "b"]),
    ({"a": 256, "b": 300}, ["b", "a"]),
]


def _f32(xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    return [(float(np.float32(x)), float(np.float32(y))) for x, y in zip(xs, ys, strict=True)]


def _shapes(rng: np.random.Generator, count: int, span: float, most_vertices: int) -> AnnotationSet:
    """Stars (some self-intersecting), lattice-aligned polygons, half-pixel grids and combs."""
    annotations = []
    for index in range(count):
        kind = index % 5
        cx, cy = rng.uniform(0, span, 2)
        n = int(rng.integers(3, most_vertices))
        angles = rng.uniform(0, 2 * np.pi, n)
        if kind:
            angles.sort()
        radius = rng.uniform(span / 20, span / 1.5, n)
        xs, ys = cx + radius * np.cos(angles), cy + radius * np.sin(angles)
        if kind == 2:
            xs, ys = np.round(xs), np.round(ys)  # edges through lattice points
        elif kind == 3:
            xs, ys = np.round(xs * 2) / 2, np.round(ys * 4) / 4
        elif kind == 4:  # a comb: every edge spans the shape's height
            xs = np.linspace(cx - span / 3, cx + span / 3, n)
            ys = np.where(np.arange(n) % 2 == 0, cy - span / 2, cy + span / 2) + rng.normal(0, 0.3, n)
        group = GROUPS[index % 3].name
        annotations.append(Annotation(f"s{index}", "Polygon", group, coordinates=_f32(xs, ys)))
    return AnnotationSet(annotations, list(GROUPS))


@pytest.mark.parametrize("seed", range(40))
def test_scanline_engine_equals_row_rasteriser_on_random_polygons(seed: int) -> None:
    rng = np.random.default_rng(seed)
    span = float(rng.choice([50, 300, 3000, 40000, 150000]))  # 150000: isLeft overflows 2^31
    aset = _shapes(rng, int(rng.integers(1, 8)), span, int(rng.choice([6, 40, 400])))
    labels, order = CASES[seed % len(CASES)]
    downsample = float(rng.choice([1, 2, 3, 16, 2.5, 0.7])) * max(1.0, span / 600)
    width, height = int(rng.integers(1, 300)), int(rng.integers(1, 300))
    x0, y0 = int(rng.integers(-20, 60)), int(rng.integers(-20, 60))
    plan = plan_mask(aset, labels, order, asap_int_overflow=bool(seed % 3))
    expected = rows_rasterize_plan(plan, x0, y0, width, height, downsample)
    got = rasterize_plan(plan, x0, y0, width, height, downsample)
    assert np.array_equal(got, expected), int((got != expected).sum())


@pytest.mark.parametrize("seed", range(8))
def test_many_small_sweep_steps_give_the_same_pixels(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep cut into steps of a few rows (as wide masks are) gives the pixels of one step."""
    rng = np.random.default_rng(100 + seed)
    aset = _shapes(rng, 6, 400.0, 300)
    plan = plan_mask(aset, *CASES[seed % len(CASES)])
    whole = rasterize_plan(plan, -10, -10, 420, 430)
    monkeypatch.setattr(masks, "MAX_CELLS", int(rng.integers(200, 3000)))
    assert np.array_equal(rasterize_plan(plan, -10, -10, 420, 430), whole)
    assert np.array_equal(whole, rows_rasterize_plan(plan, -10, -10, 420, 430))


@pytest.mark.parametrize(("seed", "downsample"), [(0, 1.0), (1, 3.0), (2, 2.5), (3, 16.0)])
def test_pyramid_from_the_level_above_is_byte_identical(tmp_path: Path, seed: int, downsample: float) -> None:
    """Lower levels taken as every other pixel of the level above: the TIFF the first writer wrote
    by rasterising every level afresh, byte for byte (odd sizes, several bands per level)."""
    rng = np.random.default_rng(200 + seed)
    aset = _shapes(rng, 7, 1500.0 * downsample, 200)
    labels, order = CASES[seed % len(CASES)]
    width, height = 1500 + seed * 37, 1100 + seed * 53
    new, old = tmp_path / "new.tif", tmp_path / "old.tif"
    calls: list[tuple[int, int]] = []
    write_mask_tiff(aset, new, width, height, labels, order, level_downsample=downsample,
                    mpp=(0.25, 0.25), tile_size=256, progress=lambda d, t: calls.append((d, t)))
    write_mask_tiff_rows(aset, old, width, height, labels, order, level_downsample=downsample,
                         mpp=(0.25, 0.25), tile_size=256)
    assert new.read_bytes() == old.read_bytes()
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1)) and calls[-1][0] == calls[-1][1]
    rows: list[tuple[int, int]] = []
    write_mask_tiff(aset, new, width, height, labels, order, level_downsample=downsample,
                    mpp=(0.25, 0.25), tile_size=256, progress=lambda d, t: rows.append((d, t)),
                    progress_in_rows=True)
    assert new.read_bytes() == old.read_bytes()
    assert rows == [(min(height, 256 * (i + 1)), height) for i in range(-(-height // 256))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.tif", "old.tif"]  # no spool left


def _comb(teeth: int, width: float, top: float, bottom: float) -> AnnotationSet:
    xs = np.linspace(10.0, width, 2 * teeth)
    ys = np.where(np.arange(2 * teeth) % 2 == 0, top, bottom)
    return AnnotationSet([Annotation("comb", "Polygon", None, coordinates=_f32(xs, ys))])


def test_steep_edges_cost_their_columns_not_their_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A comb of 20,000 edges, each crossing ~1,000 output rows: the first rasteriser evaluated
    every (edge, row) crossing (2 x 10^7); the sweep evaluates each edge a few times per step."""
    evaluated = 0
    first_col = mask_raster.RingRaster._first_col  # noqa: SLF001

    def counting(self: mask_raster.RingRaster, edge: np.ndarray, *args: object) -> np.ndarray:
        nonlocal evaluated
        evaluated += len(edge)
        return first_col(self, edge, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(mask_raster.RingRaster, "_first_col", counting)
    plan = plan_mask(_comb(10_000, 16 * 1000.0, 100.0, 16 * 1000.0))
    mask = rasterize_plan(plan, 0, 0, 1000, 1000, downsample=16.0)
    crossings = 20_000 * 1000
    assert evaluated < 10 * 20_000, evaluated  # a few per edge
    assert evaluated * 100 < crossings
    monkeypatch.setattr(mask_raster.RingRaster, "_first_col", first_col)
    band = rows_rasterize_plan(plan, 0, 480, 1000, 40, downsample=16.0)  # 8 x 10^5 crossings
    assert np.array_equal(mask[480:520], band) and 0.1 < band.mean() < 0.9
