"""Slides: the library under a root directory, safe id→path lookups, open handles and Deep Zoom tiles.

The only package that imports ``openslide``. Coordinate spaces (see ARCHITECTURE.md):

* **slide space** (``l0_``): level-0 pixels of the whole slide, as ASAP XML and the API use them;
* **image space**: what OpenSeadragon sees, the deepest Deep Zoom level. With ``limit_bounds`` it is
  slide space shifted by ``(bounds_x, bounds_y)``: ``slide = image + offset``;
* ``z_``: pixels of one Deep Zoom level; ``t_``: tile columns/rows; ``l_``: pixels of one slide level.

Tiles equal ``openslide.deepzoom.DeepZoomGenerator(slide, tile_size, overlap, limit_bounds)``
output for the same address. Three paths produce them, fastest first:

1. *stored* (``stored.py``): the Deep Zoom tile is exactly one stored JPEG tile of a tiled TIFF/SVS
   level (``tiffreader.py`` finds it), so its bytes are sent without decoding;
2. *derived* (``derived.py``): the slide lacks low-resolution levels (e.g. a single-level SVS), so
   each zoomed-out Deep Zoom level is built once, in memory, and tiles are cut from it;
3. *generator*: ``DeepZoomGenerator.get_tile``, then sRGB conversion (``color.py``) and encoding.

Encoded tiles are kept in a byte-bounded LRU, open slides (``handle.py``) in a count-bounded LRU,
both in ``library.py`` and both thread-safe; rendered tiles are also shared between worker
processes on disk (``tilecache.py``). The rest, one concept each: ``scan.py`` (which files are
slides), ``paths.py`` (id→path containment), ``metadata.py`` (``SlideInfo`` and its JSON cache),
``deepzoom.py`` (the geometry clients see, and the one reader of DeepZoomGenerator's internals),
``images.py`` (thumbnails, associated images), ``options.py`` (tile options, encoded tiles).
"""

from __future__ import annotations

from viewer.slides.deepzoom import DeepZoomGeometry, DeepZoomInternalsError
from viewer.slides.handle import SlideHandle
from viewer.slides.library import SlideLibrary
from viewer.slides.metadata import Bounds, SlideInfo, read_slide_info
from viewer.slides.options import Tile, TileFormat, TileOptions
from viewer.slides.scan import OVERLAY_SUFFIX, SLIDE_EXTENSIONS
from viewer.slides.tiffreader import (  # what the tree imported from viewer.tiffreader
    COMPRESSION_JPEG,
    PHOTOMETRIC_YCBCR,
    assemble_jpeg,
    read_tiled_directories,
)
from viewer.slides.tilecache import DiskTileCache

__all__ = [
    "COMPRESSION_JPEG",
    "OVERLAY_SUFFIX",
    "PHOTOMETRIC_YCBCR",
    "SLIDE_EXTENSIONS",
    "Bounds",
    "DeepZoomGeometry",
    "DeepZoomInternalsError",
    "DiskTileCache",
    "SlideHandle",
    "SlideInfo",
    "SlideLibrary",
    "Tile",
    "TileFormat",
    "TileOptions",
    "assemble_jpeg",
    "read_slide_info",
    "read_tiled_directories",
]
