"""CORS: off by default; ``CORS_ORIGINS`` names the origins whose pages may read this server's API
and tiles from their own site (a lab's dashboard, another viewer).

* A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from one of them is
  answered ``204`` with the methods and request headers allowed; from any other origin it gets no
  CORS header at all (Flask's own ``OPTIONS`` answer), so the browser sends nothing.
* Their other requests get ``Access-Control-Allow-Origin: <that origin>`` (and ``Vary: Origin``);
  nobody else's do.
* Writes: the methods offered to an origin include ``POST``/``PUT``/``PATCH``/``DELETE`` only when it
  is also in ``ALLOWED_ORIGINS`` (which the write check of :mod:`viewer.web.security` requires
  anyway). Credentials (cookies) are never allowed cross-origin: scripts send an API token.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

READ_METHODS = "GET, HEAD, OPTIONS"
WRITE_METHODS = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = ("Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Requested-With, "
                 "X-Request-Id, X-CSRF-Token")
EXPOSE_HEADERS = "ETag, Location, Retry-After, X-Request-Id, Idempotent-Replayed"
MAX_AGE = "600"


def origins(text: str) -> frozenset[str]:
    """The origins of ``CORS_ORIGINS`` (checked by :mod:`viewer.config`)."""
    return frozenset(part.strip().lower().rstrip("/") for part in text.split(",") if part.strip())


def _allowed_origin() -> str | None:
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    origin = origin.strip().lower()
    allowed: frozenset[str] = current_app.extensions["wsi_viewer_cors"]
    return origin if origin in allowed else None


def _preflight() -> Response | None:
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    origin = _allowed_origin()
    if origin is None or request.url_rule is None:
        return None  # Flask answers (no CORS header: the browser refuses), or 404
    writes = current_app.extensions["wsi_viewer_security"].allowed_origins
    response = Response(status=204)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = WRITE_METHODS if origin in writes else READ_METHODS
    response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response.headers["Access-Control-Max-Age"] = MAX_AGE
    response.headers["Vary"] = "Origin"
    return response


def _add_headers(response: Response) -> Response:
    if "Access-Control-Allow-Origin" in response.headers:
        return response
    origin = _allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.vary.add("Origin")
    return response


def add_to_fast_answer(headers: list[tuple[str, str]], origin: str) -> None:
    """The CORS headers of an answer made before Flask (the tile fast path) for an allowed *origin*,
    unless it has them already (:func:`_add_headers` did it)."""
    if not any(name == "Access-Control-Allow-Origin" for name, _ in headers):
        headers.extend((("Access-Control-Allow-Origin", origin),
                        ("Access-Control-Expose-Headers", EXPOSE_HEADERS), ("Vary", "Origin")))


def register(app: Flask) -> None:
    """Install the preflight answer and the response header (nothing when CORS_ORIGINS is empty)."""
    allowed = origins(app.config["WSI_VIEWER"]["CORS_ORIGINS"])
    app.extensions["wsi_viewer_cors"] = allowed
    if allowed:
        app.before_request(_preflight)
        app.after_request(_add_headers)
