"""Colour management: a slide's embedded ICC profile → sRGB, the colour space browsers assume.

A slide without a profile, or with one LittleCMS cannot use, is shown as its pixels are.
"""

from __future__ import annotations

import openslide
from PIL import Image, ImageCms

_SRGB_PROFILE = ImageCms.createProfile("sRGB")


def srgb_transform(osr: openslide.OpenSlide) -> ImageCms.ImageCmsTransform | None:
    """The transform from *osr*'s ICC profile to sRGB (its default rendering intent), or None."""
    profile = osr.color_profile
    if profile is None:
        return None
    try:
        intent = ImageCms.getDefaultIntent(profile)
        return ImageCms.buildTransform(profile, _SRGB_PROFILE, "RGB", "RGB", ImageCms.Intent(intent))
    except (ImageCms.PyCMSError, OSError):
        return None  # an unusable profile: show the pixels as they are


def to_srgb(image: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    """*image* converted with *transform* (a new image)."""
    converted = ImageCms.applyTransform(image, transform)
    assert converted is not None  # None only when converting in place
    return converted
