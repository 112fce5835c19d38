"""The OpenAPI 3.1 document served at ``/api/openapi.json``. Keep it in step with the routes:
``tests/test_web_api.py`` checks that every API route is described here.
"""

from __future__ import annotations

from typing import Any

from viewer import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {304: "Not modified", 400: "Bad request", 403: "Forbidden", 404: "Not found",
            409: "Conflict", 412: "Precondition failed", 413: "Too large", 415: "Unsupported body type",
            421: "Host not served here", 422: "Unprocessable"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}}
            for c in codes}


_SLIDE_ID = {
    "name": "slide_id", "in": "path", "required": True,
    "description": "Slide id: its path relative to the slide directory, POSIX separators.",
    "schema": {"type": "string"},
}

_NUM = {"type": ["number", "null"]}

_SLIDE = {
    "type": "object",
    "required": ["id", "name", "folder", "width", "height", "level_count", "bounds", "associated", "urls"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "folder": {"type": "string"},
        "width": {"type": "integer", "description": "level-0 width, px"},
        "height": {"type": "integer", "description": "level-0 height, px"},
        "level_count": {"type": "integer"},
        "mpp_x": _NUM,
        "mpp_y": _NUM,
        "objective_power": _NUM,
        "vendor": {"type": ["string", "null"]},
        "bounds": {
            "type": "object", "description": "scanned region in slide space (level-0 px)",
            "properties": {k: {"type": "integer"} for k in ("x", "y", "width", "height")},
        },
        "associated": {"type": "array", "items": {"type": "string"}},
        "annotation_count": {"type": "integer", "description": "annotations over all the slide's sets"},
        "error": {"type": "string", "description": "present when OpenSlide cannot read the file"},
        "urls": {
            "type": "object", "required": ["dzi", "thumbnail", "viewer", "info"],
            "properties": {
                "dzi": {"type": "string"}, "thumbnail": {"type": "string"},
                "viewer": {"type": "string"}, "info": {"type": "string"},
                "associated": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "string", "description": "the slide's annotation sets (JSON)"},
                "annotations_xml": {"type": "string", "description": "GET / PUT the first set as ASAP XML"},
            },
            "additionalProperties": True,
        },
    },
    "additionalProperties": True,
}

_SLIDE_INFO = {
    "allOf": [
        {"$ref": "#/components/schemas/Slide"},
        {
            "type": "object",
            "properties": {
                "level_dimensions": {
                    "type": "array", "items": {"type": "array", "items": {"type": "integer"}}
                },
                "level_downsamples": {"type": "array", "items": {"type": "number"}},
                "quickhash": {"type": ["string", "null"]},
                "properties": {"type": "object", "additionalProperties": {"type": "string"}},
                "deepzoom": {
                    "type": "object",
                    "properties": {
                        "tile_size": {"type": "integer"}, "overlap": {"type": "integer"},
                        "format": {"type": "string"}, "width": {"type": "integer"},
                        "height": {"type": "integer"}, "level_count": {"type": "integer"},
                    },
                },
                "image_to_slide": {
                    "type": "object",
                    "description": "slide = image + offset: OpenSeadragon image px to level-0 slide px",
                    "properties": {"offset_x": {"type": "integer"}, "offset_y": {"type": "integer"},
                                   "scale": {"type": "number"}},
                },
            },
        },
    ]
}


