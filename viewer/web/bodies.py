"""Request bodies of the annotation API: transport checks (size, media type, JSON), then the
domain readers (ASAP XML, ImageScope XML, NDPA, GeoJSON) or a model of ``viewer/web/schemas.py``.
Every problem of a body is reported at once: 400 when it cannot be read, 422 when it breaks the
model's rules, 413 when it is over a limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import request

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import (
    AnnotationFormatError,
    InputTooLargeError,
    InvalidInputError,
    ValidationError,
    ViewerError,
)
from viewer.web import schemas
from viewer.web.auth import author
from viewer.web.services import services

if TYPE_CHECKING:
    from viewer.annotations.ndpa import NdpaFrame

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPES = ("application/json", "application/geo+json")
_MAX_PROBLEMS = 50


def who(body: Any = None) -> str:
    """Who makes a change: :func:`viewer.web.auth.author` (outside AUTH=none the authenticated user;
    under it a JSON body's ``user``, else ``X-User``, the sidecar's name refused)."""
    return author(body)


def _limit() -> int:
    return int(services().settings["ANNOTATION_MAX_MB"]) << 20


def document_bytes() -> tuple[bytes, str]:
    """The uploaded document and its kind ("xml" or "json"): raw body or a multipart ``file``."""
    limit = _limit()
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInputError("multipart upload needs a 'file' field")
        data = upload.read(limit + 1)
        kind = "xml" if (upload.filename or "").lower().endswith((".xml", ".ndpa")) else ""
    else:
        data = request.get_data(cache=True)
        kind = "xml" if request.mimetype in XML_TYPES else "json" if request.mimetype in JSON_TYPES else ""
    if len(data) > limit:
        raise InputTooLargeError(f"annotation documents are limited to {limit >> 20} MiB")
    if not kind:
        kind = "xml" if data.lstrip()[:1] == b"<" else "json"
    return data, kind


def upload_name() -> str | None:
    """The file name of a multipart upload, if any."""
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    return upload.filename if upload is not None and upload.filename else None


def loads(data: bytes, what: str = "the body must be JSON") -> Any:
    """A body's JSON; an integer too long for a float reads as inf, which the readers report with
    its location, as they report 1e400.

    :raises InvalidInputError: (with *what*) it is not JSON.
    """
    from viewer.annotations.geojson import parse_json

    try:
        return parse_json(data)
    except (ValueError, RecursionError):
        raise InvalidInputError(what) from None


def object_body() -> dict[str, Any]:
    """The request's JSON object."""
    data = request.get_data(cache=True)
    if len(data) > _limit():
        raise InputTooLargeError("request body too large")
    body = loads(data)
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object")
    return body


def slide_frame(slide_key: str) -> NdpaFrame:
    """Where NDPA nanometres land on library slide *slide_key* (its Hamamatsu offsets, pixel size
    and size).

    :raises ValidationError: the slide has no such frame (422, naming what is missing).
    """
    from viewer.annotations.ndpa import NdpaFrame

    info = services().slides.info(slide_key)
    try:
        return NdpaFrame.from_slide(info)
    except InvalidInputError as exc:
        raise ValidationError(f"slide {slide_key!r}: {exc.message}", list(exc.details)) from None


def read_document(
    data: bytes, kind: str, slide_key: Callable[[], str] | None = None
) -> tuple[Any, AnnotationSet, list[str]]:
    """An uploaded ASAP XML, ImageScope XML, NDPA or GeoJSON document: (its JSON, or None for XML;
    the model in slide space; the warnings of its reader). The store checks the model's rules (422)
    as it writes. XML formats are told apart by their root element
    (:func:`viewer.annotations.formats.xml_format`).

    :param slide_key: the library slide the document is for (called for NDPA only: its frame).
    :raises InvalidInputError: unreadable (400).
    :raises ValidationError: NDPA for a slide without the Hamamatsu frame, or for no slide (422).
    """
    warnings: list[str] = []
    doc: Any = None
    if kind == "xml":
        from viewer.annotations.formats import read_xml

        def frame() -> NdpaFrame:
            if slide_key is None:
                raise ValidationError("an NDPA file needs its slide", ["NDPA: no slide to place it on"])
            return slide_frame(slide_key())

        _fmt, aset = read_xml(data, ndpa_frame=frame, max_bytes=_limit(), warnings=warnings)
    else:
        doc = loads(data, "the body is neither ASAP XML nor JSON")
        aset = collection_to_model(doc, warnings)
    return doc, aset, warnings


