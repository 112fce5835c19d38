"""Training masks: annotations → uint8 label images, pixel for pixel as ASAP's ``AnnotationToMask``.

ASAP's rules (``annotation/AnnotationToMask.cpp``, ASAP_FORMAT.md §6), all reproduced here:

* every annotation that is not clockwise (``isClockwise``, float32 terms) is reversed first;
* with a label map *and* an order, annotations are re-listed by the order: for each name, those
  whose **direct** group has that name (or, in a file without groups, whose own name is it);
  unlisted annotations are dropped. Later ones overwrite, label 0 included (how CAMELYON16's ``_2``
  punches holes). Without an order a pixel keeps the **largest** label;
* with a non-empty map in a file that has groups, ungrouped annotations are skipped; the label is
  ``map[direct group name]`` (no hierarchy), 0 when absent; without a map every annotation is 1;
* pixel (x, y) is the integer point (x, y) — the pixel's top-left corner — tested only when it lies
  *strictly* inside the annotation's bounding box, against the closed ring with the non-zero
  winding rule, where ``isLeft`` is evaluated in float32 and truncated to ``int`` (x86
  ``cvttss2si``: a cross product ≥ 2³¹ becomes ``INT_MIN``). Every type is filled as a ring.

Instead of ASAP's per-pixel loop, :mod:`viewer.annotations.mask_raster` sweeps each ring down the
rows: an edge's first counting column is a monotone step function of the row, so it is described
by its runs (one for a steep edge, whatever its height) whose corners a 2-D prefix sum turns into
winding numbers — the same pixels, found with ASAP's exact float32 predicate, in time that grows
with the edges and the pixels rather than edges × rows. Pyramid levels below the first are taken
from the level above (every other pixel: the same level-0 points), not rasterised again.

Coordinates are slide space (level-0 px). A window at downsample *d* samples level-0 point
``(floor(c·d), floor(r·d))`` for its pixel (c, r): ASAP's nearest-neighbour pyramid for d = 2^k.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from viewer.annotations.geometry import is_clockwise
from viewer.annotations.mask_raster import MAX_CELLS, RingRaster
from viewer.annotations.model import Annotation, AnnotationSet
from viewer.errors import InvalidInputError

#: Tile edge of the mask TIFF (ASAP writes 512-px tiles too).
TILE_SIZE = 512
_INT_OVERFLOW = np.float32(2.0**31)  # float32 values ≥ this convert to INT_MIN on x86
_FLT_MIN = float(np.finfo(np.float32).tiny)  # ASAP's bbox max corner starts here, not at -FLT_MAX

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MaskPreset:
    """A named label map with its conversion order."""

    labels: dict[str, int]
    order: list[str] | None = None
    description: str = ""


#: The CAMELYON conversions from the CAMELYON17 site (also quoted in ASAP issues #82 and #242).
PRESETS: dict[str, MaskPreset] = {
    "camelyon16": MaskPreset(
        {"_0": 1, "_1": 1, "_2": 0},
        ["_0", "_1", "_2"],
        "CAMELYON16: tumour groups _0 and _1 -> 1, then _2 (non-tumour islands) -> 0 punches holes",
    ),
    "camelyon17": MaskPreset(
        {"metastases": 1, "normal": 2},
        ["metastases", "normal"],
        "CAMELYON17: metastases -> 1, then normal -> 2",
    ),
}


@dataclass
class _Ring:
    """One annotation ready to rasterise: float32 edges, label, strict bounding box."""

    label: int
    x0: np.ndarray  # edge start / end, float32
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    dx: np.ndarray  # fl(x1 - x0), fl(y0 - y1): the operands ASAP's isLeft uses
    dyp: np.ndarray
    bbox: tuple[float, float, float, float]  # min_x, min_y, max_x, max_y as ASAP computes them


@dataclass
class MaskPlan:
    """Annotations in painting order with their labels; build once with :func:`plan_mask`."""

    rings: list[_Ring] = field(default_factory=list)
    ordered: bool = False  # True: ordered overwrite; False: max compositing
    #: isLeft values from here on become INT_MIN (ASAP on x86); +inf turns the emulation off.
    int_limit: np.float32 = _INT_OVERFLOW


def _painted(
    aset: AnnotationSet, labels: dict[str, int] | None, order: Sequence[str] | None
) -> Iterator[tuple[Annotation, int]]:
    """The annotations ASAP paints, in painting order, with their labels."""
    labels = dict(labels or {})
    has_groups = bool(aset.groups)
    annotations = list(aset.annotations)
    if order and labels:
        annotations = [
            a
            for name in order
            for a in aset.annotations
            if (a.group == name if has_groups else a.name == name)
        ]
    for a in annotations:
        if labels and has_groups and a.group is None:
            continue
        if labels:
            yield a, labels.get(a.group if has_groups else a.name, 0)  # type: ignore[arg-type]
        else:
            yield a, 1


def mask_vertex_count(
    aset: AnnotationSet, labels: dict[str, int] | None = None, order: Sequence[str] | None = None
) -> int:
    """Vertices of the annotations the mask paints (what its cost grows with, times the rows)."""
    return sum(len(a.coordinates) for a, _label in _painted(aset, labels, order))


def plan_mask(
    aset: AnnotationSet,
    labels: dict[str, int] | None = None,
    order: Sequence[str] | None = None,
    *,
    asap_int_overflow: bool = True,
) -> MaskPlan:
    """Select, order and label the annotations exactly as ASAP's ``AnnotationToMask::convert``.

    *asap_int_overflow* keeps ASAP's x86 behaviour for shapes with very long edges (an ``isLeft``
    of 2³¹ or more turns into INT_MIN, which fills or clears stray areas of shapes larger than about
    30,000 px with few vertices, e.g. huge rectangles). False gives the mathematically clean mask.
    """
    plan = MaskPlan(
        ordered=bool(order),  # ASAP overwrites whenever an order is given
        int_limit=_INT_OVERFLOW if asap_int_overflow else np.float32(np.inf),
    )
    for a, label in _painted(aset, labels, order):
        pts = np.asarray(a.coordinates, dtype=np.float32).reshape(-1, 2)
        if len(pts) == 0:
            continue
        if not is_clockwise(pts):
            pts = pts[::-1]
        closed = np.vstack([pts, pts[:1]])
        x0, y0 = closed[:-1, 0].copy(), closed[:-1, 1].copy()
        x1, y1 = closed[1:, 0].copy(), closed[1:, 1].copy()
        bbox = (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            max(_FLT_MIN, float(pts[:, 0].max())),
            max(_FLT_MIN, float(pts[:, 1].max())),
        )
        plan.rings.append(_Ring(int(label), x0, y0, x1, y1, x1 - x0, y0 - y1, bbox))
    return plan


def _sample_positions(start: int, count: int, downsample: float) -> np.ndarray:
    """Level-0 integer coordinates sampled by output pixels start..start+count-1."""
    idx = np.arange(start, start + count, dtype=np.float64)
    if downsample == 1.0:
        return idx.astype(np.int64)
    return np.floor(idx * downsample).astype(np.int64)


def _band_rows(plan: MaskPlan, xs: np.ndarray, ys: np.ndarray, band_rows: int) -> Iterator[np.ndarray]:
    """The mask over the sample grid (level-0 columns *xs*, rows *ys*), as consecutive uint8 bands
    of *band_rows* rows (the last may be shorter). Each ring is swept once, top to bottom, while
    the bands that meet its bounding box are composited in painting order."""
    windows = np.array(
        [RingRaster.window(ring.bbox, xs, ys) for ring in plan.rings], dtype=np.int64
    ).reshape(-1, 4)
    c_lo, c_hi, r_lo, r_hi = windows.T
    present = (c_lo < c_hi) & (r_lo < r_hi)
    sweeps: dict[int, RingRaster] = {}
    for band_y in range(0, len(ys), band_rows):
        band_end = min(len(ys), band_y + band_rows)
        out = np.zeros((band_end - band_y, len(xs)), dtype=np.uint8)
        for index in np.flatnonzero(present & (r_lo < band_end) & (r_hi > band_y)).tolist():
            ring = plan.rings[index]
            sweep = sweeps.get(index)
            if sweep is None:  # the edge table of a ring is built when the sweep reaches it
                sweep = sweeps[index] = RingRaster(
                    ring.x0, ring.y0, ring.y1, ring.dx, ring.dyp, ring.bbox, xs, ys, plan.int_limit
                )
            first, last = max(band_y, int(r_lo[index])), min(band_end, int(r_hi[index]))
            step = max(1, MAX_CELLS // (sweep.ncols + 1))
            for row in range(first, last, step):
                count = min(step, last - row)
                inside = sweep.rows(count)
                target = out[row - band_y : row - band_y + count, sweep.c_lo : sweep.c_hi]
                if plan.ordered:
                    target[inside] = ring.label & 0xFF
                elif ring.label > 0:
                    # ASAP: pixel = in*label > pixel ? in*label : pixel, compared as int, stored as uchar.
                    target[inside & (target.astype(np.int64) < ring.label)] = ring.label & 0xFF
            if last >= int(r_hi[index]):
                del sweeps[index]  # done with this ring: free its run corners
        yield out


def rasterize_plan(
    plan: MaskPlan, x0: int, y0: int, width: int, height: int, downsample: float = 1.0
) -> np.ndarray:
    """The (height, width) uint8 mask window whose top-left output pixel is (x0, y0).

    (x0, y0, width, height) are pixels at *downsample* (level 0 when 1.0).
    """
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"mask window must have a positive size, got {width}x{height}")
    if not downsample > 0 or not math.isfinite(downsample):
        raise InvalidInputError(f"downsample must be a positive number, got {downsample!r}")
    xs = _sample_positions(x0, width, downsample)
    ys = _sample_positions(y0, height, downsample)
    return next(_band_rows(plan, xs, ys, height))


def rasterize_window(
    aset: AnnotationSet,
    x0: int,
    y0: int,
    width: int,
    height: int,
    labels: dict[str, int] | None = None,
    order: Sequence[str] | None = None,
    downsample: float = 1.0,
    *,
    asap_int_overflow: bool = True,
) -> np.ndarray:
    """ASAP's mask of *aset* over one window: (height, width) uint8, row r = pixel row y0 + r.

    *labels* maps group names (or annotation names in a file without groups) to labels; *order*
    is ASAP's conversion order. Coordinates as in :func:`rasterize_plan`.
    """
    plan = plan_mask(aset, labels, order, asap_int_overflow=asap_int_overflow)
    return rasterize_plan(plan, x0, y0, width, height, downsample)


def parse_labels(text: str) -> dict[str, int]:
    """``NAME=N,NAME=N`` → {name: label}; labels must be integers 0..255."""
    labels: dict[str, int] = {}
    problems = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.rpartition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"{item!r} is not NAME=LABEL")
            continue
        value = value.strip()
        # ASCII digits only: int() would also read "١" (Arabic-Indic) as 1 and fail on "²".
        if not (value.isascii() and value.isdigit()):
            problems.append(f"label of {name!r} is not an integer: {value!r}")
            continue
        label = int(value)
        if not 0 <= label <= 255:
            problems.append(f"label of {name!r} must be 0..255, got {label}")
            continue
        labels[name] = label
    if problems:
        raise InvalidInputError(f"bad --labels: {'; '.join(problems)}", details=problems)
    if not labels:
        raise InvalidInputError("bad --labels: no NAME=LABEL pair given")
    return labels


def check_mask_request(
    aset: AnnotationSet, labels: dict[str, int] | None, order: Sequence[str] | None
) -> None:
    """Reject label maps and orders that cannot mean what the user wants (all problems at once).

    ASAP silently writes an empty mask in these cases (issue #242); we say why instead.
    """
    problems = []
    for name, label in (labels or {}).items():
        if not isinstance(label, int) or not 0 <= label <= 255:
            problems.append(f"label of {name!r} must be an integer 0..255, got {label!r}")
    if order and not labels:
        problems.append("an order needs a label map (ASAP ignores the order without one)")
    # An order name missing from the map is fine: ASAP paints it with label 0 (a hole punch).
    if labels:
        has_groups = bool(aset.groups)
        known = {g.name for g in aset.groups} if has_groups else {a.name for a in aset.annotations}
        what = "group" if has_groups else "annotation (the file has no groups, so names are matched)"
        unknown = [n for n in labels if n not in known]
        if unknown and len(unknown) == len(labels):
            problems.append(f"no {what} is called {', '.join(map(repr, unknown))}; the mask would be empty")
    if problems:
        raise InvalidInputError(f"invalid mask request: {'; '.join(problems)}", details=problems)


def mask_level_sizes(width: int, height: int, tile_size: int = TILE_SIZE) -> list[tuple[int, int]]:
    """Pyramid level sizes: halving (rounding up) until the whole level fits in one tile."""
    sizes = [(width, height)]
    while sizes[-1][0] > tile_size or sizes[-1][1] > tile_size:
        w, h = sizes[-1]
        sizes.append(((w + 1) // 2, (h + 1) // 2))
    return sizes


class _LowerLevels:
    """Levels 1, 2, ... of the mask pyramid, each taken from the level above as every other pixel of
    every other row. That is exactly what rasterising it afresh would give: its pixel c samples
    level-0 point floor(c·2d), the level above's pixel 2c samples floor(2c·d), and doubling is
    exact in binary floating point. Tiles are encoded as the bands arrive, while level 0 is being
    rasterised, and wait in an unnamed temporary file (*spool*) until the TIFF writer reaches their
    level; memory stays at one band per level."""

    _KEEP_IN_MEMORY = 1024  # encoded tiles up to this size (the all-0 tile...) are not spooled

    def __init__(
        self,
        sizes: list[tuple[int, int]],
        tile_size: int,
        encode: Callable[[np.ndarray], bytes],
        spool: BinaryIO,
        on_band: Callable[[], None],
    ) -> None:
        self.sizes, self.tile_size, self.encode = sizes, tile_size, encode
        self.spool, self.on_band = spool, on_band
        self.pending: list[list[np.ndarray]] = [[] for _ in sizes]  # rows not yet in a band
        self.received = [0] * len(sizes)
        self.stored: list[list[bytes | tuple[int, int]]] = [[] for _ in sizes]

    def feed(self, level: int, rows: np.ndarray) -> None:
        """The next rows of *level* (full width, top to bottom)."""
        if level >= len(self.sizes):
            return
        self.pending[level].append(rows)
        self.received[level] += len(rows)
        waiting = sum(len(r) for r in self.pending[level])
        level_h = self.sizes[level][1]
        while waiting >= self.tile_size or (waiting and self.received[level] == level_h):
            parts = self.pending[level]
            block = np.concatenate(parts) if len(parts) > 1 else parts[0]
            band, rest = block[: self.tile_size], block[self.tile_size :]
            self.pending[level] = [rest] if len(rest) else []
            waiting = len(rest)
            self._band(level, band)

    def _band(self, level: int, band: np.ndarray) -> None:
        for tx in range(0, band.shape[1], self.tile_size):
            data = self.encode(band[:, tx : tx + self.tile_size])
            if len(data) <= self._KEEP_IN_MEMORY:
                self.stored[level].append(data)
            else:
                offset = self.spool.seek(0, io.SEEK_END)
                self.spool.write(data)
                self.stored[level].append((offset, len(data)))
        self.on_band()
        self.feed(level + 1, band[::2, ::2])

    def tiles(self, level: int) -> Iterator[bytes]:
        """The encoded tiles of *level* (>= 1), once level 0 has been rasterised."""
        for item in self.stored[level]:
            if isinstance(item, bytes):
                yield item
            else:
                self.spool.seek(item[0])
                yield self.spool.read(item[1])
        self.stored[level] = []


def write_mask_tiff(
    aset: AnnotationSet,
    out_path: str | Path,
    width: int,
    height: int,
    labels: dict[str, int] | None = None,
    order: Sequence[str] | None = None,
    level_downsample: float = 1.0,
    progress: Progress | None = None,
    mpp: tuple[float, float] | None = None,
    tile_size: int = TILE_SIZE,
    asap_int_overflow: bool = True,
    *,
    progress_in_rows: bool = False,
) -> None:
    """Write ASAP's mask of *aset* as a tiled, pyramidal, deflate-compressed uint8 TIFF, atomically.

    (*width*, *height*) is the output size in pixels at *level_downsample* (the slide's level-0
    size for 1.0). Lower levels sample the same level-0 points at twice the downsample each
    (nearest neighbour, as ASAP), so they are taken from the level above (see :class:`_LowerLevels`).
    Rows are rasterised in bands of one tile row, so memory stays around a few ``width × tile_size``
    bytes whatever the height. *progress(done, total)* is called after each band of every level
    (all during level 0's pass), or with *progress_in_rows* after each level-0 band with the
    level-0 rows done and *height*. *mpp* is µm per level-0 pixel of the slide.
    """
    from viewer.tiffwriter import encode_tile, write_pyramid_tiff

    plan = plan_mask(aset, labels, order, asap_int_overflow=asap_int_overflow)
    sizes = mask_level_sizes(width, height, tile_size)
    total = sum(-(-h // tile_size) for _, h in sizes)
    done = 0
    uniform_tiles: dict[int, bytes] = {}

    def encode(tile: np.ndarray) -> bytes:
        low = int(tile.min())
        if low == int(tile.max()) and tile.shape == (tile_size, tile_size):
            if low not in uniform_tiles:  # most tiles of a mask are all 0: encode once
                uniform_tiles[low] = encode_tile(tile, "deflate")
            return uniform_tiles[low]
        return encode_tile(tile, "deflate", tile_size=tile_size, pad_value=0)

    def band_done() -> None:
        nonlocal done
        done += 1
        if progress is not None and not progress_in_rows:
            progress(done, total)

    xs = _sample_positions(0, width, level_downsample)
    ys = _sample_positions(0, height, level_downsample)
    level_mpp = None if mpp is None else (mpp[0] * level_downsample, mpp[1] * level_downsample)
    with tempfile.TemporaryFile(dir=Path(out_path).parent, prefix=".mask-levels-") as spool:
        lower = _LowerLevels(sizes, tile_size, encode, spool, band_done)

        def tiles(level: int) -> Iterator[bytes]:
            if level:
                yield from lower.tiles(level)
                return
            rows_done = 0
            for band in _band_rows(plan, xs, ys, tile_size):
                for tx in range(0, width, tile_size):
                    yield encode(band[:, tx : tx + tile_size])
                band_done()
                lower.feed(1, band[::2, ::2])
                rows_done += len(band)
                if progress is not None and progress_in_rows:
                    progress(rows_done, height)

        write_pyramid_tiff(
            out_path,
            sizes,
            tile_size,
            tiles,
            samples_per_pixel=1,
            photometric="minisblack",
            compression="deflate",
            mpp=level_mpp,
            description="wsi-viewer annotation mask (ASAP AnnotationToMask rules)",
        )
