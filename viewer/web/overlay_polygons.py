"""Heatmap → annotations and per-annotation overlay statistics (issue 14):

- ``POST /api/overlays/<id>/polygons`` ``{"threshold", "tolerance_um", "min_area_um2", "name"}``:
  a new annotation set on the overlay's slide, one polygon per region of cells ≥ threshold
  (``viewer.overlays.polygons``), author = the request's user;
- ``GET /api/overlays/<id>/statistics?set=<set id>``: max/mean of the overlay's cells whose centre
  is inside each closed annotation of the set (``viewer.overlays.statistics``); ETag from the
  overlay's and the set's versions, 304 on ``If-None-Match``.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, url_for

from viewer.errors import ValidationError
from viewer.lru import LRU
from viewer.overlays import Overlay
from viewer.overlays.polygons import PolygonRequest, create_region_set
from viewer.overlays.statistics import annotation_statistics
from viewer.web import access, overlay_schemas, schemas
from viewer.web.bodies import object_body, who
from viewer.web.conditional import is_fresh, not_modified
from viewer.web.openapi import Body, describe, json_reply
from viewer.web.overlays import _checked_id as checked_id
from viewer.web.params import IF_NONE_MATCH, X_USER, IntQuery
from viewer.web.services import services
from viewer.web.shapes import PRIVATE, set_json, write_json, write_response

bp = Blueprint("overlay_polygons", __name__)

SET = IntQuery("set", "The annotation set's id (a set of the overlay's slide).", low=1, required=True)


@bp.post("/api/overlays/<overlay_id>/polygons")
@describe(
    "Threshold the overlay into a new annotation set: one polygon per region of cells >= threshold",
    description=(
        "Regions are the threshold's iso-line through the cell centres (every cell >= threshold is "
        "inside, nodata outside), in slide space, holes joined by zero-width cuts, simplified to "
        "tolerance_um, those under min_area_um2 left out. Each polygon's comment holds its area, "
        "largest diameter, CAMELYON class and the overlay's max/mean inside; they are the members "
        "of one group named '<overlay> >= <threshold>'. The set's name (default that too) is made "
        "unique on the slide with ' (2)', ' (3)'... A threshold outside the value range, a "
        "negative tolerance or a slide without µm per pixel is a 422; more regions than 20,000 or "
        "more vertices than MAX_SET_VERTICES a 413 with the count."
    ),
    operation_id="overlayPolygons",
    parameters=(X_USER,),
    body=Body({"application/json": schemas.PolygonsRequest}),
    responses={201: json_reply(schemas.PolygonsWrite, "created", location=True)},
    errors=(400, 404, 413, 422, 503),
)
def polygons(overlay_id: str) -> Response:
    """A new set of the overlay's regions (201, ``Location`` = the set)."""
    services().overlays.get(checked_id(overlay_id))  # an unknown overlay is a 404 before the body
    access.require_create()
    doc = object_body()
    fields: schemas.PolygonsRequest = schemas.validate_body(schemas.PolygonsRequest, doc, "polygons request",
                                                            ValidationError)
    request = PolygonRequest(fields.threshold, fields.tolerance_um, fields.min_area_um2)
    owner, sharing = access.new_set_owner()
    result, regions = create_region_set(services(), overlay_id, request, name=fields.name, who=who(doc),
                                        owner=owner, sharing=sharing)
    body: schemas.PolygonsWrite = {**write_json(result), "set": set_json(result.info), "regions": regions}
    response = write_response(result, body, 201)
    response.headers["Location"] = url_for("annotations.sets.get_set", set_id=result.info.id)
    return response


@bp.get("/api/overlays/<overlay_id>/statistics")
@describe(
    "Max and mean of the overlay inside each closed annotation of a set",
    description=(
        "Over the grid cells whose centre is inside (ASAP's rule: non-zero winding, strictly inside "
        "the bounding box); nodata cells are not counted; max/mean are null with no cell. Closed "
        "shapes only (Polygon, Rectangle, Spline); keys are annotation ids. The set must be on the "
        "overlay's slide (else 422)."
    ),
    operation_id="overlayStatistics",
    parameters=(SET, IF_NONE_MATCH),
    responses={200: json_reply(overlay_schemas.OverlayStatistics)},
    errors=(400, 404, 422, 503),
)
def statistics(overlay_id: str) -> Response:
    """``{"annotations": {id: {"max", "mean", "cells"}}}`` for the set ``?set=``."""
    svc = services()
    overlay = svc.overlays.get(checked_id(overlay_id))
    set_id = SET.get()
    assert set_id is not None  # required
    access.require_set_access(set_id, "read")
    info = svc.store.set_info(set_id)
    if info.slide_key != overlay.slide_id:
        raise ValidationError(
            f"set {set_id} is on slide {info.slide_key!r}, the overlay on {overlay.slide_id!r}",
            [f"set: must be a set of slide {overlay.slide_id!r}"],
        )
    etag = f'"{overlay.id}-{overlay.version}-{set_id}-{info.version}"'
    if is_fresh(etag):
        return not_modified(etag, PRIVATE)
    key = (str(svc.data_dir), etag)
    data = _ANSWERS.get(key)
    if data is None:
        data, version = _statistics_body(overlay, set_id)
        key = (str(svc.data_dir), f'"{overlay.id}-{overlay.version}-{set_id}-{version}"')
        _ANSWERS.put(key, data)
    response = Response(data, mimetype="application/json")
    response.headers["ETag"] = key[1]
    response.headers["Cache-Control"] = PRIVATE
    return response


#: Encoded statistics answers by (data dir, ETag): a set of 5,000 annotations takes seconds, and
#: every client opening the slide asks for the same (overlay version, set version).
_ANSWERS: LRU[tuple[str, str], bytes] = LRU(32 << 20, weigh=len)


def _statistics_body(overlay: Overlay, set_id: int) -> tuple[bytes, int]:
    """The statistics answer of a set now, encoded, and the set version it is of."""
    svc = services()
    state = svc.store.state(set_id)
    field = svc.overlays.field(overlay.id)
    found = annotation_statistics(
        field.level(0), [r.annotation for r in state.annotations],
        scale=overlay.scale, origin=(overlay.origin_x, overlay.origin_y),
    )
    body: overlay_schemas.OverlayStatistics = {
        "overlay": overlay.id,
        "set": set_id,
        "set_version": state.version,
        "annotations": {
            str(r.id): {"max": s.max, "mean": s.mean, "cells": s.cells}
            for r, s in zip(state.annotations, found, strict=True) if s is not None
        },
    }
    return json.dumps(body, separators=(",", ":")).encode(), state.version
