"""Readers of the other overlay sources: ``.npy`` arrays, PNG images, CSV patch scores.

Each checks everything before returning (shape, dtype, channels, finite values, every CSV cell) and
names what is wrong: the line and column of a CSV cell, the count and first place of NaNs.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from viewer.errors import InputTooLargeError, OverlayFormatError
from viewer.overlays.model import AddOptions, OverlayKind
from viewer.overlays.sources import Grid, check_finite, check_size
from viewer.slides import SlideInfo

#: .npy dtypes accepted (kind letter: b bool, u unsigned, i signed, f float).
_NPY_KINDS = "buif"
#: Side of a PatchCamelyon patch, the default of ``x,y,score`` CSVs.
DEFAULT_PATCH_SIZE = 96


def read_npy(path: Path, what: str, max_mpx: int, kind: OverlayKind | None) -> Grid:
    """A 2-D ``.npy`` array of bool, integers or floats (no pickles)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise OverlayFormatError(f"{what}: not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise OverlayFormatError(f"{what}: a .npy file holding one array expected")
    if array.ndim != 2:
        raise OverlayFormatError(f"{what}: a 2-D array expected, got shape {tuple(array.shape)}")
    if array.dtype.kind not in _NPY_KINDS or array.dtype.itemsize > 8 or array.dtype == np.float16:
        raise OverlayFormatError(
            f"{what}: unsupported dtype {array.dtype}; bool, integers, float32 or float64 expected")
    h, w = array.shape
    check_size(w, h, max_mpx, what)
    # kept memory-mapped (the caller owns the file until add() returns): read in bands from here on
    return Grid(check_finite(array, what), "npy", array.dtype.name)


def _palette(image: Image.Image) -> tuple[str, ...]:
    raw = image.getpalette() or []
    return tuple(f"#{raw[i]:02x}{raw[i + 1]:02x}{raw[i + 2]:02x}" for i in range(0, len(raw) - 2, 3))


def read_png(path: Path, what: str, max_mpx: int, kind: OverlayKind | None) -> Grid:
    """A one-channel PNG: grey (mode L, 8 bit), 16-bit grey (I;16 / I), 1-bit, or a palette image
    (mode P: a label map whose class colours are the palette's)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            with Image.open(path) as image:
                if image.format != "PNG":
                    raise OverlayFormatError(f"{what}: not a PNG image ({image.format})")
                w, h = image.size
                check_size(w, h, max_mpx, what)
                mode = image.mode
                if mode not in ("1", "L", "P", "I", "I;16", "I;16B"):
                    bands = len(image.getbands())
                    raise OverlayFormatError(
                        f"{what}: PNG mode {mode} ({bands} channels); an overlay has one channel "
                        "(grey 8 or 16 bit, or a palette)")
                image.load()
                palette = _palette(image) if mode == "P" else None
                values = np.asarray(image)
    except Image.DecompressionBombError as exc:
        raise InputTooLargeError(
            f"{what}: the PNG is over the PNG decoder's size limit ({exc}); send a TIFF or .npy") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise OverlayFormatError(f"{what}: not a readable PNG ({exc})") from None
    if mode == "1":
        source_dtype = "bool"
    elif mode in ("L", "P"):
        source_dtype = "uint8"
    else:
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise OverlayFormatError(f"{what}: 16-bit PNG values outside 0..65535")
        values, source_dtype = values.astype(np.uint16), "uint16"
    return Grid(np.ascontiguousarray(values), "png", source_dtype,
                kind="labels" if mode == "P" else None, palette=palette)


def _number(text: str, line: int, column: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise OverlayFormatError(
            f"{what}: line {line}, column {column!r}: {shown!r} is not a number") from None
    if not math.isfinite(value):
        raise OverlayFormatError(f"{what}: line {line}, column {column!r}: {text!r} is not a finite number")
    return value


def _patch_columns(header: list[str], what: str) -> tuple[dict[str, int], bool]:
    """Column index by name, and whether patches carry their own size (x,y,width,height,score)."""
    names = [h.strip().lower() for h in header]
    index = {name: i for i, name in enumerate(names)}
    sized = "width" in index or "height" in index
    needed = ("x", "y", "width", "height", "score") if sized else ("x", "y", "score")
    missing = [n for n in needed if n not in index]
    if missing:
        raise OverlayFormatError(
            f"{what}: line 1 (header): missing column(s) {', '.join(missing)}; expected "
            "x,y,width,height,score (slide level-0 px) or x,y,score (with patch_size, patch_level)",
            details=[{"line": 1, "column": n, "problem": "missing"} for n in missing])
    return index, sized


def read_csv(path: Path, what: str, max_mpx: int, options: AddOptions, info: SlideInfo) -> Grid:
    """Patch scores: ``x,y,width,height,score`` (top-left corners and sizes in slide level-0 px), or
    ``x,y,score`` with ``patch_size`` px (default 96) patches at slide level ``patch_level`` (the
    coordinates in that level's px too). Patches must tile one grid: stride = patch size, origin =
    the smallest x and y; cells without a patch are nodata."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OverlayFormatError(f"{what}: not UTF-8 text (byte {exc.start})") from None
    rows = csv.reader(io.StringIO(text))
    try:
        header = next(rows)
    except StopIteration:
        raise OverlayFormatError(f"{what}: the CSV is empty") from None
    except csv.Error as exc:
        raise OverlayFormatError(f"{what}: line 1: {exc}") from None
    index, sized = _patch_columns(header, what)
    if sized:
        factor, fixed = 1.0, None
    else:
        level = options.patch_level
        if not 0 <= level < max(info.level_count, 1):
            raise OverlayFormatError(
                f"{what}: patch_level {level} is not a level of the slide (0..{info.level_count - 1})")
        factor = float(info.level_downsamples[level]) if info.level_downsamples else 1.0
        size = DEFAULT_PATCH_SIZE if options.patch_size is None else options.patch_size
        if size <= 0:
            raise OverlayFormatError(f"{what}: patch_size must be positive, got {size}")
        fixed = size * factor
    xs: list[float] = []
    ys: list[float] = []
    scores: list[float] = []
    lines: list[int] = []
    side: float | None = fixed
    first_line = 0
    try:
        for row in rows:
            line = rows.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < len(header):
                absent = [n for n, i in index.items() if i >= len(row)]
                raise OverlayFormatError(f"{what}: line {line}: column(s) {', '.join(absent)} missing")
            cell = {n: row[i].strip() for n, i in index.items()}
            x = _number(cell["x"], line, "x", what) * factor
            y = _number(cell["y"], line, "y", what) * factor
            score = _number(cell["score"], line, "score", what)
            if sized:
                pw = _number(cell["width"], line, "width", what)
                ph = _number(cell["height"], line, "height", what)
                if pw <= 0 or pw != ph:
                    raise OverlayFormatError(
                        f"{what}: line {line}: patches must be squares of positive size, got {pw} x {ph}")
                if side is None:
                    side, first_line = pw, line
                elif pw != side:
                    raise OverlayFormatError(
                        f"{what}: line {line}: patch size {pw} differs from line {first_line}'s {side}; "
                        "every patch must have the same size")
            xs.append(x)
            ys.append(y)
            scores.append(score)
            lines.append(line)
    except csv.Error as exc:
        raise OverlayFormatError(f"{what}: line {rows.line_num}: {exc}") from None
    if not scores or side is None:
        raise OverlayFormatError(f"{what}: the CSV has a header but no patches")
    return _patch_grid(np.array(xs), np.array(ys), np.array(scores), lines, side, what, max_mpx)


def _patch_grid(xs: np.ndarray, ys: np.ndarray, scores: np.ndarray, lines: list[int], side: float,
                what: str, max_mpx: int) -> Grid:
    """Patches (top-left corners, one side) as a grid of cells, NaN where no patch is."""
    x0, y0 = float(xs.min()), float(ys.min())
    fx, fy = (xs - x0) / side, (ys - y0) / side
    ix, iy = np.rint(fx).astype(np.int64), np.rint(fy).astype(np.int64)
    off = (np.abs(fx - ix) > 1e-6) | (np.abs(fy - iy) > 1e-6)
    if off.any():
        k = int(np.argmax(off))
        raise OverlayFormatError(
            f"{what}: line {lines[k]}: patch at ({xs[k]:g}, {ys[k]:g}) is not on the grid of "
            f"{side:g} px patches starting at ({x0:g}, {y0:g})")
    w, h = int(ix.max()) + 1, int(iy.max()) + 1
    check_size(w, h, max_mpx, what)
    flat = iy * w + ix
    order = np.argsort(flat, kind="stable")
    repeated = np.flatnonzero(np.diff(flat[order]) == 0)
    if repeated.size:
        a, b = sorted((int(order[repeated[0]]), int(order[repeated[0] + 1])))
        raise OverlayFormatError(f"{what}: line {lines[b]} repeats the patch of line {lines[a]}")
    grid = np.full((h, w), np.nan, np.float64)
    grid[iy, ix] = scores
    return Grid(grid, "csv", "float64", scale=float(side), origin=(x0, y0))
