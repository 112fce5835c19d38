"""Test-only helpers of the overlay tests: a library in a temporary directory."""

from __future__ import annotations

from pathlib import Path

from viewer.overlays import OverlayLibrary
from viewer.slides import SlideLibrary


def overlay_library(tmp_path: Path, slides: SlideLibrary, max_mpx: int = 1000) -> OverlayLibrary:
    """An overlay library with its uploads in *tmp_path*/overlays and its cache in *tmp_path*/cache."""
    return OverlayLibrary(tmp_path / "overlays", tmp_path / "cache" / "overlays", slides,
                          max_mpx=max_mpx, tile_cache_bytes=8 << 20)
