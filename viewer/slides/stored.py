"""Stored-tile passthrough: a Deep Zoom tile that is exactly one stored JPEG tile of a tiled
TIFF/SVS level is sent as the scanner wrote it (merged with the level's JPEG tables), undecoded.

Only for vendors whose TIFF directories are the slide's levels as OpenSlide reads them (Aperio,
generic TIFF), without a colour transform to apply, with no bounds offset and no overlap, and only
where a Deep Zoom level has the size, and so the pixel grid, of a stored level.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import openslide
from PIL import Image

from viewer.slides.tiffreader import (
    COMPRESSION_JPEG,
    PHOTOMETRIC_RGB,
    PHOTOMETRIC_YCBCR,
    TiffFormatError,
    TiledDirectory,
    assemble_jpeg,
    read_tiled_directories,
)

_STORED_TILE_VENDORS = frozenset({"aperio", "generic-tiff"})
_MAX_STORED_TILE_BYTES = 64 << 20  # a larger byte count is a corrupt directory, not a tile


def stored_jpeg_levels(path: Path, vendor: str | None,
                       level_dimensions: tuple[tuple[int, int], ...]) -> dict[int, TiledDirectory]:
    """Slide level → its TIFF directory, for the levels whose every tile can be sent as a JPEG file."""
    if vendor not in _STORED_TILE_VENDORS:
        return {}
    try:
        directories = read_tiled_directories(path)
    except (TiffFormatError, OSError):
        return {}
    result: dict[int, TiledDirectory] = {}
    for level, (width, height) in enumerate(level_dimensions):
        for directory in directories:
            if (directory.width, directory.height) != (width, height):
                continue
            if (directory.compression == COMPRESSION_JPEG and directory.samples_per_pixel == 3
                    and directory.planar_config == 1
                    and directory.photometric in (PHOTOMETRIC_RGB, PHOTOMETRIC_YCBCR)
                    and directory.tile_width == directory.tile_height):
                result[level] = directory
            break
    return result


class StoredTiles:
    """The Deep Zoom tiles of one open slide that are stored JPEG tiles."""

    def __init__(self, path: Path, stored: dict[int, TiledDirectory], tile_size: int,
                 z_dimensions: tuple[tuple[int, int], ...]) -> None:
        """*stored*: slide level → directory (:func:`stored_jpeg_levels`); *z_dimensions*: the Deep
        Zoom levels' sizes. The caller passes {} unless the tiles have no overlap and no offset.

        A stored level of the same size as a Deep Zoom level has the same pixel grid. OpenSlide
        averages the x and y downsamples of a level whose size was rounded up (100,000 / 1,563 and
        80,000 / 1,250 give 63.99, not 64), so DeepZoomGenerator would re-read such a level at a
        1.0002 scale -- a decode, a sub-pixel blur and a re-encode per tile; the stored tile is the
        pixels themselves.
        """
        self._path = path
        self._tile_size = tile_size
        self._z_dimensions = z_dimensions
        by_size = {(d.width, d.height): d for d in stored.values() if d.tile_width == tile_size}
        self.by_dz_level: dict[int, TiledDirectory] = {
            dz_level: by_size[size] for dz_level, size in enumerate(z_dimensions) if size in by_size
        }

    def tile(self, level: int, col: int, row: int) -> bytes | Image.Image | None:
        """The stored JPEG of a tile of a stored level, or for an edge tile its decoded, cropped
        pixels; None when the level is not stored or the tile is unusable (the caller renders it).

        :raises openslide.OpenSlideError: the file ends inside the tile's bytes.
        """
        directory = self.by_dz_level.get(level)
        if directory is None:
            return None
        size = self._tile_size
        z_width, z_height = self._z_dimensions[level]
        offset, count = directory.tile_extent(col, row)
        if count <= 0 or count > _MAX_STORED_TILE_BYTES:
            return None
        with open(self._path, "rb") as f:
            raw = os.pread(f.fileno(), count, offset)
        if len(raw) != count:
            raise openslide.OpenSlideError("truncated tile data")
        data = assemble_jpeg(directory, raw)
        content = (min(size, z_width - col * size), min(size, z_height - row * size))
        if data is None or content == (size, size):
            return data
        # Edge tiles are padded in the file but cropped in Deep Zoom: decode (libjpeg-turbo, as
        # OpenSlide does) and crop, rather than a region read through OpenSlide.
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB").crop((0, 0, *content))
        except (OSError, ValueError):
            return None
