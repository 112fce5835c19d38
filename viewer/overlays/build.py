"""From a source file to an overlay: which reader (by extension), then the descriptor (kind, range,
encoding, classes, placement) from what the file says and what the upload states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from viewer.errors import OverlayFormatError
from viewer.overlays.model import AddOptions, Encoding, Overlay, OverlayClass, OverlayKind
from viewer.overlays.sources import U8_DTYPES, Grid, fit_scale, read_tiff
from viewer.slides import SlideInfo

#: Default class colours of a label map without a palette: class 0 (background) black, then
#: matplotlib's "tab10" (Tableau 10) categorical palette, cycled.
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

EXTENSIONS = {".tif": "tiff", ".tiff": "tiff", ".npy": "npy", ".png": "png", ".csv": "csv"}


def source_format(filename: str) -> str:
    """The source kind from the file name's extension. :raises OverlayFormatError: unknown."""
    suffix = Path(filename).suffix.lower()
    found = EXTENSIONS.get(suffix)
    if found is None:
        raise OverlayFormatError(
            f"{filename}: unknown overlay file type {suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(sorted(EXTENSIONS))}")
    return found


def read_source(source: Path, filename: str, options: AddOptions, info: SlideInfo, max_mpx: int,
                scratch: Path | None = None) -> Grid:
    """The value grid of *source* (named *filename* by the client); *scratch*: where a large TIFF is
    decoded (see :func:`~viewer.overlays.sources.read_tiff`)."""
    fmt = source_format(filename)
    if fmt == "tiff":
        return read_tiff(source, filename, max_mpx, scratch)
    from viewer.overlays import readers

    if fmt == "npy":
        return readers.read_npy(source, filename, max_mpx, options.kind)
    if fmt == "png":
        return readers.read_png(source, filename, max_mpx, options.kind)
    return readers.read_csv(source, filename, max_mpx, options, info)


def _default_class_color(value: int) -> str:
    return "#000000" if value == 0 else TAB10[(value - 1) % len(TAB10)]


def _present(labels: np.ndarray) -> np.ndarray:
    """The class values that occur in *labels* (counted in bands: no copy of a large map)."""
    counts = np.zeros(256 if labels.dtype == np.uint8 else 65536, np.int64)
    flat = labels.reshape(-1)
    for start in range(0, flat.size, 1 << 22):
        counts += np.bincount(flat[start:start + (1 << 22)], minlength=counts.size)
    return np.flatnonzero(counts)


def _classes(labels: np.ndarray, names: tuple[str, ...] | None,
             palette: tuple[str, ...] | None) -> tuple[OverlayClass, ...]:
    """One class per value that occurs or is named (class 0 first): its name and colour."""
    values = sorted(set(_present(labels).tolist()) | set(range(len(names or ()))))
    out = []
    for v in values:
        name = names[v] if names and v < len(names) else ("background" if v == 0 else f"class {v}")
        color = palette[v] if palette and v < len(palette) else _default_class_color(v)
        out.append(OverlayClass(v, name, color))
    return tuple(out)


def _as_labels(grid: Grid, what: str) -> np.ndarray:
    """The grid as class ids (uint8, or uint16 over 255 classes)."""
    v = grid.values
    if v.dtype.kind == "f":
        if np.isnan(v).any():
            raise OverlayFormatError(f"{what}: a label map has a class in every cell; this one has gaps")
        if not np.all(v == np.floor(v)):
            raise OverlayFormatError(f"{what}: a label map holds whole class numbers; this one has fractions")
    if v.size and (v.min() < 0 or v.max() > 65535):
        raise OverlayFormatError(f"{what}: class values must be 0..65535, got {v.min()}..{v.max()}")
    dtype = np.uint8 if (not v.size or v.max() <= 255) else np.uint16
    return np.ascontiguousarray(v, dtype=dtype)


def _heatmap_range(grid: Grid, options: AddOptions, what: str) -> tuple[float, float]:
    dtype = grid.source_dtype
    if dtype == "bool":
        lo, hi = 0.0, 1.0
    elif dtype == "uint8":
        lo, hi = 0.0, 255.0
    elif dtype == "uint16":
        lo, hi = 0.0, 65535.0
    else:
        # fmin/fmax skip NaN (nodata) without a copy of the grid
        dmin = float(np.fmin.reduce(grid.values, axis=None))
        dmax = float(np.fmax.reduce(grid.values, axis=None))
        if np.isnan(dmin):
            raise OverlayFormatError(f"{what}: no cell holds a value")
        lo, hi = (0.0, 1.0) if dmin >= 0 and dmax <= 1 else (dmin, dmax if dmax > dmin else dmin + 1)
    lo = lo if options.value_min is None else float(options.value_min)
    hi = hi if options.value_max is None else float(options.value_max)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        raise OverlayFormatError(f"{what}: value_max ({hi}) must be above value_min ({lo})")
    return lo, hi


def build_overlay(grid: Grid, info: SlideInfo, options: AddOptions, *, overlay_id: str, filename: str,
                  attached: bool, version: str, created: str) -> Overlay:
    """The descriptor of *grid* on slide *info* (store :func:`finish_values` of it). ``native_level``
    is 0 here: the library places it on the slide's Deep Zoom grid."""
    kind: OverlayKind = options.kind or grid.kind or ("labels" if options.classes else "heatmap")
    h, w = grid.values.shape
    if options.scale is not None:
        if not (np.isfinite(options.scale) and options.scale > 0):
            raise OverlayFormatError(f"{filename}: scale must be a positive number, got {options.scale}")
        scale = float(options.scale)
    elif grid.scale is not None:
        scale = grid.scale
    else:
        scale = fit_scale(info.width, info.height, w, h, filename)
    origin_x, origin_y = grid.origin if grid.origin is not None else (options.origin_x, options.origin_y)
    classes: tuple[OverlayClass, ...] | None = None
    encoding: Encoding
    if kind == "labels":
        labels = _as_labels(grid, filename)
        classes = _classes(labels, options.classes, grid.palette)
        lo, hi = 0.0, 255.0 if labels.dtype == np.uint8 else 65535.0
        encoding = "u8" if labels.dtype == np.uint8 else "u16"
    else:
        lo, hi = _heatmap_range(grid, options, filename)
        encoding = "u8" if grid.source_dtype in U8_DTYPES else "u16"
    return Overlay(
        id=overlay_id, slide_id=info.id, name=options.name or filename, kind=kind,
        source_format=grid.source_format, source_filename=filename, source_dtype=grid.source_dtype,
        attached=attached, width=w, height=h, scale=scale, origin_x=float(origin_x),
        origin_y=float(origin_y), value_min=lo, value_max=hi, encoding=encoding, native_level=0,
        classes=classes, version=version, created=created,
    )


def finish_values(grid: Grid, overlay: Overlay) -> tuple[np.ndarray, np.dtype[Any]]:
    """The array to store for *overlay* and its stored dtype: float32 for heatmaps (converted band
    by band as the pyramid is written), class ids (uint8/uint16) for a label map."""
    if overlay.kind == "labels":
        labels = _as_labels(grid, overlay.source_filename)
        return labels, labels.dtype
    return grid.values, np.dtype(np.float32)
