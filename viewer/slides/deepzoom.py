"""Deep Zoom geometry: the pyramid a client sees (``DeepZoomGeometry``, the ``.dzi``), and the one
place that reads what ``openslide.deepzoom.DeepZoomGenerator`` computes but keeps private.

The derived levels and the thumbnail must cut exactly the generator's regions, so they need the
generator's own per-level numbers (which slide level each Deep Zoom level reads, at what scale, and
the slide levels' sizes within the bounds). openslide-python has no public API for them; they are
read here, once per open slide, and checked against the regions the generator reads, so a
release that renames or redefines them fails at once with a message naming the attribute and the
installed version instead of serving subtly wrong tiles. pyproject.toml bounds openslide-python to
the releases these attributes are known for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openslide
from openslide.deepzoom import DeepZoomGenerator

from viewer.slides.options import TileFormat

#: The openslide-python releases whose DeepZoomGenerator internals this module was written for.
TESTED_OPENSLIDE_PYTHON = "1.4"

#: DeepZoomGenerator._get_tile_info(dz_level, (col, row)) ->
#: ((l0_location, slide_level, l_size), z_size): the read_region() arguments and the tile's size.
TileInfo = Callable[[int, tuple[int, int]],
                    tuple[tuple[tuple[int, int], int, tuple[int, int]], tuple[int, int]]]


@dataclass(frozen=True)
class DeepZoomGeometry:
    """The Deep Zoom pyramid a client sees for one slide."""

    tile_size: int
    overlap: int
    format: TileFormat
    width: int  # image space size = the deepest Deep Zoom level
    height: int
    level_count: int
    offset_x: int  # slide = image + offset (the bounds offset when limit_bounds is on)
    offset_y: int

    def dzi_xml(self) -> str:
        """The ``.dzi`` descriptor OpenSeadragon reads."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
            f'Format="{self.format}" Overlap="{self.overlap}" TileSize="{self.tile_size}">'
            f'<Size Width="{self.width}" Height="{self.height}"/></Image>\n'
        )


def deep_zoom_level_count(level_dimensions: Sequence[Sequence[int]], properties: Mapping[str, str],
                          limit_bounds: bool) -> int:
    """How many Deep Zoom levels ``DeepZoomGenerator`` makes for a slide, from its metadata alone
    (no open slide): the same float arithmetic as the generator's ``__init__``, so a listing of
    many slides need not open each one (``tests/test_deepzoom_level_count.py`` compares the two)."""
    width, height = level_dimensions[0]
    if limit_bounds:
        scale_x = int(properties.get(openslide.PROPERTY_NAME_BOUNDS_WIDTH, width)) / width
        scale_y = int(properties.get(openslide.PROPERTY_NAME_BOUNDS_HEIGHT, height)) / height
        width, height = int(math.ceil(width * scale_x)), int(math.ceil(height * scale_y))
    count = 1
    while width > 1 or height > 1:
        width, height = max(1, int(math.ceil(width / 2))), max(1, int(math.ceil(height / 2)))
        count += 1
    return count


class DeepZoomInternalsError(RuntimeError):
    """The installed openslide-python's DeepZoomGenerator no longer has what this module reads."""


@dataclass(frozen=True)
class GeneratorInternals:
    """What a DeepZoomGenerator knows of its levels but keeps private (see the module docstring)."""

    #: Deep Zoom level -> the slide level it is read from.
    slide_from_dz_level: tuple[int, ...]
    #: Deep Zoom level -> slide-level px per Deep Zoom level px.
    l_z_downsamples: tuple[float, ...]
    #: Slide level -> its size in its own px (of the bounds area with limit_bounds).
    l_dimensions: tuple[tuple[int, int], ...]
    #: The generator's own bound method (no wrapper: it runs for every derived tile).
    tile_info: TileInfo


