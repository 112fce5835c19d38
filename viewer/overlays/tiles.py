"""Value tiles: the overlay sampled on the slide's own Deep Zoom grid, encoded as PNG.

Tile (level L, col, row) has the slide tile's size, overlap and edge clipping. Its px (i, j) takes
the grid value (nearest) at the slide point ``((x0 + i + 0.5)*d + offset_x, (y0 + j + 0.5)*d +
offset_y)`` with ``d = 2**(level_count - 1 - L)`` and ``x0 = col*tile_size - (overlap if col > 0)``,
from the coarsest pyramid level whose cells are not larger than a tile px. Encodings: ``u8`` = PNG LA
(L = code, A = 255 valid / 0 nodata), ``u16`` = PNG RGBA (R = code >> 8, G = code & 255, B = 0, A).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from viewer.errors import TileNotFoundError
from viewer.overlays.model import Overlay
from viewer.overlays.pyramid import ValueField
from viewer.slides import DeepZoomGeometry

#: zlib level of value tiles: 1 is several times faster than the default and the tiles, smooth
#: fields, stay small.
PNG_COMPRESS_LEVEL = 1


def dz_level_size(geometry: DeepZoomGeometry, level: int) -> tuple[int, int, int]:
    """(width, height, downsample) of Deep Zoom level *level* (halvings rounded up, as Deep Zoom does)."""
    d = 1 << (geometry.level_count - 1 - level)
    return -(-geometry.width // d), -(-geometry.height // d), d


def native_level(geometry: DeepZoomGeometry | int, scale: float) -> int:
    """The deepest Deep Zoom level worth fetching: the first where a tile px is not larger than a
    cell (*geometry*: the slide's Deep Zoom geometry or just its level count)."""
    level_count = geometry if isinstance(geometry, int) else geometry.level_count
    if scale < 1:
        return level_count - 1
    return max(0, min(level_count - 1, level_count - 1 - int(math.floor(math.log2(scale)))))


def tile_box(geometry: DeepZoomGeometry, level: int, col: int, row: int) -> tuple[int, int, int, int, int]:
    """(x0, y0, x1, y1, d) of a tile in level px (overlap included).

    :raises TileNotFoundError: outside the slide's Deep Zoom grid.
    """
    if not 0 <= level < geometry.level_count:
        raise TileNotFoundError(f"no level {level}: levels are 0..{geometry.level_count - 1}")
    w, h, d = dz_level_size(geometry, level)
    ts, ov = geometry.tile_size, geometry.overlap
    cols, rows = -(-w // ts), -(-h // ts)
    if not (0 <= col < cols and 0 <= row < rows):
        raise TileNotFoundError(f"no tile {col}_{row} at level {level}: {cols} x {rows} tiles")
    x0 = col * ts - (ov if col > 0 else 0)
    y0 = row * ts - (ov if row > 0 else 0)
    x1 = min(w, (col + 1) * ts) + (ov if col < cols - 1 else 0)
    y1 = min(h, (row + 1) * ts) + (ov if row < rows - 1 else 0)
    return x0, y0, x1, y1, d


def pyramid_level_for(overlay: Overlay, levels: int, d: int) -> int:
    """The coarsest stored level whose cell (scale * 2**k) is not larger than *d* slide px."""
    if d <= overlay.scale:
        return 0
    return max(0, min(levels - 1, int(math.floor(math.log2(d / overlay.scale)))))


def _indices(start: int, stop: int, d: int, offset: float, origin: float, cell: float,
             size: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices along one axis for tile px start..stop, and which of them are inside the grid."""
    centres = (np.arange(start, stop, dtype=np.float64) + 0.5) * d + offset
    idx = np.floor((centres - origin) / cell).astype(np.int64)
    inside = (idx >= 0) & (idx < size)
    return np.clip(idx, 0, max(size - 1, 0)), inside


def sample_tile(field: ValueField, geometry: DeepZoomGeometry, level: int, col: int,
                row: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) of a tile: the sampled grid values (the grid's dtype) and a bool mask
    (inside the grid and not NaN)."""
    x0, y0, x1, y1, d = tile_box(geometry, level, col, row)
    o = field.overlay
    k = pyramid_level_for(o, field.levels, d)
    grid = field.level(k)
    cell = o.scale * (1 << k)
    gh, gw = grid.shape
    ix, in_x = _indices(x0, x1, d, geometry.offset_x, o.origin_x, cell, gw)
    iy, in_y = _indices(y0, y1, d, geometry.offset_y, o.origin_y, cell, gh)
    if not (in_x.any() and in_y.any()):
        return np.zeros((y1 - y0, x1 - x0), grid.dtype), np.zeros((y1 - y0, x1 - x0), bool)
    # Read only the block of the grid the tile covers, then pick cells from it in memory.
    xa, xb = int(ix.min()), int(ix.max()) + 1
    ya, yb = int(iy.min()), int(iy.max()) + 1
    block = np.asarray(grid[ya:yb, xa:xb])
    values = block[(iy - ya)[:, None], (ix - xa)[None, :]]
    valid = in_y[:, None] & in_x[None, :]
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)
    return values, valid


def encode_codes(overlay: Overlay, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The integer codes of *values* under the overlay's mapping (0 where not valid)."""
    top = 255 if overlay.encoding == "u8" else 65535
    codes: np.ndarray
    if overlay.kind == "labels":
        codes = values.astype(np.int64)
    else:
        span = overlay.value_max - overlay.value_min
        v = np.where(valid, values, overlay.value_min).astype(np.float64)
        codes = np.rint((v - overlay.value_min) * (top / span)) if span > 0 else np.zeros(v.shape)
    codes = np.clip(codes, 0, top)
    return np.where(valid, codes, 0).astype(np.uint16 if top > 255 else np.uint8)


def encode_png(overlay: Overlay, values: np.ndarray, valid: np.ndarray) -> bytes:
    """The PNG of a sampled tile in the overlay's encoding."""
    codes = encode_codes(overlay, values, valid)
    alpha = np.where(valid, 255, 0).astype(np.uint8)
    if overlay.encoding == "u8":
        pixels = np.dstack([codes, alpha])
    else:
        hi = (codes >> 8).astype(np.uint8)
        lo = (codes & 255).astype(np.uint8)
        pixels = np.dstack([hi, lo, np.zeros_like(hi), alpha])
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


def decode_png(overlay: Overlay, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 with NaN where transparent, codes) of a value tile: the browser's decoding,
    for tests and tools."""
    with Image.open(io.BytesIO(data)) as image:
        px = np.asarray(image)
    if overlay.encoding == "u8":
        codes, alpha = px[..., 0].astype(np.int64), px[..., 1]
        top = 255
    else:
        codes, alpha = px[..., 0].astype(np.int64) * 256 + px[..., 1], px[..., 3]
        top = 65535
    if overlay.kind == "labels":
        values = codes.astype(np.float64)
    else:
        values = overlay.value_min + codes / top * (overlay.value_max - overlay.value_min)
    return np.where(alpha > 0, values, np.nan), codes
