"""What the demo slide shows: its fixed facts (size, resolution, seed) and the scene -- irregular
tissue sections with holes, tumours, lymphoid follicles, stroma and a fold -- as outlines in
level-0 px and as low-resolution fields that the renderer and the sidecars sample.

Coordinates: "level-0 px" are slide-space pixels of the full slide (what ASAP XML stores); field
pixels are level-0 px / :data:`FIELD_DOWNSAMPLE`, offset by a one-pixel margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: File stem of the demo slide and its sidecars (CAMELYON names slides ``tumor_001.tif``).
DEMO_STEM = "tumor_demo"
DEMO_WIDTH = 61_440
DEMO_HEIGHT = 40_960
DEMO_TILE_SIZE = 512
DEMO_MPP = 0.243
DEMO_SEED = 0
#: Level-0 px per pixel of the scene's fields.
FIELD_DOWNSAMPLE = 64
#: Glass background (slightly off-white, as scanners see it), RGB.
BACKGROUND = (243, 242, 245)
#: Width of the fibrous rim along section borders, level-0 px.
CAPSULE_PX = 260.0


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
        return [whole_px(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]

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
        margin = 2 * CAPSULE_PX
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
    rim = np.clip(1 - tissue / CAPSULE_PX, 0, 1)
    trabeculae_noise = smooth_noise(rng, (fh, fw), cells=max(4, fw // 24))
    trabeculae = np.clip(1 - np.abs(trabeculae_noise) / 0.05, 0, 1)
    stroma = np.maximum(rim, trabeculae * (tumour < 0)).astype(np.float32)
    return Scene(width, height, seed, sections, holes, tumours, follicles, tumour_section, fold,
                 fold_section, tissue, tumour, follicle, stroma, folded)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise (float32, roughly -1..1) of *shape* from a coarse random grid, bicubic."""
    grid = rng.standard_normal((max(2, shape[0] * cells // shape[1] + 1), cells + 1)).astype(np.float32)
    image = Image.fromarray(grid, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(image) / 1.5


def whole_px(x: float, y: float) -> tuple[float, float]:
    """(x, y) rounded to whole level-0 px."""
    # whole pixels: ASAP stores float32, which would print 0.1 steps as 11500.0996
    return float(round(x)), float(round(y))

