"""Aperio ImageScope XML: read it into the model, write what ImageScope opens (parsed by :mod:`.xmlsafe`).

Format notes: ``IMAGESCOPE_NDPA.md`` §1. Vertex X/Y are level-0 px, which is our slide space, so
coordinates are taken as they are (within float precision: they are kept as doubles).

Reading (every variant seen: tab, two-space and one-line files, no or ``"0"`` ``MicronsPerPixel``,
the eSlide Manager export with GUIDs and Id-first attribute order, algorithm-output layers):

* every layer (``<Annotation>``) becomes a group, named ``Name``, else its ``Description``
  attribute's value, else the name of its one attribute with an empty value (how ImageScope users
  label a class, ``<Attribute Name="CaP" Value=""/>``), else ``Layer <Id>``; duplicate names get
  `` (layer <Id>)``. ``LineColor`` is a Windows COLORREF (``0x00BBGGRR``), decoded to ``#rrggbb``;
  the layer's regions take the layer colour;
* region Type 0 → Polygon; 1 → Rectangle when it has 4 axis-aligned corners, else Polygon; 2 →
  an ellipse (the two vertices are its bounding box; when the file's ``Area`` says they are the ends
  of one axis instead, that reading is used) as a Polygon of :data:`ELLIPSE_VERTICES` points
  (area within 0.04 %); 3 (arrow, head then tail) and 4 (ruler) → Measurement. One-vertex regions
  become Dots; degenerate regions (fewer than 3 distinct points in an area) are kept and reported
  as warnings, not errors;
* ``NegativeROA="1"`` regions go to a group ``<layer> (holes)`` (child of the layer group), as the
  GeoJSON reader does with polygon holes, so a mask with that group later in the order and label 0
  cuts them out; ``Text`` → the annotation's comment; the region is named ``Region <Id>``;
* attributes are kept as group attributes: each layer ``<Attribute Name=N Value=V>`` whose name is an
  XML name as ``N = V``; everything else ImageScope needs to write the layer and its regions back
  (layer attributes and child elements, attribute ids, colours and GUIDs, column headers, each
  region's ``Zoom``, ``Selected``, ``ImageFocus``, ``Analyze``, ``DisplayId``, ``GlobalId``, its
  original ``Type``, its own ``<Attributes>``...) as JSON under :data:`LAYER_KEY` and
  ``imagescope.region.<Id>`` (:data:`REGION_KEY_PREFIX`). The model has no per-annotation
  attributes, so a region's live in its group, keyed by the Id its name carries;
* hostile input is refused as the ASAP reader refuses it: no DTD, entity or external file is ever
  loaded (:func:`~viewer.annotations.xmlsafe.parse_untrusted`), nesting deeper than 256, files over
  the size limit.

**Ellipses** are recognised by their geometry, not by a flag: a Polygon of :data:`ELLIPSE_VERTICES`
points lying on one axis-aligned ellipse at equal angle steps from 0 (:func:`ellipse_parameters`)
is written as Type 2 again. That survives every format that keeps vertices (ASAP XML's float32,
GeoJSON, the store) with no field the model lacks, and an edited ellipse (one vertex moved) is no
longer one, so it is then written as the polygon it has become, where a stored flag would lie.

Writing (:func:`write_imagescope`): ImageScope's own layout (tabs, LF, no declaration, its attribute
order), one layer per group (nested groups flattened; a holes group's members go back into their
layer as ``NegativeROA="1"``; ungrouped annotations into a last layer without a name), ``LineColor``
as BGR, ``MicronsPerPixel`` from the slide (``0`` when unknown), ``Length``/``Area`` in px and px²
and their micron twins computed from the geometry. ImageScope has no point, spline or open line:
Dots and PointSet points are written as one-vertex freehand regions, Splines as their drawn curve,
polylines as closed freehand regions, each with a warning.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from typing import Any

from viewer.annotations import geometry
from viewer.annotations.asap import DEFAULT_MAX_BYTES, read_limited
from viewer.annotations.geojson import HOLES_SUFFIX, parse_color
from viewer.annotations.model import DEFAULT_GROUP_COLOR, NO_GROUP, Annotation, AnnotationSet, Group
from viewer.annotations.xmlsafe import is_element, local_name, parse_untrusted
from viewer.errors import AnnotationFormatError

Point = tuple[float, float]

#: Vertices of the Polygon an ImageScope ellipse becomes (a multiple of 4, so the extremes are
#: vertices): its area is within 0.04 % of the ellipse's (the issue asks 0.1 %).
ELLIPSE_VERTICES = 128
#: Group attribute holding a layer's ImageScope details (JSON).
LAYER_KEY = "imagescope.layer"
#: Prefix of the group attributes holding a region's ImageScope details (JSON), + its Id.
REGION_KEY_PREFIX = "imagescope.region."
#: Region attributes the model itself carries (or that are computed on export).
_DERIVED = frozenset({"Id", "Text", "NegativeROA", "Length", "Area", "LengthMicrons", "AreaMicrons"})
_LAYER_DEFAULTS = {
    "Id": "", "Name": "", "ReadOnly": "0", "NameReadOnly": "0", "LineColorReadOnly": "0",
    "Incremental": "0", "Type": "4", "LineColor": "", "Visible": "1", "Selected": "0",
    "MarkupImagePath": "", "MacroName": "",
}
_REGION_DEFAULTS = {
    "Id": "", "Type": "", "Zoom": "1", "Selected": "0", "ImageLocation": "", "ImageFocus": "-1",
    "Length": "", "Area": "", "LengthMicrons": "", "AreaMicrons": "", "Text": "", "NegativeROA": "0",
    "InputRegionId": "0", "Analyze": "1", "DisplayId": "",
}
_DEFAULT_HEADERS = [
    {"attrib": {"Id": i, "Name": n, "ColumnWidth": "-1"}}
    for i, n in (("9999", "Region"), ("9997", "Length"), ("9996", "Area"), ("9998", "Text"))
]
_NUMBER_TEXT = r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*"
_NUMBER = re.compile(_NUMBER_TEXT + r"\Z", re.ASCII)
_NUMBERS = re.compile(f"{_NUMBER_TEXT}(?:\x00{_NUMBER_TEXT})*", re.ASCII)  # NUL-separated (XML has no NUL)
_INT = re.compile(r"\s*[+-]?\d+\s*\Z", re.ASCII)
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_REGION_NAME = re.compile(r"Region (-?\d+)\Z")
_MAX_LISTED = 20


# --------------------------------------------------------------------------------------------------
# Ellipses and colours (NDPA circles use them too)


def ellipse_polygon(cx: float, cy: float, a: float, b: float, n: int = ELLIPSE_VERTICES) -> list[Point]:
    """*n* points on the axis-aligned ellipse centred (cx, cy) with semi-axes a (x) and b (y), at
    angles 2πk/n from the +x axis (clockwise on screen, y down)."""
    points = []
    for k in range(n):
        angle = 2 * math.pi * k / n
        points.append((cx + a * math.cos(angle), cy + b * math.sin(angle)))
    return points


def ellipse_parameters(coords: list[Point]) -> tuple[float, float, float, float] | None:
    """(cx, cy, a, b) when *coords* is exactly what :func:`ellipse_polygon` makes (within float32
    rounding, as ASAP XML stores it), else None."""
    n = ELLIPSE_VERTICES
    if len(coords) != n:
        return None
    (x0, _), (_, y1), (x2, _), (_, y3) = coords[0], coords[n // 4], coords[n // 2], coords[3 * n // 4]
    cx, cy, a, b = (x0 + x2) / 2, (y1 + y3) / 2, (x0 - x2) / 2, (y1 - y3) / 2
    if not (a > 0 and b > 0):
        return None
    tolerance = 1e-3 + 4e-7 * max(abs(cx) + a, abs(cy) + b)  # a few float32 ulps of the coordinates
    for (x, y), (ex, ey) in zip(coords, ellipse_polygon(cx, cy, a, b), strict=True):
        if abs(x - ex) > tolerance or abs(y - ey) > tolerance:
            return None
    return cx, cy, a, b


def ellipse_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation (relative error under 1e-9 for these shapes)."""
    h = ((a - b) / (a + b)) ** 2 if a + b > 0 else 0.0
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def colorref_to_hex(value: int) -> str:
    """A Windows COLORREF (``0x00BBGGRR``, ImageScope's ``LineColor``) as ``#rrggbb``."""
    return f"#{value & 0xFF:02x}{(value >> 8) & 0xFF:02x}{(value >> 16) & 0xFF:02x}"


