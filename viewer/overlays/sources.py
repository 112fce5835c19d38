"""Reading overlay sources into a value grid, each checked fully before anything is stored.

Every reader returns a :class:`Grid`: the values as read (checked finite), the source's dtype, and
what the file itself says of kind, classes and placement; ``build.finish_values`` turns them into
what is stored (heatmaps float32 with NaN = nodata, label maps uint8/uint16). Problems raise
:class:`~viewer.errors.OverlayFormatError` naming what is wrong and where; a grid over the size
limit raises :class:`~viewer.errors.InputTooLargeError` before its pixels are read.
"""

from __future__ import annotations

import math
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from viewer.errors import InputTooLargeError, OverlayFormatError
from viewer.overlays.model import OverlayKind

#: Rows of a grid checked at once.
_BAND_ROWS = 1024
#: Larger TIFF maps (px) are decoded into a temporary memory-mapped file.
_IN_MEMORY_MAX_PX = 64_000_000

#: Source dtypes a heatmap keeps exactly in value tiles with this encoding.
U8_DTYPES = ("uint8", "bool")


@dataclass(frozen=True)
class Grid:
    """A value grid as read from a source, before placement and storage."""

    values: np.ndarray  # 2-D, as read (bool, integers, floats; NaN only for nodata cells of CSV patches)
    source_format: str
    source_dtype: str
    kind: OverlayKind | None = None  # what the file says (palette PNG: labels); None: not said
    palette: tuple[str, ...] | None = None  # "#rrggbb" by class value, from a palette image
    scale: float | None = None  # CSV patches: level-0 px per cell
    origin: tuple[float, float] | None = None  # CSV patches: the grid's top-left in slide space


@dataclass(frozen=True)
class TiffHeader:
    """What a TIFF's header says of its largest one-channel image, read without its pixels."""

    width: int
    height: int
    dtype: str
    page: int


def check_size(width: int, height: int, max_mpx: int, what: str) -> None:
    """:raises InputTooLargeError: a grid of ``width x height`` is over *max_mpx* megapixels."""
    if width * height > max_mpx * 1_000_000:
        raise InputTooLargeError(
            f"{what}: a {width} x {height} grid is {width * height / 1e6:.1f} Mpx, over the "
            f"{max_mpx} Mpx limit (OVERLAY_MAX_MPX)")


def _tiff_page_problem(page: Any, file_size: int) -> str | None:
    """Why a TIFF page cannot be used (channels, dtype, truncation), or None."""
    if page.samplesperpixel != 1 or len(page.shape) != 2:
        return f"{page.samplesperpixel} channels (shape {tuple(page.shape)}); an overlay has one channel"
    if page.dtype is None or np.dtype(page.dtype).name not in ("uint8", "uint16", "float32"):
        return f"unsupported sample type {page.dtype}; uint8, uint16 or float32 expected"
    offsets, counts = page.dataoffsets, page.databytecounts
    if not offsets or any(c == 0 for c in counts):
        return "image data missing (empty strips or tiles)"
    end = max(o + c for o, c in zip(offsets, counts, strict=False))
    if end > file_size:
        return f"truncated: its image data end at byte {end} but the file has {file_size} bytes"
    return None


def read_tiff_header(path: Path, what: str) -> TiffHeader:
    """The largest page of a TIFF, checked (one channel, uint8/uint16/float32, data inside the file).

    :raises OverlayFormatError: not a TIFF, truncated, several channels, an unsupported dtype.
    """
    file_size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tif:
            pages = list(tif.pages)
            if not pages:
                raise OverlayFormatError(f"{what}: the TIFF holds no image")
            best = max(range(len(pages)), key=lambda i: int(np.prod(pages[i].shape[:2])))
            page = pages[best]
            problem = _tiff_page_problem(page, file_size)
            if problem is not None:
                raise OverlayFormatError(f"{what}: TIFF page {best}: {problem}")
            height, width = (int(n) for n in page.shape[:2])
            return TiffHeader(width, height, np.dtype(page.dtype).name, best)
    except OverlayFormatError:
        raise
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, struct.error) as exc:
        raise OverlayFormatError(f"{what}: not a readable TIFF ({exc})") from None


