"""Tile options and encoded tiles: how Deep Zoom tiles are cut and encoded, and what one tile is.

The options' fingerprint is part of every tile's ETag, so it is computed once, when the options
are made, not per request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Literal

TileFormat = Literal["jpeg", "png"]

#: Media type of each tile format.
MEDIA_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png"}


@dataclass(frozen=True)
class TileOptions:
    """How Deep Zoom tiles are cut and encoded (from the TILE_*, LIMIT_BOUNDS, ... settings)."""

    tile_size: int = 0  # 0: the slide's stored JPEG tile size when it has one, else 254
    overlap: int = -1  # -1: 0 with the stored tile size, else 1
    format: TileFormat = "jpeg"
    quality: int = 80
    limit_bounds: bool = True
    color_management: bool = True
    derived_level_max_mpx: int = 16
    _fingerprint: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        # The hash of the options as a dict of their settings (what asdict() gave before this field).
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        object.__setattr__(self, "_fingerprint", hashlib.sha1(repr(settings).encode()).hexdigest()[:12])

    def fingerprint(self) -> str:
        """A short string that changes whenever the tiles these options produce would change."""
        return self._fingerprint


@dataclass(frozen=True)
class Tile:
    """An encoded tile, with the media type and the strong validator to send with it."""

    data: bytes
    media_type: str
    etag: str