def hex_to_colorref(color: str) -> int | None:
    """``#rrggbb`` (any colour Qt reads) as a COLORREF; None when it is not a colour."""
    rgb = parse_color(color)
    return None if rgb is None else rgb[0] | (rgb[1] << 8) | (rgb[2] << 16)


# --------------------------------------------------------------------------------------------------
# Reading


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
            count = len(self.problems)
            listed = self.problems[:_MAX_LISTED] + (
                [f"... and {count - _MAX_LISTED} more"] if count > _MAX_LISTED else [])
            noun = "problem" if count == 1 else "problems"
            raise AnnotationFormatError(
                f"invalid ImageScope XML: {count} {noun}; first: {self.problems[0]}", details=listed
            )
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
            if _XML_NAME.match(key) and not key.startswith("imagescope.") and key not in readable:
                readable[key] = value
        name = element.get("Name", "")
        if not name:
            lone = [k for k, v in readable.items() if not v and k != "Description"]
            name = readable.get("Description") or (lone[0] if len(lone) == 1 else "") or f"Layer {layer_id}"
        name = self.unique_name(name, layer_id, line)
        self.names.add(name)
        color = DEFAULT_GROUP_COLOR
        line_color = element.get("LineColor")
        if line_color is not None and _INT.match(line_color):
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
        if not _INT.match(region_id) or str(int(region_id)) in used:
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
        extras: dict[str, Any] = {k: v for k, v in element.attrib.items() if k not in _DERIVED}
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


