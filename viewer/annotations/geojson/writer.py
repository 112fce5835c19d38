"""GeoJSON export: a FeatureCollection QuPath 0.4+ imports, lossless for us (``properties.asap`` and
``asapGroups``), or with QuPath's own numbers and ring orientation (*qupath*)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from viewer.annotations.geojson.qupath import (
    ASAP_PROPERTY,
    DESCRIPTION_KEY,
    GROUPS_MEMBER,
    Offset,
    Point,
    class_color,
    parse_color,
)
from viewer.annotations.model import DEFAULT_GROUP_COLOR, Annotation, AnnotationSet, Group


def _groups_by_name(groups: Mapping[str, Group] | Iterable[Group] | AnnotationSet | None) -> dict[str, Group]:
    if groups is None:
        return {}
    if isinstance(groups, AnnotationSet):
        groups = groups.groups
    if isinstance(groups, Mapping):
        return dict(groups)
    return {g.name: g for g in groups}


def _number(value: float, qupath: bool) -> float | int:
    if not qupath:
        return value
    # QuPath writes at most 2 decimals, no trailing zeros (GeneralTools.formatNumber).
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def _signed_area2(ring: list[Point]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))


def _geometry(a: Annotation, offset: Offset, qupath: bool) -> dict[str, Any]:
    ox, oy = offset
    pts = [[_number(x - ox, qupath), _number(y - oy, qupath)] for x, y in a.coordinates]
    n = len(pts)
    if a.type == "PointSet" or (a.type == "Dot" and n != 1):
        return {"type": "MultiPoint", "coordinates": pts}
    if n == 1:
        return {"type": "Point", "coordinates": pts[0]}
    if a.type == "Dot":
        return {"type": "MultiPoint", "coordinates": pts}
    if n == 2 or (a.type == "Measurement" and n > 2):
        return {"type": "LineString", "coordinates": pts}
    if n == 0:
        if a.type == "Measurement":
            return {"type": "LineString", "coordinates": []}
        return {"type": "Polygon", "coordinates": []}
    if qupath and _signed_area2([(float(p[0]), float(p[1])) for p in pts]) > 0:
        pts = pts[::-1]  # QuPath's shells have a negative shoelace sum (y down)
    return {"type": "Polygon", "coordinates": [pts + [pts[0]]]}


def annotation_to_feature(
    a: Annotation,
    groups: Mapping[str, Group] | Iterable[Group] | AnnotationSet | None = None,
    *,
    offset: Offset = (0.0, 0.0),
    qupath: bool = False,
    feature_id: str | None = None,
) -> dict[str, Any]:
    """One annotation as a GeoJSON Feature; coordinates are ``slide - offset``.

    *groups* supplies the class colour of ``a.group``. *qupath* rounds to QuPath's 2 decimals and
    orients shells as QuPath does (not lossless); otherwise coordinates are exact.
    """
    by_name = _groups_by_name(groups)
    properties: dict[str, Any] = {"objectType": "annotation", "name": a.name}
    rgb = parse_color(a.color)
    if rgb is not None:
        properties["color"] = list(rgb)
    if a.group is not None:
        group = by_name.get(a.group)
        properties["classification"] = {
            "name": a.group,
            "color": class_color(a.group, group.color if group else DEFAULT_GROUP_COLOR),
        }
    if a.comment:
        properties["metadata"] = {DESCRIPTION_KEY: a.comment}
    properties[ASAP_PROPERTY] = {"type": a.type, "group": a.group, "color": a.color}
    feature: dict[str, Any] = {"type": "Feature"}
    if feature_id is not None:
        feature["id"] = feature_id
    feature["geometry"] = _geometry(a, offset, qupath)
    feature["properties"] = properties
    return feature


def group_to_json(group: Group) -> dict[str, Any]:
    """One group as plain JSON (the items of ``asapGroups``)."""
    return {
        "name": group.name,
        "parent": group.parent,
        "color": group.color,
        "attributes": dict(group.attributes),
    }


def to_geojson(aset: AnnotationSet, *, offset: Offset = (0.0, 0.0), qupath: bool = False) -> dict[str, Any]:
    """A FeatureCollection of every annotation, in list order; coordinates are ``slide - offset``.

    Without *qupath* it round-trips losslessly through :func:`from_geojson`. With *qupath* the
    numbers and ring orientation follow QuPath's own export (QuPath imports both forms).
    """
    by_name = _groups_by_name(aset)
    features = [annotation_to_feature(a, by_name, offset=offset, qupath=qupath) for a in aset.annotations]
    return {
        "type": "FeatureCollection",
        "features": features,
        GROUPS_MEMBER: [group_to_json(g) for g in aset.groups],
    }


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON, no trailing newline (as QuPath writes); NaN is refused."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