def _fail(attribute: str, problem: str) -> DeepZoomInternalsError:
    return DeepZoomInternalsError(
        f"openslide-python {openslide.__version__}: DeepZoomGenerator.{attribute} {problem}; "
        f"viewer.slides.deepzoom reads it as openslide-python {TESTED_OPENSLIDE_PYTHON}.x defines it "
        f"(install openslide-python {TESTED_OPENSLIDE_PYTHON}.x, or update viewer/slides/deepzoom.py)"
    )


def _private(dz: DeepZoomGenerator, attribute: str) -> Any:
    try:
        return getattr(dz, attribute)
    except AttributeError:
        raise _fail(attribute, "does not exist") from None


def _pairs(value: Any, attribute: str, count: int) -> tuple[tuple[int, int], ...]:
    try:
        pairs = tuple((int(w), int(h)) for w, h in value)
    except (TypeError, ValueError):
        raise _fail(attribute, "is not a sequence of (width, height) pairs") from None
    if len(pairs) != count:
        raise _fail(attribute, f"has {len(pairs)} entries, not one per slide level ({count})")
    return pairs


def generator_internals(dz: DeepZoomGenerator, slide_level_count: int) -> GeneratorInternals:
    """Read and check *dz*'s private level numbers (*slide_level_count*: the slide's level count).

    Checked against the generator's own use of them: the first tile of two levels must read the
    slide level and region these numbers give.

    :raises DeepZoomInternalsError: an attribute is missing or means something else in this release.
    """
    n = dz.level_count
    raw_levels = _private(dz, "_slide_from_dz_level")
    raw_downsamples = _private(dz, "_l_z_downsamples")
    try:
        slide_from_dz_level = tuple(int(level) for level in raw_levels)
    except (TypeError, ValueError):
        raise _fail("_slide_from_dz_level", "is not a sequence of slide levels") from None
    try:
        l_z_downsamples = tuple(float(d) for d in raw_downsamples)
    except (TypeError, ValueError):
        raise _fail("_l_z_downsamples", "is not a sequence of downsamples") from None
    for attribute, value in (("_slide_from_dz_level", slide_from_dz_level),
                             ("_l_z_downsamples", l_z_downsamples)):
        if len(value) != n:
            raise _fail(attribute, f"has {len(value)} entries, not one per Deep Zoom level ({n})")
    l_dimensions = _pairs(_private(dz, "_l_dimensions"), "_l_dimensions", slide_level_count)
    tile_info = _private(dz, "_get_tile_info")
    if not callable(tile_info):
        raise _fail("_get_tile_info", "is not a method")
    # The meaning of the numbers, checked where it shows: the first tile of the finest level, and
    # of the finest level read at a downsample other than 1 (where a redefined downsample would
    # change the region). Two calls, not one per level: this runs at every slide open.
    resampled = [dz_level for dz_level in range(n) if l_z_downsamples[dz_level] != 1]
    for dz_level in sorted({n - 1, *resampled[-1:]}):
        try:
            (_, slide_level, l_size), z_size = tile_info(dz_level, (0, 0))
        except (TypeError, ValueError):
            raise _fail("_get_tile_info", "no longer returns ((l0_location, level, l_size), z_size)") \
                from None
        if slide_level != slide_from_dz_level[dz_level]:
            raise _fail("_slide_from_dz_level", f"says level {slide_from_dz_level[dz_level]} for Deep Zoom "
                        f"level {dz_level}, where _get_tile_info reads level {slide_level}")
        l_width, l_height = l_dimensions[slide_level]
        l_z = l_z_downsamples[dz_level]
        expected = (min(math.ceil(l_z * z_size[0]), l_width), min(math.ceil(l_z * z_size[1]), l_height))
        if tuple(l_size) != expected:
            raise _fail("_l_z_downsamples", f"(with _l_dimensions) gives a first tile of {expected} "
                        f"slide-level px at Deep Zoom level {dz_level}, where _get_tile_info reads "
                        f"{tuple(l_size)}")
    return GeneratorInternals(slide_from_dz_level, l_z_downsamples, l_dimensions, tile_info)
