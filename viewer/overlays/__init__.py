"""Overlays: model output (heatmaps, label maps) laid over a slide, served as value tiles on the
slide's own Deep Zoom grid. No Flask here.

An overlay is a value grid (numpy, ``[y, x]``) whose cell (i, j) covers slide area
``[origin_x + i*scale, origin_x + (i+1)*scale) x [origin_y + j*scale, ...)``. Modules:
``model.py`` (descriptors), ``sources.py`` / ``readers.py`` (TIFF, .npy, PNG, CSV into a grid, every
check), ``build.py`` (the descriptor from a grid), ``pyramid.py`` (the stored, memory-mapped pyramid
and :class:`ValueField`), ``tiles.py`` (value tiles and their PNG encoding), ``library.py`` (storage,
the attached ``<stem>_likelihood_map.tif``, caches). Contouring: ``contours.py``, ``statistics.py``.
"""

from __future__ import annotations

from viewer.overlays.library import OverlayLibrary, attached_id
from viewer.overlays.model import AddOptions, Overlay, OverlayClass, OverlayKind
from viewer.overlays.pyramid import ValueField
from viewer.overlays.tiles import decode_png

__all__ = [
    "AddOptions",
    "Overlay",
    "OverlayClass",
    "OverlayKind",
    "OverlayLibrary",
    "ValueField",
    "attached_id",
    "decode_png",
]
