"""QuPath's conventions both ways: the coordinate frame (its origin on a cropped slide), colours as
Qt's ``QColor`` reads them and as QuPath packs them, and the member names our GeoJSON uses."""

from __future__ import annotations

import zlib
from typing import Any

Offset = tuple[float, float]
Point = tuple[float, float]

#: Foreign member of our FeatureCollection holding the ASAP groups (QuPath ignores it).
GROUPS_MEMBER = "asapGroups"
#: Property holding the ASAP fields of one feature.
ASAP_PROPERTY = "asap"
#: QuPath keeps an annotation's description in its metadata under this key (written as
#: ``properties.metadata``), which is where our comment goes.
DESCRIPTION_KEY = "ANNOTATION_DESCRIPTION"
#: Suffix of the group that receives a class's polygon holes.
HOLES_SUFFIX = " (holes)"
_BOUNDS_KEYS = (
    "openslide.bounds-x",
    "openslide.bounds-y",
    "openslide.bounds-width",
    "openslide.bounds-height",
)
# Colour names QColor accepts that are common in annotation files (the full SVG list is not needed:
# anything else falls back to a colour derived from the name).
_NAMED_COLORS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "lime": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "brown": (165, 42, 42),
    "pink": (255, 192, 203),
}


def qupath_offset(info: Any) -> Offset:
    """QuPath's coordinate origin on a slide, in slide space: (bounds-x, bounds-y) or (0, 0).

    QuPath's OpenSlide server crops to the bounds when all four ``openslide.bounds-*`` properties
    exist and both the width and the height differ from level 0 (``OpenslideImageServer``).
    *info* is a :class:`viewer.slides.SlideInfo` (``properties``, ``width``, ``height``).
    """
    props = info.properties
    if not all(key in props for key in _BOUNDS_KEYS):
        return (0.0, 0.0)
    try:
        x, y, width, height = (int(props[key]) for key in _BOUNDS_KEYS)
    except ValueError:
        return (0.0, 0.0)
    if width != info.width and height != info.height:
        return (float(x), float(y))
    return (0.0, 0.0)


def parse_color(text: str) -> tuple[int, int, int] | None:
    """RGB of a colour string as Qt's ``QColor`` reads it (``#RGB``, ``#RRGGBB``, ``#AARRGGBB``,
    ``#RRRGGGBBB``, ``#RRRRGGGGBBBB``, common names); None when Qt would not parse it."""
    text = text.strip()
    if text.lower() in _NAMED_COLORS:
        return _NAMED_COLORS[text.lower()]
    if not text.startswith("#"):
        return None
    digits = text[1:]
    try:
        int(digits, 16)
    except ValueError:
        return None
    if len(digits) == 3:
        return tuple(int(c * 2, 16) for c in digits)  # type: ignore[return-value]
    if len(digits) == 6:
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    if len(digits) == 8:  # AARRGGBB
        return (int(digits[2:4], 16), int(digits[4:6], 16), int(digits[6:8], 16))
    if len(digits) == 9:
        return tuple(int(digits[i : i + 3], 16) * 255 // 0xFFF for i in (0, 3, 6))  # type: ignore[return-value]
    if len(digits) == 12:
        return tuple(int(digits[i : i + 4], 16) >> 8 for i in (0, 4, 8))  # type: ignore[return-value]
    return None


def class_color(name: str, color: str) -> list[int]:
    """The ``[r, g, b]`` QuPath gets for a class: the group colour, or (unparseable colour) a
    stable colour derived from the name, because QuPath rejects a classification without one."""
    rgb = parse_color(color)
    if rgb is None:
        value = zlib.crc32(name.encode("utf-8"))
        rgb = (64 + (value & 127), 64 + ((value >> 8) & 127), 64 + ((value >> 16) & 127))
    return list(rgb)


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def packed_rgb(value: int) -> tuple[int, int, int]:
    """QuPath's packed ARGB int (usually negative): only the low 24 bits are the colour."""
    return ((value >> 16) & 255, (value >> 8) & 255, value & 255)
