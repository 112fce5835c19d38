"""The OpenAPI 3.1 document served at ``/api/openapi.json``, generated from the app's route table.

Each API view carries an :class:`Operation` (the :func:`describe` decorator): its summary, query
and header parameters (``viewer/web/params.py``: the same objects parse the request), its body and
its answers as types of ``viewer/web/schemas.py``, and the errors it raises. The document walks
``app.url_map``: every route under ``/api/`` and ``/deepzoom/`` appears with each of its methods,
its path parameters (from the URL converters), and the answers every request can get before any
route runs (``viewer/web/security.py``: 421 for a Host this server does not answer to; 403 and 415
for writes). Parameters imply their answers: ``If-Match`` a 400 for a malformed header and a 412
with the current state, ``If-None-Match`` a 304. A route without a description is listed as
``x-undocumented`` (``tests/test_web_api.py`` fails on it). The document is built once per app.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask

from viewer import __version__
from viewer.web import schemas
from viewer.web.params import IF_MATCH, IF_NONE_MATCH, Header, Parameter

log = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])
_ATTRIBUTE = "openapi_operation"
_EXTENSION = "wsi_viewer_openapi"
API_PREFIXES = ("/api/", "/deepzoom/", "/overlays/")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Body types that need an ``X-Requested-With`` header (or the page's own Origin) to be written.
_UPLOAD_TYPES = ("application/xml", "text/xml", "multipart/form-data")
_X_REQUESTED_WITH = Header(
    "X-Requested-With",
    "Any value; an XML or multipart upload, or a write without a body, needs it unless the "
    "page's own Origin is sent.",
)
_STATUS_TEXT = {
    304: "Not modified: the client's copy (If-None-Match) is current",
    400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Conflict",
    412: "Precondition failed: If-Match named no current version; current holds the latest",
    413: "Too large", 415: "Unsupported body type", 421: "Host not served here",
    422: "Unprocessable", 503: "Unavailable: retry later",
}
_PATH_PARAMETERS = {
    "slide_id": "Slide id: its path relative to the slide directory, POSIX separators.",
    "set_id": "An annotation set's id.",
    "annotation_id": "An annotation's id within the set.",
    "group_id": "A group's id within the set.",
    "version": "A version of the set (a change of its history).",
    "job_id": "The job's id, from the Location of the request that created it.",
    "name": "The associated image's name (label, macro, ...).",
    "level": "Deep Zoom level.",
    "col": "Tile column.",
    "row": "Tile row.",
    "fmt": "Tile format.",
    "overlay_id": "An overlay's id (from the slide's overlays).",
}
_RULE_PART = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Reply:
    """One documented answer: a description and its media types (each with a type of
    ``viewer.web.schemas``, ``str``/``bytes``, or None for "any")."""

    description: str
    content: Mapping[str, Any] = field(default_factory=dict)
    location: bool = False  # the answer names what it created in Location


@dataclass(frozen=True)
class Body:
    """A request body: media type -> type."""

    content: Mapping[str, Any]
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Operation:
    """The description of one route's method."""

    summary: str
    description: str = ""
    operation_id: str | None = None
    parameters: tuple[Parameter, ...] = ()
    body: Body | None = None
    responses: Mapping[int, Reply] = field(default_factory=lambda: {200: Reply("OK")})
    errors: tuple[int, ...] = ()


def json_reply(schema: Any, description: str = "OK", *, location: bool = False,
               media_type: str = "application/json") -> Reply:
    """An answer of one JSON type."""
    return Reply(description, {media_type: schema}, location)


def describe(
    summary: str,
    *,
    description: str = "",
    operation_id: str | None = None,
    parameters: tuple[Parameter, ...] = (),
    body: Body | None = None,
    responses: Mapping[int, Reply] | None = None,
    errors: tuple[int, ...] = (),
) -> Callable[[_F], _F]:
    """Attach the OpenAPI description of a view (put it below the route decorator)."""
    operation = Operation(
        summary, description, operation_id, parameters, body,
        responses if responses is not None else {200: Reply("OK")}, errors,
    )

    def attach(view: _F) -> _F:
        setattr(view, _ATTRIBUTE, operation)
        return view

    return attach


def openapi_text(app: Flask) -> str:
    """The document as JSON text, built once per app (the routes are fixed once it serves)."""
    found: str | None = app.extensions.get(_EXTENSION)
    if found is None:
        found = json.dumps(openapi_document(app), separators=(",", ":"))
        app.extensions[_EXTENSION] = found
    return found


