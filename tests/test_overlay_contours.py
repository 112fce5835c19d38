"""Heatmap → polygons (viewer/overlays/contours.py) on generated maps whose regions are known:
disks and a ring with a hole, at a grid origin and scale, with the measures our annotations use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from viewer.annotations import measures
from viewer.annotations.geometry import _winding_numbers
from viewer.errors import InputTooLargeError
from viewer.overlays.contours import BLOCK, bridge_holes, threshold_polygons

SCALE = 16.0
ORIGIN = (1000.0, 2000.0)


def _centres(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates in cell units (cell i's centre is i + 0.5 from the grid's corner)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return xx + 0.5, yy + 0.5


def _areas(polys: object) -> np.ndarray:
    return measures.asap_areas(polys.points, polys.offsets)  # type: ignore[attr-defined]


def _known_map() -> np.ndarray:
    """A 0.1 background with a disk (r 40 cells at (100, 100)) and a ring (r 30..80 at (280, 150))
    of 0.9, and a smooth cone (value 1 - d/100 at (600, 200): its 0.5 iso-line is the circle r 50)."""
    h, w = 320, 760
    xx, yy = _centres(h, w)
    grid = np.full((h, w), 0.1, dtype=np.float32)
    grid[np.hypot(xx - 100, yy - 100) <= 40] = 0.9
    ring = np.hypot(xx - 280, yy - 150)
    grid[(ring <= 80) & (ring > 30)] = 0.9
    cone = np.clip(1 - np.hypot(xx - 600, yy - 200) / 100, 0, 1)
    grid = np.maximum(grid, cone.astype(np.float32))
    return grid


def test_disks_and_a_ring_with_its_hole_within_one_percent_in_slide_space() -> None:
    polys = threshold_polygons(_known_map(), 0.5, scale=SCALE, origin=ORIGIN)
    assert len(polys) == 3
    cell = SCALE * SCALE
    expected = {  # analytic areas (slide px²) of the ring, the cone's circle and the disk, largest first
        "ring": math.pi * (80**2 - 30**2) * cell,
        "cone": math.pi * 50**2 * cell,
        "disk": math.pi * 40**2 * cell,
    }
    areas = _areas(polys)
    for got, (what, want) in zip(areas, expected.items(), strict=True):
        assert abs(got - want) / want < 0.01, (what, got, want)
    assert polys.holes.tolist() == [1, 0, 0]
    # positions: each region's bounding box is its circle's, at origin + cell units * scale
    for k, (cx, cy, r) in enumerate([(280, 150, 80), (600, 200, 50), (100, 100, 40)]):
        ring = polys.ring(k)
        box = (*ring.min(axis=0), *ring.max(axis=0))
        want = (ORIGIN[0] + (cx - r) * SCALE, ORIGIN[1] + (cy - r) * SCALE,
                ORIGIN[0] + (cx + r) * SCALE, ORIGIN[1] + (cy + r) * SCALE)
        assert np.allclose(box, want, atol=SCALE), (k, box, want)


def test_the_hole_is_a_keyhole_empty_under_the_non_zero_rule() -> None:
    polys = threshold_polygons(_known_map(), 0.5, scale=SCALE, origin=ORIGIN)
    ring = polys.ring(0)
    # one ring: the bridge point appears twice (there and back along the zero-width cut)
    unique, counts = np.unique(ring, axis=0, return_counts=True)
    assert (counts >= 2).sum() >= 2
    centre = (ORIGIN[0] + 280 * SCALE, ORIGIN[1] + 150.3 * SCALE)  # off the row a cut may run along
    probes = np.array([
        centre,  # the hole's centre
        (centre[0] + 55 * SCALE, centre[1]),  # in the ring's body, right of the hole
        (centre[0] - 55 * SCALE, centre[1]),  # left of the hole
        (centre[0] + 100 * SCALE, centre[1]),  # outside
    ])
    assert [abs(w) for w in _winding_numbers(probes, ring).tolist()] == [0, 1, 1, 0]


def test_keyhole_by_hand() -> None:
    outer = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    holes = [np.array([[2, 2], [2, 4], [4, 4], [4, 2]], dtype=float),
             np.array([[6, 6], [6, 8], [8, 8], [8, 6]], dtype=float)]
    ring = bridge_holes(outer, holes)
    # each hole: a bridge point, its 4 vertices and the first again, the bridge point again
    assert len(ring) == 4 + 2 * (1 + 4 + 1 + 1)
    area = float(measures.asap_areas(ring, np.array([0, len(ring)]))[0])
    assert area == 100 - 4 - 4
    wn = _winding_numbers(np.array([[3, 3], [7, 7], [5, 5], [1, 9], [11, 5]], dtype=float), ring)
    assert [abs(v) for v in wn.tolist()] == [0, 0, 1, 1, 0]


def test_regions_touching_the_grid_edge_end_at_the_edge() -> None:
    grid = np.ones((50, 70), dtype=np.float32)
    polys = threshold_polygons(grid, 0.5, scale=4.0, origin=(8.0, 12.0))
    assert len(polys) == 1
    ring = polys.ring(0)
    assert ring.min(axis=0).tolist() == [8.0, 12.0]
    assert ring.max(axis=0).tolist() == [8.0 + 70 * 4, 12.0 + 50 * 4]
    # the four grid corners are cut by an eighth of a cell each
    assert float(_areas(polys)[0]) == pytest.approx(70 * 50 * 16 - 4 * 16 / 8)


def test_threshold_is_inclusive_and_nodata_is_outside() -> None:
    grid = np.zeros((40, 40), dtype=np.float32)
    grid[5:15, 5:15] = 0.5  # exactly the threshold: inside
    grid[20:35, 20:35] = 0.8
    grid[26:29, 26:29] = np.nan  # nodata in the middle: a hole
    grid[2, 30] = np.float32(0.5) - np.float32(1e-6)  # just below: nothing
    polys = threshold_polygons(grid, 0.5, scale=1.0)
    assert len(polys) == 2
    assert sorted(polys.holes.tolist()) == [0, 1]
    areas = sorted(_areas(polys).tolist())
    # a plateau at exactly the threshold beside 0 is bounded at its outer cells' centres: 9 x 9
    assert areas[0] == pytest.approx(81)
    # 0.8 beside 0 crosses 0.5 at 3/8 of a cell out (corners cut by that triangle); the nodata hole
    # reads as 2p - vmax = 0.2, so its edge is half-way: 3 x 3 cells less their 4 corner eighths
    assert areas[1] == pytest.approx(14.75**2 - 4 * 0.375**2 / 2 - (9 - 4 / 8))


def test_many_regions_across_blocks_are_each_found_once() -> None:
    """Squares placed on and across the screening blocks' edges: no region lost or found twice."""
    h, w = 3 * BLOCK + 7, 4 * BLOCK + 3
    grid = np.zeros((h, w), dtype=np.float32)
    count = 0
    for y in range(3, h - 8, 13):
        for x in range(2, w - 8, 11):
            grid[y : y + 6, x : x + 5] = 1.0
            count += 1
    polys = threshold_polygons(grid, 0.5, scale=2.0)
    assert len(polys) == count
    assert np.allclose(_areas(polys), (6 * 5 - 0.5) * 4)  # a square's four corners cut by 1/8 cell


