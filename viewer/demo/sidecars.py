"""The demo's sidecars, in ASAP's conventions: ``<stem>.xml``, an annotation set (tumour, normal
and exclusion groups) traced along the scene's outlines, and ``<stem>_likelihood_map.tif``, a
"tumour probability" image over the slide, high inside the tumours and low elsewhere.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from viewer.demo.scene import DEMO_MPP, FIELD_DOWNSAMPLE, Scene, build_scene, smooth_noise, whole_px
from viewer.tiffwriter import encode_tile, pyramid_sizes, write_pyramid_tiff

if TYPE_CHECKING:
    from viewer.annotations.model import AnnotationSet

#: Level-0 px per pixel of the likelihood map.
HEATMAP_DOWNSAMPLE = 64


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
    noise = smooth_noise(rng, (h, w), cells=max(4, w // 12))
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



def demo_annotations(scene: Scene) -> AnnotationSet:
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
    add("Polygon", "Exclusion", "#1E90FF", [
        whole_px(x0 - ex + nx, y0 - ey + ny), whole_px(x1 + ex + nx, y1 + ey + ny),
        whole_px(x1 + ex - nx, y1 + ey - ny), whole_px(x0 - ex - nx, y0 - ey - ny)])
    # A spline along part of a normal section's capsule
    add("Spline", "Normal", "#64FE2E", scene.sections[normal[0]].outline(8, 0.2, 1.6, scale=0.97))
    # Dots: "mitoses" inside the big tumour
    big = scene.tumours[0]
    rng = np.random.default_rng([scene.seed, 17])
    for _ in range(5):
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.5) * big.r
        dot = whole_px(big.cx + dist * math.cos(angle), big.cy + dist * math.sin(angle))
        add("Dot", "Mitoses", "#FF0000", [dot])
    # A point set of "follicle centres" and a region of interest in a normal section
    section = scene.sections[normal[-1]]
    add("PointSet", "Normal", "#64FE2E", section.outline(6, scale=0.5))
    roi = 0.15 * section.r
    add("Rectangle", None, "#AA00FF", [whole_px(section.cx + sx * roi, section.cy + sy * roi)
                                       for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    # A measurement across the big tumour
    add("Measurement", None, "#000000", [whole_px(big.cx - big.r, big.cy), whole_px(big.cx + big.r, big.cy)])
    return AnnotationSet(annotations, groups)


def write_demo_annotations(path: str | os.PathLike[str], width: int, height: int, *, seed: int = 0) -> None:
    """Write the demo's ASAP XML to *path* atomically."""
    from viewer.annotations.asap import save_asap

    save_asap(demo_annotations(build_scene(width, height, seed)), path)
    os.chmod(path, 0o644)  # the atomic writer's temporary file was private to its owner
