"""Single annotations and groups of a set, each with its own version: its ETag. People editing
different objects of one set never conflict; a stale ``If-Match`` gets 412 with the object as it
is now in ``current``. Annotations are GeoJSON Features in slide space (level-0 px).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify, url_for

from viewer.store import WriteResult
from viewer.web import schemas
from viewer.web.bodies import annotation_from_feature, group_from_json, object_body, who
from viewer.web.conditional import etag_of, if_match, is_fresh, not_modified
from viewer.web.idempotency import idempotent_write
from viewer.web.openapi import Body, describe, json_reply
from viewer.web.params import IDEMPOTENCY_KEY, IF_MATCH, IF_NONE_MATCH, X_USER
from viewer.web.services import services
from viewer.web.shapes import PRIVATE, group_json, record_feature, write_json, write_response

bp = Blueprint("objects", __name__)

_WRITE_ERRORS = (400, 404, 409, 413, 422, 503)
_FEATURE = Body({"application/json": schemas.Feature})
_GROUP = Body({"application/json": schemas.GroupIn})


def _fresh_or(etag: str, body: object) -> Response:
    """304 when the client's copy is current, else *body* as JSON with its ETag."""
    if is_fresh(etag):
        return not_modified(etag, PRIVATE)
    response = jsonify(body)
    response.headers["ETag"] = etag
    return response


def _deleted(object_id: int) -> Callable[[WriteResult], Response]:
    """The answer of a delete of *object_id*."""

    def respond(result: WriteResult) -> Response:
        answer: schemas.DeleteWrite = {**write_json(result), "deleted": object_id}
        return write_response(result, answer)

    return respond


# --------------------------------------------------------------------------------------------------
# Annotations


@bp.post("/sets/<int:set_id>/annotations")
@describe("Add one annotation (a GeoJSON Feature in slide space)", parameters=(X_USER, IDEMPOTENCY_KEY),
          body=_FEATURE,
          responses={201: json_reply(schemas.AnnotationWrite, "created", location=True)},
          errors=_WRITE_ERRORS)
def create_annotation(set_id: int) -> Response:
    """Add one annotation (a GeoJSON Feature in slide space)."""
    body = object_body()
    a, user = annotation_from_feature(body), who(body)

    def respond(result: WriteResult) -> Response:
        assert result.annotation is not None
        rec = result.annotation
        answer: schemas.AnnotationWrite = {**write_json(result), "annotation": record_feature(rec)}
        response = write_response(result, answer, 201, etag=rec.version)
        response.headers["Location"] = url_for(
            "annotations.objects.annotation", set_id=set_id, annotation_id=rec.id
        )
        return response

    return idempotent_write(set_id, lambda: services().store.create_annotation(set_id, a, user), respond)


@bp.get("/sets/<int:set_id>/annotations/<int:annotation_id>")
@describe("One annotation as a GeoJSON Feature; ETag: its own version", operation_id="getAnnotation",
          parameters=(IF_NONE_MATCH,), responses={200: json_reply(schemas.Feature)}, errors=(404, 503))
def annotation(set_id: int, annotation_id: int) -> Response:
    """One annotation as a GeoJSON Feature; its ETag is its own version."""
    rec = services().store.annotation(set_id, annotation_id)
    return _fresh_or(etag_of(rec.version), record_feature(rec))


@bp.put("/sets/<int:set_id>/annotations/<int:annotation_id>")
@describe("Replace one annotation; If-Match: its version (412 with the current one if stale)",
          parameters=(IF_MATCH, X_USER, IDEMPOTENCY_KEY), body=_FEATURE,
          responses={200: json_reply(schemas.AnnotationWrite)},
          errors=_WRITE_ERRORS)
def update_annotation(set_id: int, annotation_id: int) -> Response:
    """Replace one annotation; ``If-Match`` names the version edited (412 with ``current`` if stale)."""
    precondition = if_match()
    body = object_body()
    a, user = annotation_from_feature(body), who(body)

    def respond(result: WriteResult) -> Response:
        assert result.annotation is not None
        rec = result.annotation
        answer: schemas.AnnotationWrite = {**write_json(result), "annotation": record_feature(rec)}
        return write_response(result, answer, etag=rec.version)

    return idempotent_write(set_id, lambda: services().store.update_annotation(
        set_id, annotation_id, a, user, if_version=precondition), respond)


