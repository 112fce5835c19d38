"""Level of detail for viewport queries: what a set's annotations look like at one zoom, as the
JSON text of GeoJSON Features (slide space), cached. No Flask here.

A viewport query names a tolerance in slide px (about one screen pixel at the zoom). At a coarse
zoom most vertices of a traced outline fall within a screen pixel of their neighbours: they are
decimated first (cheap), then outlines are simplified by Douglas-Peucker at that tolerance
(``geometry.simplify``: plain, topology-preserving only for small outlines). Tolerances are
rounded down to powers of two so nearby zooms share results.

A display tile may ask for big outlines *clipped* to its box (``clip_box``): an outline of more than
:data:`CLIP_MIN_VERTICES` vertices that the box does not hold whole is cut to it
(Sutherland-Hodgman), so a 120,000-vertex region seen at 40x costs the browser only the part in the
tile (drawn whole in every tile, its long slivers took software WebGL seconds a frame). A clipped
Feature carries the whole annotation's measures in ``properties.whole`` (``bbox``, ASAP ``area``,
``points``): the viewer lists, hit-tests and flies to the annotation, not to the piece.

A display tile's joined Feature texts are also kept on disk (:func:`display_tile_key`, stored by the
web layer in ``DATA_DIR/cache/display``), shared by every worker process: each worker's memory cache
below is its own, and a second visitor whose requests reach the other worker found a cold one
(the 10^6-vertex set's whole-slide tile took ~1.5 s to simplify and encode, quiet machine; the
file ~5 ms).

Encoded features are cached by (store, group colours, annotation id, version, tolerance, clip box) in one
:class:`viewer.lru.LRU` bounded by bytes, so panning a 10^6-vertex set costs an index scan and a
join of cached strings. Concurrent requests for one view encode each feature once: a request
*claims* the features nobody has cached or is encoding, and waits for those another request has
claimed (:class:`FeatureCache`).
"""

from __future__ import annotations

import json
import math
import operator
import threading
from collections.abc import Callable, Sequence
from itertools import compress
from typing import Any

from viewer.annotations.model import Annotation, Group
from viewer.lru import LRU

SIMPLIFY_TYPES = frozenset({"Polygon", "Spline"})  # outlines: Douglas-Peucker
DECIMATE_TYPES = SIMPLIFY_TYPES | {"PointSet"}  # points closer than a screen pixel merge
_MIN_VERTICES = 8  # shapes this small are sent as they are
#: Outlines with more vertices than this are clipped to a display tile's box (smaller ones are sent
#: whole: their few long edges cost the renderer nothing).
CLIP_MIN_VERTICES = 256
CLIP_TYPES = frozenset({"Polygon"})  # a Spline's control points cannot be cut; lines are thin
_NOTHING = " "  # the cached text of a clipped feature with nothing in the box (not valid JSON)
#: Longest a request waits for a feature another request is encoding, seconds.
WAIT_FOR_OTHERS_S = 60.0

#: Slide px x0, y0, x1, y1.
Box = tuple[float, float, float, float]
#: (store identity, group colours, annotation id, annotation version, tolerance in slide px, clip box)
FeatureKey = tuple[int, int, int, int, float, Box | None]
#: Yields (version, annotation) of stored annotations by id (those deleted since are absent).
FetchAnnotations = Callable[[list[int]], dict[int, tuple[int, Annotation]]]


#: Bound of the on-disk cache of display tiles (bytes).
DISPLAY_DISK_CACHE_BYTES = 256 << 20


def display_tile_key(
    store_identity: str, set_id: int, created_at: str, version: int, groups: list[Group],
    bbox: Box, tolerance: float, clip: bool,
) -> str:
    """The hex key of a display tile's features on disk: the store (e.g. its database URL), the set
    (id, creation time: a store re-created with the same ids misses), its version (any change of
    its annotations or groups makes a new one), the group colours, the box, tolerance and clip."""
    import hashlib

    colours = [(g.name, g.color) for g in groups]
    text = json.dumps([store_identity, set_id, created_at, version, colours, list(bbox), tolerance, clip])
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def zoom_tolerance(px: float) -> float:
    """A requested tolerance in slide px rounded down to a power of two (below 0.5: 0, exact)."""
    if px < 0.5:
        return 0.0
    return float(2 ** math.floor(math.log2(px)))