def test_min_area_tolerance_and_the_region_limit() -> None:
    grid = _known_map()
    grid[5:7, 700:702] = 0.9  # a 2 x 2-cell speck
    assert len(threshold_polygons(grid, 0.5, scale=SCALE)) == 4
    cell = SCALE * SCALE
    fine = threshold_polygons(grid, 0.5, scale=SCALE, min_area_px2=10 * cell)
    assert len(fine) == 3
    coarse = threshold_polygons(grid, 0.5, scale=SCALE, min_area_px2=10 * cell, tolerance_px=SCALE / 2)
    assert len(coarse) == 3 and coarse.holes.tolist() == [1, 0, 0]
    assert len(coarse.points) < len(fine.points) / 2
    assert np.allclose(_areas(coarse), _areas(fine), rtol=0.01)
    with pytest.raises(InputTooLargeError, match=r"^3 regions at threshold 0\.5 .* over the limit of 2"):
        threshold_polygons(grid, 0.5, scale=SCALE, min_area_px2=10 * cell, max_regions=2)
    assert len(threshold_polygons(grid, 0.95, scale=SCALE)) == 1  # only the cone's top
    assert len(threshold_polygons(grid, 1.5, scale=SCALE)) == 0


def test_label_maps_and_memory_mapped_grids(tmp_path: object) -> None:
    labels = np.zeros((100, 130), dtype=np.uint8)
    labels[10:40, 10:50] = 2
    labels[60:90, 70:120] = 1
    path = f"{tmp_path}/labels.npy"
    np.save(path, labels)
    grid = np.load(path, mmap_mode="r")
    polys = threshold_polygons(grid, 2, scale=1.0)
    assert len(polys) == 1
    assert float(_areas(polys)[0]) == pytest.approx(30 * 40 - 0.5)
    assert len(threshold_polygons(grid, 1, scale=1.0)) == 2


