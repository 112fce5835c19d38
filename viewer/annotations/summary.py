"""The summary of an annotation set for the viewer's layers panel: one small record per annotation
(name, type, group, comment, bounding box, ASAP's area, measurement length, longest diameter and
CAMELYON category), every number computed by :mod:`viewer.annotations.geometry` exactly as
``wsi-viewer info`` computes it. No Flask here.

The panel lists every annotation of a set, not only those of the tiles the layer has loaded, so
it asks for this once per set version. Records are cached per (store, annotation id, annotation
version, pixel size) in one :class:`viewer.lru.LRU`: after one edit of a 10^6-vertex set only the
edited annotation is measured again; the encoded answer of a whole (set, version) is cached too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from viewer.annotations import geometry, measures
from viewer.annotations.model import Annotation
from viewer.lru import LRU

#: (store identity, set id, annotation id, annotation version, (mpp_x, mpp_y) or None)
RecordKey = tuple[int, int, int, int, tuple[float, float] | None]
#: (store identity, set id, set version, (mpp_x, mpp_y) or None)
SetKey = tuple[int, int, int, tuple[float, float] | None]


@dataclass(frozen=True)
class Outlines:
    """Annotations read to be measured, without :class:`Annotation` objects: the id, version and
    fields but the points (``name``, ``type``, ``group``, ``color``, ``comment``) of each, and every
    point in one (N, 2) float64 array with the (n + 1,) offsets of each one's points (the layout of
    :mod:`viewer.annotations.measures`; the store's ``annotation_outlines`` decodes documents so)."""

    ids: Sequence[int]
    versions: Sequence[int]
    heads: Sequence[Mapping[str, Any]]
    points: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[tuple[int, int, Annotation]]) -> Outlines:
        """The outlines of (annotation id, annotation version, annotation) rows."""
        arrays = [np.asarray(a.coordinates, dtype=np.float64).reshape(-1, 2) for _i, _v, a in rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in arrays], out=offsets[1:])
        heads = [
            {"name": a.name, "type": a.type, "group": a.group, "color": a.color, "comment": a.comment}
            for _i, _v, a in rows
        ]
        points = np.concatenate(arrays) if arrays else np.zeros((0, 2))
        return cls([i for i, _v, _a in rows], [v for _i, v, _a in rows], heads, points, offsets)


