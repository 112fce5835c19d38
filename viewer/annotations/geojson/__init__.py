"""GeoJSON: QuPath's dialects in, QuPath 0.4+ GeoJSON out, and our own lossless form.

Format reference: ``QUPATH_GEOJSON.md`` (QuPath's sources, v0.2 → v0.7). Import reads all three
generations -- 0.2 (class name in ``Feature.id``, ``colorRGB``), 0.3 (``object_type``), 0.4+
(``objectType``, ``color: [r, g, b]``) -- as a FeatureCollection, a bare array (nested arrays too),
a single Feature or a bare geometry. Export writes a FeatureCollection QuPath 0.4+ imports: every
classification carries a colour (QuPath rejects the whole file otherwise).

Mapping to ASAP's model (:mod:`viewer.annotations.model`):

* classification → group of that name (derived classes ``A: B`` keep that name); class colour →
  group colour; unclassified → no group. Object ``color`` → annotation colour;
* ``Point`` → Dot; ``MultiPoint`` → PointSet; ``LineString`` of 2 points → Measurement, longer or
  closed ones → Polygon (ASAP has no polyline); ``Polygon`` → Polygon, or Rectangle when it is an
  axis-aligned rectangle; every part of a ``MultiPolygon``/``MultiLineString``/collection becomes
  its own annotation;
* polygon **holes** become Polygons in a group ``"<class> (holes)"`` (child of the class group), so
  a mask with that group later in the order and label 0 punches them out, as CAMELYON16's ``_2``;
* detections, cells and tiles import as annotations too (``nucleusGeometry`` is not kept);
  ``measurements`` and other QuPath-only members are dropped.

An annotation's comment is QuPath's description: ``properties.metadata.ANNOTATION_DESCRIPTION``,
where QuPath 0.5+ writes and reads it (``PathAnnotationObject.setDescription``), both ways.

Our own export adds ``properties.asap = {type, group, color}`` per feature and a foreign member
``asapGroups`` (name, parent, colour, attributes) on the collection, which QuPath ignores. With
them ``from_geojson(to_geojson(s)) == s`` exactly: this is also the JSON the browser gets.

**Coordinate frame.** Our model is slide space (level-0 px of the full slide). QuPath crops OpenSlide
slides to ``openslide.bounds-*``, so its coordinates are offset by (bounds-x, bounds-y) on such
slides (MIRAX, sparse TIFF, Leica). Every function here takes the *offset* explicitly:
``file = slide - offset`` on export, ``slide = file + offset`` on import. :func:`qupath_offset`
gives QuPath's offset for a slide; nothing is ever shifted implicitly.

No shapely here: the conversions are plain list work.

The package: :mod:`.qupath` (QuPath's frame origin, colours and the member names both ways use),
:mod:`.writer` (export), :mod:`.loading` (bytes to a JSON document: size limit, gzip, UTF-8) and
:mod:`.reader` (import).
"""

from __future__ import annotations

from viewer.annotations.geojson.loading import parse_json
from viewer.annotations.geojson.qupath import (
    ASAP_PROPERTY,
    DESCRIPTION_KEY,
    GROUPS_MEMBER,
    HOLES_SUFFIX,
    Offset,
    Point,
    class_color,
    parse_color,
    qupath_offset,
)
from viewer.annotations.geojson.reader import feature_to_annotation, from_geojson, iter_features
from viewer.annotations.geojson.writer import annotation_to_feature, dumps, group_to_json, to_geojson

__all__ = [
    "ASAP_PROPERTY",
    "DESCRIPTION_KEY",
    "GROUPS_MEMBER",
    "HOLES_SUFFIX",
    "Offset",
    "Point",
    "annotation_to_feature",
    "class_color",
    "dumps",
    "feature_to_annotation",
    "from_geojson",
    "group_to_json",
    "iter_features",
    "parse_color",
    "parse_json",
    "qupath_offset",
    "to_geojson",
]
