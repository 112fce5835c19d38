"""Viewport queries: the annotations of a set whose bounding box meets a box in slide space, in set
order, from the database's covering index or from an in-memory index of the set's version.

A zoomed-out view meets thousands of annotations; the database's range scan, sort and one row object
per result cost several ms, an in-memory index one vectorised comparison. An index is built on the
second query of a version (a version being edited may never get one), for sets of at most
:data:`VIEWPORT_INDEX_MAX` annotations, and kept for the sets people are looking at now (an LRU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.lru import LRU
from viewer.store.records import SetInfo
from viewer.store.schema import annotations_t, sets

#: Sets up to this many annotations get an in-memory viewport index per version.
VIEWPORT_INDEX_MAX = 200_000
#: Sets whose index (or first query of a version) is kept.
INDEXED_SETS = 64

_a = annotations_t.c
# Sorted by the database (C, from the covering index's columns), fetched in one call: per-row
# Python work was most of the cost of a zoomed-out view of thousands of annotations.
_IN_BOX = (
    sa.select(_a.id, _a.version)
    .where(
        _a.set_id == sa.bindparam("b_set"),
        _a.min_x <= sa.bindparam("b_x1"),
        _a.max_x >= sa.bindparam("b_x0"),
        _a.min_y <= sa.bindparam("b_y1"),
        _a.max_y >= sa.bindparam("b_y0"),
    )
    .order_by(_a.position, _a.id)
)
# The set's version is read by the same statement as the rows: one snapshot, on PostgreSQL too.
_ALL_BOXES = (
    sa.select(
        _a.id,
        _a.version,
        _a.min_x,
        _a.max_x,
        _a.min_y,
        _a.max_y,
        sa.select(sets.c.version)
        .where(sets.c.id == sa.bindparam("b_set"))
        .scalar_subquery()
        .label("set_version"),
    )
    .where(_a.set_id == sa.bindparam("b_set"))
    .order_by(_a.position, _a.id)
)


class ViewportIndex:
    """One version of a set's annotation bounding boxes, in set order."""

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.versions = np.array([r[1] for r in rows], dtype=np.int64)
        boxes = np.array([r[2:6] for r in rows], dtype=np.float64).reshape(len(rows), 4)
        # NULL bounds (no coordinates) become nan, which no comparison meets: as in SQL.
        self.min_x, self.max_x, self.min_y, self.max_y = boxes.T

    def query(self, box: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        """(id, version) of the annotations meeting *box* (x0, y0, x1, y1), in set order."""
        x0, y0, x1, y1 = box
        hit = np.flatnonzero(
            (self.min_x <= x1) & (self.max_x >= x0) & (self.min_y <= y1) & (self.max_y >= y0)
        )
        return list(zip(self.ids[hit].tolist(), self.versions[hit].tolist(), strict=True))


class ViewportIndexes:
    """The in-memory indexes of one store: set id -> (version, its index, or None when that
    version was queried once)."""

    def __init__(self, max_sets: int = INDEXED_SETS) -> None:
        self.cache: LRU[int, tuple[int, ViewportIndex | None]] = LRU(max_sets)

    def query(
        self, conn: Connection, info: SetInfo, box: tuple[float, float, float, float]
    ) -> Sequence[Sequence[int]]:
        """(id, version) of the annotations of the set meeting *box*, in set order, read in the
        caller's transaction (*info* from the same snapshot)."""
        index = self._index(conn, info)
        if index is not None:
            return index.query(box)
        x0, y0, x1, y1 = box
        params = {"b_set": info.id, "b_x0": x0, "b_y0": y0, "b_x1": x1, "b_y1": y1}
        return conn.execute(_IN_BOX, params).all()  # rows unpack as (id, version) tuples

    def _index(self, conn: Connection, info: SetInfo) -> ViewportIndex | None:
        """This version of the set's bounding boxes in memory, or None: the database answers."""
        if info.annotation_count > VIEWPORT_INDEX_MAX:
            return None
        seen = self.cache.get(info.id)
        if seen is None or seen[0] != info.version:
            self.cache.put(info.id, (info.version, None))  # first query of this version
            return None
        if seen[1] is not None:
            return seen[1]
        rows = conn.execute(_ALL_BOXES, {"b_set": info.id}).all()
        built_at = rows[0].set_version if rows else info.version
        index = ViewportIndex(rows)
        self.cache.put(info.id, (built_at, index))
        return index if built_at == info.version else None
