"""Test-only helpers of the overlay tests: a library in a temporary directory, a bounds-offset slide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from viewer.overlays import OverlayLibrary
from viewer.slides import SlideLibrary


def overlay_library(tmp_path: Path, slides: SlideLibrary, max_mpx: int = 1000) -> OverlayLibrary:
    """An overlay library with its uploads in *tmp_path*/overlays and its cache in *tmp_path*/cache."""
    return OverlayLibrary(tmp_path / "overlays", tmp_path / "cache" / "overlays", slides,
                          max_mpx=max_mpx, tile_cache_bytes=8 << 20)


TOOLS = Path(__file__).parent / "data" / "tools"


def write_sparse_tiles_slide(out: Path) -> Path:
    """Write the generic-tiff bounds slide of ../shared/tools into *out* (made) and return *out*:
    ``sparse-tiles.tiff``, 12288 x 9216, bounds 2304, 1792, 6144 x 4608 (its truth JSON removed,
    so *out* holds only the slide)."""
    subprocess.run([sys.executable, str(TOOLS / "make_bounds_slides.py"), str(out), "--only", "sparse-tiles"],
                   check=True, capture_output=True)
    for extra in out.glob("*.json"):
        extra.unlink()
    return out
