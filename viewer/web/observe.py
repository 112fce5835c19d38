"""Every request's id, latency, status and (``LOG_FORMAT=json``) log line.

:func:`wrap` goes around the whole WSGI app, tile fast path included (``wsi-viewer serve`` installs
it last, :mod:`viewer.server`): it takes ``X-Request-Id`` from the proxy when it is well formed (1-128
of ``A-Z a-z 0-9 . _ : -``) or makes one, echoes it in the response and puts it in every log line of
the request; and gives the answers the tile fast path makes for a ``CORS_ORIGINS`` page their CORS
header (Flask's answers have theirs). The route (the URL rule) is recorded by a Flask hook
(:func:`register`); a request answered before Flask (the tile fast path) has none and is the tile
route's.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from itertools import count
from typing import Any

from flask import Flask, request

from viewer import metrics as metrics_module
from viewer.logs import REQUEST_ID
from viewer.web import cors
from viewer.web.tiles import tile
from viewer.web.transport import CLOSE_CONNECTION_KEY, connection_closer

#: Where the Flask hook leaves the matched rule for :func:`wrap`.
ROUTE_KEY = "wsi_viewer.route"
#: The route label of requests no rule matched (404, 405) or answered before routing (413, 408).
NO_ROUTE = "(none)"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("viewer.access")


def _tile_rule(app: Flask) -> str:
    endpoint = f"tiles.{tile.__name__}"
    return next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)


def _record_route() -> None:
    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else NO_ROUTE


def register(app: Flask) -> None:
    """Record each request's URL rule for the metrics and logs of :func:`wrap`: the first hook, so
    that requests the other hooks refuse (421, 403, 401) are counted under their route too."""
    app.before_request_funcs.setdefault(None, []).insert(0, _record_route)


def wrap(app: Flask) -> None:
    """Install the request-id, metrics and access-log layer around ``app.wsgi_app`` (last)."""
    settings = app.config["WSI_VIEWER"]
    inner = app.wsgi_app
    tile_rule = _tile_rule(app)
    found = metrics_module.metrics() if settings["METRICS"] else None
    if found is not None:
        # The slide library is made here rather than by the first request (cheap: it scans on first
        # use), so that it counts every tile from the first.
        app.extensions["wsi_viewer"].slides.tile_observer = found.count_tile
        observe_tile = found.observer(tile_rule, "GET")
    log_requests = settings["LOG_FORMAT"] == "json"
    cors_origins: frozenset[str] = app.extensions["wsi_viewer_cors"]
    prefix = f"{os.getpid():x}-{os.urandom(3).hex()}-"
    serial = count(1)
    set_id, reset_id = REQUEST_ID.set, REQUEST_ID.reset
    clock = time.perf_counter

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = clock()
        given = environ.get("HTTP_X_REQUEST_ID")
        if given is None or not _REQUEST_ID.fullmatch(given):
            given = f"{prefix}{next(serial)}"
        request_id = given
        token = set_id(request_id)
        status = [""]

        def start(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = line
            headers.append(("X-Request-Id", request_id))
            if cors_origins and environ.get("HTTP_ORIGIN", "").strip().lower() in cors_origins:
                cors.add_to_fast_answer(headers, environ["HTTP_ORIGIN"].strip().lower())
            return start_response(line, headers, exc_info)

        if "CONTENT_LENGTH" in environ or "HTTP_TRANSFER_ENCODING" in environ:
            # the body guard (inside) closes a connection whose body it refused through this
            environ[CLOSE_CONNECTION_KEY] = connection_closer(start_response)
        try:
            return inner(environ, start)
        finally:
            seconds = clock() - started
            route = environ.get(ROUTE_KEY)
            code = int(status[0][:3]) if status[0][:3].isdigit() else 500
            if found is not None:
                if route is None and code == 200:
                    observe_tile(seconds)  # the fast path: only tiles, only 200
                else:
                    found.request(route or NO_ROUTE, environ.get("REQUEST_METHOD", ""), code, seconds)
            if log_requests:
                access_log.info("request", extra={
                    "method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
                    "route": route or (tile_rule if code == 200 else NO_ROUTE), "status": code,
                    "duration_ms": round(seconds * 1000, 3), "remote_addr": environ.get("REMOTE_ADDR"),
                })
            reset_id(token)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