def test_keyholes_of_many_holes_in_rows_and_at_random() -> None:
    """Holes in rows (each cut meets the hole to its right, several cuts meet one edge) and at
    random, in both directions: the one ring is empty exactly in the holes, its area outline -
    holes, and every vertex of every hole is on it."""
    rng = np.random.default_rng(7)
    outer = np.array([[0, 0], [1000, 0], [1000, 800], [0, 800]], dtype=float)
    holes = []
    for k, (x, y) in enumerate((x, y) for y in range(50, 400, 50) for x in range(50, 950, 60)):
        square = np.array([[x, y], [x + 20, y], [x + 20, y + 20], [x, y + 20]], dtype=float)
        holes.append(square if k % 2 else square[::-1])
    for _ in range(60):  # random triangles in the lower half, apart from each other
        x, y = rng.uniform(20, 960), rng.uniform(420, 760)
        if all(abs(x - h[0, 0]) > 30 or abs(y - h[0, 1]) > 30 for h in holes[-60:]):
            holes.append(np.array([[x, y], [x + 25, y + 5], [x + 8, y + 22]]))
    ring = bridge_holes(outer, holes)
    hole_area = sum(float(shapely.area(shapely.polygons(h))) for h in holes)
    assert float(measures.asap_areas(ring, np.array([0, len(ring)]))[0]) == pytest.approx(800_000 - hole_area)
    assert len(ring) == 4 + sum(len(h) + 3 for h in holes)
    probes = np.column_stack([rng.uniform(0, 1000, 8000), rng.uniform(0, 800, 8000)])
    in_hole = np.zeros(len(probes), dtype=bool)
    for h in holes:
        in_hole |= _winding_numbers(probes, h) != 0
    assert in_hole.sum() > 200
    assert np.array_equal(_winding_numbers(probes, ring) != 0, ~in_hole)


def test_a_region_with_thousands_of_holes() -> None:
    grid = np.zeros((600, 600), dtype=np.float32)
    grid[20:580, 20:580] = 0.9
    rng = np.random.default_rng(3)
    for y, x in rng.integers(25, 570, (1500, 2)):
        grid[y : y + 2, x : x + 2] = 0.1
    for tolerance in (0.0, 0.5):
        polys = threshold_polygons(grid, 0.5, scale=2.0, tolerance_px=tolerance)
        assert len(polys) == 1 and polys.holes[0] > 1000
        cells = np.argwhere(grid >= 0.5)  # every inside cell's centre is inside the one ring
        centres = (cells[:, ::-1] + 0.5) * 2.0
        sample = centres[rng.choice(len(centres), 800, replace=False)]
        assert (_winding_numbers(sample, polys.ring(0)) != 0).all()
        outside = (np.argwhere(grid < 0.5)[:, ::-1] + 0.5) * 2.0
        outside = outside[rng.choice(len(outside), 800, replace=False)]
        assert (_winding_numbers(outside, polys.ring(0)) == 0).all()