def annotation_summaries(
    rows: Sequence[tuple[int, int, Annotation]], mpp: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """The records of (annotation id, annotation version, annotation) rows, in order (see
    :func:`summarise`)."""
    return summarise(Outlines.of(rows), mpp)


def summarise(
    outlines: Outlines,
    mpp: tuple[float, float] | None,
    diameters: Callable[[], list[float | None]] | None = None,
) -> list[dict[str, Any]]:
    """The records of *outlines*, in order, every number equal to its reference function's.

    ``area_px2``/``area_um2``: ASAP's area (as :func:`geometry.asap_area`), for area types only;
    ``length_px``/``length_um``: a Measurement's first-to-last distance (x spacing, as ASAP);
    ``max_diameter_um`` (:func:`geometry.longest_diameter`) and ``camelyon``
    (``itc``/``micro``/``macro``) for the annotations ``wsi-viewer info`` counts as tumour
    (:func:`geometry.tumour_annotations`' rule), when the pixel size *mpp* (µm per slide px, x and
    y) is known. The measures run over all annotations at once (:mod:`viewer.annotations.measures`).
    *diameters*: what :func:`diameters_later` of these outlines returned, if called.
    """
    points, offsets, heads = outlines.points, outlines.offsets, outlines.heads
    sizes = measures.sizes_of(offsets)
    is_area = _area_types(heads)
    areas = measures.asap_areas(points, offsets).tolist()
    boxes = measures.bounding_boxes(points, offsets).tolist()
    tumour = diameters() if diameters is not None else diameters_later(outlines, mpp, later=False)()
    um2_per_px2 = mpp[0] * mpp[1] if mpp else None
    records = []
    rows = zip(outlines.ids, outlines.versions, heads, strict=True)
    for k, (annotation_id, version, head) in enumerate(rows):
        area_px2 = areas[k] if is_area[k] else None
        length_px = length_um = None
        if head["type"] == "Measurement":
            length_px = geometry.measurement_length(points[offsets[k] : offsets[k + 1]])
            length_um = length_px * mpp[0] if mpp else None
        diameter = tumour[k]
        records.append({
            "id": annotation_id,
            "version": version,
            "name": head["name"],
            "type": head["type"],
            "group": head["group"],
            "color": head["color"],
            "comment": head["comment"] or None,
            "points": int(sizes[k]),
            "bbox": boxes[k],
            "area_px2": area_px2,
            "area_um2": area_px2 * um2_per_px2 if area_px2 is not None and um2_per_px2 is not None else None,
            "length_px": length_px,
            "length_um": length_um,
            "max_diameter_um": diameter,
            "camelyon": geometry.metastasis_category(diameter) if diameter is not None else None,
        })
    return records


def diameters_later(
    outlines: Outlines, mpp: tuple[float, float] | None, later: bool = True, parallel: bool = True
) -> Callable[[], list[float | None]]:
    """Starts measuring the longest diameters (µm) of the tumour annotations of *outlines* (None
    for the others, and for all without *mpp*): by the worker thread of
    :mod:`viewer.annotations.measures` if *later*, so that the caller can read the next documents
    meanwhile (parsing holds the GIL; GEOS and numpy mostly do not), else now (with the worker's
    help if *parallel*); returns the wait for them."""
    heads, sizes = outlines.heads, measures.sizes_of(outlines.offsets)
    out: list[float | None] = [None] * len(heads)
    if not mpp:
        return lambda: out
    outside = np.fromiter(
        (h["group"] not in geometry.NON_TUMOUR_GROUPS for h in heads), dtype=bool, count=len(heads)
    )
    tumour = np.flatnonzero(_area_types(heads) & (sizes >= 2) & outside)
    if not len(tumour):
        return lambda: out
    chosen, chosen_offsets = measures.subset(outlines.points, outlines.offsets, tumour)
    future = measures.longest_diameters_later(chosen, chosen_offsets, mpp) if later else None
    values = None if future else measures.longest_diameters(chosen, chosen_offsets, mpp, parallel)

    def wait() -> list[float | None]:
        measured = future.result() if future else values
        assert measured is not None
        for k, diameter in zip(tumour.tolist(), measured.tolist(), strict=True):
            out[k] = diameter
        return out

    return wait


def _area_types(heads: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Whether each annotation's type is an area type."""
    return np.fromiter((h["type"] in geometry.AREA_TYPES for h in heads), dtype=bool, count=len(heads))


def encode_body(body: Mapping[str, Any]) -> bytes:
    """A summary answer as compact UTF-8 JSON: orjson, ~6x the stdlib's speed on 5,000 records
    (the same numbers: both write the shortest text that reads back as the float; a non-finite
    number, which the stdlib would write as invalid JSON, is null)."""
    return orjson.dumps(body)


#: Missing records of at least this many annotations are read and measured in two halves.
PIPELINE_MIN_ANNOTATIONS = 1000


class SummaryCache:
    """Encoded set summaries by set version, built from per-annotation records cached by version."""

    def __init__(self, max_bytes: int = 64 << 20, max_records: int = 2_000_000) -> None:
        self._records: LRU[RecordKey, dict[str, Any]] = LRU(max_records)
        self._sets: LRU[SetKey, bytes] = LRU(max_bytes, weigh=len)

    def cached(self, key: SetKey) -> bytes | None:
        """The encoded summary of a (store, set, version, mpp), if made before."""
        return self._sets.get(key)

    def encode(
        self,
        key: SetKey,
        head: dict[str, Any],
        listing: Sequence[Sequence[int]],
        fetch: Callable[[list[int]], Outlines],
    ) -> bytes:
        """``{**head, "annotations": [records in set order]}`` as JSON bytes, cached under *key*.

        *listing* is (annotation id, annotation version) of the set at the key's version, in set
        order; *fetch* reads the annotations whose records are not cached, those still in the set
        (one changed since is measured at the version it has now, and that record is still right
        for the id and version it names).
        """
        # an (id, version) names one annotation for good: the store never hands an id out twice
        # (AUTOINCREMENT on SQLite since revision 0008, issue 12; before it a deleted annotation's
        # id, at version 1 again, came back for the next one drawn). The set in the key is belt and
        # braces: ids are unique across sets and an annotation never moves, so the id would do.
        store_id, set_id, _version, mpp = key
        rkeys: list[RecordKey] = [(store_id, set_id, int(i), int(v), mpp) for i, v in listing]
        found = self._records.get_many(rkeys)
        missing = [k[2] for k, r in zip(rkeys, found, strict=True) if r is None]
        if missing:
            # in two halves when many: the first's diameters measured by a worker thread while
            # the second's documents are read and decoded
            cut = len(missing) // 2 if len(missing) >= PIPELINE_MIN_ANNOTATIONS else 0
            parts: list[tuple[Outlines, Callable[[], list[float | None]]]] = []
            for ids in ([missing[:cut]] if cut else []) + [missing[cut:]]:
                outlines = fetch(ids)
                first_of_two = cut > 0 and not parts
                parts.append((outlines, diameters_later(outlines, mpp, first_of_two, parallel=not cut)))
            measured = {}
            for record in (r for outlines, later in parts for r in summarise(outlines, mpp, later)):
                self._records.put((store_id, set_id, record["id"], record["version"], mpp), record)
                measured[record["id"]] = record
            found = [r if r is not None else measured.get(k[2]) for k, r in zip(rkeys, found, strict=True)]
        records = [r for r in found if r is not None]
        data = encode_body({**head, "annotations": records})
        self._sets.put(key, data)
        return data
