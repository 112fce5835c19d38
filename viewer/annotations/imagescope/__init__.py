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

The package: :mod:`.shapes` (ellipses and COLORREF colours, which NDPA uses too), :mod:`.keys`
(the names reader and writer share), :mod:`.reader`, :mod:`.writer`.
"""

from __future__ import annotations

from viewer.annotations.imagescope.keys import LAYER_KEY, REGION_KEY_PREFIX
from viewer.annotations.imagescope.reader import read_imagescope
from viewer.annotations.imagescope.shapes import (
    ELLIPSE_VERTICES,
    colorref_to_hex,
    ellipse_parameters,
    ellipse_perimeter,
    ellipse_polygon,
    hex_to_colorref,
)
from viewer.annotations.imagescope.writer import write_imagescope

__all__ = [
    "ELLIPSE_VERTICES", "LAYER_KEY", "REGION_KEY_PREFIX", "colorref_to_hex", "ellipse_parameters",
    "ellipse_perimeter", "ellipse_polygon", "hex_to_colorref", "read_imagescope", "write_imagescope",
]