@bp.delete("/sets/<int:set_id>/annotations/<int:annotation_id>")
@describe("Delete one annotation (the history keeps it)", parameters=(IF_MATCH, X_USER, IDEMPOTENCY_KEY),
          responses={200: json_reply(schemas.DeleteWrite)}, errors=(400, 404, 409, 422, 503))
def delete_annotation(set_id: int, annotation_id: int) -> Response:
    """Delete one annotation (the history keeps it); ``If-Match`` as for updates."""
    precondition, user = if_match(), who()
    return idempotent_write(set_id, lambda: services().store.delete_annotation(
        set_id, annotation_id, user, if_version=precondition), _deleted(annotation_id))


# --------------------------------------------------------------------------------------------------
# Groups


def _group_answer(result: WriteResult) -> Response:
    assert result.group is not None
    answer: schemas.GroupWrite = {**write_json(result), "group": group_json(result.group)}
    return write_response(result, answer, etag=result.group.version)


@bp.post("/sets/<int:set_id>/groups")
@describe("Add one group (409 when the set has a group of that name: the new one would take over "
          "its members)", parameters=(X_USER, IDEMPOTENCY_KEY), body=_GROUP,
          responses={201: json_reply(schemas.GroupWrite, "created", location=True)}, errors=_WRITE_ERRORS)
def create_group(set_id: int) -> Response:
    """Add one group: ``{"name", "parent", "color", "attributes"}``."""
    body = object_body()
    g, user = group_from_json(body), who(body)

    def respond(result: WriteResult) -> Response:
        assert result.group is not None
        answer: schemas.GroupWrite = {**write_json(result), "group": group_json(result.group)}
        response = write_response(result, answer, 201, etag=result.group.version)
        response.headers["Location"] = url_for(
            "annotations.objects.group", set_id=set_id, group_id=result.group.id
        )
        return response

    return idempotent_write(set_id, lambda: services().store.create_group(set_id, g, user), respond)


@bp.get("/sets/<int:set_id>/groups/<int:group_id>")
@describe("One group; ETag: its own version", operation_id="getGroup", parameters=(IF_NONE_MATCH,),
          responses={200: json_reply(schemas.Group)}, errors=(404, 503))
def group(set_id: int, group_id: int) -> Response:
    """One group; its ETag is its own version."""
    rec = services().store.group(set_id, group_id)
    return _fresh_or(etag_of(rec.version), group_json(rec))


@bp.put("/sets/<int:set_id>/groups/<int:group_id>")
@describe("Replace one group (a rename carries over to its members); If-Match: its version",
          description="Of groups sharing a name, members and child groups belong to the last one "
          "(as in ASAP): renaming it carries them along, renaming an earlier one moves nothing. A name "
          "another group has is 409; a parent the other groups of a shared name do not have is 422.",
          parameters=(IF_MATCH, X_USER, IDEMPOTENCY_KEY), body=_GROUP,
          responses={200: json_reply(schemas.GroupWrite)},
          errors=_WRITE_ERRORS)
def update_group(set_id: int, group_id: int) -> Response:
    """Replace one group (a rename carries over to its annotations and child groups)."""
    precondition = if_match()
    body = object_body()
    g, user = group_from_json(body), who(body)
    return idempotent_write(set_id, lambda: services().store.update_group(
        set_id, group_id, g, user, if_version=precondition), _group_answer)


@bp.delete("/sets/<int:set_id>/groups/<int:group_id>")
@describe("Delete an empty group (409 while it has annotations or child groups; an earlier group "
          "of a shared name holds none)",
          parameters=(IF_MATCH, X_USER, IDEMPOTENCY_KEY), responses={200: json_reply(schemas.DeleteWrite)},
          errors=(400, 404, 409, 422, 503))
def delete_group(set_id: int, group_id: int) -> Response:
    """Delete an empty group (409 while it has annotations or child groups)."""
    precondition, user = if_match(), who()
    return idempotent_write(set_id, lambda: services().store.delete_group(
        set_id, group_id, user, if_version=precondition), _deleted(group_id))
