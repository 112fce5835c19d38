"""The demo's texture banks: small periodic images of lymphoid tissue, fibrous stroma and tumour
(and the noise of the ragged tissue edge), one pyramid each, built once from the seed.

A bank tiles seamlessly, so a tile's window into it joins its neighbours without seams; the scene's
non-periodic fields decide where each bank shows, which keeps the repetition from showing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Period of the texture banks at level 0 (a power of two >= the tile size, so that a tile's window
# never wraps: tile origins are multiples of the tile size).
TEXTURE_PERIOD = 2048
_MIN_VISIBLE_PERIOD = 128
#: Amplitude of the ragged tissue edge, level-0 px.
EDGE_NOISE_PX = 48.0


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
class TextureBanks:
    """One pyramid per texture (level k = the level-0 image halved k times), RGB uint8; ``edge`` is
    float32 noise for ragged tissue edges, in level-0 px."""

    lymphoid: list[np.ndarray]
    stroma: list[np.ndarray]
    tumour: list[np.ndarray]
    edge: list[np.ndarray]

    @classmethod
    def empty(cls) -> TextureBanks:
        """No textures (a renderer that only plans, never draws)."""
        return cls([], [], [], [])


def build_banks(seed: int, levels: int, tile: int,
                progress: Callable[[float], None] | None = None) -> TextureBanks:
    """The banks of *seed* for a pyramid of *levels* levels of *tile* px tiles (~5 s, ~0.1 GB).

    *progress* gets the fraction built (0-1) after each bank. The level-0 images of the last seed
    are kept (one seed, ~0.1 GB): a process that generates several slides of one seed (the demo's
    generator child, the tests) builds them once. The server itself never calls this.
    """
    said = progress or (lambda _fraction: None)
    edge, lymphoid, stroma, tumour = _level0_banks(seed, said)
    said(1.0)
    return TextureBanks(lymphoid=_pyramid(lymphoid, levels, tile), stroma=_pyramid(stroma, levels, tile),
                        tumour=_pyramid(tumour, levels, tile), edge=_pyramid(edge, levels, tile))


#: edge noise, lymphoid, stroma, tumour
_Level0Banks = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_LEVEL0_BANKS: dict[int, _Level0Banks] = {}


def _level0_banks(seed: int, said: Callable[[float], None]) -> _Level0Banks:
    """The edge noise and the lymphoid, stroma and tumour images of *seed* at level 0 (cached)."""
    found = _LEVEL0_BANKS.get(seed)
    if found is not None:
        return found
    rng = np.random.default_rng([seed, 11])

    def u8(a: np.ndarray) -> np.ndarray:
        return np.clip(a + 0.5, 0, 255).astype(np.uint8)

    # The banks draw from one generator in this order; the fractions are their measured shares of the time.
    edge = np.clip(_periodic_noise(rng, TEXTURE_PERIOD, 48, 2), -1.4, 1.4) * np.float32(EDGE_NOISE_PX / 1.4)
    said(0.16)
    lymphoid = u8(_bank_lymphoid(rng, TEXTURE_PERIOD))
    said(0.48)
    stroma = u8(_bank_stroma(rng, TEXTURE_PERIOD))
    said(0.65)
    tumour = u8(_bank_tumour(rng, TEXTURE_PERIOD))
    for array in (edge, lymphoid, stroma, tumour):
        array.flags.writeable = False  # shared by every later call
    _LEVEL0_BANKS.clear()
    _LEVEL0_BANKS[seed] = (edge, lymphoid, stroma, tumour)
    return edge, lymphoid, stroma, tumour
