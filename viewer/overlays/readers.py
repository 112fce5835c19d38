"""Readers of the other overlay sources: ``.npy`` arrays, PNG images, CSV patch scores."""

from __future__ import annotations

from pathlib import Path

from viewer.errors import OverlayFormatError
from viewer.overlays.model import AddOptions, OverlayKind
from viewer.overlays.sources import Grid
from viewer.slides import SlideInfo


def read_npy(path: Path, what: str, max_mpx: int, kind: OverlayKind | None) -> Grid:
    """A 2-D ``.npy`` array."""
    raise OverlayFormatError(f"{what}: .npy overlays are not supported yet")


def read_png(path: Path, what: str, max_mpx: int, kind: OverlayKind | None) -> Grid:
    """A one-channel (or palette) PNG image."""
    raise OverlayFormatError(f"{what}: PNG overlays are not supported yet")


def read_csv(path: Path, what: str, max_mpx: int, options: AddOptions, info: SlideInfo) -> Grid:
    """CSV patch scores."""
    raise OverlayFormatError(f"{what}: CSV overlays are not supported yet")
