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

Instead of ASAP's per-pixel loop the rasteriser works per scanline: for each edge crossing a row,
the float32 ``isLeft`` is monotone in x, so the columns where the edge counts form one or two
intervals whose ends are found by a vectorised binary search on the *exact* float32 predicate. The
winding number is then a running sum of ±1 steps — the same pixels, at numpy speed.

Coordinates are slide space (level-0 px). A window at downsample *d* samples level-0 point
``(floor(c·d), floor(r·d))`` for its pixel (c, r): ASAP's nearest-neighbour pyramid for d = 2^k.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from viewer.annotations.geometry import is_clockwise
from viewer.annotations.model import AnnotationSet
from viewer.errors import InvalidInputError

#: Tile edge of the mask TIFF (ASAP writes 512-px tiles too).
TILE_SIZE = 512
_INT_OVERFLOW = np.float32(2.0**31)  # float32 values ≥ this convert to INT_MIN on x86
_ONE = np.float32(1.0)
_MAX_CELLS = 1 << 22  # winding-number cells per rasterising chunk (16 MiB of int32)
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
    labels = dict(labels or {})
    has_groups = bool(aset.groups)
    annotations = list(aset.annotations)
    ordered = bool(order) and bool(labels)
    if ordered:
        assert order is not None
        annotations = [
            a
            for name in order
            for a in aset.annotations
            if (a.group == name if has_groups else a.name == name)
        ]
    plan = MaskPlan(
        ordered=bool(order),  # ASAP overwrites whenever an order is given
        int_limit=_INT_OVERFLOW if asap_int_overflow else np.float32(np.inf),
    )
    for a in annotations:
        if labels and has_groups and a.group is None:
            continue
        if labels:
            label = labels.get(a.group if has_groups else a.name, 0)  # type: ignore[arg-type]
        else:
            label = 1
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


def _first_crossing(
    a_b: np.ndarray,
    x0: np.ndarray,
    dyp: np.ndarray,
    cols: np.ndarray,
    compare: Callable[[np.ndarray, np.float32], np.ndarray],
    threshold: np.float32,
) -> np.ndarray:
    """Per crossing i, the first column k with ``compare(isLeft(i, k), threshold)`` (len(cols) if none).

    ASAP's ``isLeft`` before its int conversion, in float32 (note its y-down sign):
    ``fl(fl(x1-x0) * fl(y0-py) - fl(fl(px-x0) * fl(y0-y1)))`` = ``a_b - fl(cols[k] - x0) * dyp``.
    It is monotone in k, so the predicate is False ... False True ... True and a vectorised binary
    search over the columns finds its first True exactly.
    """
    n = len(a_b)
    left = np.zeros(n, dtype=np.int64)
    right = np.full(n, len(cols), dtype=np.int64)
    which = np.arange(n)
    while True:
        active = which[left < right]
        if not len(active):
            return left
        mid = (left[active] + right[active]) // 2
        ok = compare(a_b[active] - (cols[mid] - x0[active]) * dyp[active], threshold)
        right[active[ok]] = mid[ok]
        left[active[~ok]] = mid[~ok] + 1


