"""The scanline engine of :mod:`viewer.annotations.masks`: ASAP's pixels, in time that grows with the
edges plus the pixels, not with edges × rows.

ASAP tests pixel (px, py) against a ring by summing, over the edges whose y-range holds py, a ±1
where the edge's float32 ``isLeft`` passes a threshold (≥ 1 upward, ≤ -1 downward, plus the x86
INT_MIN quirk at 2³¹). For one edge and one sampled row, ``isLeft`` is monotone in the column, so
the columns where the edge counts start at one column g(row) (the first rasteriser found each g by a
binary search, for every row every edge crosses). It is monotone in the *row* too, for one column:
the only operand that depends on the row, ``fl(dx * fl(y0 - py))``, is a monotone function of py,
and every float32 rounding is monotone. So g is a monotone step function of the row and changes
value at most once per sampled column the edge passes: a steep edge crossing 2,000 rows but no
sampled column is one run, not 2,000 crossings.

The sweep goes down the rows a step at a time (a band of the TIFF, or fewer rows for a wide ring,
so that one int32 cell per pixel of the step stays within :data:`MAX_CELLS`). In each step, the
edges meeting its rows (an edge table sorted by first row) are described by the corners of their
runs in a 2-D difference array: +σ at (first row, column) of a run, -σ at (row after it, column).
A prefix sum down the rows, then along each row, gives every pixel's winding number. An edge is
traced per row or per column boundary, whichever it crosses fewer of in the step, and each
boundary is found with the exact float32 predicate (a float64 estimate checked on both sides, a
binary search where rounding makes the estimate miss), so the pixels are exactly the first
rasteriser's. The work is the pixels, plus a few evaluations per edge and step, plus the edges'
boundary length in output pixels (min of rows and columns crossed): a fine outline or a comb of
steep edges costs little more than its vertices; only many long edges crossing each other's
columns (a random star) cost in proportion to their length.

Coordinates: ``xs``/``ys`` are the level-0 integer sample positions of the output columns and rows;
indices below are local to a ring's strict bounding box on that grid.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator

import numpy as np

_ONE = np.float32(1.0)
#: winding-number cells per sweep step (16 MiB of int32)
MAX_CELLS = 1 << 22
#: (edge, row) or (edge, column) pairs evaluated at once, bounding the temporaries (~30 bytes each)
_MAX_PAIRS = 1 << 21

Compare = Callable[[np.ndarray, np.float32], np.ndarray]


def _chunks(weights: np.ndarray, limit: int = _MAX_PAIRS) -> Iterator[slice]:
    """Consecutive slices of *weights* (non-negative ints) each summing to about *limit* at most."""
    if not len(weights):
        return
    ends = np.cumsum(weights)
    start = 0
    while start < len(weights):
        base = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, base + limit, "right"))
        stop = max(stop, start + 1)
        yield slice(start, stop)
        start = stop


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts c_i: (owner i of each of the Σc items, its rank 0..c_i-1 within i)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, rank


def _index_estimate(value: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """About the first index k with grid[k] >= value, for a sorted, nearly evenly spaced *grid*
    (floor(i·d)): exact or one off for d >= 1 (callers check it and correct)."""
    step = (grid[-1] - grid[0]) / (len(grid) - 1) if len(grid) > 1 else 1.0
    with np.errstate(all="ignore"):
        scaled = np.ceil((value - grid[0]) / (step or 1.0))
    index: np.ndarray = np.nan_to_num(np.clip(scaled, -1, len(grid) + 1), nan=len(grid) + 1).astype(np.int64)
    return index


#: test(pairs, positions): the predicate of the pairs *pairs* (None: all of them) at *positions*
Test = Callable[[np.ndarray | None, np.ndarray], np.ndarray]


def _bisect(lo: np.ndarray, hi: np.ndarray, test: Test) -> np.ndarray:
    """Per pair i, the first position p in [lo_i, hi_i] where ``test(i, p)`` holds; *test* is
    monotone in p (False ... False True ... True) and taken to hold at hi_i."""
    left, right = lo.copy(), hi.copy()
    which = np.arange(len(lo))
    while True:
        active = which[left < right]
        if not len(active):
            return left
        mid = (left[active] + right[active]) // 2
        ok = test(active, mid)
        right[active[ok]] = mid[ok]
        left[active[~ok]] = mid[~ok] + 1


def _settle(guess: np.ndarray, lo: np.ndarray, hi: np.ndarray, test: Test) -> np.ndarray:
    """:func:`_bisect`'s answer, starting from an estimate: the exact predicate is checked on both
    sides of *guess* (moving it a step where rounding put it off by one); a binary search settles
    whatever is still not confirmed."""
    pos: np.ndarray = np.clip(guess, lo, hi)
    # First round on every pair at once (no gathers); evaluation points are kept inside [lo, hi-1]
    # or [lo, hi] so they index real rows and columns, and masked where they do not apply.
    holds = (pos >= hi) | test(None, np.minimum(pos, hi - 1))
    before = (pos > lo) & test(None, np.maximum(pos - 1, lo))
    todo = np.flatnonzero(before | ~holds)
    pos = np.where(before, pos - 1, np.where(holds, pos, pos + 1))
    for _round in range(2):
        if not len(todo):
            return pos
        at, low, high = pos[todo], lo[todo], hi[todo]
        holds = at >= high
        check = np.flatnonzero(~holds)
        holds[check] = test(todo[check], at[check])
        before = np.zeros(len(todo), dtype=bool)
        check = np.flatnonzero(at > low)
        before[check] = test(todo[check], at[check] - 1)
        pos[todo] = np.where(before, at - 1, np.where(holds, at, at + 1))
        todo = todo[before | ~holds]
    if len(todo):
        pos[todo] = _bisect(lo[todo], hi[todo], lambda i, p: test(todo if i is None else todo[i], p))
    return pos


class RingRaster:
    """One ring swept over the sampled rows: the inside mask of its strict bounding box, row by row.

    *x0*, *y0*, *y1*, *dx* = fl(x1 - x0), *dyp* = fl(y0 - y1) are the ring's float32 edges and
    *bbox* (min x, min y, max x, max y) its bounding box as ASAP computes it. ``rows()`` hands out
    consecutive rows of the window ``[r_lo, r_hi) × [c_lo, c_hi)`` (indices into *ys* / *xs*).
    """

    def __init__(
        self,
        x0: np.ndarray,
        y0: np.ndarray,
        y1: np.ndarray,
        dx: np.ndarray,
        dyp: np.ndarray,
        bbox: tuple[float, float, float, float],
        xs: np.ndarray,
        ys: np.ndarray,
        int_limit: np.float32,
    ) -> None:
        self.c_lo, self.c_hi, self.r_lo, self.r_hi = self.window(bbox, xs, ys)
        self.ncols = max(0, self.c_hi - self.c_lo)
        self._next = 0  # next local row rows() hands out
        empty = np.zeros(0, np.int64)
        self._ja = self._jb = self._active = empty
        self._up = self._may_overflow = np.zeros(0, bool)
        self._started = 0
        if self.empty:
            return
        self._cols32 = xs[self.c_lo : self.c_hi].astype(np.float32)
        self._cols64 = self._cols32.astype(np.float64)
        row_y = ys[self.r_lo : self.r_hi]
        self._py32 = row_y.astype(np.float32)
        self._py64 = self._py32.astype(np.float64)
        up, down = y1 > y0, y1 < y0
        # Rows each edge counts on: upward y0 <= y < y1, downward y1 <= y < y0 (ASAP's tests).
        ja = np.searchsorted(row_y, np.where(up, y0, y1), "left")
        jb = np.searchsorted(row_y, np.where(up, y1, y0), "left")
        live = np.flatnonzero((up | down) & (jb > ja))
        live = live[np.argsort(ja[live], kind="stable")]  # the edge table, by first row
        self._x0, self._y0, self._dx, self._dyp = x0[live], y0[live], dx[live], dyp[live]
        self._ja, self._jb, self._up = ja[live], jb[live], up[live]
        self._int_limit = int_limit
        # Edges whose |isLeft| stays below the INT_MIN limit over the whole window (nearly all)
        # cannot trigger ASAP's overflow quirk: their limit steps are skipped. The bound allows for
        # the float32 roundings (a relative 2^-22 at most over its four operations).
        y_far = np.maximum(np.abs(self._y0 - self._py64[0]), np.abs(self._y0 - self._py64[-1]))
        x_far = np.maximum(np.abs(self._cols64[0] - self._x0), np.abs(self._cols64[-1] - self._x0))
        bound = (np.abs(self._dx.astype(np.float64)) * y_far + x_far * np.abs(self._dyp.astype(np.float64)))
        self._may_overflow = bound * (1 + 2.0**-20) >= min(float(int_limit), float(np.finfo(np.float32).max))

    @staticmethod
    def window(
        bbox: tuple[float, float, float, float], xs: np.ndarray, ys: np.ndarray
    ) -> tuple[int, int, int, int]:
        """(c_lo, c_hi, r_lo, r_hi): the columns and rows of the grid strictly inside *bbox*
        (ASAP: x > bbox.min && x < bbox.max)."""
        min_x, min_y, max_x, max_y = bbox
        return (
            int(np.searchsorted(xs, min_x, "right")), int(np.searchsorted(xs, max_x, "left")),
            int(np.searchsorted(ys, min_y, "right")), int(np.searchsorted(ys, max_y, "left")),
        )

    @property
    def empty(self) -> bool:
        """No sampled pixel lies strictly inside the bounding box."""
        return self.c_lo >= self.c_hi or self.r_lo >= self.r_hi

    # ----------------------------------------------------------------------------------------------
    # The exact predicate and the searches built on it

    def _first_col(
        self, edge: np.ndarray, row: np.ndarray, compare: Compare, threshold: np.float32
    ) -> np.ndarray:
        """Per (edge, row) pair, the first column where compare(isLeft, threshold) holds (ncols if none).

        ASAP's float32 ``isLeft`` (y down) is ``fl(a_b - fl(fl(px - x0) * dyp))`` with
        ``a_b = fl(dx * fl(y0 - py))`` fixed along the row. Estimate: the float64 root of
        ``isLeft = threshold``.
        """
        x0, dyp = self._x0[edge], self._dyp[edge]
        a_b = self._dx[edge] * (self._y0[edge] - self._py32[row])
        with np.errstate(all="ignore"):
            root = x0.astype(np.float64) + (a_b.astype(np.float64) - float(threshold)) / dyp
        guess = _index_estimate(root, self._cols64)
        cols32 = self._cols32

        def test(i: np.ndarray | None, col: np.ndarray) -> np.ndarray:
            if i is None:
                return compare(a_b - (cols32[col] - x0) * dyp, threshold)
            return compare(a_b[i] - (cols32[col] - x0[i]) * dyp[i], threshold)

        n = len(edge)
        return _settle(guess, np.zeros(n, np.int64), np.full(n, self.ncols, np.int64), test)

    def _first_row(
        self, edge: np.ndarray, col: np.ndarray, lo: np.ndarray, hi: np.ndarray,
        compare: Compare, threshold: np.float32, want: np.ndarray,
    ) -> np.ndarray:
        """Per pair, the first row r in [lo, hi] with compare(isLeft(col, r), threshold) == want,
        which is monotone in r and known to hold at hi. Estimate: the float64 root of
        ``isLeft = threshold`` in this column."""
        y0, dx = self._y0[edge], self._dx[edge]
        u = (self._cols32[col] - self._x0[edge]) * self._dyp[edge]  # fl(fl(px - x0) * dyp), fixed
        with np.errstate(all="ignore"):
            root = y0.astype(np.float64) - (float(threshold) + u.astype(np.float64)) / dx
        guess = _index_estimate(root, self._py64)
        py32 = self._py32

        def test(i: np.ndarray | None, row: np.ndarray) -> np.ndarray:
            if i is None:
                every: np.ndarray = compare(dx * (y0 - py32[row]) - u, threshold) == want
                return every
            some: np.ndarray = compare(dx[i] * (y0[i] - py32[row]) - u[i], threshold) == want[i]
            return some

        return _settle(guess, lo, hi, test)

    # ----------------------------------------------------------------------------------------------
    # Runs of g(row) = the first column where one predicate holds, for a set of edges

    def _steps(
        self,
        edges: np.ndarray,
        ja: np.ndarray,
        jb: np.ndarray,
        compare: Compare,
        threshold: np.float32,
        sign: int,
        add: Callable[[np.ndarray, np.ndarray, int], None],
    ) -> None:
        """Add the run corners of g(row) = first column with compare(isLeft, threshold) over rows
        [ja, jb) of each edge, with sign *sign*: +σ where a run starts, -σ on the row after it."""
        if not len(edges):
            return
        g_first = self._first_col(edges, ja, compare, threshold)
        g_last = self._first_col(edges, jb - 1, compare, threshold)
        spread = np.abs(g_last - g_first)  # column boundaries g crosses
        height = jb - ja  # rows the edge counts on
        per_row = (spread > 0) & (height <= spread)
        traced = ~per_row
        # Edges with g constant (spread 0: one run) and steep edges (few boundaries for their rows).
        i = np.flatnonzero(traced)
        add(ja[i], g_first[i], sign)
        add(jb[i], g_last[i], -sign)

        # Shallow edges (few rows for their columns): g on every row, a corner pair where it moves.
        i = np.flatnonzero(per_row)
        for part in _chunks(height[i]):
            sub = i[part]
            owner, rank = _expand(height[sub])
            row = ja[sub][owner] + rank
            g = self._first_col(edges[sub][owner], row, compare, threshold)
            first = rank == 0
            moves = np.flatnonzero(~first & (g != np.roll(g, 1)))
            add(row[first], g[first], sign)
            add(row[moves], g[moves - 1], -sign)
            add(row[moves], g[moves], sign)
            last = np.flatnonzero(np.roll(first, -1))
            add(row[last] + 1, g[last], -sign)

        # Steep edges: the row where g passes each column boundary between g_first and g_last.
        i = np.flatnonzero(traced & (spread > 0))
        for part in _chunks(spread[i]):
            sub = i[part]
            owner, rank = _expand(spread[sub])
            rising = (g_last[sub] > g_first[sub])[owner]
            start = g_first[sub][owner]
            value = np.where(rising, start + 1 + rank, start - 1 - rank)  # the value g takes next
            # Rising: g(r) >= v from the first row where column v-1 fails; falling: g(r) <= v from
            # the first row where column v holds. Row ja is known not to, row jb-1 known to.
            probe = np.where(rising, value - 1, value)
            row = self._first_row(
                edges[sub][owner], probe, ja[sub][owner] + 1, jb[sub][owner] - 1,
                compare, threshold, ~rising,
            )
            add(row, np.where(rising, value - 1, value + 1), -sign)
            add(row, value, sign)

    # ----------------------------------------------------------------------------------------------
    # The sweep

    def rows(self, count: int) -> np.ndarray:
        """Inside mask (count, ncols) of the next *count* rows of the window."""
        first, stop = self._next, self._next + count
        self._next = stop
        if self.empty:
            return np.zeros((count, self.ncols), dtype=bool)
        width = self.ncols + 1
        diff = np.zeros(count * width, dtype=np.int32)
        # Edges meeting rows [first, stop): those still running, plus those starting here.
        begun = int(np.searchsorted(self._ja, stop, "left"))
        running = self._active[self._jb[self._active] > first]
        self._active = np.concatenate([running, np.arange(self._started, begun)])
        self._started = begun
        edges = self._active
        lo = np.maximum(self._ja[edges], first)
        hi = np.minimum(self._jb[edges], stop)

        def add(row: np.ndarray, col: np.ndarray, sign: int) -> None:
            # a step on the last boundary changes no pixel; a run end below the chunk is not in it
            keep = np.flatnonzero((col < self.ncols) & (row < stop))
            np.add.at(diff, (row[keep] - first) * width + col[keep], np.full(len(keep), sign, np.int32))

        is_up, wraps = self._up[edges], self._may_overflow[edges]
        iu, iw = np.flatnonzero(is_up), np.flatnonzero(is_up & wraps)
        # Upward: +1 on [first isLeft >= 1, first isLeft >= 2^31); isLeft grows with x.
        self._steps(edges[iu], lo[iu], hi[iu], operator.ge, _ONE, +1, add)
        self._steps(edges[iw], lo[iw], hi[iw], operator.ge, self._int_limit, -1, add)
        # Downward: -1 on [0, first isLeft < 2^31) and on [first isLeft <= -1, end); isLeft falls.
        # Without overflow the first interval is empty.
        idn, iw = np.flatnonzero(~is_up), np.flatnonzero(~is_up & wraps)
        add(lo[iw], np.zeros(len(iw), np.int64), -1)
        add(hi[iw], np.zeros(len(iw), np.int64), +1)
        self._steps(edges[iw], lo[iw], hi[iw], operator.lt, self._int_limit, +1, add)
        self._steps(edges[idn], lo[idn], hi[idn], operator.le, -_ONE, -1, add)
        steps = diff.reshape(count, width)
        np.cumsum(steps, axis=0, out=steps)
        inside: np.ndarray = np.cumsum(steps[:, : self.ncols], axis=1, dtype=np.int32) != 0
        return inside
