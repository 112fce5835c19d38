"""The model ↔ JSON codec: the documents the tables and the history store for annotations and
groups (byte-stable: a document written once compares equal to the same object written again)."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import orjson

from viewer.annotations.model import Annotation, Group

#: An annotation's bounding box in slide space (min_x, min_y, max_x, max_y); all None without points.
BBox = tuple[float, float, float, float] | tuple[None, None, None, None]


def annotation_doc(a: Annotation) -> str:
    """The JSON text stored for an annotation (coordinates as floats, so 1 and 1.0 compare equal)."""
    doc: dict[str, Any] = {
        "name": a.name,
        "type": a.type,
        "group": a.group,
        "color": a.color,
        "coordinates": [[float(x), float(y)] for x, y in a.coordinates],
    }
    if a.comment:  # absent when empty: documents stored before comments existed stay byte-identical
        doc["comment"] = a.comment
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


def group_doc(g: Group) -> str:
    """The JSON text stored for a group."""
    return json.dumps(
        {
            "name": g.name,
            "parent": g.parent,
            "color": g.color,
            "attributes": dict(sorted(g.attributes.items())),
        },
        separators=(",", ":"),
        allow_nan=False,
    )


def annotation_from_doc(text: str) -> Annotation:
    """Inverse of :func:`annotation_doc`."""
    d = json.loads(text)
    return Annotation(
        name=d["name"],
        type=d["type"],
        group=d["group"],
        color=d["color"],
        coordinates=[(x, y) for x, y in d["coordinates"]],
        comment=d.get("comment", ""),
    )


def annotation_outlines(docs: Sequence[str]) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Many annotation documents decoded at once for measuring (the set summary), without
    :class:`Annotation` objects: each one's fields but its points (``name``, ``type``, ``group``,
    ``color``, ``comment`` as :func:`annotation_from_doc` reads them), and every point of every
    document in one (N, 2) float64 array with the (n + 1,) int64 offsets of each document's points.

    The same numbers as :func:`annotation_from_doc` (both parsers round correctly), 3x faster:
    each document's point pairs become one flat list (:func:`_flat_points`), orjson parses the
    documents with the cyclic garbage collector paused (it would walk the growing heap of lists
    ~1,400 times for 10^6 points), and one C pass makes the array.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        parsed: list[dict[str, Any]] = [orjson.loads(_flat_points(doc)) for doc in docs]
        flat = [_flat(d["coordinates"]) for d in parsed]
        sizes = np.fromiter((len(c) for c in flat), dtype=np.int64, count=len(flat))
        if (sizes % 2).any():
            raise ValueError("an annotation document has a coordinate pair of other than 2 numbers")
        values = chain.from_iterable(flat)
        points = np.fromiter(values, dtype=np.float64, count=int(sizes.sum())).reshape(-1, 2)
        heads = [
            {"name": d["name"], "type": d["type"], "group": d["group"], "color": d["color"],
             "comment": d.get("comment", "")}
            for d in parsed
        ]
        del parsed, flat  # freed while the collector is paused: nothing to walk
    finally:
        if enabled:
            gc.enable()
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes // 2, out=offsets[1:])
    return heads, points, offsets


_POINTS_KEY = b'"coordinates":[['
_BRACKETS_TO_SPACES = bytes.maketrans(b"[]", b"  ")


def _flat_points(doc: str) -> bytes:
    """*doc* as UTF-8 with its coordinates ``[[x,y],[x,y]]`` written ``[ x,y , x,y ]``: one list of
    numbers instead of a list per point (half orjson's work). Only the coordinates change: the key
    with its quotes unescaped is never inside a JSON string, and the numbers hold no bracket, so
    the first ``]]`` after it ends them."""
    text = doc.encode()
    start = text.find(_POINTS_KEY)
    if start < 0:
        return text  # no points (or another writer's spacing: _flat reads nested pairs too)
    start += len(_POINTS_KEY) - 1
    end = text.find(b"]]", start) + 1
    return text[:start] + text[start:end].translate(_BRACKETS_TO_SPACES) + text[end:]


def _flat(coordinates: list[Any]) -> list[float]:
    """Flat numbers of a parsed coordinate list, flattened already or not."""
    if coordinates and isinstance(coordinates[0], list):
        return list(chain.from_iterable(coordinates))
    return coordinates


def group_from_doc(text: str) -> Group:
    """Inverse of :func:`group_doc`."""
    return group_from_dict(json.loads(text))


def group_from_dict(d: dict[str, Any]) -> Group:
    """A group from its parsed document."""
    return Group(name=d["name"], parent=d["parent"], color=d["color"], attributes=d["attributes"])


def doc_name(doc: str) -> str:
    """The ``name`` of an annotation or group document."""
    name: str = json.loads(doc)["name"]
    return name


def points_of(doc: str | None) -> int:
    """The number of vertices of an annotation document (0 for None)."""
    if doc is None:
        return 0
    return len(json.loads(doc)["coordinates"])


def bbox(a: Annotation) -> BBox:
    """The annotation's bounding box in slide space."""
    if not a.coordinates:
        return (None, None, None, None)
    xs = [p[0] for p in a.coordinates]
    ys = [p[1] for p in a.coordinates]
    return (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))
