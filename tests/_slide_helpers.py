"""Test-only slide generators: small JPEG-tiled pyramidal TIFFs written with ``viewer.tiffwriter``.

``make_test_slide(path, width, height)`` writes a generic-tiff slide (OpenSlide vendor
``generic-tiff``) of any size, power of two or not, whose level-0 pixels are
``slide_pixels(width, height, seed)`` and whose lower levels are ``slide_levels(...)``, so tests can
decode what a server sends and compare it with what was written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.tiffwriter import abbreviate_jpeg, encode_tile, jpeg_tables, pyramid_sizes, write_pyramid_tiff


def slide_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Deterministic textured RGB content (uint8, height x width x 3): gradients, waves, 8 px blocks,
    discs. Every tile differs from its neighbours, so a misplaced tile is visible."""
    rng = np.random.default_rng(seed)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    image = np.empty((height, width, 3), np.float32)
    image[..., 0] = 150 + 60 * np.sin(xs / 41.0 + ys / 67.0) + 30 * (xs / max(width, 1))
    image[..., 1] = 110 + 50 * np.cos(ys / 29.0 - xs / 97.0) + 40 * (ys / max(height, 1))
    image[..., 2] = 170 + 45 * np.sin((xs + ys) / 53.0)
    # 8 x 8 px blocks of noise: high-frequency detail that JPEG keeps at quality 90
    blocks = rng.integers(-25, 26, size=(-(-height // 8), -(-width // 8), 3)).astype(np.float32)
    image += np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)[:height, :width]
    for _ in range(max(3, width * height // 40_000)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(8, max(9.0, min(width, height) / 6))
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        image[inside] = rng.integers(20, 236, size=3)
    return np.clip(image, 0, 255).astype(np.uint8)


def slide_levels(width: int, height: int, seed: int = 0, min_size: int = 256) -> list[np.ndarray]:
    """Every level's pixels: level 0 from :func:`slide_pixels`, then box-filter halvings (sizes
    rounded up) until the larger side is under *min_size*."""
    sizes = pyramid_sizes(width, height, min_size)
    levels = [slide_pixels(width, height, seed)]
    for w, h in sizes[1:]:
        levels.append(np.asarray(Image.fromarray(levels[-1]).resize((w, h), Image.Resampling.BOX)))
    return levels


def make_test_slide(
    path: str | Path,
    width: int,
    height: int,
    tile_size: int = 256,
    shared_tables: bool = False,
    *,
    seed: int = 0,
    quality: int = 90,
    subsampling: str = "4:2:0",
    mpp: tuple[float, float] | None = (0.25, 0.25),
    min_size: int | None = None,
    bigtiff: bool = True,
    description: str | None = None,
) -> Path:
    """Write a JPEG-tiled (YCbCr) pyramidal generic TIFF of :func:`slide_levels` content; return its path.

    *shared_tables* True writes abbreviated tiles with one shared JPEGTables block (Aperio style);
    False self-contained tiles (CAMELYON style). Levels halve until the larger side is under
    *min_size* (default: *tile_size*).
    """
    path = Path(path)
    levels = slide_levels(width, height, seed, min_size or tile_size)
    tables = jpeg_tables(quality, subsampling) if shared_tables else None

    def tiles(level: int):  # type: ignore[no-untyped-def]
        pixels = levels[level]
        h, w = pixels.shape[:2]
        for y in range(0, h, tile_size):
            for x in range(0, w, tile_size):
                tile = encode_tile(pixels[y:y + tile_size, x:x + tile_size], "jpeg", quality, subsampling,
                                   tile_size=tile_size)
                yield abbreviate_jpeg(tile)[1] if shared_tables else tile

    write_pyramid_tiff(
        path, [(a.shape[1], a.shape[0]) for a in levels], tile_size, tiles,
        samples_per_pixel=3, photometric="ycbcr", compression="jpeg", mpp=mpp,
        description=description, jpeg_tables=tables, bigtiff=bigtiff,
    )
    return path


def cmu_with_sidecar(slides: Path) -> Path:
    """*slides* (made) holding the small Aperio slide of tests/data with tumor_111.xml as its ASAP
    sidecar: a real slide with a set to read and to refuse or accept changes to."""
    data = Path(__file__).parent / "data"
    slides.mkdir()
    shutil.copy(data / "slides" / "aperio" / "CMU-1-Small-Region.svs", slides / "CMU-1-Small-Region.svs")
    shutil.copy(data / "asap" / "real" / "tumor_111.xml", slides / "CMU-1-Small-Region.xml")
    return slides
