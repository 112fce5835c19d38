"""Whole-slide images other than tiles: the thumbnail of the image space, and associated images
(label, macro, ...) as the slide stores them.
"""

from __future__ import annotations

import io
import math

import openslide
from PIL import Image

from viewer.slides.color import to_srgb
from viewer.slides.handle import SlideHandle


def thumbnail_jpeg(handle: SlideHandle, max_px: int) -> bytes:
    """A JPEG of the image space (bounds region with limit_bounds), fitting *max_px* square.

    :raises openslide.OpenSlideError: the slide cannot be read.
    """
    dz, osr = handle.dz, handle.osr
    # The coarsest Deep Zoom level at least max_px on its long side (or the deepest level),
    # read like one big tile of that level, then shrunk.
    level = next((lv for lv in range(dz.level_count) if max(dz.level_dimensions[lv]) >= max_px),
                 dz.level_count - 1)
    z_width, z_height = dz.level_dimensions[level]
    downsample = 2 ** (dz.level_count - 1 - level)
    slide_level = osr.get_best_level_for_downsample(downsample)
    l_downsample = osr.level_downsamples[slide_level]
    l_width, l_height = handle.internals.l_dimensions[slide_level]
    l_size = (min(l_width, math.ceil(z_width * downsample / l_downsample)),
              min(l_height, math.ceil(z_height * downsample / l_downsample)))
    planned = handle.derived.plan.get(level)
    if planned is not None and planned[0] == slide_level:
        reduction = planned[1]
        source = handle.derived.source(slide_level, reduction)
        image = source.crop((0, 0, math.ceil(l_size[0] / reduction), math.ceil(l_size[1] / reduction)))
    else:
        region = osr.read_region(handle.l0_offset, slide_level, l_size)
        image = Image.new("RGB", region.size, handle.background)
        image.paste(region, mask=region)
    image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    if handle.srgb_transform is not None:
        image = to_srgb(image, handle.srgb_transform)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def associated_png(osr: openslide.OpenSlide, name: str) -> bytes:
    """The associated image *name* of *osr* as PNG.

    :raises KeyError: no such image. :raises openslide.OpenSlideError: it cannot be read.
    """
    buf = io.BytesIO()
    osr.associated_images[name].convert("RGB").save(buf, "PNG")
    return buf.getvalue()