def decimate(coords: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """Drop vertices closer than *step* (slide px) to the last one kept; keep at least 3.

    A cheap first pass before Douglas-Peucker, whose cost grows with the input vertices.
    """
    out = [coords[0]]
    lx, ly = coords[0]
    limit = step * step
    for x, y in coords[1:]:
        if (x - lx) ** 2 + (y - ly) ** 2 >= limit:
            out.append((x, y))
            lx, ly = x, y
    if len(out) < 3:
        n = len(coords)
        out = [coords[0], coords[n // 3], coords[2 * n // 3]]
    return out


def feature(obj_id: int, version: int, a: Annotation, groups: list[Group] | None = None) -> dict[str, Any]:
    """One annotation as the API's GeoJSON Feature (slide space) with its id and its own version;
    *groups* give the class colours."""
    from viewer.annotations.geojson import annotation_to_feature

    found = annotation_to_feature(a, groups)
    found["id"] = obj_id
    found.setdefault("properties", {})
    found["properties"]["version"] = version
    return found


def encode_feature(
    obj_id: int, version: int, a: Annotation, tolerance: float, groups: list[Group],
    clip_box: Box | None = None,
) -> str | None:
    """One Feature as JSON text, simplified to *tolerance* slide px (0: exact) for display, a big
    outline cut to *clip_box* (None: whole; the result is None when nothing of it is in the box).
    *a*'s coordinates are replaced (callers pass an annotation read for this purpose)."""
    whole: dict[str, Any] | None = None
    if clip_box is not None and a.type in CLIP_TYPES and len(a.coordinates) > CLIP_MIN_VERTICES:
        from viewer.annotations.geometry import asap_area, bounding_box

        bbox = bounding_box(a.coordinates)
        if not (bbox[0] >= clip_box[0] and bbox[1] >= clip_box[1] and bbox[2] <= clip_box[2]
                and bbox[3] <= clip_box[3]):
            whole = {"bbox": list(bbox), "area": asap_area(a.coordinates), "points": len(a.coordinates)}
    if tolerance > 0 and a.type in DECIMATE_TYPES and len(a.coordinates) > _MIN_VERTICES:
        a.coordinates = decimate(a.coordinates, tolerance / 2)
        if a.type in SIMPLIFY_TYPES and len(a.coordinates) > _MIN_VERTICES:
            from viewer.annotations.geometry import simplify

            a.coordinates = simplify(a.coordinates, tolerance, closed=True)
    found = feature(obj_id, version, a, groups)
    if whole is not None and clip_box is not None:
        geometry = _clipped_geometry(a.coordinates, clip_box)
        if geometry is not None:
            if not geometry["coordinates"]:
                return None
            found["geometry"] = geometry
            found["properties"]["whole"] = whole
    return json.dumps(found, separators=(",", ":"), allow_nan=False)


def _clipped_geometry(coords: list[tuple[float, float]], box: Box) -> dict[str, Any] | None:
    """An outline cut to *box* as a GeoJSON Polygon (no coordinates: nothing of it in the box).

    Sutherland-Hodgman, vectorised: one ring, the vertices inside unchanged (exact), the pieces of a
    concave outline joined by zero-width runs along the box's sides. Those runs lie on the query
    box, i.e. in the tile's margin, where the renderer draws nothing of this tile; the fill and
    point-in-polygon tests (even-odd) are unchanged by them. shapely's ``clip_by_rect`` builds
    proper pieces but took minutes on a 120,000-vertex star."""
    import numpy as np

    pts = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    sides = ((0, box[0], True), (0, box[2], False), (1, box[1], True), (1, box[3], False))
    for axis, bound, keep_above in sides:
        if len(pts) < 3:
            break
        following = np.roll(pts, -1, axis=0)
        inside = pts[:, axis] >= bound if keep_above else pts[:, axis] <= bound
        next_inside = np.roll(inside, -1)
        crossing = inside != next_inside
        delta = following[:, axis] - pts[:, axis]
        t = np.divide(bound - pts[:, axis], delta, out=np.zeros(len(pts)), where=crossing & (delta != 0))
        at_side = pts + t[:, None] * (following - pts)
        at_side[:, axis] = bound
        # per edge: in->in gives its end, in->out the crossing, out->in the crossing then the end
        first = np.where(crossing[:, None], at_side, following)
        candidates = np.stack([first, following], axis=1)
        keep = np.stack([inside | next_inside, ~inside & next_inside], axis=1)
        pts = candidates[keep]
    if len(pts) < 3:
        return {"type": "Polygon", "coordinates": []}
    x, y = pts[:, 0], pts[:, 1]
    if abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))) < 1e-9:
        return {"type": "Polygon", "coordinates": []}  # only runs along the box's sides
    ring = pts.tolist()
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


