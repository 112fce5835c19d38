"""Hamamatsu NDP.view annotations (``<slide>.ndpi.ndpa``): read and write (parsed by :mod:`.xmlsafe`).

Format notes: ``IMAGESCOPE_NDPA.md`` §2. An NDPA file holds positions in **nanometres from the
physical slide centre**, so it cannot be placed without its slide: :class:`NdpaFrame` carries what
the NDPI knows (``hamamatsu.XOffsetFromSlideCentre``/``YOffsetFromSlideCentre``, the pixel size and
the level-0 size) and converts, as ASAP, QuPath's NDPA extension and diapath all do::

    px = (x_nm - XOffset_nm) / (mpp_x * 1000) + width / 2      (y alike)

Mapping to the model (one ``<ndpviewstate>`` = one annotation, ungrouped: NDPA has no groups):

* ``freehand`` with ``<closed>1</closed>`` → Polygon (rings are stored open, as in the file); with
  ``<specialtype>rectangle</specialtype>`` (a child element, sometimes repeated) → Rectangle in
  ASAP's corner order; ``circle`` → the Polygon ellipse of :func:`~.imagescope.ellipse_polygon`
  (radius / mpp on each axis); ``linearmeasure`` → Measurement; ``pin`` → Dot;
* ``freehand`` with ``<closed>0</closed>`` (NDP.view's AnnotateFreehandLine) is an **open polyline**.
  ASAP has no open-line type, so it is kept as a **Measurement of more than two points**: ASAP's
  Measurement is the one open type (its length runs first to last point, the GeoJSON export
  already writes such a Measurement as a LineString), and export writes every Measurement of more
  than two points back as an open freehand line (two points: a ruler);
* ``title`` → name, ``details`` → comment, ``color`` (``#rrggbb``, RGB) → the annotation's colour.

The view fields of a viewstate (``lens``, ``x``/``y``/``z``, ``showtitle``...) are not kept; export
writes the annotation's centre as the view and the frame's objective as the lens. Coordinates may be
``nanometers`` (all real files), ``micrometers`` or ``millimeters`` (wsiprocess accepts those).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from viewer.annotations import geometry
from viewer.annotations.asap import DEFAULT_MAX_BYTES, read_limited
from viewer.annotations.geojson import parse_color
from viewer.annotations.imagescope import ellipse_parameters, ellipse_polygon
from viewer.annotations.model import DEFAULT_ANNOTATION_COLOR, Annotation, AnnotationSet
from viewer.annotations.problems import problems_error
from viewer.annotations.xmlsafe import is_element, local_name, parse_untrusted
from viewer.errors import AnnotationFormatError, InvalidInputError

Point = tuple[float, float]

#: OpenSlide's names for the NDPI tags 65422/65423 (nanometres, UK spelling).
X_OFFSET_PROPERTY = "hamamatsu.XOffsetFromSlideCentre"
Y_OFFSET_PROPERTY = "hamamatsu.YOffsetFromSlideCentre"
_UNITS_NM = {"nanometers": 1.0, "micrometers": 1000.0, "millimeters": 1_000_000.0}
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*\Z", re.ASCII)


@dataclass(frozen=True)
class NdpaFrame:
    """Where an NDPA file's nanometres land on its slide: the slide centre's offset from the image
    centre (nm), the level-0 pixel size (µm) and the level-0 size (px)."""

    offset_x_nm: float
    offset_y_nm: float
    mpp_x: float
    mpp_y: float
    width: int
    height: int
    objective_power: float | None = None

    def __post_init__(self) -> None:
        problems = [f"{name} must be a positive number, got {value!r}"
                    for name, value in (("mpp_x", self.mpp_x), ("mpp_y", self.mpp_y),
                                        ("width", self.width), ("height", self.height))
                    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0)]
        problems += [f"{name} must be a finite number, got {value!r}"
                     for name, value in (("offset_x_nm", self.offset_x_nm), ("offset_y_nm", self.offset_y_nm))
                     if not (isinstance(value, (int, float)) and math.isfinite(value))]
        if problems:
            raise InvalidInputError(f"bad NDPA frame: {'; '.join(problems)}", details=problems)

    @classmethod
    def from_properties(cls, properties: dict[str, str], width: int, height: int) -> NdpaFrame:
        """The frame of a slide from its OpenSlide *properties* and level-0 size.

        :raises InvalidInputError: the offsets or the pixel size are missing (not an NDPI slide).
        """
        missing = [key for key in (X_OFFSET_PROPERTY, Y_OFFSET_PROPERTY, "openslide.mpp-x", "openslide.mpp-y")
                   if key not in properties]
        if missing:
            raise InvalidInputError(
                f"the slide has no {', '.join(missing)}: NDPA positions are nanometres from the slide "
                "centre of a Hamamatsu NDPI; give the offsets, the pixel size and the size explicitly",
                details=missing,
            )
        try:
            power = properties.get("openslide.objective-power")
            return cls(
                float(properties[X_OFFSET_PROPERTY]), float(properties[Y_OFFSET_PROPERTY]),
                float(properties["openslide.mpp-x"]), float(properties["openslide.mpp-y"]),
                int(width), int(height), float(power) if power else None,
            )
        except ValueError as exc:
            raise InvalidInputError(f"the slide's NDPA frame properties are not numbers: {exc}") from None

    @classmethod
    def from_slide(cls, info: Any) -> NdpaFrame:
        """The frame of a :class:`viewer.slides.SlideInfo` (its ``properties``, ``width``, ``height``)."""
        return cls.from_properties(dict(info.properties), info.width, info.height)

    def to_pixels(self, x_nm: float, y_nm: float) -> Point:
        """Slide space (level-0 px) of a position in nanometres from the slide centre."""
        return (
            (x_nm - self.offset_x_nm) / (self.mpp_x * 1000.0) + self.width / 2,
            (y_nm - self.offset_y_nm) / (self.mpp_y * 1000.0) + self.height / 2,
        )

    def to_nanometres(self, x: float, y: float) -> tuple[int, int]:
        """The inverse of :meth:`to_pixels`, rounded to whole nanometres as NDP.view writes them."""
        return (
            round((x - self.width / 2) * self.mpp_x * 1000.0 + self.offset_x_nm),
            round((y - self.height / 2) * self.mpp_y * 1000.0 + self.offset_y_nm),
        )


# --------------------------------------------------------------------------------------------------
# Reading


def read_ndpa(
    source: bytes | str | os.PathLike[str],
    frame: NdpaFrame,
    *,
    max_bytes: int | None = None,
    warnings: list[str] | None = None,
) -> AnnotationSet:
    """Parse an NDPA file (a path or the bytes) into slide space through *frame*.

    :raises InputTooLargeError: over *max_bytes* (default: the ANNOTATION_MAX_MB default).
    :raises AnnotationFormatError: not NDPA, hostile, or unreadable numbers; ``details`` name every
        problem with its line.
    :raises NotFoundError: *source* is a path that does not exist.
    """
    data = read_limited(source, DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise AnnotationFormatError("empty file: not an NDPA annotation file")
    reader = _Reader(frame)
    aset = reader.document(parse_untrusted(data))
    if warnings is not None:
        warnings.extend(reader.warnings)
    return aset


def _child(element: Any, tag: str) -> Any:
    for child in element:
        if is_element(child) and local_name(child) == tag:
            return child
    return None


def _text(element: Any, tag: str) -> str | None:
    child = _child(element, tag)
    return None if child is None else (child.text or "").strip()


class _Reader:
    def __init__(self, frame: NdpaFrame) -> None:
        self.frame = frame
        self.warnings: list[str] = []
        self.problems: list[str] = []

    def document(self, root: Any) -> AnnotationSet:
        if not is_element(root) or local_name(root) != "annotations":
            raise AnnotationFormatError(
                f"line {root.sourceline}: root element is <{local_name(root)}>, not NDP.view's "
                "<annotations>: not an NDPA annotation file"
            )
        annotations = []
        for state in (e for e in root if is_element(e) and local_name(e) == "ndpviewstate"):
            annotation = self.viewstate(state)
            if annotation is not None:
                annotations.append(annotation)
        aset = AnnotationSet(annotations)
        if not self.problems:
            self.problems.extend(aset.problems())
        if self.problems:
            raise problems_error("NDPA", self.problems)
        return aset

    def number(self, element: Any, tag: str) -> float | None:
        child = _child(element, tag)
        text = None if child is None else (child.text or "").strip()
        if text is None or not _NUMBER.match(text) or not math.isfinite(float(text)):
            self.problem(element if child is None else child, f"<{tag}> must be a number, got {text!r}")
            return None
        return float(text)

    def problem(self, element: Any, text: str) -> None:
        self.problems.append(f"line {element.sourceline}: {text}")

    def point(self, element: Any, scale: float, x_tag: str = "x", y_tag: str = "y") -> Point | None:
        x, y = self.number(element, x_tag), self.number(element, y_tag)
        if x is None or y is None:
            return None
        return self.frame.to_pixels(x * scale, y * scale)

    def viewstate(self, state: Any) -> Annotation | None:
        line = state.sourceline
        shape = _child(state, "annotation")
        if shape is None:
            self.warnings.append(f"line {line}: <ndpviewstate> without <annotation> skipped")
            return None
        unit = _text(state, "coordformat") or "nanometers"
        if unit not in _UNITS_NM:
            self.problem(state, f"<coordformat>{unit}</coordformat> is not nanometers, micrometers or "
                         "millimeters")
            return None
        scale = _UNITS_NM[unit]
        name = _text(state, "title") or f"Annotation {state.get('id', '')}".strip()
        comment = (_child(state, "details").text or "") if _child(state, "details") is not None else ""
        color = shape.get("color") or DEFAULT_ANNOTATION_COLOR
        if parse_color(color) is None:
            self.warnings.append(f"line {shape.sourceline}: color {color!r} is not #rrggbb; kept as it is")
        kind, points = self.shape(shape, scale)
        if kind is None:
            return None
        return Annotation(name, kind, None, color, points, comment)

    def shape(self, shape: Any, scale: float) -> tuple[str | None, list[Point]]:
        kind = shape.get("type", "")
        where = f"line {shape.sourceline}"
        if kind == "circle":
            centre, radius = self.point(shape, scale), self.number(shape, "radius")
            if centre is None or radius is None:
                return None, []
            a = radius * scale / (self.frame.mpp_x * 1000.0)
            b = radius * scale / (self.frame.mpp_y * 1000.0)
            return "Polygon", ellipse_polygon(centre[0], centre[1], a, b)
        if kind == "linearmeasure":
            start, end = self.point(shape, scale, "x1", "y1"), self.point(shape, scale, "x2", "y2")
            return ("Measurement", [start, end]) if start and end else (None, [])
        if kind == "pin":
            point = self.point(shape, scale)
            return ("Dot", [point]) if point else (None, [])
        if kind != "freehand":
            self.warnings.append(f"{where}: annotation type {kind!r} is not one NDP.view writes; skipped")
            return None, []
        holder = _child(shape, "pointlist")
        points: list[Point] = []
        for element in () if holder is None else (p for p in holder if is_element(p)):
            point = self.point(element, scale)
            if point is None:
                return None, []
            points.append(point)
        closed = (_text(shape, "closed") or "1") != "0"
        special = {(c.text or "").strip() for c in shape if is_element(c) and local_name(c) == "specialtype"}
        if len(points) == 1:
            self.warnings.append(f"{where}: a freehand shape of 1 point, read as a Dot")
            return "Dot", points
        if not closed:
            if len(points) == 2:
                self.warnings.append(f"{where}: an open line of 2 points, read as a Measurement (a ruler)")
            return "Measurement", points
        if "rectangle" in special:
            xs, ys = sorted({p[0] for p in points}), sorted({p[1] for p in points})
            if len(points) == 4 and len(xs) == 2 and len(ys) == 2 and len(set(points)) == 4:
                return "Rectangle", [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1])]
            self.warnings.append(f"{where}: a rectangle whose points are not 4 axis-aligned corners; "
                                 "read as a Polygon")
        if len(set(points)) < 3:
            self.warnings.append(
                f"{where}: degenerate closed shape ({len(points)} points): it encloses no area"
            )
        return "Polygon", points


# --------------------------------------------------------------------------------------------------
# Writing

_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;"}


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


def write_ndpa(aset: AnnotationSet, frame: NdpaFrame, *, warnings: list[str] | None = None) -> bytes:
    """The NDPA bytes of *aset* placed through *frame*, as NDP.view 2 writes them (UTF-8,
    ``standalone="yes"``, tabs, LF). Groups are not kept (NDPA has none); a PointSet becomes one
    pin per point, a Spline its drawn curve, other shapes as in the module docstring.

    :raises ValidationError: the set breaks a model rule.
    """
    aset.validate()
    notes: dict[str, int] = {}
    out = ['<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<annotations>\n']
    number = 0
    for a in aset.annotations:
        for body in _shapes(a, frame, notes):
            number += 1
            out.append(_viewstate(number, a, body, frame))
    out.append("</annotations>\n")
    if aset.groups:
        notes["NDPA has no groups: group names and colours are not written"] = 1
    if warnings is not None:
        warnings.extend(f"{text} ({count}x)" if count > 1 else text for text, count in notes.items())
    return "".join(out).encode("utf-8")


def _viewstate(number: int, a: Annotation, body: tuple[str, str, list[Point]], frame: NdpaFrame) -> str:
    kind, payload, points = body
    x0, y0, x1, y1 = geometry.bounding_box(points)
    view_x, view_y = frame.to_nanometres((x0 + x1) / 2, (y0 + y1) / 2)
    lens = frame.objective_power or 20.0
    details = f"<details>{_escape(a.comment)}</details>" if a.comment else "<details/>"
    title = f"<title>{_escape(a.name)}</title>" if a.name else "<title/>"
    rgb = parse_color(a.color)
    color = "#{:02x}{:02x}{:02x}".format(*rgb) if rgb else "#ff0000"  # NDP.view's default red
    display = {"circle": "AnnotateCircle", "linearmeasure": "AnnotateRuler", "pin": "AnnotatePin",
               "rectangle": "AnnotateRectangle", "line": "AnnotateFreehandLine"}.get(kind, "AnnotateFreehand")
    kind_attr = kind if kind in ("circle", "linearmeasure", "pin") else "freehand"
    return (
        f'\t<ndpviewstate id="{number}">\n\t\t{title}\n\t\t{details}\n'
        f"\t\t<coordformat>nanometers</coordformat>\n\t\t<lens>{lens:.6f}</lens>\n"
        f"\t\t<x>{view_x}</x>\n\t\t<y>{view_y}</y>\n\t\t<z>0</z>\n"
        f"\t\t<showtitle>{1 if a.name else 0}</showtitle>\n\t\t<showhistogram>0</showhistogram>\n"
        f"\t\t<showlineprofile>0</showlineprofile>\n"
        f'\t\t<annotation type="{kind_attr}" displayname="{display}" color="{color}">\n'
        f"{payload}\t\t</annotation>\n\t</ndpviewstate>\n"
    )


def _pointlist(points: list[Point], frame: NdpaFrame) -> str:
    rows = []
    for x, y in points:
        nx, ny = frame.to_nanometres(x, y)
        rows.append(f"\t\t\t\t<point>\n\t\t\t\t\t<x>{nx}</x>\n\t\t\t\t\t<y>{ny}</y>\n\t\t\t\t</point>\n")
    return "\t\t\t<pointlist>\n" + "".join(rows) + "\t\t\t</pointlist>\n"


def _note(notes: dict[str, int], text: str) -> None:
    notes[text] = notes.get(text, 0) + 1


def _shapes(a: Annotation, frame: NdpaFrame, notes: dict[str, int]) -> list[tuple[str, str, list[Point]]]:
    points = list(a.coordinates)
    if a.type in ("Dot", "PointSet") or len(points) == 1:
        if a.type == "PointSet" and len(points) > 1:
            _note(notes, "NDPA has no point set: each point is written as a pin")
        pins = []
        for point in points:
            nx, ny = frame.to_nanometres(*point)
            pin = (f"\t\t\t<x>{nx}</x>\n\t\t\t<y>{ny}</y>\n"
                   "\t\t\t<icon>pinred</icon>\n\t\t\t<stricon>iconpinred</stricon>\n")
            pins.append(("pin", pin, [point]))
        return pins
    if not points:
        _note(notes, "annotations without coordinates are not written (NDPA cannot hold them)")
        return []
    if a.type == "Measurement" and len(points) == 2:
        (ax, ay), (bx, by) = (frame.to_nanometres(*p) for p in points)
        return [("linearmeasure", f"\t\t\t<x1>{ax}</x1>\n\t\t\t<y1>{ay}</y1>\n\t\t\t<x2>{bx}</x2>\n"
                 f"\t\t\t<y2>{by}</y2>\n", points)]
    if a.type == "Measurement":  # an open polyline (see the module docstring)
        return [("line", "\t\t\t<measuretype>0</measuretype>\n\t\t\t<closed>0</closed>\n"
                 + _pointlist(points, frame), points)]
    if a.type == "Rectangle":
        x0, y0, x1, y1 = geometry.bounding_box(points)
        corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]  # NDP.view's order: TL, BL, BR, TR
        return [("rectangle", "\t\t\t<measuretype>0</measuretype>\n\t\t\t<closed>1</closed>\n"
                 + _pointlist(corners, frame) + "\t\t\t<specialtype>rectangle</specialtype>\n", corners)]
    ellipse = ellipse_parameters(points) if a.type == "Polygon" else None
    if ellipse is not None:
        cx, cy, ea, eb = ellipse
        rx, ry = ea * frame.mpp_x * 1000.0, eb * frame.mpp_y * 1000.0
        if abs(rx - ry) <= 0.5 + 1e-6 * max(rx, ry):  # NDP.view's circles are round in nanometres
            nx, ny = frame.to_nanometres(cx, cy)
            radius = round((rx + ry) / 2)
            return [("circle", f"\t\t\t<x>{nx}</x>\n\t\t\t<y>{ny}</y>\n\t\t\t<radius>{radius}</radius>\n"
                     "\t\t\t<measuretype>0</measuretype>\n", points)]
    if a.type == "Spline":
        _note(notes, "NDPA has no spline: Splines are written as the curve ASAP draws")
        points = geometry.flatten_spline(points)[:-1] if len(points) > 2 else points
    elif a.type not in ("Polygon", "Rectangle"):
        _note(notes, f"annotations of type {a.type!r} are written as closed freehand shapes")
    return [("freehand", "\t\t\t<measuretype>0</measuretype>\n\t\t\t<closed>1</closed>\n"
             + _pointlist(points, frame), points)]


__all__ = ["NdpaFrame", "X_OFFSET_PROPERTY", "Y_OFFSET_PROPERTY", "read_ndpa", "write_ndpa"]