def group_from_json(body: Any, where: str = "group") -> Group:
    """A group from its JSON (:class:`schemas.GroupIn`).

    :raises ValidationError: listing every member that is wrong.
    """
    found: schemas.GroupIn = schemas.validate_body(schemas.GroupIn, body, where, ValidationError)
    return Group(name=found.name, parent=found.parent, color=found.color, attributes=dict(found.attributes))


def _groups_from_json(items: list[Any]) -> list[Group]:
    """Every group of a FeatureCollection's ``groups``, each problem of each one listed."""
    groups, problems = [], []
    for index, item in enumerate(items):
        try:
            groups.append(group_from_json(item, f"groups[{index}]"))
        except ValidationError as exc:
            problems.extend(exc.details)
    if problems:
        raise ValidationError(f"invalid groups: {problems[0]}", problems[:_MAX_PROBLEMS])
    return groups


def annotation_from_feature(body: Any) -> Annotation:
    """One annotation from a GeoJSON Feature (slide space)."""
    from viewer.annotations.geojson import feature_to_annotation

    if not isinstance(body, dict):
        raise ValidationError("an annotation must be a GeoJSON Feature object", ["body: not an object"])
    annotation: Annotation = _guarded(feature_to_annotation, body)
    return annotation


def _guarded(parse: Callable[[Any], Any], doc: Any) -> Any:
    """*parse(doc)*, with any crash of the parser on hostile input reported as a format error."""
    try:
        return parse(doc)
    except ViewerError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        raise AnnotationFormatError(
            "not GeoJSON this server can read", [f"{type(exc).__name__}: {exc}"]
        ) from None


def _check_envelope(doc: Any) -> None:
    """Refuse what is not a set of Features (the GeoJSON reader is lenient: ``[1, 2]`` or ``{}``
    would read as an empty set, and replacing a set by that must not look like a success)."""
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        items = doc.get("features")
        if not isinstance(items, list):
            raise AnnotationFormatError(
                "a FeatureCollection needs a features array", ["$.features: not an array"]
            )
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        items = [doc]
    elif isinstance(doc, list):
        items = doc
    else:
        raise AnnotationFormatError(
            "expected a GeoJSON FeatureCollection, a Feature or an array of Features",
            ["$: not a FeatureCollection, Feature or array"],
        )
    problems = [
        f"$.features[{i}]: not a Feature object"
        for i, item in enumerate(items)
        if not (isinstance(item, dict) and item.get("type") == "Feature")
    ]
    if problems:
        raise AnnotationFormatError(
            f"invalid GeoJSON: {len(problems)} problems; first: {problems[0]}", problems[:_MAX_PROBLEMS]
        )


def collection_to_model(doc: Any, warnings: list[str] | None = None) -> AnnotationSet:
    """A FeatureCollection (ours, with ``groups``, or anyone's GeoJSON) as a model; *warnings*
    receives what the reader tolerated (groups sharing a name, ...)."""
    _check_envelope(doc)
    from viewer.annotations.geojson import GROUPS_MEMBER, from_geojson, group_to_json

    if isinstance(doc, dict) and GROUPS_MEMBER not in doc and isinstance(doc.get("groups"), list):
        groups = _groups_from_json(doc["groups"])
        doc = {**doc, GROUPS_MEMBER: [group_to_json(g) for g in groups]}
    aset: AnnotationSet = _guarded(lambda d: from_geojson(d, warnings=warnings), doc)
    return aset


def replacement(slide_key: Callable[[], str] | None = None) -> tuple[AnnotationSet, list[str], str]:
    """The body of a whole-set replace (GeoJSON, ASAP XML, ImageScope XML or NDPA placed on the
    slide *slide_key* names): the model, its reader's warnings and who makes the change."""
    data, kind = document_bytes()
    doc, aset, warnings = read_document(data, kind, slide_key)
    return aset, warnings, who(doc) if isinstance(doc, dict) and "user" in doc else who()