def openapi_document() -> dict[str, Any]:
    """The whole document (a fresh dict each call; other blueprints may add paths)."""
    from viewer.web.annotations import openapi_paths, openapi_schemas

    image: dict[str, Any] = {"content": {"image/jpeg": {}, "image/png": {}}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "WSI Viewer API", "version": __version__},
        "paths": {
            "/api/slides": {"get": {
                "summary": "List every slide under the slide directory",
                "operationId": "listSlides",
                "responses": {"200": {"description": "The slides", "content": {"application/json": {
                    "schema": {
                        "type": "object", "required": ["slides"],
                        "properties": {
                            "slides": {"type": "array", "items": {"$ref": "#/components/schemas/Slide"}}
                        },
                    },
                }}}},
            }},
            "/api/slides/{slide_id}": {"get": {
                "summary": "One slide with every OpenSlide property and its Deep Zoom geometry",
                "operationId": "getSlide",
                "parameters": [_SLIDE_ID],
                "responses": {"200": {"description": "The slide", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/SlideInfo"}}}}, **_errors(404, 422)},
            }},
            "/api/thumbnail/{slide_id}": {"get": {
                "summary": "JPEG thumbnail of the slide (its bounds region when tiles are limited to bounds)",
                "operationId": "getThumbnail",
                "parameters": [_SLIDE_ID, {"name": "max", "in": "query", "schema": {
                    "type": "integer", "minimum": 1}, "description": "longest side, px (default 256)"}],
                "responses": {"200": {"description": "JPEG", **image}, **_errors(304, 400, 404, 422)},
            }},
            "/api/associated/{name}/{slide_id}": {"get": {
                "summary": "Associated image (label, macro) as PNG; only when SERVE_ASSOCIATED_IMAGES is on",
                "operationId": "getAssociatedImage",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                               _SLIDE_ID],
                "responses": {"200": {"description": "PNG", **image}, **_errors(304, 403, 404, 422)},
            }},
            "/deepzoom/{slide_id}.dzi": {"get": {
                "summary": "Deep Zoom descriptor (OpenSeadragon derives tile URLs from it)",
                "operationId": "getDzi",
                "parameters": [_SLIDE_ID],
                "responses": {"200": {"description": "DZI XML", "content": {"application/xml": {}}},
                              **_errors(404, 422)},
            }},
            "/deepzoom/{slide_id}_files/{level}/{col}_{row}.{fmt}": {"get": {
                "summary": "One Deep Zoom tile; strong ETag, 304 on If-None-Match",
                "operationId": "getTile",
                "parameters": [
                    _SLIDE_ID,
                    *({"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
                      for n in ("level", "col", "row")),
                    {"name": "fmt", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": ["jpeg", "png"]}},
                ],
                "responses": {"200": {"description": "tile", **image}, **_errors(304, 404, 422)},
            }},
        },
        "components": {"schemas": {
            "Error": {
                "type": "object", "required": ["error", "status", "details"],
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"},
                               "details": {"type": "array"}},
            },
            "Slide": _SLIDE,
            "SlideInfo": _SLIDE_INFO,
        }},
    }
    document["paths"].update(openapi_paths())
    document["components"]["schemas"].update(openapi_schemas())
    from viewer.web import jobs

    document["paths"].update(jobs.openapi_paths())
    document["components"]["schemas"].update(jobs.openapi_schemas())
    _add_refusals(document["paths"])
    return document


_WRITES = ("post", "put", "patch", "delete")
_UPLOAD_TYPES = ("application/xml", "text/xml", "multipart/form-data")
_X_REQUESTED_WITH = {
    "name": "X-Requested-With", "in": "header", "required": False, "schema": {"type": "string"},
    "description": "Any value; an XML or multipart upload needs it unless the page's own Origin is sent.",
}


def _add_refusals(paths: dict[str, Any]) -> None:
    """What viewer/web/security.py answers before any route: 421 for a Host this server does not
    answer to, on every operation; 403 (foreign Origin, reserved author, upload without
    X-Requested-With) and 415 (a body not declared JSON, XML or multipart) on every write."""
    for operations in paths.values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = (403, 415, 421) if method in _WRITES else (421,)
            for code, response in _errors(*codes).items():
                operation["responses"].setdefault(code, response)
            content = operation.get("requestBody", {}).get("content", {})
            if method in _WRITES and any(kind in content for kind in _UPLOAD_TYPES):
                operation["parameters"] = [*operation.get("parameters", []), _X_REQUESTED_WITH]
