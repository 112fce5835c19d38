"""GeoJSON import: every QuPath generation's dialect (and our own lossless form) into the model, every
problem listed with its JSON path. The mapping is the package docstring's."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from viewer.annotations.geojson.loading import load
from viewer.annotations.geojson.qupath import (
    ASAP_PROPERTY,
    DESCRIPTION_KEY,
    GROUPS_MEMBER,
    HOLES_SUFFIX,
    Offset,
    Point,
    hex_color,
    packed_rgb,
)
from viewer.annotations.model import (
    ANNOTATION_TYPES,
    DEFAULT_ANNOTATION_COLOR,
    DEFAULT_GROUP_COLOR,
    FLOAT32_MAX,
    Annotation,
    AnnotationSet,
    Group,
)
from viewer.errors import AnnotationFormatError

_MAX_DEPTH = 64
_MAX_PROBLEMS = 50
#: QuPath 0.2 wrote the Java class name as ``Feature.id``.
_LEGACY_CLASS_NAMES = {
    "PathAnnotationObject": "annotation",
    "PathDetectionObject": "detection",
    "PathCellObject": "cell",
    "PathTileObject": "tile",
    "TMACoreObject": "tmaCore",
    "PathRootObject": "root",
}


class _Importer:
    """Collects annotations, groups and problems while walking a GeoJSON document."""

    def __init__(self, offset: Offset) -> None:
        self.offset = offset
        self.problems: list[str] = []
        self.annotations: list[Annotation] = []
        self.groups: dict[str, Group] = {}  # name -> the group it binds to (the last of that name)
        self.group_list: list[Group] = []  # every group in order, names shared or not (ASAP's list)
        self.objects = 0  # features (and bare geometries) seen, for default names

    def problem(self, where: str, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{where}: {text}")
        elif len(self.problems) == _MAX_PROBLEMS:
            self.problems.append("more problems not listed")

    # -- walking -------------------------------------------------------------------------------

    def walk(self, node: Any, where: str, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            self.problem(where, f"nested deeper than {_MAX_DEPTH} levels")
            return
        if isinstance(node, list):
            for index, item in enumerate(node):
                self.walk(item, f"{where}[{index}]", depth + 1)
            return
        if not isinstance(node, dict):
            return  # QuPath skips any other JSON value
        kind = node.get("type")
        if kind is not None and not isinstance(kind, str):
            self.problem(where, f"'type' must be a string, got {type(kind).__name__}")
            return
        if kind == "FeatureCollection":
            features = node.get("features")
            if not isinstance(features, list):
                self.problem(where, "FeatureCollection without a 'features' array")
                return
            for index, item in enumerate(features):
                self.walk(item, f"{where}.features[{index}]", depth + 1)
        elif kind == "Feature":
            self.feature(node, where)
        elif kind in _GEOMETRY_TYPES:
            self.add(self.pieces(node, where, 0), {}, where, None)  # a bare geometry: an annotation
        elif isinstance(kind, str) or "features" in node:
            self.problem(where, f"unsupported GeoJSON object type {kind!r}")

    def feature(self, feature: dict[str, Any], where: str) -> None:
        props = feature.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            self.problem(f"{where}.properties", "must be an object")
            return
        object_type = props.get("objectType", props.get("object_type", props.get("type")))
        if object_type is None and isinstance(feature.get("id"), str):
            object_type = _LEGACY_CLASS_NAMES.get(feature["id"])
        if object_type in ("root", "PathRootObject"):
            return
        geometry = feature.get("geometry")
        if geometry is None or geometry == {}:
            return  # QuPath writes {} for an object without a ROI; nothing to draw
        if not isinstance(geometry, dict):
            self.problem(f"{where}.geometry", "must be an object")
            return
        self.add(self.pieces(geometry, f"{where}.geometry", 0), props, where, feature)

    # -- geometry --------------------------------------------------------------------------------

    def position(self, value: Any, where: str) -> Point | None:
        if (
            not isinstance(value, list)
            or len(value) < 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value[:2])
        ):
            self.problem(where, f"a position must be [x, y] numbers, got {json.dumps(value)[:60]}")
            return None
        raw_x, raw_y = _as_float(value[0]), _as_float(value[1])
        x, y = raw_x + self.offset[0], raw_y + self.offset[1]
        if not (math.isfinite(x) and math.isfinite(y)) or max(abs(x), abs(y)) > FLOAT32_MAX:
            self.problem(where, f"coordinates must be finite numbers, got {[raw_x, raw_y]}")
            return None
        return (x, y)

    def positions(self, value: Any, where: str) -> list[Point] | None:
        if not isinstance(value, list):
            self.problem(where, "must be an array of positions")
            return None
        out = []
        ok = True
        for index, item in enumerate(value):
            point = self.position(item, f"{where}[{index}]")
            if point is None:
                ok = False
            else:
                out.append(point)
        return out if ok else None

    def pieces(self, geometry: dict[str, Any], where: str, depth: int) -> list[tuple[str, list[Point], bool]]:
        """(ASAP type, coordinates, is_hole) per part of a geometry; problems are recorded."""
        kind = geometry.get("type")
        if kind == "GeometryCollection":
            parts = geometry.get("geometries")
            if not isinstance(parts, list) or depth > _MAX_DEPTH:
                self.problem(where, "GeometryCollection needs a 'geometries' array")
                return []
            return [
                piece
                for index, part in enumerate(parts)
                if isinstance(part, dict)
                for piece in self.pieces(part, f"{where}.geometries[{index}]", depth + 1)
            ]
        if not isinstance(kind, str) or kind not in _GEOMETRY_TYPES:
            self.problem(where, f"unknown geometry type {kind!r}")
            return []
        coords = geometry.get("coordinates")
        here = f"{where}.coordinates"
        if coords is None:
            self.problem(where, f"{kind} without 'coordinates'")
            return []
        if kind == "Point":
            point = self.position(coords, here)
            return [("Dot", [point], False)] if point else []
        if kind == "MultiPoint":
            points = self.positions(coords, here)
            return [("PointSet", points, False)] if points is not None else []
        if kind == "LineString":
            return self.line(coords, here)
        if kind == "MultiLineString":
            if not isinstance(coords, list):
                self.problem(here, "must be an array of lines")
                return []
            return [p for i, line in enumerate(coords) for p in self.line(line, f"{here}[{i}]")]
        if kind == "Polygon":
            return self.polygon(coords, here, geometry.get("isEllipse") is True)
        if not isinstance(coords, list):  # MultiPolygon
            self.problem(here, "must be an array of polygons")
            return []
        return [p for i, poly in enumerate(coords) for p in self.polygon(poly, f"{here}[{i}]", False)]

    def line(self, coords: Any, where: str) -> list[tuple[str, list[Point], bool]]:
        points = self.positions(coords, where)
        if points is None:
            return []
        if len(points) == 2:
            return [("Measurement", points, False)]
        return [("Polygon", _open_ring(points), False)]

    def polygon(self, coords: Any, where: str, ellipse: bool) -> list[tuple[str, list[Point], bool]]:
        if not isinstance(coords, list):
            self.problem(where, "a Polygon needs an array of rings")
            return []
        out = []
        for index, ring in enumerate(coords):
            points = self.positions(ring, f"{where}[{index}]")
            if points is None:
                continue
            points = _open_ring(points)
            out.append(("Polygon" if ellipse else _polygon_type(points), points, index > 0))
        return out

    # -- objects ---------------------------------------------------------------------------------

    def group(self, name: str, color: str | None, parent: str | None = None) -> str:
        if name not in self.groups:
            self.add_group(Group(name, parent=parent, color=color or DEFAULT_GROUP_COLOR))
        return name

    def add_group(self, group: Group) -> None:
        """Append *group*; its name now binds to it (the last group of a name, as in ASAP)."""
        self.group_list.append(group)
        self.groups[group.name] = group

    def classification(self, value: Any, where: str) -> tuple[str, str | None] | None:
        """(class name, '#rrggbb' or None) of a QuPath classification in any of its forms."""
        if value is None:
            return None
        if isinstance(value, str):
            name = _class_name(value)
            return (name, None) if name else None
        if not isinstance(value, dict):
            self.problem(where, "classification must be an object or a string")
            return None
        names: list[str] = []
        if isinstance(value.get("names"), list):
            names = [str(n) for n in value["names"]]
        elif isinstance(value.get("name"), str):
            names = [value["name"]]
        parent = value.get("parentClass")
        chain = 0
        while isinstance(parent, dict) and chain < _MAX_DEPTH:  # QuPath 0.2/0.3 derived classes
            if isinstance(parent.get("name"), str):
                names.insert(0, parent["name"])
            parent, chain = parent.get("parentClass"), chain + 1
        name = _class_name(": ".join(names))
        if not name:
            return None
        color = value.get("color", value.get("colorRGB"))
        rgb: tuple[int, int, int] | None = None
        if isinstance(color, int) and not isinstance(color, bool):
            rgb = packed_rgb(color)
        elif isinstance(color, list) and len(color) == 1 and isinstance(color[0], int):
            rgb = packed_rgb(color[0])
        elif (
            isinstance(color, list)
            and len(color) in (3, 4)
            and all(isinstance(c, int) and not isinstance(c, bool) for c in color)
        ):
            rgb = (color[0] & 255, color[1] & 255, color[2] & 255)
        return (name, hex_color(rgb) if rgb else None)

    def add(
        self,
        pieces: list[tuple[str, list[Point], bool]],
        props: dict[str, Any],
        where: str,
        feature: dict[str, Any] | None,
    ) -> None:
        asap = props.get(ASAP_PROPERTY)
        if not pieces:
            if not (
                isinstance(asap, dict)
                and feature is not None
                and feature["geometry"].get("coordinates") == []
            ):
                return
            pieces = [("Polygon", [], False)]  # our empty annotation (an empty Polygon)
        self.objects += 1
        name = props.get("name")
        if not isinstance(name, str):
            name = f"Annotation {self.objects - 1}"  # ASAP's GUI naming, counting objects
        color = DEFAULT_ANNOTATION_COLOR
        own = props.get("color")
        if isinstance(own, int) and not isinstance(own, bool):
            color = hex_color(packed_rgb(own))
        elif isinstance(own, list) and len(own) == 3 and all(isinstance(c, int) for c in own):
            color = hex_color((own[0] & 255, own[1] & 255, own[2] & 255))
        cls = self.classification(props.get("classification"), f"{where}.properties.classification")
        group = self.group(*cls) if cls else None
        metadata = props.get("metadata")
        comment = metadata.get(DESCRIPTION_KEY) if isinstance(metadata, dict) else None
        if not isinstance(comment, str):
            comment = ""

        if isinstance(asap, dict) and len(pieces) == 1:
            # Our own export: the ASAP fields are authoritative; the geometry gives the points.
            kind = asap.get("type")
            if not isinstance(kind, str) or kind not in ANNOTATION_TYPES:
                self.problem(f"{where}.properties.asap.type", f"unknown ASAP type {kind!r}")
                return
            asap_group = asap.get("group")
            if asap_group is not None and not isinstance(asap_group, str):
                self.problem(f"{where}.properties.asap.group", "must be a string or null")
                return
            if asap_group is not None and asap_group not in self.groups:
                self.group(asap_group, cls[1] if cls and cls[0] == asap_group else None)
            asap_color = asap.get("color")
            points = pieces[0][1]
            if feature is not None and feature["geometry"].get("type") in ("LineString", "MultiPoint"):
                # Only rings lose their closing point; a line keeps every position it has.
                points = self.positions(feature["geometry"]["coordinates"], where) or []
            self.annotations.append(
                Annotation(
                    name, kind, asap_group, asap_color if isinstance(asap_color, str) else color, points,
                    comment,
                )
            )
            return

        shells = sum(1 for piece in pieces if not piece[2])
        shell_number = hole_number = 0
        for kind, points, hole in pieces:
            part_group = group
            if hole:
                hole_number += 1
                part_name = f"{name} hole {hole_number}"
                part_group = self.group(
                    f"{group}{HOLES_SUFFIX}" if group else "holes",
                    self.groups[group].color if group else None,
                    group,
                )
            else:
                shell_number += 1
                part_name = name if shells == 1 else f"{name} ({shell_number})"
            if kind == "Rectangle":
                points = _asap_rectangle(points)
            # The description is the object's; its holes are cut-outs of it, not objects of their own.
            part_comment = "" if hole else comment
            self.annotations.append(Annotation(part_name, kind, part_group, color, points, part_comment))


_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)


def _class_name(text: str) -> str:
    """QuPath's ``PathClass.fromString``: ':' separates derived classes; parts are trimmed."""
    return ": ".join(part.strip() for part in text.split(":") if part.strip())


