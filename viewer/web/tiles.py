"""Deep Zoom descriptors and tiles: ``/deepzoom/<id>.dzi`` and ``/deepzoom/<id>_files/<level>/<col>_<row>.<fmt>``.

OpenSeadragon derives tile URLs from the ``.dzi`` URL, so both live under one prefix. Tiles carry a
strong ETag and a long ``Cache-Control``; a conditional request is answered 304 without reading.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from viewer.web.services import services

bp = Blueprint("tiles", __name__)

TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"


@bp.get("/deepzoom/<path:slide_id>.dzi")
def dzi(slide_id: str) -> Response:
    """The Deep Zoom descriptor of a slide."""
    geometry = services().slides.geometry(slide_id)
    response = Response(geometry.dzi_xml(), mimetype="application/xml")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/deepzoom/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<any(jpeg, png):fmt>")
def tile(slide_id: str, level: int, col: int, row: int, fmt: str) -> Response:
    """One tile. Level/col/row outside the grid is a 404 (the domain raises TileNotFoundError)."""
    library = services().slides
    etag = library.tile_etag(slide_id, level, col, row, fmt)
    if request.if_none_match.contains(etag.strip('"')):
        response = Response(status=304)
    else:
        found = library.tile(slide_id, level, col, row, fmt, etag=etag)  # type: ignore[arg-type]
        response = Response(found.data, mimetype=found.media_type)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = TILE_CACHE_CONTROL
    return response
