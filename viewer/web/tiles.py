"""Deep Zoom descriptors and tiles: ``/deepzoom/<id>.dzi`` and
``/deepzoom/<id>_files/<level>/<col>_<row>.<fmt>``.

OpenSeadragon derives tile URLs from the ``.dzi`` URL, so both live under one prefix. Tiles carry a
strong ETag and a long ``Cache-Control`` (``public`` under AUTH=none, ``private`` with logins); a
conditional request (``If-None-Match``, weak comparison, ``viewer/web/conditional.py``) for a tile
of the grid of a readable slide is answered 304 without reading it (any other address gets its 404
or 422 first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response

from viewer.errors import TileNotFoundError
from viewer.slides import DeepZoomGeometry, SlideLibrary
from viewer.web.auth import gate as auth_gate
from viewer.web.auth import mode as auth_mode
from viewer.web.conditional import is_fresh, not_modified
from viewer.web.openapi import Reply, describe
from viewer.web.params import IF_NONE_MATCH
from viewer.web.security import SECURITY_HEADERS, policy
from viewer.web.services import services

bp = Blueprint("tiles", __name__)

#: Tiles never change: a year, immutable. With AUTH=none any cache (a proxy's, a CDN's) may keep
#: them; with logins only the browser's own (:func:`tile_cache_control`): a cache shared between
#: the browser and this server would otherwise hand a tile fetched with credentials to a stranger.
TILE_CACHE_CONTROL = "public, max-age=31536000, immutable"
PRIVATE_TILE_CACHE_CONTROL = "private, max-age=31536000, immutable"


def tile_cache_control_for(auth_mode: str) -> str:
    """The ``Cache-Control`` of a tile (slide or overlay) under ``AUTH`` *auth_mode*."""
    return TILE_CACHE_CONTROL if auth_mode == "none" else PRIVATE_TILE_CACHE_CONTROL


def tile_cache_control() -> str:
    """The ``Cache-Control`` of a tile answered to this request (public only under AUTH=none)."""
    return tile_cache_control_for(auth_mode())


@bp.get("/deepzoom/<path:slide_id>.dzi")
@describe("Deep Zoom descriptor (OpenSeadragon derives tile URLs from it)", operation_id="getDzi",
          responses={200: Reply("DZI XML", {"application/xml": str})}, errors=(404, 422))
def dzi(slide_id: str) -> Response:
    """The Deep Zoom descriptor of a slide."""
    geometry = services().slides.geometry(slide_id)
    response = Response(geometry.dzi_xml(), mimetype="application/xml")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/deepzoom/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<any(jpeg, png):fmt>")
@describe("One Deep Zoom tile; strong ETag, 304 on If-None-Match", operation_id="getTile",
          parameters=(IF_NONE_MATCH,),
          responses={200: Reply("tile", {"image/jpeg": bytes, "image/png": bytes})}, errors=(404, 422))
def tile(slide_id: str, level: int, col: int, row: int, fmt: str) -> Response:
    """One tile. Level/col/row outside the grid is a 404 (the domain raises TileNotFoundError)."""
    library = services().slides
    etag = library.tile_etag(slide_id, level, col, row, fmt)
    if is_fresh(etag) and _check_tile_address(library, slide_id, level, col, row):
        return not_modified(etag, tile_cache_control())
    found = library.tile(slide_id, level, col, row, fmt, etag=etag)  # type: ignore[arg-type]
    response = Response(found.data, mimetype=found.media_type)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = tile_cache_control()
    return response


def _check_tile_address(library: SlideLibrary, slide_id: str, level: int, col: int, row: int) -> bool:
    """True if (level, col, row) is a tile of a readable slide; raises what the tile read would
    (SlideNotFoundError, SlideUnreadableError, TileNotFoundError) otherwise, without reading it."""
    geometry = library.geometry(slide_id)
    cols, rows = tile_grid(geometry, level)
    if not (0 <= col < cols and 0 <= row < rows):
        raise TileNotFoundError(f"no tile {col}_{row} at level {level}: the grid is {cols}x{rows}")
    return True


def tile_grid(geometry: DeepZoomGeometry, level: int) -> tuple[int, int]:
    """(columns, rows) of Deep Zoom *level*, laid out as ``DeepZoomGenerator`` does: the last level
    is the image, each one before it half the size (rounded up, at least 1 px).

    :raises TileNotFoundError: no such level.
    """
    if not 0 <= level < geometry.level_count:
        raise TileNotFoundError(f"no level {level}: this slide has levels 0-{geometry.level_count - 1}")
    width, height = geometry.width, geometry.height
    for _ in range(geometry.level_count - 1 - level):
        width, height = max(1, -(-width // 2)), max(1, -(-height // 2))
    return -(-width // geometry.tile_size), -(-height // geometry.tile_size)


# The tile route's URL, as Werkzeug matches it (``<path:...>`` is ``[^/].*?``; ``int`` is ASCII
# digits; longer numbers than a grid ever has go to the route, which answers 404).
_TILE_PATH = re.compile(r"/deepzoom/(?P<id>[^/].*?)_files/(?P<level>[0-9]{1,9})/(?P<col>[0-9]{1,9})_"
                        r"(?P<row>[0-9]{1,9})\.(?P<fmt>jpeg|png)")


def serve_tiles_directly(app: Flask) -> None:
    """Answer a plain GET of a tile without Flask's request machinery.

    A viewer asks for hundreds of tiles per view; for a cached or stored tile the request context,
    URL routing and Response object cost as much as the tile itself (a new connection may reach a
    worker whose cache is cold, so misses take this path too). The answer is the tile route's own
    (same body and headers, from the same :meth:`SlideLibrary.tile`, and the security headers of
    every response), after the same access decision (with authentication on: a user from
    :meth:`viewer.web.auth.AuthGate.fast_user`). Everything else -- a Host this server does not
    answer to, an unauthenticated request, a conditional request, any error, other URLs -- goes to
    the Flask app unchanged, which answers it (errors included) the one way it answers every
    request. Wraps ``app.wsgi_app`` (the server installs it).
    """
    flask_wsgi = app.wsgi_app
    found_services = app.extensions["wsi_viewer"]
    hosts = policy(app)
    usual_hosts, allows_host = hosts.exact_hosts, hosts.allows_host  # usually one frozenset lookup
    gate = auth_gate(app)
    # The access decision of every route (viewer/web/auth.py), from its few-seconds cache of
    # session/token -> user: no one (None) goes to Flask, which answers 401 as for any route.
    fast_user = None if gate.mode == "none" else gate.fast_user
    cache_control = tile_cache_control_for(gate.mode)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and "HTTP_IF_NONE_MATCH" not in environ:
            path = environ.get("PATH_INFO", "")
            match = _TILE_PATH.fullmatch(path) if path.isascii() else None
            host = environ.get("HTTP_HOST")
            if (
                match is not None
                and (host in usual_hosts or allows_host(host))
                and (fast_user is None or fast_user(app, environ) is not None)
            ):
                library = found_services.slides
                slide_id, fmt = match["id"], match["fmt"]
                level, col, row = int(match["level"]), int(match["col"]), int(match["row"])
                try:
                    etag = library.tile_etag(slide_id, level, col, row, fmt)
                    found = library.tile(slide_id, level, col, row, fmt, etag=etag)
                except Exception:  # noqa: BLE001 - Flask's route meets it again and answers it
                    found = None
                if found is not None:
                    start_response("200 OK", [
                        ("Content-Type", found.media_type), ("Content-Length", str(len(found.data))),
                        ("ETag", etag), ("Cache-Control", cache_control), *SECURITY_HEADERS,
                    ])
                    return [found.data]
        return flask_wsgi(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
