"""The built-in demo: a generated CAMELYON-like slide in the data directory, with its sidecars.

With no SLIDE_DIR the server calls :func:`ensure_demo` once before starting. It writes, into
``<data dir>/demo/``:

* ``tumor_demo.tif``: a pyramidal, 512 px tiled, JPEG (YCbCr 4:2:0) BigTIFF like CAMELYON's
  generic-tiff files -- 61,440 x 40,960 px at 0.243 µm/px, downsample 2 per level down to under
  1,024 px -- showing several irregular H&E-like tissue sections (lymph-node-like tissue, pink
  fibrous capsule and trabeculae, a tumour region with large pale nuclei, holes, a fold) on a
  white background;
* ``tumor_demo.xml``: ASAP annotations (tumour, normal and exclusion groups; polygons along section
  and tumour outlines, a spline, dots, a measurement, ...) in slide space;
* ``tumor_demo_likelihood_map.tif``: ASAP's heatmap convention, a small tiled uint8 pyramidal TIFF
  of "tumour probability" (0-255) over the slide at downsample 64.

How it stays cheap (under a minute on 2 cores, bounded memory): the scene is defined by a few
low-resolution fields (tissue signed distance, tumour, follicles, stroma, fold) at one value per
64 level-0 px; the texture comes from small periodic texture banks (lymphoid, stroma, tumour; one
pyramid of each, built once from the seed and shared with forked workers), windowed per tile, so
neighbouring tiles join without seams; tiles that are all background reuse one encoded tile;
worker processes render and encode the rest and the writer streams them to disk (only tile
offsets are kept). Everything is seeded: the same seed
and library versions give the same bytes. Every file appears atomically (temporary name, rename),
the slide last, so an interrupted generation leaves nothing that looks complete.

Coordinates: "level-0 px" are slide-space pixels of the full slide (what ASAP XML stores); field
pixels are level-0 px / :data:`FIELD_DOWNSAMPLE`, offset by a one-pixel margin.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from viewer.tiffwriter import encode_tile, pyramid_sizes, write_pyramid_tiff

Progress = Callable[[str], None]

#: File stem of the demo slide and its sidecars (CAMELYON names slides ``tumor_001.tif``).
DEMO_STEM = "tumor_demo"
DEMO_WIDTH = 61_440
DEMO_HEIGHT = 40_960
DEMO_TILE_SIZE = 512
DEMO_MPP = 0.243
DEMO_SEED = 0
#: Level-0 px per pixel of the likelihood map (and of the scene's fields).
HEATMAP_DOWNSAMPLE = 64
FIELD_DOWNSAMPLE = 64
#: JPEG settings of the slide's tiles.
JPEG_QUALITY = 80
JPEG_SUBSAMPLING = "4:2:0"
#: Glass background (slightly off-white, as scanners see it), RGB.
BACKGROUND = (243, 242, 245)

# Period of the texture banks at level 0 (a power of two >= the tile size, so that a tile's window
# never wraps: tile origins are multiples of the tile size). The non-periodic fields that mix the
# banks keep the repetition from showing.
_PERIOD = 2048
_MIN_VISIBLE_PERIOD = 128
_EDGE_NOISE_PX = 48.0  # amplitude of the ragged tissue edge, level-0 px
_CAPSULE_PX = 260.0  # width of the fibrous rim along section borders, level-0 px
_MANTLE_PX = 160.0  # width of the dark mantle zone around a follicle, level-0 px
_GERMINAL_CENTRE = (214, 168, 204)  # the pale colour germinal centres move towards
_MANTLE = (70, 44, 122)  # ... and the dark one their mantle zones move towards


def demo_dir(data_dir: Path) -> Path:
    """The slide directory of the demo."""
    return data_dir / "demo"


def demo_slide_path(data_dir: Path) -> Path:
    """The demo slide file (its sidecars share the stem)."""
    return demo_dir(data_dir) / f"{DEMO_STEM}.tif"


def ensure_demo(data_dir: Path, progress: Progress | None = None, *, width: int = DEMO_WIDTH,
                height: int = DEMO_HEIGHT, seed: int = DEMO_SEED) -> Path:
    """Generate the demo slide and its sidecars once; return the demo slide directory.

    Instant when they exist. A missing sidecar is rewritten without regenerating the slide.
    Concurrent callers wait for the first one (a lock file in the demo directory). *width*,
    *height* (level-0 px) and *seed* exist for tests; the server uses the defaults.
    """
    directory = demo_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    slide = directory / f"{DEMO_STEM}.tif"
    xml = directory / f"{DEMO_STEM}.xml"
    heatmap = directory / f"{DEMO_STEM}_likelihood_map.tif"
    if slide.exists() and xml.exists() and heatmap.exists():
        return directory
    say = progress or (lambda _msg: None)
    with _lock(directory / ".demo.lock"):
        # Sidecars first (cheap); the slide last, so its presence means the demo is complete.
        if not xml.exists():
            write_demo_annotations(xml, width, height, seed=seed)
        if not heatmap.exists():
            write_likelihood_map(heatmap, width, height, seed=seed, mpp=DEMO_MPP)
        if not slide.exists():
            say(f"Generating the demo slide {slide} ({width} x {height} px), once ...")
            started = time.monotonic()
            generate_slide(slide, width, height, tile_size=DEMO_TILE_SIZE, mpp=DEMO_MPP, seed=seed,
                           progress=say)
            say(f"Demo slide ready in {time.monotonic() - started:.1f} s")
    return directory


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on *path* (no lock where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# -- the scene: sections, tumours, holes, fold; low-resolution fields ---------------------------


@dataclass(frozen=True)
class Blob:
    """An irregular star-shaped outline: radius(θ) = r · (1 + Σ a_k cos(kθ + φ_k)), stretched by
    *elongation* along angle *rotation*. Centre and radius in level-0 px."""

    cx: float
    cy: float
    r: float
    harmonics: tuple[tuple[int, float, float], ...]
    elongation: float = 1.0
    rotation: float = 0.0

    def _local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        dx, dy = x - self.cx, y - self.cy
        return (dx * c + dy * s) / self.elongation, (-dx * s + dy * c) * self.elongation

    def _radius(self, theta: np.ndarray) -> np.ndarray:
        total = np.ones_like(theta)
        for k, a, phase in self.harmonics:
            total += a * np.cos(k * theta + phase)
        return self.r * total

    def signed_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Approximately the distance to the outline in level-0 px, positive inside."""
        u, v = self._local(x, y)
        d = np.hypot(u, v)
        squeeze = min(self.elongation, 1 / self.elongation)
        distance: np.ndarray = (self._radius(np.arctan2(v, u)) - d) * squeeze
        return distance

    def outline(self, n: int = 96, start: float = 0.0, stop: float = 2 * math.pi,
                scale: float = 1.0) -> list[tuple[float, float]]:
        """*n* points of the outline (level-0 px), anticlockwise on screen, from angle start to stop."""
        theta = np.linspace(start, stop, n, endpoint=False)
        rho = self._radius(theta) * scale
        u, v = rho * np.cos(theta), rho * np.sin(theta)
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        ue, ve = u * self.elongation, v / self.elongation
        xs, ys = self.cx + ue * c - ve * s, self.cy + ue * s + ve * c
        return [_px(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) containing the blob, level-0 px."""
        reach = self.r * (1 + sum(abs(a) for _k, a, _p in self.harmonics)) * max(self.elongation,
                                                                                 1 / self.elongation)
        return self.cx - reach, self.cy - reach, self.cx + reach, self.cy + reach


def _random_blob(rng: np.random.Generator, cx: float, cy: float, r: float, roughness: float,
                 elongation: float = 1.0) -> Blob:
    harmonics = tuple(
        (k, float(rng.uniform(0.3, 1.0) * roughness / k ** 0.8), float(rng.uniform(0, 2 * math.pi)))
        for k in range(2, 9)
    )
    return Blob(cx, cy, r, harmonics, elongation, float(rng.uniform(0, math.pi)))


@dataclass
class Scene:
    """What the slide shows, in level-0 px, and its fields at 1/FIELD_DOWNSAMPLE resolution.

    Fields (float32, shape ceil(h/D)+2 x ceil(w/D)+2, pixel (i, j) covering level-0 x in
    [(j-1)·D, j·D)): ``tissue`` signed distance to the tissue edge (px, > 0 inside), ``tumour``
    signed distance to the tumour outlines, ``follicle`` to the lymphoid follicles, ``stroma``
    0-1 weight of fibrous stroma, ``folded`` 0-1 weight of the fold.
    """

    width: int
    height: int
    seed: int
    sections: list[Blob]
    holes: list[Blob]
    tumours: list[Blob]
    follicles: list[Blob]
    tumour_section: list[int]
    fold: tuple[float, float, float, float, float]  # x0, y0, x1, y1, half width
    fold_section: int
    tissue: np.ndarray
    tumour: np.ndarray
    follicle: np.ndarray
    stroma: np.ndarray
    folded: np.ndarray


def build_scene(width: int, height: int, seed: int = 0) -> Scene:
    """The deterministic scene of a *width* x *height* slide for *seed* (fields included)."""
    rng = np.random.default_rng([seed, 7])
    rows = 2 if height >= 0.6 * width else 1
    cols = max(1, round(2 * width / height)) if rows == 2 else max(1, round(width / height))
    cell_w, cell_h = width / cols, height / rows
    cells = [(c, r) for r in range(rows) for c in range(cols)]
    if len(cells) >= 4:  # leave one cell empty: a slide's glass is rarely covered evenly
        cells.pop(int(rng.integers(len(cells))))
    sections: list[Blob] = []
    holes: list[Blob] = []
    for c, r in cells:
        cx = (c + 0.5 + rng.uniform(-0.06, 0.06)) * cell_w
        cy = (r + 0.5 + rng.uniform(-0.06, 0.06)) * cell_h
        radius = 0.28 * min(cell_w, cell_h)
        section = _random_blob(rng, cx, cy, radius, 0.32, float(rng.uniform(1.0, 1.3)))
        sections.append(section)
        for _ in range(int(rng.integers(2, 6))):
            angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.55) * radius
            holes.append(_random_blob(rng, cx + dist * math.cos(angle), cy + dist * math.sin(angle),
                                      float(rng.uniform(0.025, 0.07)) * radius, 0.25))
    # Tumour: one large region in the first section, a small one in the last.
    tumours, tumour_section = [], []
    for index, size in ((0, 0.42), (len(sections) - 1, 0.18)):
        s = sections[index]
        angle = rng.uniform(0, 2 * math.pi)
        offset = (0.12 if size > 0.3 else 0.3) * s.r
        tumours.append(_random_blob(rng, s.cx + offset * math.cos(angle), s.cy + offset * math.sin(angle),
                                    size * s.r, 0.22))
        tumour_section.append(index)
    # A fold across a section without the big tumour.
    fold_section = 1 if len(sections) > 1 else 0
    s = sections[fold_section]
    angle = rng.uniform(0, math.pi)
    half = 0.45 * s.r
    fold = (s.cx - half * math.cos(angle), s.cy - half * math.sin(angle),
            s.cx + half * math.cos(angle), s.cy + half * math.sin(angle), 0.035 * s.r)

    # Lymphoid follicles: round nodules in the cortex, just inside each section's outline.
    follicles = []
    for s in sections:
        for angle in np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(5, 10)))):
            rim = s.outline(1, float(angle), float(angle) + 1.0)[0]
            depth = rng.uniform(0.14, 0.24)
            fx, fy = rim[0] + (s.cx - rim[0]) * depth, rim[1] + (s.cy - rim[1]) * depth
            follicles.append(_random_blob(rng, fx, fy, float(rng.uniform(0.05, 0.08)) * s.r, 0.12))

    d = FIELD_DOWNSAMPLE
    fh, fw = -(-height // d) + 2, -(-width // d) + 2
    # level-0 coordinates of field pixel centres
    ys = ((np.arange(fh, dtype=np.float32) - 1 + 0.5) * d)[:, None]
    xs = ((np.arange(fw, dtype=np.float32) - 1 + 0.5) * d)[None, :]
    far = np.float32(4 * max(width, height))
    tissue = np.full((fh, fw), -far, np.float32)
    tumour = np.full((fh, fw), -far, np.float32)
    follicle = np.full((fh, fw), -far, np.float32)

    def window(blob: Blob) -> tuple[slice, slice]:
        x0, y0, x1, y1 = blob.bbox()
        margin = 2 * _CAPSULE_PX
        return (slice(max(0, int((y0 - margin) // d)), min(fh, int((y1 + margin) // d) + 3)),
                slice(max(0, int((x0 - margin) // d)), min(fw, int((x1 + margin) // d) + 3)))

    for blob in sections:
        sy, sx = window(blob)
        np.maximum(tissue[sy, sx], blob.signed_distance(xs[:, sx], ys[sy, :]), out=tissue[sy, sx])
    for blob in holes:
        sy, sx = window(blob)
        np.minimum(tissue[sy, sx], -blob.signed_distance(xs[:, sx], ys[sy, :]), out=tissue[sy, sx])
    for blob in tumours:
        sy, sx = window(blob)
        np.maximum(tumour[sy, sx], blob.signed_distance(xs[:, sx], ys[sy, :]), out=tumour[sy, sx])
    for blob in follicles:
        sy, sx = window(blob)
        np.maximum(follicle[sy, sx], blob.signed_distance(xs[:, sx], ys[sy, :]), out=follicle[sy, sx])
    x0, y0, x1, y1, fold_half = fold
    seg = np.array([x1 - x0, y1 - y0], np.float32)
    t = np.clip(((xs - x0) * seg[0] + (ys - y0) * seg[1]) / float(seg @ seg), 0, 1)
    distance = np.hypot(xs - (x0 + t * seg[0]), ys - (y0 + t * seg[1]))
    folded = np.clip(1.2 - distance / fold_half, 0, 1).astype(np.float32) * (tissue > 0)

    # Stroma: a fibrous rim along every edge, plus trabeculae (ridges of a smooth noise field).
    rim = np.clip(1 - tissue / _CAPSULE_PX, 0, 1)
    trabeculae_noise = _smooth_noise(rng, (fh, fw), cells=max(4, fw // 24))
    trabeculae = np.clip(1 - np.abs(trabeculae_noise) / 0.05, 0, 1)
    stroma = np.maximum(rim, trabeculae * (tumour < 0)).astype(np.float32)
    return Scene(width, height, seed, sections, holes, tumours, follicles, tumour_section, fold,
                 fold_section, tissue, tumour, follicle, stroma, folded)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise (float32, roughly -1..1) of *shape* from a coarse random grid, bicubic."""
    grid = rng.standard_normal((max(2, shape[0] * cells // shape[1] + 1), cells + 1)).astype(np.float32)
    image = Image.fromarray(grid, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(image) / 1.5


# -- texture banks ---------------------------------------------------------------------------------


def _periodic_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 1) -> np.ndarray:
    """Seamlessly tiling noise (float32, about -1..1) of size x size px: a random grid of cells x
    cells, wrapped and upsampled bicubically; octaves add finer grids at half amplitude."""
    total = np.zeros((size, size), np.float32)
    amplitude = 1.0
    for _ in range(octaves):
        step = size // cells
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        padded = np.pad(grid, 2, mode="wrap")
        big = Image.fromarray(padded, mode="F").resize(((cells + 4) * step,) * 2, Image.Resampling.BICUBIC)
        total += amplitude * np.asarray(big.crop((2 * step, 2 * step, 2 * step + size, 2 * step + size)))
        del big
        amplitude /= 2
        cells = min(cells * 2, size // 4)
    return total / 1.6


def _draw_wrapped(draw: ImageDraw.ImageDraw, size: int, points: list[tuple[float, float]], fill: int) -> None:
    """Draw a polygon, repeated across the edges so that the image tiles seamlessly."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    for dx in (-size, 0, size):
        if min(xs) + dx > size or max(xs) + dx < 0:
            continue
        for dy in (-size, 0, size):
            if min(ys) + dy > size or max(ys) + dy < 0:
                continue
            draw.polygon([(x + dx, y + dy) for x, y in points], fill=fill)


def _nucleus(rng: np.random.Generator, x: float, y: float, rx: float, ry: float, angle: float,
             wobble: float) -> list[tuple[float, float]]:
    n = 14
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    k = 1 + wobble * rng.uniform(-1, 1, n)
    u, v = rx * k * np.cos(theta), ry * k * np.sin(theta)
    c, s = math.cos(angle), math.sin(angle)
    return [(float(x + a * c - b * s), float(y + a * s + b * c)) for a, b in zip(u, v, strict=True)]


def _nuclei_layer(rng: np.random.Generator, size: int, count: int, radius: tuple[float, float],
                  elongation: tuple[float, float], wobble: float, cluster: np.ndarray | None = None,
                  blur: float = 1.0) -> np.ndarray:
    """Coverage (float32 0..1) of *count* nuclei in a seamlessly tiling size x size image.

    *cluster* (0..1, same size) thins nuclei out where it is low.
    """
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    drawn = 0
    while drawn < count:
        x, y = rng.uniform(0, size, 2)
        if cluster is not None and rng.uniform() > cluster[int(y), int(x)]:
            continue
        r = rng.uniform(*radius)
        e = rng.uniform(*elongation)
        shade = int(rng.uniform(170, 255))
        _draw_wrapped(draw, size, _nucleus(rng, x, y, r * e, r / e, rng.uniform(0, math.pi), wobble), shade)
        drawn += 1
    # one box pass softens the polygons' jagged edges about as well as a Gaussian, for a third of the time
    return np.asarray(layer.filter(ImageFilter.BoxBlur(blur)), np.float32) / 255


def _mix(image: np.ndarray, colour: tuple[float, float, float], weight: np.ndarray) -> np.ndarray:
    """*image* (float32 RGB) moved towards *colour* by *weight* (0..1), in place, channel by channel
    (whole-array expressions would hold several image-sized temporaries)."""
    for c in range(3):
        channel = image[..., c]
        channel += (np.float32(colour[c]) - channel) * weight
    return image


def _bank_lymphoid(rng: np.random.Generator, size: int) -> np.ndarray:
    """Lymph-node cortex: dense small dark lymphocyte nuclei on a pale violet-pink background.

    Only fine-scale variation (< ~100 px): coarser patterns would repeat visibly when zoomed out;
    the scene's non-periodic fields (follicles, stroma) give the large-scale structure."""
    tone = _periodic_noise(rng, size, 64, 2)
    base = _mix(np.full((size, size, 3), (226, 186, 214), np.float32), (205, 150, 195),
                np.clip(tone * 0.6 + 0.3, 0, 1))
    density = np.clip(0.75 + 0.5 * _periodic_noise(rng, size, 32, 2), 0.15, 1)
    nuclei = _nuclei_layer(rng, size, int(size * size / 750), (8.0, 12.0), (1.0, 1.25), 0.12, density, 1.0)
    chromatin = np.clip(0.82 + 0.35 * _periodic_noise(rng, size, size // 16), 0.5, 1.1)
    image = _mix(base, (58, 36, 112), np.clip(nuclei * chromatin, 0, 1))
    # Scattered larger pale histiocyte-like nuclei
    pale = _nuclei_layer(rng, size, int(size * size / 60000), (16.0, 22.0), (1.0, 1.4), 0.15, None, 1.5)
    return _mix(image, (150, 110, 170), pale * 0.8)


def _bank_stroma(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fibrous stroma: wavy eosin-pink collagen fibres with sparse spindle nuclei."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = _periodic_noise(rng, size, 8, 2) * 7.0
    fibres = 0.5 + 0.5 * np.sin(2 * math.pi * (size // 36) * (xx + 0.3 * yy) / size + warp)
    fine = 0.5 + 0.5 * np.sin(2 * math.pi * (size // 11) * (xx - 0.1 * yy) / size + 1.7 * warp)
    weight = np.clip(0.3 + fibres ** 2 * 0.45 + fine * 0.1 + 0.25 * _periodic_noise(rng, size, 32, 2), 0, 1)
    del yy, xx, warp, fibres, fine
    image = _mix(np.full((size, size, 3), (246, 214, 230), np.float32), (222, 122, 168), weight)
    nuclei = _nuclei_layer(rng, size, int(size * size / 40000), (5.0, 7.0), (2.2, 3.2), 0.1, None, 1.0)
    return _mix(image, (88, 44, 120), nuclei)


def _bank_tumour(rng: np.random.Generator, size: int) -> np.ndarray:
    """Metastatic carcinoma: sheets of large pleomorphic pale nuclei with nucleoli, pink cytoplasm."""
    tone = _periodic_noise(rng, size, 32, 2)
    base = _mix(np.full((size, size, 3), (226, 168, 204), np.float32), (206, 130, 182),
                np.clip(0.5 + tone * 0.5, 0, 1))
    nests = np.clip(0.6 + 0.8 * _periodic_noise(rng, size, 16, 2), 0.05, 1)
    nuclei = _nuclei_layer(rng, size, int(size * size / 4200), (16.0, 26.0), (1.0, 1.5), 0.18, nests, 1.4)
    # nuclear membranes: where the blurred coverage crosses ~0.3 (interiors are >= 0.67)
    rims = np.clip(1 - np.abs(nuclei - 0.3) * 4, 0, 1)
    image = _mix(base, (128, 86, 168), np.clip(nuclei * 0.85, 0, 1))
    image = _mix(image, (70, 40, 118), rims * 0.9)
    nucleoli = _nuclei_layer(rng, size, int(size * size / 9000), (2.5, 4.0), (1.0, 1.2), 0.1, nuclei, 0.7)
    return _mix(image, (120, 30, 90), nucleoli)


def _pyramid(image: np.ndarray, levels: int, tile: int) -> list[np.ndarray]:
    """Halvings of a periodic image; levels smaller than a tile are repeated up to the tile size.

    Levels whose period is under :data:`_MIN_VISIBLE_PERIOD` px become their mean colour: repeated
    that small, any remaining variation would show as a regular grid when zoomed out.
    """
    out = []
    current = Image.fromarray(image)
    for _ in range(levels):
        array = np.asarray(current)
        if array.shape[0] < _MIN_VISIBLE_PERIOD:
            mean = array.reshape(-1, *array.shape[2:]).mean(axis=0)
            array = np.full((tile, tile, *array.shape[2:]), mean, np.float32).astype(array.dtype)
        elif array.shape[0] < tile:
            reps = -(-tile // array.shape[0])
            array = np.tile(array, (reps, reps) + (1,) * (array.ndim - 2))[:tile, :tile]
        out.append(np.ascontiguousarray(array))
        if current.width > 1:
            current = current.reduce(2)
    return out


@dataclass
class _Banks:
    lymphoid: list[np.ndarray]
    stroma: list[np.ndarray]
    tumour: list[np.ndarray]
    edge: list[np.ndarray]  # float32 noise for ragged tissue edges, level-0 px


def _build_banks(seed: int, levels: int, tile: int) -> _Banks:
    rng = np.random.default_rng([seed, 11])

    def u8(a: np.ndarray) -> np.ndarray:
        return np.clip(a + 0.5, 0, 255).astype(np.uint8)

    edge = np.clip(_periodic_noise(rng, _PERIOD, 48, 2), -1.4, 1.4) * np.float32(_EDGE_NOISE_PX / 1.4)
    return _Banks(
        lymphoid=_pyramid(u8(_bank_lymphoid(rng, _PERIOD)), levels, tile),
        stroma=_pyramid(u8(_bank_stroma(rng, _PERIOD)), levels, tile),
        tumour=_pyramid(u8(_bank_tumour(rng, _PERIOD)), levels, tile),
        edge=_pyramid(edge, levels, tile),
    )


# -- rendering tiles ----------------------------------------------------------------------------------


_Box = tuple[float, float, float, float]


@dataclass
class _Renderer:
    """Renders the tiles of one slide from its scene and the texture banks (per process).

    Blending is done by Pillow (``Image.composite`` with 8-bit masks), which is several times
    faster than numpy float arithmetic on 512 x 512 x 3 tiles; masks of smooth transitions are
    precomputed at field resolution and only resampled per tile.
    """

    scene: Scene
    banks: _Banks
    tile: int
    level_sizes: list[tuple[int, int]]

    def __post_init__(self) -> None:
        sc = self.scene

        def u8(weight: np.ndarray) -> np.ndarray:
            return np.clip(weight * 255 + 0.5, 0, 255).astype(np.uint8)

        # (mask field, what the tile moves towards: a texture bank or a colour), in drawing order
        stain = _smooth_noise(np.random.default_rng([sc.seed, 19]), sc.tissue.shape,
                              cells=max(4, sc.tissue.shape[1] // 6))
        mottle = np.clip(stain * 0.5 + 0.5, 0, 1) * 0.14  # uneven staining and cell density
        centre = np.clip(sc.follicle / _MANTLE_PX + 0.5, 0, 1) * 0.45
        mantle = np.clip(1 - np.abs(sc.follicle + _MANTLE_PX) / _MANTLE_PX, 0, 1) * 0.22
        self.layers: list[tuple[np.ndarray, str | tuple[int, int, int]]] = [
            (u8(mottle), _MANTLE),
            (u8(centre), _GERMINAL_CENTRE),  # germinal centres: paler
            (u8(mantle), _MANTLE),  # mantle zones around them: denser, darker
            (u8(sc.stroma), "stroma"),
            (u8(np.clip(sc.tumour / 60.0 + 0.5, 0, 1)), "tumour"),
            (u8(sc.folded * 0.32), (40, 10, 60)),  # a fold is two layers of tissue: darker
        ]

    def _resample(self, field: np.ndarray, box_l0: _Box, size: tuple[int, int]) -> Image.Image:
        """*field* (float32 or uint8) resampled bilinearly over a level-0 box to *size* (w, h) px."""
        d = FIELD_DOWNSAMPLE
        x0, y0, x1, y1 = (v / d + 1 for v in box_l0)  # +1: the fields' one-pixel margin
        i0, j0 = max(0, int(y0) - 2), max(0, int(x0) - 2)
        crop = field[i0:int(math.ceil(y1)) + 2, j0:int(math.ceil(x1)) + 2]
        image = Image.fromarray(np.ascontiguousarray(crop), mode="F" if field.dtype == np.float32 else "L")
        box = (x0 - j0, y0 - i0, x1 - j0, y1 - i0)
        return image.resize(size, Image.Resampling.BILINEAR, box=box)

    def _crop(self, field: np.ndarray, box_l0: _Box) -> np.ndarray:
        d = FIELD_DOWNSAMPLE
        x0, y0, x1, y1 = (v / d + 1 for v in box_l0)
        return field[max(0, int(y0) - 1):int(math.ceil(y1)) + 2, max(0, int(x0) - 1):int(math.ceil(x1)) + 2]

    def is_background(self, level: int, col: int, row: int) -> bool:
        """True when the tile shows no tissue at all (decided on the low-resolution field)."""
        box, _size = self._box(level, col, row)
        reach = _EDGE_NOISE_PX + 2 * 2**level + FIELD_DOWNSAMPLE  # farthest tissue can show beyond the field
        return bool(float(self._crop(self.scene.tissue, box).max()) < -reach)

    def _box(self, level: int, col: int, row: int) -> tuple[_Box, tuple[int, int]]:
        """The tile's level-0 box (x0, y0, x1, y1) and its size (w, h) inside the level."""
        width, height = self.level_sizes[level]
        t = self.tile
        w, h = min(t, width - col * t), min(t, height - row * t)
        s = self.scene.width / width, self.scene.height / height
        return (col * t * s[0], row * t * s[1], (col * t + w) * s[0], (row * t + h) * s[1]), (w, h)

    def render(self, level: int, col: int, row: int) -> np.ndarray:
        """The tile's RGB pixels (uint8, tile x tile; outside the level: background)."""
        t = self.tile
        box, (w, h) = self._box(level, col, row)
        ds = 2**level

        # Texture windows: tile origins are multiples of the tile size and every period is a
        # multiple of it (or repeated up to it), so a window never wraps.
        def window(bank: list[np.ndarray]) -> np.ndarray:
            a = bank[level]
            y, x = (row * t) % a.shape[0], (col * t) % a.shape[1]
            return a[y:y + h, x:x + w]

        image = Image.fromarray(np.ascontiguousarray(window(self.banks.lymphoid)))
        for mask_field, target in self.layers:
            if not self._crop(mask_field, box).any():
                continue
            mask = self._resample(mask_field, box, (w, h))
            if isinstance(target, str):
                other = Image.fromarray(np.ascontiguousarray(window(getattr(self.banks, target))))
            else:
                other = Image.new("RGB", (w, h), target)
            image = Image.composite(other, image, mask)
        if self._crop(self.scene.tissue, box).min() < _EDGE_NOISE_PX + 2 * ds + FIELD_DOWNSAMPLE:
            # The tissue edge, sharp at every level and ragged: signed distance plus fine noise.
            # alpha = clip((distance + edge) / (1.2 ds) + 0.5) as 0-255, computed in place
            alpha = np.array(self._resample(self.scene.tissue, box, (w, h)))
            alpha += window(self.banks.edge)
            alpha *= 255 / (1.2 * ds)
            alpha += 128.0
            np.clip(alpha, 0, 255, out=alpha)
            image = Image.composite(image, Image.new("RGB", (w, h), BACKGROUND),
                                    Image.fromarray(alpha.astype(np.uint8)))
        if (w, h) != (t, t):
            canvas = Image.new("RGB", (t, t), BACKGROUND)
            canvas.paste(image, (0, 0))
            image = canvas
        return np.asarray(image)


_WORKER: _Renderer | None = None


def _make_renderer(width: int, height: int, seed: int, tile: int, with_banks: bool = True) -> _Renderer:
    sizes = pyramid_sizes(width, height)
    banks = _build_banks(seed, len(sizes), tile) if with_banks else _Banks([], [], [], [])
    return _Renderer(build_scene(width, height, seed), banks, tile, sizes)


def _init_worker(width: int, height: int, seed: int, tile: int) -> None:
    global _WORKER
    _WORKER = _make_renderer(width, height, seed, tile)


def _encode_tiles(level: int, cells: list[tuple[int, int]]) -> list[bytes]:
    assert _WORKER is not None
    return [encode_tile(_WORKER.render(level, col, row), "jpeg", JPEG_QUALITY, JPEG_SUBSAMPLING)
            for col, row in cells]


def generate_slide(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    *,
    tile_size: int = 512,
    mpp: float = DEMO_MPP,
    seed: int = 0,
    workers: int | None = None,
    progress: Progress | None = None,
) -> None:
    """Write a CAMELYON-like JPEG-tiled pyramidal BigTIFF of *width* x *height* level-0 px to *path*.

    Levels halve down to under 1,024 px (generic-tiff layout); *mpp* in µm per level-0 pixel.
    *workers* encoding processes (default: the usable CPUs, at most 4; 1 encodes in this process).
    Streams: memory is bounded by the texture banks (~0.1 GB per process), not by the slide size.
    The file appears atomically.
    """
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    if tile_size & (tile_size - 1) or not 16 <= tile_size <= _PERIOD:
        # texture windows must never wrap: tiles and texture periods are powers of two
        raise ValueError(f"tile size must be a power of two from 16 to {_PERIOD}, not {tile_size}")
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = min(4, cpus)
    say = progress or (lambda _msg: None)
    sizes = pyramid_sizes(width, height)
    # The main process plans (which tiles are background); workers render and encode the rest.
    renderer = _make_renderer(width, height, seed, tile_size, with_banks=False)
    blank = np.empty((tile_size, tile_size, 3), np.uint8)
    blank[:] = BACKGROUND
    background_tile = encode_tile(blank, "jpeg", JPEG_QUALITY, JPEG_SUBSAMPLING)
    total = sum(-(-w // tile_size) * -(-h // tile_size) for w, h in sizes)
    done = 0
    last_report = time.monotonic()
    pool: Any = None
    global _WORKER
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        # Fork: the children share the parent's texture banks (copy-on-write), built once here.
        # Only when single-threaded: forking a threaded process can deadlock.
        renderer.banks = _build_banks(seed, len(sizes), tile_size)
        _WORKER = renderer
        pool = multiprocessing.get_context("fork").Pool(workers)
    elif workers > 1:
        # Spawn: each child builds its own banks (a few seconds, in parallel).
        pool = multiprocessing.get_context("spawn").Pool(
            workers, initializer=_init_worker, initargs=(width, height, seed, tile_size))
    else:
        renderer.banks = _build_banks(seed, len(sizes), tile_size)
        _WORKER = renderer

    def level_tiles(level: int) -> Iterator[bytes]:
        nonlocal done, last_report
        w, h = sizes[level]
        cols, rows = -(-w // tile_size), -(-h // tile_size)
        say(f"  level {level}: {w} x {h} px, {cols * rows} tiles")
        chunk = 16
        cells = [(c, r) for r in range(rows) for c in range(cols)]
        # Bounded pipeline: at most `ahead` chunks are being encoded while earlier ones are written.
        ahead = 4 * workers
        pending: deque[tuple[list[bool], Any]] = deque()

        def submit(start: int) -> None:
            part = cells[start:start + chunk]
            flags = [renderer.is_background(level, c, r) for c, r in part]
            tissue = [cell for cell, bg in zip(part, flags, strict=True) if not bg]
            if not tissue:
                job = None
            elif pool is not None:
                job = pool.apply_async(_encode_tiles, (level, tissue))
            else:
                job = _encode_tiles(level, tissue)
            pending.append((flags, job))

        starts = iter(range(0, len(cells), chunk))
        for start in starts:
            submit(start)
            if len(pending) >= ahead:
                break
        while pending:
            flags, job = pending.popleft()
            encoded = iter(() if job is None else (job if isinstance(job, list) else job.get()))
            for bg in flags:
                yield background_tile if bg else next(encoded)
            done += len(flags)
            for start in starts:
                submit(start)
                break
            if time.monotonic() - last_report > 2:
                last_report = time.monotonic()
                say(f"  level {level}: {done}/{total} tiles ({100 * done // total}%)")

    try:
        write_pyramid_tiff(
            path, sizes, tile_size, level_tiles, samples_per_pixel=3, photometric="ycbcr", compression="jpeg",
            mpp=(mpp, mpp), bigtiff=True,
            description=f"wsi-viewer demo slide (synthetic, seed {seed}); {width}x{height} px, {mpp} um/px",
        )
    finally:
        _WORKER = None
        if pool is not None:
            pool.terminate()
            pool.join()
    say(f"  {total} tiles written")


# -- sidecars ------------------------------------------------------------------------------------------


def likelihood_map(scene: Scene, downsample: int = HEATMAP_DOWNSAMPLE) -> np.ndarray:
    """Tumour probability (uint8 0-255) over the slide at 1/*downsample* resolution: high over the
    tumour regions, low with a few false-positive patches over normal tissue, 0 on glass."""
    d = FIELD_DOWNSAMPLE
    h, w = -(-scene.height // downsample), -(-scene.width // downsample)
    box = (1.0, 1.0, 1 + scene.width / d, 1 + scene.height / d)

    def field(a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a, mode="F").resize((w, h), Image.Resampling.BILINEAR, box=box))

    tissue, tumour = field(scene.tissue), field(scene.tumour)
    rng = np.random.default_rng([scene.seed, 13])
    noise = _smooth_noise(rng, (h, w), cells=max(4, w // 12))
    p_tumour = 1 / (1 + np.exp(np.clip(-tumour / 100.0, -60, 60)))
    p = np.maximum(0.92 * p_tumour + 0.06 * noise, np.clip(noise - 0.55, 0, 1) * 0.9)
    p = np.where(tissue > 0, np.clip(p, 0, 1), 0)
    return (p * 255 + 0.5).astype(np.uint8)


def write_likelihood_map(path: str | os.PathLike[str], width: int, height: int, *, seed: int = 0,
                         mpp: float = DEMO_MPP, downsample: int = HEATMAP_DOWNSAMPLE) -> None:
    """Write ASAP's ``<stem>_likelihood_map.tif`` for the scene: a uint8, single-channel, deflate,
    256 px tiled pyramidal TIFF at 1/*downsample* of the slide (mpp scaled accordingly)."""
    values = likelihood_map(build_scene(width, height, seed), downsample)
    tile = 256
    levels = [values]
    for w, h in pyramid_sizes(values.shape[1], values.shape[0], tile)[1:]:
        levels.append(np.asarray(Image.fromarray(levels[-1]).resize((w, h), Image.Resampling.BOX)))

    def tiles(level: int) -> Iterator[bytes]:
        a = levels[level]
        for y in range(0, a.shape[0], tile):
            for x in range(0, a.shape[1], tile):
                yield encode_tile(a[y:y + tile, x:x + tile], "deflate", tile_size=tile)

    write_pyramid_tiff(
        path, [(a.shape[1], a.shape[0]) for a in levels], tile, tiles, samples_per_pixel=1,
        photometric="minisblack", compression="deflate", mpp=(mpp * downsample, mpp * downsample),
        description=f"wsi-viewer demo likelihood map: tumour probability x 255, downsample {downsample}",
    )


def _px(x: float, y: float) -> tuple[float, float]:
    # whole pixels: ASAP stores float32, which would print 0.1 steps as 11500.0996
    return float(round(x)), float(round(y))


def demo_annotations(scene: Scene) -> Any:
    """The demo's ASAP annotation set (slide space): tumour, normal and exclusion groups holding
    polygons along the tumour and section outlines, a spline, dots, a point set, a rectangle and a
    measurement."""
    from viewer.annotations.model import Annotation, AnnotationSet, Group

    groups = [
        Group("Tumor", color="#F4FA58", attributes={"source": "wsi-viewer demo"}),
        Group("Mitoses", parent="Tumor", color="#FF0000"),
        Group("Normal", color="#64FE2E"),
        Group("Exclusion", color="#1E90FF"),
    ]
    annotations: list[Annotation] = []

    def add(kind: str, group: str | None, color: str, points: list[tuple[float, float]]) -> None:
        annotations.append(Annotation(f"Annotation {len(annotations)}", kind, group, color, points))

    for i, blob in enumerate(scene.tumours):
        add("Polygon", "Tumor", "#F4FA58", blob.outline(120 if i == 0 else 60))
    normal = [i for i in range(len(scene.sections)) if i not in scene.tumour_section] or [0]
    for i in normal[:2]:
        add("Polygon", "Normal", "#64FE2E", scene.sections[i].outline(160, scale=1.01))
    # The fold, boxed
    x0, y0, x1, y1, half = scene.fold
    length = math.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    nx, ny = -uy * half * 1.6, ux * half * 1.6
    ex, ey = ux * half, uy * half
    add("Polygon", "Exclusion", "#1E90FF", [_px(x0 - ex + nx, y0 - ey + ny), _px(x1 + ex + nx, y1 + ey + ny),
                                            _px(x1 + ex - nx, y1 + ey - ny), _px(x0 - ex - nx, y0 - ey - ny)])
    # A spline along part of a normal section's capsule
    add("Spline", "Normal", "#64FE2E", scene.sections[normal[0]].outline(8, 0.2, 1.6, scale=0.97))
    # Dots: "mitoses" inside the big tumour
    big = scene.tumours[0]
    rng = np.random.default_rng([scene.seed, 17])
    for _ in range(5):
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.5) * big.r
        dot = _px(big.cx + dist * math.cos(angle), big.cy + dist * math.sin(angle))
        add("Dot", "Mitoses", "#FF0000", [dot])
    # A point set of "follicle centres" and a region of interest in a normal section
    section = scene.sections[normal[-1]]
    add("PointSet", "Normal", "#64FE2E", section.outline(6, scale=0.5))
    roi = 0.15 * section.r
    add("Rectangle", None, "#AA00FF", [_px(section.cx + sx * roi, section.cy + sy * roi)
                                       for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    # A measurement across the big tumour
    add("Measurement", None, "#000000", [_px(big.cx - big.r, big.cy), _px(big.cx + big.r, big.cy)])
    return AnnotationSet(annotations, groups)


def write_demo_annotations(path: str | os.PathLike[str], width: int, height: int, *, seed: int = 0) -> None:
    """Write the demo's ASAP XML to *path* atomically."""
    from viewer.annotations.asap import save_asap

    save_asap(demo_annotations(build_scene(width, height, seed)), path)
    os.chmod(path, 0o644)  # the atomic writer's temporary file was private to its owner
