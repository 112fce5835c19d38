"""Overlays over a slide (model output, label maps): list, upload, descriptor, delete, the value at a
point, and value tiles on the slide's own Deep Zoom grid.

- ``GET/POST /api/slides/<slide id>/overlays``: a slide's overlays; a multipart upload
  (``viewer/web/overlay_upload.py`` reads it) whose body may be ``OVERLAY_UPLOAD_MAX_MB``;
- ``GET/DELETE /api/overlays/<id>``; ``GET /api/overlays/<id>/value?x=&y=`` (slide px);
- ``GET /overlays/<id>_files/<level>/<col>_<row>.png``: a value tile, laid out exactly as the
  slide's Deep Zoom tile of the same address; strong ETag, 304 on ``If-None-Match`` once the address
  is known to be a tile of the grid, and a year's ``Cache-Control`` (the descriptor's ``urls.tiles``
  carries the overlay's version, so new content is a new URL).

The domain is ``viewer.overlays`` (:class:`~viewer.overlays.OverlayLibrary` at
``services().overlays``); the threshold-to-polygons and statistics routes are
``viewer/web/overlay_polygons.py``.
"""

from __future__ import annotations

import logging
import math
import re
from typing import cast

from flask import Blueprint, Response, jsonify, url_for

from viewer.errors import InvalidInputError, OverlayNotFoundError, ViewerError
from viewer.overlays import Overlay
from viewer.web import overlay_schemas
from viewer.web.conditional import is_fresh, not_modified
from viewer.web.openapi import Body, Reply, describe, json_reply
from viewer.web.overlay_upload import FIELDS, received_upload, upload_limit
from viewer.web.params import IF_NONE_MATCH, TextQuery
from viewer.web.security import ascii_float
from viewer.web.services import services
from viewer.web.tiles import _check_tile_address as check_tile_address
from viewer.web.tiles import tile_cache_control

bp = Blueprint("overlays", __name__)
log = logging.getLogger(__name__)

#: Overlay ids: uploads 12 hex digits, attached maps ``lm-`` and 10; anything else names nothing.
_OVERLAY_ID = re.compile(r"[a-z0-9-]{1,64}")
_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
X = TextQuery("x", "Slide x, level-0 px (a decimal number).", pattern=_NUMBER)
Y = TextQuery("y", "Slide y, level-0 px (a decimal number).", pattern=_NUMBER)
_PNG = Reply("value tile (PNG LA for u8, RGBA for u16; alpha 0 = nodata)", {"image/png": bytes})


def overlay_json(overlay: Overlay) -> overlay_schemas.OverlayDescriptor:
    """The descriptor the API sends: the domain's fields and every URL a client needs."""
    self_url = url_for("overlays.overlay", overlay_id=overlay.id)
    tile = url_for("overlays.tile", overlay_id=overlay.id, level=0, col=0, row=0)
    template = tile[: -len("0/0_0.png")] + "{level}/{col}_{row}.png?v=" + overlay.version
    body = overlay.to_json()
    body["urls"] = {
        "self": self_url,
        "tiles": template,
        "value": url_for("overlays.value", overlay_id=overlay.id),
        "polygons": url_for("overlay_polygons.polygons", overlay_id=overlay.id),
        "statistics": url_for("overlay_polygons.statistics", overlay_id=overlay.id),
    }
    return cast(overlay_schemas.OverlayDescriptor, body)


def slide_overlays(slide_id: str) -> list[overlay_schemas.OverlayDescriptor]:
    """The overlays of a readable slide, as each slide entry of the API lists them."""
    return [overlay_json(found) for found in services().overlays.list(slide_id)]


def listed_overlays(slide_id: str) -> list[overlay_schemas.OverlayDescriptor]:
    """The ``overlays`` of a slide entry: :func:`slide_overlays`, or none when they cannot be read
    (a slide whose file broke after its metadata was cached), so that one slide cannot fail the
    library's listing; the slide's own routes then answer its error."""
    try:
        return slide_overlays(slide_id)
    except ViewerError as exc:
        log.warning("overlays of slide %r not listed: %s", slide_id, exc.message)
        return []


def overlays_url(slide_id: str) -> str:
    """The list / upload URL of a slide's overlays (``urls.overlays`` of a slide entry)."""
    return url_for("overlays.list_overlays", slide_id=slide_id)


def _checked_id(overlay_id: str) -> str:
    if not _OVERLAY_ID.fullmatch(overlay_id):
        raise OverlayNotFoundError(f"no overlay {overlay_id[:80]!r}")
    return overlay_id


# --------------------------------------------------------------------------------------------------
# A slide's overlays


@bp.get("/api/slides/<path:slide_id>/overlays")
@describe("The overlays of a slide (its attached likelihood map first, then uploads)",
          operation_id="listOverlays", responses={200: json_reply(overlay_schemas.OverlayList)},
          errors=(404, 422))