def _paint(
    out: np.ndarray, ring: _Ring, xs: np.ndarray, ys: np.ndarray, ordered: bool, int_limit: np.float32
) -> None:
    """Composite one ring into *out* (rows = *ys*, columns = *xs*, level-0 sample coordinates)."""
    min_x, min_y, max_x, max_y = ring.bbox
    # Strict bounding box (ASAP: x > bbox.min && x < bbox.max), as column / row index ranges.
    c_lo, c_hi = int(np.searchsorted(xs, min_x, "right")), int(np.searchsorted(xs, max_x, "left"))
    r_lo, r_hi = int(np.searchsorted(ys, min_y, "right")), int(np.searchsorted(ys, max_y, "left"))
    if c_lo >= c_hi or r_lo >= r_hi:
        return
    cols = xs[c_lo:c_hi].astype(np.float32)
    ncols = c_hi - c_lo
    rows_per_chunk = max(1, _MAX_CELLS // (ncols + 1))
    up = ring.y1 > ring.y0
    down = ring.y1 < ring.y0
    # The rows each edge crosses: upward y0 <= y < y1, downward y1 <= y < y0.
    lo_y = np.where(up, ring.y0, ring.y1)
    hi_y = np.where(up, ring.y1, ring.y0)
    moving = up | down
    for r0 in range(r_lo, r_hi, rows_per_chunk):
        r1 = min(r_hi, r0 + rows_per_chunk)
        row_y = ys[r0:r1]
        ja = np.searchsorted(row_y, lo_y, "left")
        jb = np.searchsorted(row_y, hi_y, "left")
        counts = np.where(moving, jb - ja, 0)
        total = int(counts.sum())
        if total == 0:
            continue
        edge = np.repeat(np.arange(len(counts)), counts)
        row = ja[edge] + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        py = row_y[row].astype(np.float32)
        ex0, dyp = ring.x0[edge], ring.dyp[edge]
        a_b = ring.dx[edge] * (ring.y0[edge] - py)  # fl(fl(x1-x0) * fl(y0-py)), fixed along the row
        steps: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        iu = np.flatnonzero(up[edge])
        if len(iu):
            # Upward (y0 <= y < y1): +1 where 1 <= isLeft < 2^31; isLeft grows with x.
            args = (a_b[iu], ex0[iu], dyp[iu], cols)
            start = _first_crossing(*args, operator.ge, _ONE)
            end = _first_crossing(*args, operator.ge, int_limit)
            steps.append((row[iu], start, end, 1))
        idn = np.flatnonzero(~up[edge])
        if len(idn):
            # Downward: -1 where isLeft >= 2^31 (INT_MIN) or isLeft <= -1; isLeft falls with x.
            args = (a_b[idn], ex0[idn], dyp[idn], cols)
            end = _first_crossing(*args, operator.lt, int_limit)
            start = _first_crossing(*args, operator.le, -_ONE)
            steps.append((row[idn], np.zeros(len(idn), np.int64), end, -1))
            steps.append((row[idn], start, np.full(len(idn), ncols, np.int64), -1))
        width = ncols + 1
        diff = np.zeros((r1 - r0) * width, dtype=np.int32)
        for srow, s, e, sign in steps:
            keep = s < e
            base = srow[keep] * width
            np.add.at(diff, base + s[keep], sign)
            np.add.at(diff, base + e[keep], -sign)
        inside = np.cumsum(diff.reshape(r1 - r0, width), axis=1, dtype=np.int32)[:, :ncols] != 0
        target = out[r0:r1, c_lo:c_hi]
        label = ring.label
        if ordered:
            target[inside] = label & 0xFF
        elif label > 0:
            # ASAP: pixel = in*label > pixel ? in*label : pixel, compared as int, stored as uchar.
            target[inside & (target.astype(np.int64) < label)] = label & 0xFF


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
    out = np.zeros((height, width), dtype=np.uint8)
    xs = _sample_positions(x0, width, downsample)
    ys = _sample_positions(y0, height, downsample)
    for ring in plan.rings:
        min_x, min_y, max_x, max_y = ring.bbox
        if max_x <= xs[0] or min_x >= xs[-1] or max_y <= ys[0] or min_y >= ys[-1]:
            continue
        _paint(out, ring, xs, ys, plan.ordered, plan.int_limit)
    return out


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
        try:
            label = int(value)
        except ValueError:
            problems.append(f"label of {name!r} is not an integer: {value!r}")
            continue
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
) -> None:
    """Write ASAP's mask of *aset* as a tiled, pyramidal, deflate-compressed uint8 TIFF, atomically.

    (*width*, *height*) is the output size in pixels at *level_downsample* (the slide's level-0
    size for 1.0). Lower levels sample the same level-0 points at twice the downsample each
    (nearest neighbour, as ASAP). Rows are rasterised in bands of one tile row, so memory stays
    around ``width × tile_size`` bytes whatever the height. *progress(done, total)* is called after
    each band. *mpp* is µm per level-0 pixel of the slide.
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

    def tiles(level: int) -> Iterator[bytes]:
        nonlocal done
        level_w, level_h = sizes[level]
        downsample = level_downsample * (2**level)
        for band_y in range(0, level_h, tile_size):
            band_h = min(tile_size, level_h - band_y)
            band = rasterize_plan(plan, 0, band_y, level_w, band_h, downsample)
            for tx in range(0, level_w, tile_size):
                yield encode(band[:, tx : tx + tile_size])
            done += 1
            if progress is not None:
                progress(done, total)

    level_mpp = None if mpp is None else (mpp[0] * level_downsample, mpp[1] * level_downsample)
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


def reference_window(plan: MaskPlan, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """ASAP's per-pixel loop, transcribed literally (level 0 only): every pixel of every
    annotation's strict bounding box is tested against every edge.

    O(pixels × edges) and slow; it exists as the independent baseline for tests and benchmarks.
    """
    out = np.zeros((height, width), dtype=np.uint8)
    xs = np.arange(x0, x0 + width, dtype=np.float32)
    ys = np.arange(y0, y0 + height, dtype=np.float32)
    for ring in plan.rings:
        min_x, min_y, max_x, max_y = ring.bbox
        cols = np.flatnonzero((xs > min_x) & (xs < max_x))
        rows = np.flatnonzero((ys > min_y) & (ys < max_y))
        if len(cols) == 0 or len(rows) == 0:
            continue
        px = xs[cols][None, :]
        py = ys[rows][:, None]
        wn = np.zeros((len(rows), len(cols)), dtype=np.int64)
        for i in range(len(ring.x0)):
            x0_, y0_, y1_ = ring.x0[i], ring.y0[i], ring.y1[i]
            value = ring.dx[i] * (y0_ - py) - (px - x0_) * ring.dyp[i]
            with np.errstate(invalid="ignore"):
                # C's (int) conversion on x86: out of range or NaN gives INT_MIN
                as_int = np.where(
                    (value >= plan.int_limit) | (value < -(2.0**31)) | np.isnan(value),
                    -(2**31),
                    np.trunc(value),
                ).astype(np.int64)
            wn += (y0_ <= py) & (y1_ > py) & (as_int > 0)
            wn -= (y0_ > py) & (y1_ <= py) & (as_int < 0)
        window = out[np.ix_(rows, cols)]
        inside = wn != 0
        if plan.ordered:
            window[inside] = ring.label & 0xFF
        else:
            window[inside & (window.astype(np.int64) < ring.label)] = ring.label & 0xFF
        out[np.ix_(rows, cols)] = window
    return out