# --------------------------------------------------------------------------------------------------
# Writing

_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;",
            ord("\t"): "&#9;", ord("\n"): "&#10;", ord("\r"): "&#13;"}


def _attrs(values: dict[str, str]) -> str:
    return "".join(f' {k}="{str(v).translate(_ESCAPES)}"' for k, v in values.items())


def _number(value: float) -> str:
    """ImageScope's vertex numbers: integers as such, others with 6 decimals."""
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.6f}"


def _details(group: Group | None, key: str) -> dict[str, Any]:
    text = group.attributes.get(key) if group is not None else None
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class _Writer:
    def __init__(self, aset: AnnotationSet, mpp: float | None) -> None:
        self.aset = aset
        self.mpp = mpp if mpp and mpp > 0 and math.isfinite(mpp) else 0.0
        self.notes: dict[str, int] = {}
        self.groups = {g.name: g for g in aset.groups}

    def note(self, text: str) -> None:
        self.notes[text] = self.notes.get(text, 0) + 1

    def layers(self) -> list[tuple[Group | None, list[tuple[Annotation, bool]]]]:
        holes_of: dict[str, str | None] = {g.name: g.parent for g in self.aset.groups
                                           if g.parent is not None and g.name == f"{g.parent}{HOLES_SUFFIX}"}
        if "holes" in self.groups and self.groups["holes"].parent is None:
            holes_of["holes"] = None  # the GeoJSON reader's group of unclassified holes
        members: dict[str | None, list[tuple[Annotation, bool]]] = {}
        for a in self.aset.annotations:
            hole = a.group is not None and a.group in holes_of
            layer = holes_of[a.group] if a.group is not None and hole else a.group
            members.setdefault(layer, []).append((a, hole))
        out: list[tuple[Group | None, list[tuple[Annotation, bool]]]] = [
            (g, members.get(g.name, [])) for g in self.aset.groups if g.name not in holes_of
        ]
        if None in members:
            out.append((None, members[None]))
        return out

    def write(self) -> bytes:
        mpp_text = f"{self.mpp:.6f}" if self.mpp else "0"
        out = [f'<Annotations MicronsPerPixel="{mpp_text}">\n']
        layers = [(group, _details(group, LAYER_KEY), members) for group, members in self.layers()]
        ids: list[str | None] = []
        for _, details, _ in layers:  # keep every layer's own Id unless it is repeated or missing
            wanted = str(details.get("attrib", {}).get("Id", ""))
            ids.append(str(int(wanted)) if _INT.match(wanted) and str(int(wanted)) not in ids else None)
        next_id = max((int(i) for i in ids if i is not None), default=0) + 1
        for (group, details, members), layer_id in zip(layers, ids, strict=True):
            if layer_id is None:
                layer_id, next_id = str(next_id), next_id + 1
            out.extend(self.layer(group, details, layer_id, members))
        out.append("</Annotations>\n")
        return "".join(out).encode("utf-8")

    def layer(self, group: Group | None, details: dict[str, Any], layer_id: str,
              members: list[tuple[Annotation, bool]]) -> Iterable[str]:
        attrib = dict(_LAYER_DEFAULTS)
        attrib.update({str(k): str(v) for k, v in details.get("attrib", {}).items()})
        attrib["Id"] = layer_id
        if group is None:
            attrib["Name"] = ""
        elif details.get("name") != group.name:
            attrib["Name"] = group.name  # renamed since it was read (or never read from ImageScope)
        colorref = hex_to_colorref(group.color) if group is not None else None
        attrib["LineColor"] = str(colorref if colorref is not None else 65280)  # ImageScope's first colour
        yield f"\t<Annotation{_attrs(attrib)}>\n"
        for tag, text in details.get("children", []):
            if _XML_NAME.match(str(tag)):
                yield f"\t\t<{tag}>{str(text).translate(_ESCAPES)}</{tag}>\n"
        yield from self.attributes(group, details)
        yield "\t\t<Regions>\n\t\t\t<RegionAttributeHeaders>\n"
        for header in details.get("headers") or _DEFAULT_HEADERS:
            yield from _record("\t\t\t\t", "AttributeHeader", header)
        yield "\t\t\t</RegionAttributeHeaders>\n"
        used: set[str] = set()
        ids = []
        for a, _ in members:
            match = _REGION_NAME.match(a.name)
            own = match.group(1) if match and match.group(1) not in used else None
            ids.append(own)
            if own is not None:
                used.add(own)
        fresh = max((int(u) for u in used), default=0) + 1
        display = 0
        for (a, hole), own in zip(members, ids, strict=True):
            extras = _details(self.groups.get(a.group or ""), f"{REGION_KEY_PREFIX}{own}") if own else {}
            for index, (kind, points) in enumerate(self.shapes(a, extras)):
                if own is not None and index == 0:
                    region_id = own
                else:  # a new region, or a PointSet's further points
                    region_id, fresh = str(fresh), fresh + 1
                display += 1
                yield from self.region(region_id, display, kind, points, a.comment, hole, extras)
        yield "\t\t</Regions>\n\t\t<Plots/>\n\t</Annotation>\n"

    def attributes(self, group: Group | None, details: dict[str, Any]) -> Iterable[str]:
        readable = {k: v for k, v in (group.attributes.items() if group else ())
                    if not k.startswith("imagescope.")}
        records: list[dict[str, Any]] = []
        consumed: set[str] = set()
        for record in details.get("attributes", []):
            name = str(record.get("attrib", {}).get("Name", ""))
            if name in readable and name not in consumed:  # the group's value wins: it may be edited
                record = {**record, "attrib": {**record["attrib"], "Value": readable[name]}}
                consumed.add(name)
            elif _XML_NAME.match(name) and not name.startswith("imagescope.") and name not in consumed:
                continue  # removed from the group since it was read
            records.append(record)
        for key, value in readable.items():
            if key not in consumed:
                records.append({"attrib": {"Name": key, "Id": str(len(records)), "Value": value}})
        if not records:
            yield "\t\t<Attributes/>\n"
            return
        yield "\t\t<Attributes>\n"
        for record in records:
            yield from _record("\t\t\t", "Attribute", record)
        yield "\t\t</Attributes>\n"

    def shapes(self, a: Annotation, extras: dict[str, Any]) -> list[tuple[str, list[Point]]]:
        points = list(a.coordinates)
        original = str(extras.get("Type", ""))
        if a.type == "Rectangle" and points:
            x0, y0, x1, y1 = geometry.bounding_box(points)
            return [("1", [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])]
        if a.type == "Polygon":
            ellipse = ellipse_parameters(points)
            if ellipse is not None:
                cx, cy, ea, eb = ellipse
                return [("2", [(cx - ea, cy - eb), (cx + ea, cy + eb)])]
            return [("1" if original == "1" else "0", points)]
        if a.type == "Measurement" and len(points) <= 2:
            return [("3" if original == "3" else "4", points)]
        if a.type == "Dot" or a.type == "PointSet":
            if a.type == "PointSet" or len(points) != 1:
                self.note(f"ImageScope has no point set: the points of {a.type} annotations are written as "
                          "one-vertex regions each")
            else:
                self.note("ImageScope has no point type: Dots are written as one-vertex freehand regions")
            return [("0", [p]) for p in points] or [("0", [])]
        if a.type == "Spline":
            self.note("ImageScope has no spline: Splines are written as the curve ASAP draws")
            return [("0", geometry.flatten_spline(points)[:-1] if len(points) > 2 else points)]
        if a.type == "Measurement":
            self.note("ImageScope has no open line: polylines are written as closed freehand regions")
        else:
            self.note(f"annotations of type {a.type!r} are written as freehand regions")
        return [("0", points)]

    def region(self, region_id: str, display: int, kind: str, points: list[Point], text: str,
               hole: bool, extras: dict[str, Any]) -> Iterable[str]:
        if kind == "2" and len(points) == 2:
            ea, eb = abs(points[1][0] - points[0][0]) / 2, abs(points[1][1] - points[0][1]) / 2
            length, area = ellipse_perimeter(ea, eb), math.pi * ea * eb
        elif kind in ("3", "4"):
            length, area = geometry.perimeter(points, closed=False), 0.0
        else:
            # ImageScope measures its freehand regions along the vertices as drawn (its pen records the
            # closing point itself): for those, the open length reproduces its numbers; a ring from
            # elsewhere is closed implicitly and gets its whole perimeter.
            closed = not (kind == "0" and str(extras.get("Type", "")) == "0")
            length, area = geometry.perimeter(points, closed=closed), abs(_shoelace(points))
        attrib = dict(_REGION_DEFAULTS)
        attrib.update({str(k): str(v) for k, v in extras.items() if k not in _DERIVED and k != "attributes"})
        attrib.update({
            "Id": region_id, "Type": kind, "Length": f"{length:.1f}", "Area": f"{area:.1f}",
            "LengthMicrons": f"{length * self.mpp:.1f}" if self.mpp else "0",
            "AreaMicrons": f"{area * self.mpp * self.mpp:.1f}" if self.mpp else "0",
            "Text": text, "NegativeROA": "1" if hole else "0",
        })
        if not attrib["DisplayId"]:
            attrib["DisplayId"] = str(display)
        yield f"\t\t\t<Region{_attrs(attrib)}>\n"
        records = extras.get("attributes") or []
        if records:
            yield "\t\t\t\t<Attributes>\n"
            for record in records:
                yield from _record("\t\t\t\t\t", "Attribute", record)
            yield "\t\t\t\t</Attributes>\n"
        else:
            yield "\t\t\t\t<Attributes/>\n"
        yield "\t\t\t\t<Vertices>\n"
        for x, y in points:
            yield f'\t\t\t\t\t<Vertex X="{_number(x)}" Y="{_number(y)}" Z="0"/>\n'
        yield "\t\t\t\t</Vertices>\n\t\t\t</Region>\n"