def openapi_document(app: Flask) -> dict[str, Any]:
    """The whole document of *app* (a fresh dict each call)."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        path, path_parameters = _path_of(rule.rule)
        if not path.startswith(API_PREFIXES):
            continue
        view = app.view_functions.get(rule.endpoint)
        operation: Operation | None = getattr(view, _ATTRIBUTE, None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((path, method, path_parameters, operation, rule.endpoint))
    types = _types_of([r[3] for r in routes if r[3] is not None])
    refs, definitions = schemas.json_schemas(types)
    schema_of = {id(t): ref for t, ref in zip(types, refs, strict=True)}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, path_parameters, operation, endpoint in routes:
        if operation is None:
            log.warning("route %s %s (%s) has no OpenAPI description", method, path, endpoint)
            built: dict[str, Any] = {
                "summary": "undocumented", "x-undocumented": True,
                "parameters": path_parameters, "responses": {"default": {"description": "undocumented"}},
            }
        else:
            built = _operation(operation, method, endpoint, path_parameters, schema_of)
        paths.setdefault(path, {})[method.lower()] = built
    return {
        "openapi": "3.1.0",
        "info": {"title": "WSI Viewer API", "version": __version__},
        "paths": paths,
        "components": {"schemas": definitions},
    }


def _path_of(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a Werkzeug rule and its path parameters (schemas from the converters)."""
    parameters = []
    for match in _RULE_PART.finditer(rule):
        converter, name = match["converter"] or "default", match["name"]
        schema: dict[str, Any] = {"type": "string"}
        if converter == "int":  # ASCII digits (viewer/web/security.py replaces the converter)
            schema = {"type": "integer", "minimum": 0}
        elif converter == "any":
            schema = {"type": "string", "enum": [a.strip(" '\"") for a in (match["args"] or "").split(",")]}
        parameters.append({
            "name": name, "in": "path", "required": True,
            "description": _PATH_PARAMETERS.get(name, name), "schema": schema,
        })
    return _RULE_PART.sub(lambda m: "{" + m["name"] + "}", rule), parameters


def _types_of(operations: list[Operation]) -> list[Any]:
    """Every type the operations name, once each, the error shapes first."""
    found: list[Any] = [schemas.Error, schemas.PreconditionFailed]
    seen = {id(t) for t in found}
    for operation in operations:
        contents = [r.content for r in operation.responses.values()]
        if operation.body is not None:
            contents.append(operation.body.content)
        for content in contents:
            for schema in content.values():
                if schema is not None and id(schema) not in seen:
                    seen.add(id(schema))
                    found.append(schema)
    return found


def _operation(operation: Operation, method: str, endpoint: str, path_parameters: list[dict[str, Any]],
               schema_of: dict[int, Any]) -> dict[str, Any]:
    def content(types: Mapping[str, Any]) -> dict[str, Any]:
        return {media: ({"schema": schema_of[id(t)]} if t is not None else {}) for media, t in types.items()}

    parameters = list(operation.parameters)
    conditional = IF_MATCH in parameters or IF_NONE_MATCH in parameters
    errors = set(operation.errors) | {421}
    if method in WRITE_METHODS:
        errors |= {403, 415}
        body_types = operation.body.content if operation.body is not None else {}
        if any(kind in body_types for kind in _UPLOAD_TYPES) or (not body_types and method != "DELETE"):
            parameters.append(_X_REQUESTED_WITH)
    if IF_MATCH in parameters:
        errors |= {400, 412}
    responses: dict[str, Any] = {}
    for status, reply in sorted(operation.responses.items()):
        answer: dict[str, Any] = {"description": reply.description}
        if reply.content:
            answer["content"] = content(reply.content)
        headers = {}
        if conditional and status < 300:
            headers["ETag"] = {"description": "the version shown or written", "schema": {"type": "string"}}
        if reply.location:
            headers["Location"] = {"description": "what was created", "schema": {"type": "string"}}
        if headers:
            answer["headers"] = headers
        responses[str(status)] = answer
    if IF_NONE_MATCH in parameters:
        responses.setdefault("304", {"description": _STATUS_TEXT[304]})
    for status in sorted(errors):
        shape = schemas.PreconditionFailed if status == 412 else schemas.Error
        responses.setdefault(str(status), {
            "description": _STATUS_TEXT.get(status, "error"),
            "content": {"application/json": {"schema": schema_of[id(shape)]}},
        })
    built: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation.operation_id or _camel(endpoint.rsplit(".", 1)[-1]),
        "parameters": path_parameters + [p.openapi() for p in parameters],
        "responses": responses,
    }
    if operation.description:
        built["description"] = operation.description
    if operation.body is not None:
        body: dict[str, Any] = {
            "required": operation.body.required, "content": content(operation.body.content)
        }
        if operation.body.description:
            body["description"] = operation.body.description
        built["requestBody"] = body
    return built


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
