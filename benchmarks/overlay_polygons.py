"""Heatmap -> polygons at the issue's size: a 6250 x 5000 float32 map (1/16 of a 100,000 x 80,000
slide), from grid to a stored annotation set, for three maps: smooth blobs, the same with noise
(thousands of small regions), and one region with thousands of holes.

    python benchmarks/overlay_polygons.py [--tiny] [--repeats 3] [--peers]

Times, per map, the contouring (``viewer.overlays.contours``: regions, simplified, keyholed), the
measures and statistics of the set (``viewer.overlays.polygons.region_set``), and the store's write
(SQLite in a temporary directory); the target is 2 s in all. ``--peers`` also times the candidate
libraries on the noisy map (contourpy over the whole grid, OpenCV findContours, scikit-image
find_contours), when they are installed (``pip install opencv-python-headless scikit-image``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from viewer.overlays.polygons import PolygonRequest, region_polygons, region_set
from viewer.store import Store

MPP = (0.243, 0.243)  # CAMELYON16's µm per px
SCALE = 16.0


@dataclass
class _Overlay:
    id: str = "bench"
    name: str = "bench"
    scale: float = SCALE
    origin_x: float = 0.0
    origin_y: float = 0.0
    value_min: float = 0.0
    value_max: float = 1.0


class _Field:
    """The grid in memory, as ``ValueField`` hands it out (one level)."""

    levels = 1

    def __init__(self, grid: np.ndarray) -> None:
        self.overlay = _Overlay()
        self.grid = grid

    def level(self, k: int = 0) -> np.ndarray:
        return self.grid


def maps(width: int, height: int) -> dict[str, np.ndarray]:
    """Smooth blobs (60, radii 5-300 cells), the same with noise, and one region with holes."""
    rng = np.random.default_rng(1)
    smooth = np.zeros((height, width), np.float32)
    for _ in range(60):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(5, 300) * width / 6250
        x0, x1 = int(max(0, cx - 2 * r)), int(min(width, cx + 2 * r))
        y0, y1 = int(max(0, cy - 2 * r)), int(min(height, cy + 2 * r))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        np.maximum(smooth[y0:y1, x0:x1], np.clip(1 - np.hypot(xx - cx, yy - cy) / (1.5 * r), 0, 1),
                   out=smooth[y0:y1, x0:x1])
    noisy = np.clip(smooth + rng.normal(0, 0.03, smooth.shape).astype(np.float32), 0, 1)
    holes = np.zeros((height, width), np.float32)
    holes[height // 10 : height * 9 // 10, width // 10 : width * 9 // 10] = 0.9
    for y, x in rng.integers(0, min(height, width), (width * height // 6000, 2)):
        holes[y + height // 10 : y + height // 10 + 3, x + width // 10 : x + width // 10 + 3] = 0.1
    return {"smooth": smooth, "noisy": noisy, "holes": holes}


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of *repeats* runs, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peers(grid: np.ndarray, threshold: float) -> None:
    """The candidate libraries on one map (those installed)."""
    try:
        import contourpy

        seconds, _ = timed(lambda: contourpy.contour_generator(
            z=grid.astype(np.float64), fill_type=contourpy.FillType.OuterOffset).filled(threshold, np.inf), 1)
        print(f"  peer contourpy filled, whole grid: {seconds:.2f} s")
    except ImportError:
        print("  peer contourpy: not installed")
    try:
        import cv2

        seconds, _ = timed(lambda: cv2.findContours((grid >= threshold).astype(np.uint8), cv2.RETR_CCOMP,
                                                    cv2.CHAIN_APPROX_SIMPLE), 1)
        print(f"  peer OpenCV findContours RETR_CCOMP: {seconds:.2f} s (traces boundary-cell centres)")
    except ImportError:
        print("  peer OpenCV: not installed")
    try:
        from skimage import measure

        seconds, _ = timed(lambda: measure.find_contours(np.pad(grid, 1), threshold), 1)
        print(f"  peer scikit-image find_contours: {seconds:.2f} s (open lines, no holes)")
    except ImportError:
        print("  peer scikit-image: not installed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a 625 x 500 map (checks the script runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--peers", action="store_true", help="also time the candidate libraries alone")
    args = parser.parse_args()
    width, height = (625, 500) if args.tiny else (6250, 5000)
    # the noisy map's specks under 4 cells are left out (else tens of thousands of regions: a 413)
    min_area = {"smooth": 0.0, "noisy": 4 * SCALE * SCALE * MPP[0] * MPP[1], "holes": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        slide = store.open_slide("bench.tif")
        print(f"{width} x {height} float32 map, threshold {args.threshold}, tolerance 1 µm, mpp {MPP[0]}")
        for name, grid in maps(width, height).items():
            field: Any = _Field(grid)
            request = PolygonRequest(args.threshold, 1.0, min_area[name])
            contour_s, polys = timed(lambda f=field, r=request: region_polygons(f, r, MPP), args.repeats)
            set_s, content = timed(lambda f=field, r=request, p=polys: region_set(f, r, MPP, p, "g"),
                                   args.repeats)
            start = time.perf_counter()
            store.create_set(slide, name, "bench", content)
            store_s = time.perf_counter() - start
            total = contour_s + set_s + store_s
            verdict = "(target 2 s: ok)" if total <= 2 else "(over the 2 s target)"
            print(f"{name:7s} {len(polys):6,d} regions {len(polys.points):8,d} vertices "
                  f"{int(polys.holes.sum()):6,d} holes: contours {contour_s:.2f} s, measures+statistics "
                  f"{set_s:.2f} s, store {store_s:.2f} s, total {total:.2f} s {verdict}")
            if args.peers and name == "noisy":
                peers(grid, args.threshold)


if __name__ == "__main__":
    main()
