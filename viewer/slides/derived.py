"""Derived levels: Deep Zoom levels that would read 4x or more slide pixels per tile pixel (the
slide lacks low-resolution levels, e.g. a single-level SVS) are cut from a slide level decoded once
into memory, with the generator's own regions and resampling, instead of a large read per tile.

The decoded source levels and whole Deep Zoom levels live as long as their open slide: they are
the derived levels themselves, bounded per slide by the plan (DERIVED_LEVEL_MAX_MPX per source), and
released with the slide handle when the handle LRU drops it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from viewer.slides.deepzoom import GeneratorInternals

#: Deep Zoom level -> (slide level, reduction): the source level, box-reduced by a power of two.
DerivedPlan = dict[int, tuple[int, int]]


def plan_derived_levels(dz: DeepZoomGenerator, internals: GeneratorInternals, max_mpx: int) -> DerivedPlan:
    """Deep Zoom level → (slide level, reduction) for levels that read 4x or more pixels per tile.

    Such a level is served from its slide level kept decoded in memory (reduced by a power of two
    when the level is over the *max_mpx* budget), so each tile is a crop plus the generator's own
    resampling instead of a fresh read of a large region.
    """
    budget = max_mpx * 1_000_000
    plan: DerivedPlan = {}
    for dz_level in range(dz.level_count):
        l_z = internals.l_z_downsamples[dz_level]
        if l_z < 2:
            continue
        slide_level = internals.slide_from_dz_level[dz_level]
        l_width, l_height = internals.l_dimensions[slide_level]
        reduction = 1
        while math.ceil(l_width / reduction) * math.ceil(l_height / reduction) > budget:
            reduction *= 2
        # a reduced source must still hold at least the tile's own resolution
        if reduction == 1 or reduction <= l_z:
            plan[dz_level] = (slide_level, reduction)
    return plan


def thumbnail_size(src: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The size ``PIL.Image.thumbnail(box)`` gives an image of size *src* (aspect preserved)."""
    width, height = src
    x, y = box
    if x >= width and y >= height:
        return src
    aspect = width / height

    def round_aspect(number: float, key: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if x / y >= aspect:
        x = round_aspect(y * aspect, key=lambda n: abs(aspect - n / y))
    else:
        y = round_aspect(x / aspect, key=lambda n: 0 if n == 0 else abs(aspect - x / n))
    return x, y


class DerivedLevels:
    """The derived Deep Zoom levels of one open slide (``plan``) and the pixels they are cut from."""

    def __init__(self, osr: openslide.OpenSlide, dz: DeepZoomGenerator, internals: GeneratorInternals, *,
                 tile_size: int, overlap: int, l0_offset: tuple[int, int], background: str,
                 max_mpx: int) -> None:
        self._osr = osr
        self._dz = dz
        self._internals = internals
        self._tile_info = internals.tile_info
        self._tile_size = tile_size
        self._overlap = overlap
        self._l0_offset = l0_offset
        self._background = background
        self.plan = plan_derived_levels(dz, internals, max_mpx)
        self._sources: dict[tuple[int, int], Image.Image] = {}
        self._level_images: dict[int, Image.Image] = {}
        self._lock = threading.Lock()

    def tile(self, level: int, col: int, row: int) -> Image.Image:
        """The generator's tile, replayed on the cached source level instead of a slide read.

        Levels at least 2x smaller than their source are built whole, once, with the generator's own
        resampling, and their tiles are crops: a zoomed-out tile then costs a crop and an encode
        instead of a resampling of its whole source region (the full slide for the smallest levels).
        """
        slide_level, reduction = self.plan[level]
        (l0_location, _, l_size), z_size = self._tile_info(level, (col, row))
        whole = self._level_image(level)
        if whole is not None and self._dz.level_tiles[level] == (1, 1):
            return whole
        if whole is not None:
            size, overlap = self._tile_size, self._overlap
            left, top = col * size - (overlap if col else 0), row * size - (overlap if row else 0)
            tile = whole.crop((left, top, left + z_size[0], top + z_size[1]))
            out_size = thumbnail_size(l_size, z_size)  # the generator keeps the region's aspect ratio
            return tile if out_size == z_size else tile.resize(out_size, Image.Resampling.LANCZOS)
        source = self.source(slide_level, reduction)
        l_downsample = self._osr.level_downsamples[slide_level]
        offset = self._l0_offset
        # read_region(l0_location, slide_level, l_size), in source pixels; OpenSlide places a level
        # with a non-integer downsample at a fractional offset, with bilinear filtering.
        l_left = (l0_location[0] - offset[0]) / l_downsample
        l_top = (l0_location[1] - offset[1]) / l_downsample
        if reduction == 1:
            if l_left.is_integer() and l_top.is_integer():
                tile = source.crop((int(l_left), int(l_top), int(l_left) + l_size[0], int(l_top) + l_size[1]))
            else:
                tile = source.transform(l_size, Image.Transform.AFFINE, (1, 0, l_left, 0, 1, l_top),
                                        Image.Resampling.BILINEAR, fillcolor=self._background)
            tile.thumbnail(z_size, Image.Resampling.LANCZOS)  # exactly what the generator does
            return tile
        box = (l_left / reduction, l_top / reduction,
               (l_left + l_size[0]) / reduction, (l_top + l_size[1]) / reduction)
        out_size = thumbnail_size(l_size, z_size)
        return source.resize(out_size, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)

    def _whole_level_scale(self, level: int) -> float | None:
        """Source px per *level* px when the level is built whole (derived, 2x+ smaller than its source)."""
        slide_level, reduction = self.plan[level]
        l_z = self._internals.l_z_downsamples[level]  # slide-level px per level px
        # Only whole-pixel mappings: with a fractional downsample the generator's tiles each start at
        # their own sub-pixel offset, which one resampling of the whole level would not reproduce.
        if l_z / reduction < 2 or not float(l_z).is_integer() \
                or not float(self._osr.level_downsamples[slide_level]).is_integer():
            return None
        return l_z / reduction

    def _level_image(self, level: int) -> Image.Image | None:
        """The whole Deep Zoom *level*, when :meth:`_whole_level_scale` allows it.

        The first request builds every such level of the same source at once, so that only one tile
        ever waits: the source is box-halved step by step and each level is resampled from the
        halving just above it (what Image.thumbnail's reducing_gap does, without a pass over the
        whole source per level).
        """
        image = self._level_images.get(level)
        if image is not None or self._whole_level_scale(level) is None:
            return image
        key = self.plan[level]
        source = self.source(*key)
        with self._lock:
            if level not in self._level_images:
                levels = {lv: self._whole_level_scale(lv) for lv, planned in self.plan.items()
                          if planned == key}
                halvings = {1: source}
                for lv, scale in sorted(levels.items(), key=lambda item: item[1] or 0):
                    if scale is None or lv in self._level_images:
                        continue
                    factor = 1
                    while factor * 4 <= scale:  # leave a factor of 2 to 4 to Lanczos
                        if factor * 2 not in halvings:
                            halvings[factor * 2] = halvings[factor].reduce(2)
                        factor *= 2
                    self._level_images[lv] = self._build_level(lv, source, scale, halvings[factor], factor)
            return self._level_images[level]

    def _build_level(self, level: int, source: Image.Image, scale: float, halved: Image.Image,
                     factor: int) -> Image.Image:
        """Deep Zoom *level* resampled from *source* (*scale* source px per level px) as the generator would.

        The generator maps every tile's region at *scale*, except the last column and row of tiles,
        which it stretches over what is left of the source; so the level is built in up to four
        pieces, each with its own mapping, and each with Image.thumbnail's resampling (a box
        reduction, then Lanczos). The interior piece starts from *halved* (*source* box-reduced by
        *factor*), the same box reduction done once; the edge pieces, with their uneven stretch and
        the source's partial last pixels, start from *source* itself.
        """
        width, height = self._dz.level_dimensions[level]
        cols, rows = self._dz.level_tiles[level]
        if (cols, rows) == (1, 1):
            # one tile: the generator shrinks the whole source into it, keeping the aspect ratio
            (_, _, l_size), z_size = self._tile_info(level, (0, 0))
            box: tuple[float, float, float, float] = (
                0, 0, min(source.width, width * scale), min(source.height, height * scale)
            )
            return source.resize(thumbnail_size(l_size, z_size), Image.Resampling.LANCZOS, box=box,
                                 reducing_gap=2.0)
        size, overlap = self._tile_size, self._overlap
        x_split = max(0, (cols - 1) * size - overlap)
        y_split = max(0, (rows - 1) * size - overlap)
        image = Image.new("RGB", (width, height))
        for x0, x1 in ((0, x_split), (x_split, width)):
            for y0, y1 in ((0, y_split), (y_split, height)):
                if x1 <= x0 or y1 <= y0:
                    continue
                if x1 == x_split and y1 == y_split:
                    base, base_scale = halved, scale / factor
                else:
                    base, base_scale = source, scale
                box = (x0 * base_scale, y0 * base_scale,
                       min(base.width, x1 * base_scale), min(base.height, y1 * base_scale))
                piece = base.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)
                image.paste(piece, (x0, y0))
        return image

    def source(self, slide_level: int, reduction: int) -> Image.Image:
        """Slide level *slide_level* (its bounds area) decoded, box-reduced by *reduction*; read once."""
        key = (slide_level, reduction)
        image = self._sources.get(key)
        if image is None:
            with self._lock:
                image = self._sources.get(key)
                if image is None:
                    image = self._read_level(slide_level, reduction)
                    self._sources[key] = image
        return image

    def _read_level(self, slide_level: int, reduction: int) -> Image.Image:
        """The bounds area of a slide level on the background colour, box-reduced by *reduction*.

        Read in strips of at most ~16 Mpx so that memory stays bounded for large levels.
        """
        l_width, l_height = self._internals.l_dimensions[slide_level]
        l_downsample = self._osr.level_downsamples[slide_level]
        offset = self._l0_offset
        background = self._background
        out = Image.new("RGB", (math.ceil(l_width / reduction), math.ceil(l_height / reduction)), background)
        strip = max(reduction, (16_000_000 // max(1, l_width)) // reduction * reduction)
        for l_top in range(0, l_height, strip):
            rows = min(strip, l_height - l_top)
            region = self._osr.read_region(
                (offset[0], offset[1] + int(l_top * l_downsample)), slide_level, (l_width, rows)
            )
            flat = Image.new("RGB", (math.ceil(l_width / reduction) * reduction,
                                     math.ceil(rows / reduction) * reduction), background)
            flat.paste(region, (0, 0), mask=region)
            out.paste(flat.reduce(reduction) if reduction > 1 else flat, (0, l_top // reduction))
        return out
