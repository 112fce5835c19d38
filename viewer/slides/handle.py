"""One open slide: its OpenSlide object and Deep Zoom generator, the geometry clients see, and the
choice, per tile, of the path that produces it (stored, derived, or the generator), then encoding.
"""

from __future__ import annotations

import io
from pathlib import Path

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image, ImageCms

from viewer.errors import TileNotFoundError
from viewer.slides.color import srgb_transform, to_srgb
from viewer.slides.deepzoom import DeepZoomGeometry, generator_internals
from viewer.slides.derived import DerivedLevels
from viewer.slides.metadata import SlideInfo
from viewer.slides.options import TileFormat, TileOptions
from viewer.slides.stored import StoredTiles, stored_jpeg_levels

_DEFAULT_TILE_SIZE = 254
_DEFAULT_OVERLAP = 1


class SlideHandle:
    """An open slide with its Deep Zoom generator, stored-tile index and derived levels."""

    def __init__(self, path: Path, info: SlideInfo, options: TileOptions) -> None:
        """:raises openslide.OpenSlideError: OpenSlide cannot open *path*.
        :raises DeepZoomInternalsError: this openslide-python's generator is not the one we read."""
        self.path = path
        self.info = info
        self.osr = openslide.OpenSlide(str(path))
        try:
            self._setup(options)
        except BaseException:
            self.osr.close()
            raise

    def _setup(self, options: TileOptions) -> None:
        osr = self.osr
        self._quality = options.quality
        self._transform = srgb_transform(osr) if options.color_management else None
        # a colour-managed slide's tiles are all converted: none can be sent as stored
        stored = stored_jpeg_levels(self.path, self.info.vendor, osr.level_dimensions) \
            if self._transform is None else {}
        tile_size, overlap = options.tile_size, options.overlap
        stored_sizes = {d.tile_width for d in stored.values()}
        stored_size = next(iter(stored_sizes)) if stored_sizes else 0
        if tile_size <= 0:
            tile_size = stored_size if len(stored_sizes) == 1 else _DEFAULT_TILE_SIZE
        if overlap < 0:
            overlap = 0 if tile_size == stored_size else _DEFAULT_OVERLAP
        self.dz = DeepZoomGenerator(osr, tile_size=tile_size, overlap=overlap,
                                    limit_bounds=options.limit_bounds)
        props = osr.properties
        # slide = image + l0_offset: the bounds offset when tiles are limited to the bounds
        self.l0_offset = (0, 0)
        if options.limit_bounds:
            self.l0_offset = (int(props.get(openslide.PROPERTY_NAME_BOUNDS_X, 0)),
                              int(props.get(openslide.PROPERTY_NAME_BOUNDS_Y, 0)))
        self.background = "#" + props.get(openslide.PROPERTY_NAME_BACKGROUND_COLOR, "ffffff")
        width, height = self.dz.level_dimensions[-1]
        self.geometry = DeepZoomGeometry(tile_size, overlap, options.format, width, height,
                                         self.dz.level_count, *self.l0_offset)
        self.internals = generator_internals(self.dz, osr.level_count)
        self._level_tiles = self.dz.level_tiles
        passthrough = overlap == 0 and self.l0_offset == (0, 0)
        self._stored = StoredTiles(self.path, stored if passthrough else {}, tile_size,
                                   self.dz.level_dimensions)
        self.derived = DerivedLevels(osr, self.dz, self.internals, tile_size=tile_size, overlap=overlap,
                                     l0_offset=self.l0_offset, background=self.background,
                                     max_mpx=options.derived_level_max_mpx)
        self._derived_plan = self.derived.plan

    def close(self) -> None:
        """Release the OpenSlide handle."""
        self.osr.close()

    @property
    def stored_tile_levels(self) -> frozenset[int]:
        """Deep Zoom levels whose interior tiles are sent as stored JPEG bytes, without decoding."""
        return frozenset(self._stored.by_dz_level)

    @property
    def derived_levels(self) -> frozenset[int]:
        """Deep Zoom levels served from a cached source level (the slide lacks them, or they are small)."""
        return frozenset(self._derived_plan)

    @property
    def srgb_transform(self) -> ImageCms.ImageCmsTransform | None:
        """The slide's ICC profile → sRGB transform every rendered tile goes through (None: none)."""
        return self._transform

    def tile(self, level: int, col: int, row: int, fmt: TileFormat) -> tuple[bytes, bool]:
        """The encoded Deep Zoom tile (level, col, row), and whether it is a stored JPEG sent as it is
        (cheap to read again) rather than rendered (decoded and encoded).

        :raises TileNotFoundError: outside the grid. :raises openslide.OpenSlideError: unreadable.
        """
        level_tiles = self._level_tiles
        if not 0 <= level < len(level_tiles):
            raise TileNotFoundError(f"no level {level}: this slide has levels 0-{len(level_tiles) - 1}")
        cols, rows = level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileNotFoundError(f"no tile {col}_{row} at level {level}: the grid is {cols}x{rows}")
        if fmt == "jpeg":
            data = self._stored.tile(level, col, row)
            if isinstance(data, bytes):
                return data, True
            if data is not None:
                return self.encode(data, fmt), False
        if level in self._derived_plan:
            image = self.derived.tile(level, col, row)
        else:
            image = self.dz.get_tile(level, (col, row))
        return self.encode(image, fmt), False

    def encode(self, image: Image.Image, fmt: TileFormat) -> bytes:
        """*image* in sRGB (when the slide has a profile), encoded as a *fmt* tile."""
        if self._transform is not None:
            image = to_srgb(image, self._transform)
        buf = io.BytesIO()
        if fmt == "png":
            image.save(buf, "PNG", compress_level=1)
        else:
            image.save(buf, "JPEG", quality=self._quality)
        return buf.getvalue()
