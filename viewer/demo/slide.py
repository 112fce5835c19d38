"""Writing the demo slide: a CAMELYON-like JPEG-tiled pyramidal BigTIFF, streamed level by level.

The main process plans (which tiles show no tissue: those reuse one encoded background tile),
worker processes (:mod:`viewer.demo.encoders`) render and encode the rest, and the writer streams
them to disk in order, keeping only tile offsets, so memory does not grow with the slide. The same
seed and library versions give the same bytes, whatever the number of workers.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from viewer.demo.encoders import TileEncoders
from viewer.demo.progress import SlideProgress
from viewer.demo.renderer import JPEG_QUALITY, JPEG_SUBSAMPLING, RendererSpec, TileRenderer
from viewer.demo.scene import BACKGROUND, DEMO_MPP
from viewer.demo.texture import TEXTURE_PERIOD, build_banks
from viewer.tiffwriter import encode_tile, write_pyramid_tiff

#: Tiles per unit of work sent to a worker.
_CHUNK = 16
#: Cost of a background tile relative to one with tissue (it is only copied), for progress.
_BACKGROUND_COST = 0.02
#: Least time between two progress reports inside a level (its end is always reported).
_REPORT_INTERVAL_S = 0.5


class _Reporter:
    """Counts written tiles against the plan and reports :class:`SlideProgress` to *progress*."""

    def __init__(self, progress: Callable[[SlideProgress], None] | None,
                 sizes: list[tuple[int, int]], plan: list[list[bool]]) -> None:
        self._progress = progress
        self._sizes = sizes
        self._plan = plan
        self._cost = [sum(_BACKGROUND_COST if bg else 1.0 for bg in level) for level in plan]
        self.tiles_total = sum(len(level) for level in plan)
        self._work_total = sum(self._cost) or 1.0
        self._work_done = 0.0
        self._tiles_done = 0
        self._began = time.monotonic()
        self._level_began = self._began
        self._reported_at = -math.inf

    def textures(self, fraction: float = 0.0) -> None:
        self._send("textures", 0, 0, fraction)

    def start_tiles(self) -> None:
        self._began = self._level_began = time.monotonic()
        self._send("tiles", 0, 0)

    def written(self, level: int, level_done_tiles: int, flags: list[bool]) -> None:
        self._tiles_done += len(flags)
        self._work_done += sum(_BACKGROUND_COST if bg else 1.0 for bg in flags)
        level_done = level_done_tiles == len(self._plan[level])
        if level_done or time.monotonic() - self._reported_at >= _REPORT_INTERVAL_S:
            self._send("tiles", level, level_done_tiles)
        if level_done:
            self._level_began = time.monotonic()

    def _send(self, stage: str, level: int, level_done_tiles: int, fraction: float | None = None) -> None:
        now = time.monotonic()
        self._reported_at = now
        if self._progress is None:
            return
        if fraction is None:
            fraction = min(1.0, self._work_done / self._work_total)
        elapsed = now - self._began
        # a rate only once there is enough to go by (the first chunks include the workers' start)
        eta = None
        if stage == "tiles" and fraction > 0.02 and elapsed > 1:
            eta = elapsed * (1 - fraction) / fraction
        self._progress(SlideProgress(
            stage=stage, level=level, level_count=len(self._sizes), level_size=self._sizes[level],
            level_tiles_done=level_done_tiles, level_tiles=len(self._plan[level]),
            tiles_done=self._tiles_done, tiles_total=self.tiles_total, work_fraction=fraction, eta_s=eta,
            level_elapsed_s=now - self._level_began,
        ))


def _default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cpus)


def generate_slide(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    *,
    tile_size: int = 512,
    mpp: float = DEMO_MPP,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[SlideProgress], None] | None = None,
) -> None:
    """Write a CAMELYON-like JPEG-tiled pyramidal BigTIFF of *width* x *height* level-0 px to *path*.

    Levels halve down to under 1,024 px (generic-tiff layout); *mpp* in µm per level-0 pixel.
    *workers* encoding processes (default: the usable CPUs, at most 4; 1 encodes in this process).
    *progress* gets a :class:`SlideProgress` as the texture banks are built, at most every half
    second while tiles are written, and at the end of every level (its ``str`` is a log line).
    Streams: memory is bounded by the texture banks (~0.1 GB per process), not by the slide size.
    The file appears atomically.
    """
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    if tile_size & (tile_size - 1) or not 16 <= tile_size <= TEXTURE_PERIOD:
        # texture windows must never wrap: tiles and texture periods are powers of two
        raise ValueError(f"tile size must be a power of two from 16 to {TEXTURE_PERIOD}, not {tile_size}")
    workers = _default_workers() if workers is None else workers
    spec = RendererSpec(width, height, seed, tile_size)
    sizes = spec.level_sizes
    renderer = spec.build(with_banks=False)
    grids = [(-(-w // tile_size), -(-h // tile_size)) for w, h in sizes]
    plan = [[renderer.is_background(level, c, r) for r in range(rows) for c in range(cols)]
            for level, (cols, rows) in enumerate(grids)]
    reporter = _Reporter(progress, sizes, plan)
    blank = np.empty((tile_size, tile_size, 3), np.uint8)
    blank[:] = BACKGROUND
    background_tile = encode_tile(blank, "jpeg", JPEG_QUALITY, JPEG_SUBSAMPLING)

    reporter.textures()
    encoders: TileEncoders | None = None
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        # Fork: the children share this process's texture banks (copy-on-write), built once here.
        # Only when single-threaded: forking a threaded process can deadlock.
        renderer.banks = build_banks(seed, len(sizes), tile_size, reporter.textures)
        encoders = TileEncoders(spec, workers, renderer)
    elif workers > 1:
        encoders = TileEncoders(spec, workers)  # spawned: each child builds its own banks
    else:
        renderer.banks = build_banks(seed, len(sizes), tile_size, reporter.textures)

    def level_tiles(level: int) -> Iterator[bytes]:
        return _level_tiles(level, grids[level], plan[level], renderer, encoders, workers, background_tile,
                            reporter)

    try:
        reporter.start_tiles()
        write_pyramid_tiff(
            path, sizes, tile_size, level_tiles, samples_per_pixel=3, photometric="ycbcr", compression="jpeg",
            mpp=(mpp, mpp), bigtiff=True,
            description=f"wsi-viewer demo slide (synthetic, seed {seed}); {width}x{height} px, {mpp} um/px",
        )
    finally:
        if encoders is not None:
            encoders.close()


def _level_tiles(level: int, grid: tuple[int, int], flags: list[bool], renderer: TileRenderer,
                 encoders: TileEncoders | None, workers: int, background_tile: bytes,
                 reporter: _Reporter) -> Iterator[bytes]:
    """The encoded tiles of one level in row-major order, *flags* telling the background ones."""
    cols, rows = grid
    cells = [(c, r) for r in range(rows) for c in range(cols)]
    # Bounded pipeline: at most `ahead` chunks are being encoded while earlier ones are written.
    ahead = 4 * workers
    pending: deque[tuple[list[bool], int | list[bytes] | None]] = deque()

    def submit(start: int) -> None:
        part = cells[start:start + _CHUNK]
        part_flags = flags[start:start + _CHUNK]
        tissue = [cell for cell, bg in zip(part, part_flags, strict=True) if not bg]
        job: int | list[bytes] | None
        if not tissue:
            job = None
        elif encoders is not None:
            job = encoders.submit(level, tissue)
        else:
            job = renderer.encode(level, tissue)
        pending.append((part_flags, job))

    starts = iter(range(0, len(cells), _CHUNK))
    for start in starts:
        submit(start)
        if len(pending) >= ahead:
            break
    done = 0
    while pending:
        part_flags, job = pending.popleft()
        if isinstance(job, int):
            assert encoders is not None
            job = encoders.result(job)
        encoded = iter(job or ())
        for bg in part_flags:
            yield background_tile if bg else next(encoded)
        done += len(part_flags)
        for start in starts:
            submit(start)
            break
        reporter.written(level, done, part_flags)
