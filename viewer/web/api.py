"""The JSON API: slide listing, slide info, thumbnails, associated images and the OpenAPI document.

Every URL a client needs is in each slide's ``urls``; clients never build URLs by hand.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, url_for

from viewer.slides import SlideInfo
from viewer.web import access, schemas
from viewer.web.conditional import is_fresh, not_modified
from viewer.web.demo import library_slides, preparing_entry
from viewer.web.openapi import Reply, describe, json_reply, openapi_text
from viewer.web.overlays import listed_overlays, overlays_url
from viewer.web.params import IF_NONE_MATCH, IntQuery
from viewer.web.services import services
from viewer.web.sets import slide_annotation_urls

bp = Blueprint("api", __name__, url_prefix="/api")


def slide_urls(slide_id: str, info: SlideInfo) -> dict[str, Any]:
    """Every URL of one slide."""
    urls: dict[str, Any] = {
        "dzi": url_for("tiles.dzi", slide_id=slide_id),
        "thumbnail": url_for("api.thumbnail", slide_id=slide_id),
        "viewer": url_for("pages.viewer", slide_id=slide_id),
        "info": url_for("api.slide_info", slide_id=slide_id),
    }
    urls.update(slide_annotation_urls(slide_id))
    urls["overlays"] = overlays_url(slide_id)
    if services().settings["SERVE_ASSOCIATED_IMAGES"]:
        urls["associated"] = {
            name: url_for("api.associated_image", slide_id=slide_id, name=name) for name in info.associated
        }
    return urls


def slide_summary(
    info: SlideInfo, annotation_count: int | None = None, set_count: int | None = None
) -> dict[str, Any]:
    """The listing entry of one slide (*annotation_count*: over all its sets, *set_count*: its
    sets; looked up when None)."""
    if annotation_count is None or set_count is None:
        counts = services().slide_annotations.counts([info.id])
        sets = services().slide_annotations.set_counts([info.id])
        access.hide_unreadable(counts, sets)
        annotation_count = counts.get(info.id, 0) if annotation_count is None else annotation_count
        set_count = sets.get(info.id, 0) if set_count is None else set_count
    bounds = info.bounds
    entry: dict[str, Any] = {
        "id": info.id,
        "name": info.name,
        "folder": info.folder,
        "width": info.width,
        "height": info.height,
        "level_count": info.level_count,
        "mpp_x": info.mpp_x,
        "mpp_y": info.mpp_y,
        "objective_power": info.objective_power,
        "vendor": info.vendor,
        "bounds": (
            {"x": bounds.x, "y": bounds.y, "width": bounds.width, "height": bounds.height}
            if bounds else {"x": 0, "y": 0, "width": info.width, "height": info.height}
        ),
        "associated": info.associated,
        "annotation_count": annotation_count,
        "set_count": set_count,
        "overlays": [] if info.error else listed_overlays(info.id),
        "urls": slide_urls(info.id, info),
    }
    if info.error:
        entry["error"] = info.error
    return entry


@bp.get("/slides")
@describe("List every slide under the slide directory", operation_id="listSlides",
          responses={200: json_reply(schemas.SlideList, "The slides")})
def list_slides() -> Response:
    """Every slide under the slide root, unreadable ones with an ``error``; the demo slide while it
    is generated with its ``status`` and ``progress`` (viewer.web.demo)."""
    # The demo's state is read before the scan: read after it, a demo finished in between would be
    # in neither (not scanned yet, no longer preparing). Finished in between the other way round,
    # it is scanned, and the scanned entry wins.
    preparing = preparing_entry()
    infos = library_slides()
    # no slide yet (the demo being generated): the answer must not wait for the store to open
    counts = services().slide_annotations.counts([info.id for info in infos]) if infos else {}
    sets = services().slide_annotations.set_counts([info.id for info in infos]) if infos else {}
    access.hide_unreadable(counts, sets)
    slides = [slide_summary(info, counts.get(info.id, 0), sets.get(info.id, 0)) for info in infos]
    if preparing is not None and all(info.id != preparing["id"] for info in infos):
        slides.append(preparing)
    return jsonify({"slides": slides})


@bp.get("/slides/<path:slide_id>")
@describe("One slide with every OpenSlide property and its Deep Zoom geometry", operation_id="getSlide",
          responses={200: json_reply(schemas.SlideDetail, "The slide")}, errors=(404, 422))
def slide_info(slide_id: str) -> Response:
    """One slide: the listing fields plus every OpenSlide property and the Deep Zoom geometry."""
    return jsonify(slide_detail(slide_id))


def slide_detail(slide_id: str) -> dict[str, Any]:
    """The body of ``GET /api/slides/<id>`` (the viewer page embeds it to save a round trip)."""
    library = services().slides
    info = library.info(slide_id)
    body = slide_summary(info)
    body.update(
        level_dimensions=info.level_dimensions,
        level_downsamples=info.level_downsamples,
        quickhash=info.quickhash,
        properties=info.properties,
    )
    if not info.error:
        geometry = library.geometry(slide_id)
        body["deepzoom"] = {
            "tile_size": geometry.tile_size, "overlap": geometry.overlap, "format": geometry.format,
            "width": geometry.width, "height": geometry.height, "level_count": geometry.level_count,
        }
        # slide space = image space + offset (the bounds offset when tiles are limited to bounds)
        body["image_to_slide"] = {"offset_x": geometry.offset_x, "offset_y": geometry.offset_y, "scale": 1}
    return body


_MAX = IntQuery("max", "Longest side, px (at most THUMBNAIL_MAX).", low=1, high=1 << 16, default=256)
_IMAGE = Reply("the image", {"image/jpeg": bytes, "image/png": bytes})


@bp.get("/thumbnail/<path:slide_id>")
@describe("JPEG thumbnail of the slide (its bounds region when tiles are limited to bounds)",
          operation_id="getThumbnail", parameters=(_MAX, IF_NONE_MATCH), responses={200: _IMAGE},
          errors=(400, 404, 422))
def thumbnail(slide_id: str) -> Response:
    """A JPEG thumbnail; ``?max=<px>`` bounds its longer side (up to THUMBNAIL_MAX)."""
    svc = services()
    limit = svc.settings["THUMBNAIL_MAX"]
    max_px = IntQuery(_MAX.name, _MAX.description, low=1, high=limit, default=256).get()
    assert max_px is not None
    found = svc.slides.thumbnail(slide_id, max_px)
    return _image_response(found.data, found.media_type, found.etag)


@bp.get("/associated/<name>/<path:slide_id>")
@describe("Associated image (label, macro) as PNG; only when SERVE_ASSOCIATED_IMAGES is on",
          operation_id="getAssociatedImage", parameters=(IF_NONE_MATCH,), responses={200: _IMAGE},
          errors=(403, 404, 422))
def associated_image(slide_id: str, name: str) -> Response:
    """An associated image (label, macro) as PNG, when SERVE_ASSOCIATED_IMAGES is on (403 otherwise)."""
    svc = services()
    access.require_associated()
    found = svc.slides.associated_image(slide_id, name, svc.settings["SERVE_ASSOCIATED_IMAGES"])
    return _image_response(found.data, found.media_type, found.etag)


def _image_response(data: bytes, media_type: str, etag: str) -> Response:
    # The image is in hand, so the address was valid (unknown or unreadable slides raised): only
    # now may a conditional request get its 304.
    if is_fresh(etag):
        return not_modified(etag, _IMAGE_CACHE)
    response = Response(data, mimetype=media_type)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = _IMAGE_CACHE
    return response


_IMAGE_CACHE = "public, max-age=3600"


@bp.get("/openapi.json")
@describe("This document", operation_id="getOpenApi",
          responses={200: Reply("OpenAPI 3.1", {"application/json": None})})
def openapi() -> Response:
    """The OpenAPI 3 description of this API (built once per process)."""
    return Response(openapi_text(current_app), mimetype="application/json")
