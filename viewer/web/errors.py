"""One table from domain errors to HTTP statuses, and one JSON error shape for every API error.

Every error response of the API, the tile routes and unknown URLs is
``{"error": "<message>", "status": <code>, "details": [...]}``; HTML pages get ``error.html``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from viewer import errors

#: Most specific class first; the first match wins.
STATUS_BY_ERROR: tuple[tuple[type[errors.ViewerError], int], ...] = (
    (errors.PreconditionFailedError, 412),
    (errors.ConflictError, 409),
    (errors.NotFoundError, 404),
    (errors.ForbiddenError, 403),
    (errors.AuthenticationError, 401),
    (errors.ThrottledError, 429),
    (errors.UnavailableError, 503),
    (errors.InputTooLargeError, 413),
    (errors.SlideUnreadableError, 422),
    (errors.ValidationError, 422),
    (errors.InvalidInputError, 400),
    (errors.ConfigError, 400),
)

log = logging.getLogger(__name__)


def status_for(exc: errors.ViewerError) -> int:
    """The HTTP status of a domain error."""
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def error_response(message: str, status: int, details: list[object] | None = None) -> Response:
    """An error in the one shape every client can rely on (JSON, or a page for browsers)."""
    wants_html = (
        not request.path.startswith(("/api/", "/deepzoom/", "/overlays/"))
        and request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    )
    if wants_html:
        body = render_template("error.html", message=message, status=status)
        return Response(body, status=status, mimetype="text/html")
    response = jsonify({"error": message, "status": status, "details": details or []})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    """Install the handlers on *app*."""

    @app.errorhandler(errors.ViewerError)
    def _domain_error(exc: errors.ViewerError) -> Response:
        status = status_for(exc)
        response = error_response(exc.message, status, exc.details)
        if status == 503:
            response.headers["Retry-After"] = "5"
        if isinstance(exc, errors.ThrottledError):
            response.headers["Retry-After"] = str(max(1, exc.retry_after))
        current = getattr(exc, "current", None)
        if status == 412 and current is not None and response.is_json:
            payload = response.get_json()
            payload["current"] = current
            response = jsonify(payload)
            response.status_code = 412
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        messages = {404: "not found", 405: "method not allowed", 413: "request body too large"}
        response = error_response(messages.get(status, exc.description or exc.name), status)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal error", 500)
