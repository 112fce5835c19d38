"""Reading Aperio ImageScope XML into the model (the rules are the package docstring's)."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from viewer.annotations.geojson import HOLES_SUFFIX
from viewer.annotations.imagescope.keys import DERIVED, INT, LAYER_KEY, REGION_KEY_PREFIX, XML_NAME
from viewer.annotations.imagescope.shapes import Point, colorref_to_hex, ellipse_polygon
from viewer.annotations.limits import DEFAULT_MAX_BYTES, read_limited
from viewer.annotations.model import DEFAULT_GROUP_COLOR, NO_GROUP, Annotation, AnnotationSet, Group
from viewer.annotations.problems import problems_error
from viewer.annotations.xmlsafe import is_element, local_name, parse_untrusted
from viewer.errors import AnnotationFormatError

_NUMBER_TEXT = r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*"
_NUMBER = re.compile(_NUMBER_TEXT + r"\Z", re.ASCII)
_NUMBERS = re.compile(f"{_NUMBER_TEXT}(?:\x00{_NUMBER_TEXT})*", re.ASCII)  # NUL-separated (XML has no NUL)


def read_imagescope(
    source: bytes | str | os.PathLike[str], *, max_bytes: int | None = None, warnings: list[str] | None = None
) -> AnnotationSet:
    """Parse ImageScope XML (a path or the bytes) into an :class:`AnnotationSet` in slide space.

    :param warnings: receives one line per tolerated oddity (degenerate regions, renamed layers).
    :raises InputTooLargeError: over *max_bytes* (default: the ANNOTATION_MAX_MB default).
    :raises AnnotationFormatError: not ImageScope XML, hostile, or unreadable numbers; ``details``
        name every problem with its line.
    :raises NotFoundError: *source* is a path that does not exist.
    """
    data = read_limited(source, DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise AnnotationFormatError("empty file: not ImageScope annotation XML")
    reader = _Reader()
    aset = reader.document(parse_untrusted(data))
    if warnings is not None:
        warnings.extend(reader.warnings)
    return aset


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _element_record(element: Any) -> dict[str, Any]:
    """An <Attribute>/<AttributeHeader>: its XML attributes and its text-only children (GlobalId)."""
    record: dict[str, Any] = {"attrib": dict(element.attrib)}
    children = {local_name(c): (c.text or "").strip() for c in element if is_element(c)}
    if children:
        record["children"] = children
    return record


class _Reader:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.problems: list[str] = []
        self.groups: list[Group] = []
        self.annotations: list[Annotation] = []
        self.names: set[str] = {NO_GROUP}

    def problem(self, line: int | None, text: str) -> None:
        self.problems.append(f"line {line}: {text}")

    def document(self, root: Any) -> AnnotationSet:
        if not is_element(root) or local_name(root) != "Annotations" or (
            root.find("Annotation") is not None and root.find("Annotation/Regions") is None
            and all(a.get("PartOfGroup") is not None for a in root.iterfind("Annotation"))
        ):
            raise AnnotationFormatError(
                f"line {root.sourceline}: root element is <{local_name(root)}>, not ImageScope's "
                "<Annotations> of <Annotation> layers with <Regions>: not an ImageScope annotation file"
            )
        for index, layer in enumerate(e for e in root if is_element(e) and local_name(e) == "Annotation"):
            self.layer(layer, index)
        aset = AnnotationSet(self.annotations, self.groups)
        if not self.problems:
            self.problems.extend(aset.problems())
        if self.problems:
            raise problems_error("ImageScope XML", self.problems)
        return aset

    def unique_name(self, name: str, layer_id: str, line: int) -> str:
        if name not in self.names:
            return name
        candidate, n = f"{name} (layer {layer_id})", 2
        while candidate in self.names:
            candidate, n = f"{name} (layer {layer_id}, {n})", n + 1
        self.warnings.append(f"line {line}: layer name {name!r} is taken; the group is called {candidate!r}")
        return candidate

    def layer(self, element: Any, index: int) -> None:
        line = element.sourceline
        layer_id = element.get("Id") or str(index + 1)
        holder = element.find("Attributes")
        records = [] if holder is None else [_element_record(a) for a in holder if is_element(a)]
        readable: dict[str, str] = {}
        for record in records:
            key, value = record["attrib"].get("Name", ""), record["attrib"].get("Value", "")
            if XML_NAME.match(key) and not key.startswith("imagescope.") and key not in readable:
                readable[key] = value
        name = element.get("Name", "")
        if not name:
            lone = [k for k, v in readable.items() if not v and k != "Description"]
            name = readable.get("Description") or (lone[0] if len(lone) == 1 else "") or f"Layer {layer_id}"
        name = self.unique_name(name, layer_id, line)
        self.names.add(name)
        color = DEFAULT_GROUP_COLOR
        line_color = element.get("LineColor")
        if line_color is not None and INT.match(line_color):
            color = colorref_to_hex(int(line_color))
        elif line_color is not None:
            self.warnings.append(f"line {line}: LineColor={line_color!r} is not a number; {color} used")
        details: dict[str, Any] = {"attrib": {k: v for k, v in element.attrib.items() if k != "LineColor"}}
        if element.get("Name", "") != name:
            details["name"] = name  # the name we made up: export writes the file's own (often "") back
        children = [[local_name(c), (c.text or "").strip()] for c in element
                    if is_element(c) and local_name(c) not in ("Attributes", "Regions", "Plots")]
        if children:
            details["children"] = children
        if records:
            details["attributes"] = records
        regions = element.find("Regions")
        headers = None if regions is None else regions.find("RegionAttributeHeaders")
        if headers is not None:
            details["headers"] = [_element_record(h) for h in headers if is_element(h)]
        attributes = dict(readable)
        attributes[LAYER_KEY] = _json(details)
        group = Group(name, color=color, attributes=attributes)
        self.groups.append(group)
        if regions is None:
            return
        holes: Group | None = None
        used: set[str] = set()
        for region in (r for r in regions if is_element(r) and local_name(r) == "Region"):
            annotation, extras, negative = self.region(region, name, color, used)
            target = group
            if negative:
                if holes is None:
                    holes_name = self.unique_name(f"{name}{HOLES_SUFFIX}", layer_id, line)
                    self.names.add(holes_name)
                    holes = Group(holes_name, parent=name, color=color)
                    self.groups.append(holes)
                target = holes
            annotation.group = target.name
            target.attributes[REGION_KEY_PREFIX + annotation.name.split(" ", 1)[1]] = _json(extras)
            self.annotations.append(annotation)

    def region(
        self, element: Any, layer: str, color: str, used: set[str]
    ) -> tuple[Annotation, dict[str, Any], bool]:
        line = element.sourceline
        region_id = element.get("Id", "")
        if not INT.match(region_id) or str(int(region_id)) in used:
            fresh = max((int(u) for u in used), default=0) + 1
            if region_id:
                self.warnings.append(f"line {line}: region Id {region_id!r} repeated or not a number; "
                                     f"read as {fresh}")
            region_id = str(fresh)
        region_id = str(int(region_id))
        used.add(region_id)
        points = self.vertices(element)
        type_text = element.get("Type", "0").strip()
        kind, points = self.shape(type_text, points, element, f"line {line}: region {region_id} of {layer!r}")
        extras: dict[str, Any] = {k: v for k, v in element.attrib.items() if k not in DERIVED}
        holder = element.find("Attributes")
        if holder is not None and len(holder):
            extras["attributes"] = [_element_record(a) for a in holder if is_element(a)]
        negative = element.get("NegativeROA", "0").strip() == "1"
        annotation = Annotation(f"Region {region_id}", kind, None, color, points, element.get("Text", ""))
        return annotation, extras, negative

    def vertices(self, element: Any) -> list[Point]:
        holder = element.find("Vertices")
        if holder is None:
            return []
        elements = holder.findall("Vertex")  # other children (none seen) are not vertices
        xs, ys = [v.get("X") for v in elements], [v.get("Y") for v in elements]
        if None not in xs and None not in ys and _NUMBERS.fullmatch("\x00".join(xs + ys)):
            # The usual case in one regex and one C loop: every value a finite decimal (fsum is
            # inf or nan when any value is, and float() of a huge exponent is inf).
            values = list(map(float, xs + ys))
            if math.isfinite(math.fsum(values)):
                return list(zip(values[: len(xs)], values[len(xs):], strict=True))
        points: list[Point] = []
        for vertex in elements:  # the careful way, which names every bad value
            xy = []
            for axis in ("X", "Y"):
                text = vertex.get(axis)
                if text is None or not _NUMBER.match(text) or not math.isfinite(float(text)):
                    self.problem(vertex.sourceline, f"<Vertex {axis}={text!r}> is not a finite number")
                else:
                    xy.append(float(text))
            if len(xy) == 2:
                points.append((xy[0], xy[1]))
        return points

    def shape(self, type_text: str, points: list[Point], element: Any, where: str) -> tuple[str, list[Point]]:
        distinct = len(set(points))
        if type_text in ("3", "4"):
            if len(points) == 1:
                what = "an arrow" if type_text == "3" else "a ruler"
                self.warnings.append(f"{where}: {what} of 1 vertex, read as a Dot")
                return "Dot", points
            if distinct < 2:
                self.warnings.append(f"{where}: a line of {len(points)} vertices and no length")
            return "Measurement", points
        if type_text == "2" and len(points) == 2 and distinct == 2:
            return "Polygon", self.ellipse(points, element, where)
        if type_text not in ("0", "1", "2"):
            self.warnings.append(f"{where}: unknown region Type {type_text!r} read as a polygon")
        if len(points) == 1:
            self.warnings.append(f"{where}: a region of 1 vertex, read as a Dot")
            return "Dot", points
        if distinct < 3:
            self.warnings.append(f"{where}: degenerate region ({len(points)} vertices, {distinct} distinct): "
                                 "it encloses no area")
        if type_text == "1":
            ring = points[:-1] if len(points) == 5 and points[0] == points[-1] else points
            xs, ys = sorted({p[0] for p in ring}), sorted({p[1] for p in ring})
            if len(ring) == 4 and len(set(ring)) == 4 and len(xs) == 2 and len(ys) == 2:
                return "Rectangle", [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1])]
        return "Polygon", points

    def ellipse(self, points: list[Point], element: Any, where: str) -> list[Point]:
        (x0, y0), (x1, y1) = points
        a, b = abs(x1 - x0) / 2, abs(y1 - y0) / 2
        area_text = element.get("Area", "0")
        area = float(area_text) if _NUMBER.match(area_text) else 0.0
        box_area = math.pi * a * b
        if area > 0 and math.isfinite(area) and abs(box_area - area) > 0.01 * area:
            # The points may be the two ends of one axis (another writer's reading): the other axis
            # then follows from Area = pi * a * b. Used only when the bounding-box reading disagrees.
            half = math.hypot(x1 - x0, y1 - y0) / 2
            other = area / (math.pi * half)
            self.warnings.append(f"{where}: ellipse vertices read as the ends of an axis (Area={area_text})")
            angle = math.atan2(y1 - y0, x1 - x0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            cos, sin = math.cos(angle), math.sin(angle)
            return [(cx + px * cos - py * sin, cy + px * sin + py * cos)
                    for px, py in ellipse_polygon(0.0, 0.0, half, other)]
        if a == 0 or b == 0:
            self.warnings.append(f"{where}: a flat ellipse (zero width or height)")
        return ellipse_polygon((x0 + x1) / 2, (y0 + y1) / 2, a, b)
