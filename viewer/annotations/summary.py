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

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from viewer.annotations import geometry
from viewer.annotations.geometry import asap_area_fast, longest_diameters_um
from viewer.annotations.model import Annotation
from viewer.lru import LRU

#: (store identity, annotation id, annotation version, (mpp_x, mpp_y) or None)
RecordKey = tuple[int, int, int, tuple[float, float] | None]
#: (store identity, set id, set version, (mpp_x, mpp_y) or None)
SetKey = tuple[int, int, int, tuple[float, float] | None]


def annotation_summaries(
    rows: Sequence[tuple[int, int, Annotation]], mpp: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """The records of (annotation id, annotation version, annotation) rows, in order.

    ``area_px2``/``area_um2``: ASAP's area (as :func:`geometry.asap_area`), for area types only;
    ``length_px``/``length_um``: a Measurement's first-to-last distance (x spacing, as ASAP);
    ``max_diameter_um`` and ``camelyon`` (``itc``/``micro``/``macro``) for the annotations
    ``wsi-viewer info`` counts as tumour (:func:`geometry.tumour_annotations`' rule), when the
    pixel size *mpp* (µm per slide px, x and y) is known.
    """
    records = []
    tumour: list[int] = []
    arrays: list[np.ndarray] = []
    for annotation_id, version, a in rows:
        coords = np.asarray(a.coordinates, dtype=np.float64).reshape(-1, 2)  # converted once
        arrays.append(coords)
        is_area = a.type in geometry.AREA_TYPES
        area_px2 = asap_area_fast(coords) if is_area else None
        length_px = geometry.measurement_length(coords) if a.type == "Measurement" else None
        length_um = geometry.measurement_length_um(coords, mpp[0]) if length_px is not None and mpp else None
        records.append({
            "id": annotation_id,
            "version": version,
            "name": a.name,
            "type": a.type,
            "group": a.group,
            "color": a.color,
            "comment": a.comment or None,
            "points": len(coords),
            "bbox": list(geometry.bounding_box(coords)),
            "area_px2": area_px2,
            "area_um2": area_px2 * (mpp[0] * mpp[1]) if area_px2 is not None and mpp else None,
            "length_px": length_px,
            "length_um": length_um,
            "max_diameter_um": None,
            "camelyon": None,
        })
        if is_area and len(coords) >= 2 and a.group not in geometry.NON_TUMOUR_GROUPS:
            tumour.append(len(records) - 1)
    if mpp and tumour:
        diameters = longest_diameters_um([arrays[i] for i in tumour], mpp)
        for i, diameter in zip(tumour, diameters, strict=True):
            records[i]["max_diameter_um"] = diameter
            records[i]["camelyon"] = geometry.metastasis_category(diameter)
    return records


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
        fetch: Callable[[list[int]], dict[int, tuple[int, Annotation]]],
    ) -> bytes:
        """``{**head, "annotations": [records in set order]}`` as JSON bytes, cached under *key*.

        *listing* is (annotation id, annotation version) of the set at the key's version, in set
        order; *fetch* reads the annotations whose records are not cached (id -> (version,
        annotation); one changed since is measured at the version it has now, and that record is
        still right for the id and version it names).
        """
        store_id, _set_id, _version, mpp = key
        rkeys: list[RecordKey] = [(store_id, int(i), int(v), mpp) for i, v in listing]
        found = self._records.get_many(rkeys)
        missing = [k[1] for k, r in zip(rkeys, found, strict=True) if r is None]
        if missing:
            fetched = fetch(missing)
            measured = {}
            for record in annotation_summaries([(i, *fetched[i]) for i in missing if i in fetched], mpp):
                self._records.put((store_id, record["id"], record["version"], mpp), record)
                measured[record["id"]] = record
            found = [r if r is not None else measured.get(k[1]) for k, r in zip(rkeys, found, strict=True)]
        records = [r for r in found if r is not None]
        body = json.dumps({**head, "annotations": records}, separators=(",", ":"), ensure_ascii=False)
        data = body.encode()
        self._sets.put(key, data)
        return data