class FeatureCache:
    """Encoded features by :data:`FeatureKey`, with a claim so one view is encoded once.

    :meth:`claim` returns what is cached, the keys the caller must now encode, and the keys another
    caller is encoding (wait on their events, then :meth:`get_many`); :meth:`release` stores what
    the caller encoded (None: it failed) and wakes whoever waits.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.texts: LRU[FeatureKey, str] = LRU(max_bytes, weigh=len)
        self._pending: dict[FeatureKey, threading.Event] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: list[FeatureKey]) -> list[str | None]:
        """The cached texts of *keys* (None where absent)."""
        return self.texts.get_many(keys)

    def claim(
        self, keys: list[FeatureKey]
    ) -> tuple[list[str | None], list[int], list[tuple[int, threading.Event]]]:
        """Cached texts of *keys* (None where absent), the indices this caller must encode (claimed
        now), and (index, event) for those another caller is encoding."""
        out = self.texts.get_many(keys)
        mine: list[int] = []
        theirs: list[tuple[int, threading.Event]] = []
        with self._lock:
            # Only the misses take a Python loop (a zoomed-out view is thousands of cached features).
            for index in compress(range(len(out)), map(operator.not_, out)):
                key = keys[index]
                event = self._pending.get(key)
                if event is not None:
                    theirs.append((index, event))
                else:
                    self._pending[key] = threading.Event()
                    mine.append(index)
        return out, mine, theirs

    def release(self, keys: list[FeatureKey], texts: list[str | None]) -> None:
        """Store what was encoded for claimed *keys* (None: failed) and wake whoever waits."""
        for key, text in zip(keys, texts, strict=True):
            if text is not None:
                self.texts.put(key, text)
        with self._lock:
            for key in keys:
                event = self._pending.pop(key, None)
                if event is not None:
                    event.set()

    def clear(self) -> None:
        """Forget every cached text (claims in progress are kept)."""
        self.texts.clear()


def display_features(
    cache: FeatureCache,
    store_key: int,
    groups: list[Group],
    rows: Sequence[tuple[int, int, Annotation | None]],
    tolerance: float,
    fetch: FetchAnnotations,
    clip_box: Box | None = None,
) -> list[str]:
    """The Feature texts of *rows* (annotation id, version, the annotation or None when only the
    index was read) at *tolerance* slide px, big outlines cut to *clip_box* (None: whole), in
    order; annotations deleted since, and clipped ones with nothing in the box, are left out.

    Only annotations nobody has cached or is encoding are read (``fetch``), parsed and simplified:
    panning re-uses the rest, and concurrent requests for one view encode each feature once.
    """
    # Features carry their class colour: a cached feature is valid for these groups only.
    colours = hash(tuple((g.name, g.color) for g in groups))
    keys: list[FeatureKey] = [(store_key, colours, obj_id, v, tolerance, clip_box) for obj_id, v, _a in rows]
    # _NOTHING marks a feature with nothing in the box (cached like the others, dropped below)
    parts, mine, theirs = cache.claim(keys)
    try:
        wanted = [rows[i][0] for i in mine if rows[i][2] is None]
        fetched = fetch(wanted) if wanted else {}
        for index in mine:
            obj_id, version, a = rows[index]
            if a is None:
                if obj_id not in fetched:
                    continue  # deleted since the query
                version, a = fetched[obj_id]
            parts[index] = encode_feature(obj_id, version, a, tolerance, groups, clip_box) or _NOTHING
    finally:
        cache.release([keys[i] for i in mine], [parts[i] for i in mine])
    for index, event in theirs:
        event.wait(WAIT_FOR_OTHERS_S)
        parts[index] = cache.get_many([keys[index]])[0]
        if parts[index] is None:  # the other request failed: do it here
            obj_id, version, a = rows[index]
            if a is None:
                found = fetch([obj_id]).get(obj_id)
                if found is None:
                    continue
                version, a = found
            parts[index] = encode_feature(obj_id, version, a, tolerance, groups, clip_box) or _NOTHING
    return [p for p in parts if p and p != _NOTHING]
