"""Rendering one tile of the demo slide: the scene's fields resampled over the tile and blended
with windows of the texture banks, then JPEG-encoded. One :class:`TileRenderer` per process; a
:class:`RendererSpec` is what a process needs to build its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from viewer.demo.scene import BACKGROUND, FIELD_DOWNSAMPLE, Scene, build_scene, smooth_noise
from viewer.demo.texture import EDGE_NOISE_PX, TextureBanks, build_banks
from viewer.tiffwriter import encode_tile, pyramid_sizes

#: JPEG settings of the slide's tiles.
JPEG_QUALITY = 80
JPEG_SUBSAMPLING = "4:2:0"

_MANTLE_PX = 160.0  # width of the dark mantle zone around a follicle, level-0 px
_GERMINAL_CENTRE = (214, 168, 204)  # the pale colour germinal centres move towards
_MANTLE = (70, 44, 122)  # ... and the dark one their mantle zones move towards

_Box = tuple[float, float, float, float]


@dataclass
class TileRenderer:
    """Renders the tiles of one slide from its scene and the texture banks (per process).

    Blending is done by Pillow (``Image.composite`` with 8-bit masks), which is several times
    faster than numpy float arithmetic on 512 x 512 x 3 tiles; masks of smooth transitions are
    precomputed at field resolution and only resampled per tile.
    """

    scene: Scene
    banks: TextureBanks
    tile: int
    level_sizes: list[tuple[int, int]]

    def __post_init__(self) -> None:
        sc = self.scene

        def u8(weight: np.ndarray) -> np.ndarray:
            return np.clip(weight * 255 + 0.5, 0, 255).astype(np.uint8)

        # (mask field, what the tile moves towards: a texture bank or a colour), in drawing order
        stain = smooth_noise(np.random.default_rng([sc.seed, 19]), sc.tissue.shape,
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
        reach = EDGE_NOISE_PX + 2 * 2**level + FIELD_DOWNSAMPLE  # farthest tissue can show beyond the field
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
        if self._crop(self.scene.tissue, box).min() < EDGE_NOISE_PX + 2 * ds + FIELD_DOWNSAMPLE:
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



    def encode(self, level: int, cells: list[tuple[int, int]]) -> list[bytes]:
        """The JPEG tiles of *cells* (col, row) of *level*, in order."""
        return [encode_tile(self.render(level, col, row), "jpeg", JPEG_QUALITY, JPEG_SUBSAMPLING)
                for col, row in cells]


@dataclass(frozen=True)
class RendererSpec:
    """Everything a process needs to build its own :class:`TileRenderer` (small and picklable)."""

    width: int
    height: int
    seed: int
    tile: int

    @property
    def level_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every pyramid level, level 0 first."""
        return pyramid_sizes(self.width, self.height)

    def build(self, with_banks: bool = True) -> TileRenderer:
        """The renderer; without banks it only plans (:meth:`TileRenderer.is_background`)."""
        sizes = self.level_sizes
        banks = build_banks(self.seed, len(sizes), self.tile) if with_banks else TextureBanks.empty()
        return TileRenderer(build_scene(self.width, self.height, self.seed), banks, self.tile, sizes)