def _open_ring(points: list[Point]) -> list[Point]:
    """ASAP stores rings open: drop one closing point (first == last)."""
    if len(points) >= 2 and points[0] == points[-1]:
        return points[:-1]
    return points


def _polygon_type(points: list[Point]) -> str:
    """``Rectangle`` for an axis-aligned rectangle (QuPath's rectangle ROI), else ``Polygon``."""
    if len(points) != 4:
        return "Polygon"
    xs, ys = {p[0] for p in points}, {p[1] for p in points}
    if len(xs) == 2 and len(ys) == 2 and len(set(points)) == 4:
        return "Rectangle"
    return "Polygon"


def _asap_rectangle(points: list[Point]) -> list[Point]:
    """ASAP's rectangle order: top-left, top-right, bottom-right, bottom-left (y down)."""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _as_float(value: float) -> float:
    """A JSON number as a float; an integer beyond float range (1 and 400 zeros) is +-inf, as
    ``1e400`` is, where ``float()`` raises ``OverflowError``."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _import(document: Any, offset: Offset) -> _Importer:
    importer = _Importer(offset)
    if isinstance(document, dict) and isinstance(document.get(GROUPS_MEMBER), list):
        for index, item in enumerate(document[GROUPS_MEMBER]):
            where = f"{GROUPS_MEMBER}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                importer.problem(where, "a group needs a string 'name'")
                continue
            attributes = item.get("attributes") or {}
            parent, color = item.get("parent"), item.get("color", DEFAULT_GROUP_COLOR)
            if (
                not isinstance(attributes, dict)
                or not isinstance(color, str)
                or not (parent is None or isinstance(parent, str))
            ):
                importer.problem(
                    where, "parent must be a string or null, color a string, attributes an object of strings"
                )
                continue
            importer.add_group(  # groups sharing a name are all kept, as ASAP keeps them
                Group(item["name"], parent, color, {str(k): str(v) for k, v in attributes.items()})
            )
    importer.walk(document, "$")
    return importer


def from_geojson(
    data: bytes | str | dict[str, Any] | list[Any],
    *,
    offset: Offset = (0.0, 0.0),
    max_bytes: int | None = None,
    warnings: list[str] | None = None,
) -> AnnotationSet:
    """An :class:`AnnotationSet` from GeoJSON of any QuPath generation; ``slide = file + offset``.

    :param warnings: if given, receives the set's :meth:`~AnnotationSet.warnings` (e.g. groups
        sharing a name in ``asapGroups``: all are kept, members belong to the last).
    :raises AnnotationFormatError: listing every problem found (bad JSON, bad positions, unknown
        geometry types, names XML cannot carry ...).
    :raises InputTooLargeError: over *max_bytes* (also after gunzip).
    """
    importer = _import(load(data, max_bytes), offset)
    aset = AnnotationSet(importer.annotations, importer.group_list)
    problems = importer.problems + aset.problems(check_coordinates=False)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise AnnotationFormatError(
            f"invalid GeoJSON: {len(problems)} {noun}; first: {problems[0]}", details=problems
        )
    if warnings is not None:
        warnings.extend(aset.warnings())
    return aset


def feature_to_annotation(feature: dict[str, Any], *, offset: Offset = (0.0, 0.0)) -> Annotation:
    """One Feature (as :func:`annotation_to_feature` writes it, or QuPath's) as one annotation.

    :raises AnnotationFormatError: if it is not one Feature with exactly one drawable part.
    """
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise AnnotationFormatError("expected a GeoJSON Feature object")
    importer = _Importer(offset)
    importer.feature(feature, "$")
    if importer.problems:
        raise AnnotationFormatError(f"invalid Feature: {importer.problems[0]}", details=importer.problems)
    if len(importer.annotations) != 1:
        raise AnnotationFormatError(
            f"a Feature must hold exactly one annotation, this one gives {len(importer.annotations)} "
            "(a hole, a multi-part geometry or no geometry)"
        )
    return importer.annotations[0]


def iter_features(document: Any) -> Iterator[dict[str, Any]]:
    """Every Feature in a FeatureCollection, array or single Feature (for summaries and tests)."""
    if isinstance(document, list):
        for item in document:
            yield from iter_features(item)
    elif isinstance(document, dict):
        if document.get("type") == "FeatureCollection" and isinstance(document.get("features"), list):
            for item in document["features"]:
                yield from iter_features(item)
        elif document.get("type") == "Feature":
            yield document