def list_overlays(slide_id: str) -> Response:
    """Every overlay of a slide."""
    body: overlay_schemas.OverlayList = {"overlays": slide_overlays(slide_id)}
    return jsonify(body)


@bp.post("/api/slides/<path:slide_id>/overlays")
@describe(
    "Upload an overlay: a result image (TIFF uint8/uint16/float32, .npy, PNG) or a CSV of patch scores",
    description=(
        "multipart/form-data with the file in 'file' and optional fields "
        f"({', '.join(FIELDS)}). The grid's scale comes from its shape (the downsample of the slide "
        "size it has) unless 'scale' says it; a shape that fits no downsample is a 422. Bodies up to "
        "OVERLAY_UPLOAD_MAX_MB. A malformed file (truncated TIFF, NaNs, unsupported dtype or "
        "channels, bad CSV) is a 422 naming the problem, a grid beyond OVERLAY_MAX_MPX a 413; "
        "nothing is stored then. E.g. curl -H 'X-Requested-With: curl' -F file=@heat.tif -F scale=16 URL"
    ),
    operation_id="uploadOverlay",
    body=Body({"multipart/form-data": overlay_schemas.OverlayUpload}),
    responses={201: json_reply(overlay_schemas.OverlayDescriptor, "created", location=True)},
    errors=(400, 404, 413, 422),
)
def upload_overlay(slide_id: str) -> Response:
    """A new overlay of the slide from an uploaded file (201, ``Location`` = its descriptor)."""
    svc = services()
    library = svc.overlays
    svc.slides.geometry(slide_id)  # an unknown (404) or unreadable (422) slide, before the body is read
    with received_upload(library.root, upload_limit(svc.settings)) as upload:
        created = library.add(slide_id, upload.path, upload.filename, upload.options)
    response = jsonify(overlay_json(created))
    response.status_code = 201
    response.headers["Location"] = url_for("overlays.overlay", overlay_id=created.id)
    return response


# --------------------------------------------------------------------------------------------------
# One overlay


@bp.get("/api/overlays/<overlay_id>")
@describe("One overlay's descriptor (grid, scale, value range, encoding, URLs)", operation_id="getOverlay",
          responses={200: json_reply(overlay_schemas.OverlayDescriptor)}, errors=(404, 422))
def overlay(overlay_id: str) -> Response:
    """The descriptor of one overlay."""
    return jsonify(overlay_json(services().overlays.get(_checked_id(overlay_id))))


@bp.delete("/api/overlays/<overlay_id>")
@describe("Remove an uploaded overlay (an attached likelihood map beside the slide cannot be: 403)",
          operation_id="deleteOverlay", responses={204: Reply("removed")}, errors=(403, 404))
def delete_overlay(overlay_id: str) -> Response:
    """Remove an uploaded overlay and its stored pyramid."""
    services().overlays.remove(_checked_id(overlay_id))
    return Response(status=204)


@bp.get("/api/overlays/<overlay_id>/value")
@describe("The stored value at a slide position (null outside the grid or where there is no data)",
          operation_id="getOverlayValue", parameters=(X, Y),
          responses={200: json_reply(overlay_schemas.OverlayValue)}, errors=(400, 404, 422))
def value(overlay_id: str) -> Response:
    """``{"x", "y", "value"}`` at slide px (x, y)."""
    library = services().overlays
    library.get(_checked_id(overlay_id))  # an unknown overlay is a 404 before the query's 400
    x, y = _coordinate(X), _coordinate(Y)
    body: overlay_schemas.OverlayValue = {"x": x, "y": y, "value": library.value_at(overlay_id, x, y)}
    return jsonify(body)


def _coordinate(query: TextQuery) -> float:
    raw = query.get()
    if raw is None or raw == "":
        raise InvalidInputError(f"{query.name} is required ({query.description})")
    found = ascii_float(raw)
    if found is None or not math.isfinite(found):
        raise InvalidInputError(f"{query.name} must be a plain decimal number of slide px (got {raw[:40]!r})")
    return found


# --------------------------------------------------------------------------------------------------
# Value tiles


@bp.get("/overlays/<overlay_id>_files/<int:level>/<int:col>_<int:row>.png")
@describe("One value tile on the slide's Deep Zoom grid; strong ETag, 304 on If-None-Match",
          operation_id="getOverlayTile", parameters=(IF_NONE_MATCH,), responses={200: _PNG},
          errors=(404, 422))
def tile(overlay_id: str, level: int, col: int, row: int) -> Response:
    """A value tile. An address outside the slide's grid is a 404 (304 only for a real tile)."""
    library = services().overlays
    etag = library.tile_etag(_checked_id(overlay_id), level, col, row)
    if is_fresh(etag):
        check_tile_address(services().slides, library.get(overlay_id).slide_id, level, col, row)
        return not_modified(etag, tile_cache_control())
    response = Response(library.tile(overlay_id, level, col, row), mimetype="image/png")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = tile_cache_control()
    return response