def read_tiff(path: Path, what: str, max_mpx: int, scratch: Path | None = None) -> Grid:
    """A one-channel uint8/uint16/float32 TIFF (its largest page; pyramids' other levels ignored).

    A map over 64 Mpx is decoded into a memory-mapped file in *scratch* (the overlay directory: the
    same disk as the result, not a /tmp that may be memory), unlinked at once: the mapping lives on
    while the grid is used and nothing is left behind.
    """
    header = read_tiff_header(path, what)
    check_size(header.width, header.height, max_mpx, what)
    out: str | None = None
    if header.width * header.height > _IN_MEMORY_MAX_PX:
        if scratch is None:
            out = "memmap"  # tifffile's temporary file
        else:
            scratch.mkdir(parents=True, exist_ok=True)
            out = str(scratch / f".decode-{secrets.token_hex(6)}.tmp")
    try:
        with tifffile.TiffFile(path) as tif:
            raw = tif.pages[header.page].asarray(out=out)
    except (tifffile.TiffFileError, OSError, ValueError, RuntimeError, struct.error) as exc:
        raise OverlayFormatError(f"{what}: TIFF page {header.page} cannot be decoded ({exc})") from None
    finally:
        if out is not None and out != "memmap":
            Path(out).unlink(missing_ok=True)
    raw = np.asarray(raw)
    if raw.shape != (header.height, header.width):
        raise OverlayFormatError(f"{what}: TIFF page {header.page} decodes to shape {raw.shape}")
    return Grid(check_finite(raw, what), "tiff", header.dtype)


def check_finite(raw: np.ndarray, what: str) -> np.ndarray:
    """*raw*, refused if it holds NaN or infinite values (the count and the first place are named).
    Checked in bands of rows, so a memory-mapped grid is never copied whole."""
    if raw.dtype.kind != "f":
        return raw
    count, first = 0, None
    for y in range(0, raw.shape[0], _BAND_ROWS):
        bad = ~np.isfinite(raw[y:y + _BAND_ROWS])
        n = int(np.count_nonzero(bad))
        if n and first is None:
            j, i = np.unravel_index(int(np.argmax(bad)), bad.shape)
            first = (int(i), y + int(j))
        count += n
    if first is not None:
        raise OverlayFormatError(
            f"{what}: {count} value(s) are NaN or infinite, the first at x={first[0]}, y={first[1]}; "
            "an overlay's values must be finite numbers")
    return raw


def fit_scale(slide_width: int, slide_height: int, width: int, height: int, what: str) -> float:
    """The level-0 downsample of a ``width x height`` map covering the slide from (0, 0): the
    integer s with ``ceil(W/s) == w`` or ``floor(W/s) == w``, and the same for height; a power of
    two when one fits, else the integer nearest the ratio.

    :raises OverlayFormatError: no integer fits both sides.
    """
    fits = []
    guess = slide_width / max(width, 1)
    near = range(max(1, math.floor(guess) - 2), math.ceil(guess) + 3)
    # the integers around the ratio, and every power of two (a tiny map fits a wide range of them)
    for s in sorted(set(near) | {1 << k for k in range(25)}, key=lambda s: (abs(s - guess), s)):
        ok_w = width in (-(-slide_width // s), slide_width // s)
        ok_h = height in (-(-slide_height // s), slide_height // s)
        if ok_w and ok_h:
            fits.append(s)
    if not fits:
        raise OverlayFormatError(
            f"{what}: size ratio fits no downsample: a {width} x {height} grid over a "
            f"{slide_width} x {slide_height} slide; give scale (level-0 px per cell)")
    powers = [s for s in fits if s & (s - 1) == 0]
    return float((powers or fits)[0])
