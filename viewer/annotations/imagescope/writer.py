"""Writing ImageScope XML as ImageScope itself lays it out (see the package docstring)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from viewer.annotations import geometry
from viewer.annotations.geojson import HOLES_SUFFIX
from viewer.annotations.imagescope.keys import DERIVED, INT, LAYER_KEY, REGION_KEY_PREFIX, XML_NAME
from viewer.annotations.imagescope.shapes import Point, ellipse_parameters, ellipse_perimeter, hex_to_colorref
from viewer.annotations.model import Annotation, AnnotationSet, Group

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
_REGION_NAME = re.compile(r"Region (-?\d+)\Z")

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
            ids.append(str(int(wanted)) if INT.match(wanted) and str(int(wanted)) not in ids else None)
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
            if XML_NAME.match(str(tag)):
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
            elif XML_NAME.match(name) and not name.startswith("imagescope.") and name not in consumed:
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
        attrib.update({str(k): str(v) for k, v in extras.items() if k not in DERIVED and k != "attributes"})
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
    attrib = {str(k): str(v) for k, v in record.get("attrib", {}).items() if XML_NAME.match(str(k))}
    children = {str(k): str(v) for k, v in (record.get("children") or {}).items() if XML_NAME.match(str(k))}
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