def _record(indent: str, tag: str, record: dict[str, Any]) -> Iterable[str]:
    attrib = {str(k): str(v) for k, v in record.get("attrib", {}).items() if _XML_NAME.match(str(k))}
    children = {str(k): str(v) for k, v in (record.get("children") or {}).items() if _XML_NAME.match(str(k))}
    if not children:
        yield f"{indent}<{tag}{_attrs(attrib)}/>\n"
        return
    inner = "".join(f"<{k}>{v.translate(_ESCAPES)}</{k}>" for k, v in children.items())
    yield f"{indent}<{tag}{_attrs(attrib)}>{inner}</{tag}>\n"


def _shoelace(points: list[Point]) -> float:
    if len(points) < 3:
        return 0.0
    return 0.5 * math.fsum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1],
                                                                           strict=True))


def write_imagescope(
    aset: AnnotationSet, *, mpp: float | None = None, warnings: list[str] | None = None
) -> bytes:
    """ImageScope XML of *aset*: one layer per group, in group order (see the module docstring).

    :param mpp: the slide's microns per pixel (``MicronsPerPixel``, ``LengthMicrons``, ``AreaMicrons``);
        None or 0 writes ``0``, as tools do when they do not know it.
    :param warnings: receives one line per kind of shape ImageScope cannot hold as it is.
    :raises ValidationError: the set breaks a model rule.
    """
    aset.validate()
    writer = _Writer(aset, mpp)
    data = writer.write()
    if warnings is not None:
        warnings.extend(f"{text} ({count}x)" if count > 1 else text for text, count in writer.notes.items())
    return data


__all__ = [
    "ELLIPSE_VERTICES", "LAYER_KEY", "REGION_KEY_PREFIX", "colorref_to_hex", "ellipse_parameters",
    "ellipse_perimeter", "ellipse_polygon", "hex_to_colorref", "read_imagescope", "write_imagescope",
]
