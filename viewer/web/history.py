"""A set's history: every change newest first, one change with each object before and after it,
the difference between two versions, and restoring an earlier version as a new change (history is
never rewritten)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from viewer.errors import InvalidInputError
from viewer.web import schemas
from viewer.web.bodies import object_body, who
from viewer.web.conditional import if_match
from viewer.web.openapi import Body, describe, json_reply
from viewer.web.params import IF_MATCH, X_USER, IntQuery
from viewer.web.services import services
from viewer.web.shapes import change_json, item_json, set_json, write_json, write_response

bp = Blueprint("history", __name__)

LIMIT = IntQuery("limit", "Changes per page, newest first.", low=1, high=1000, default=100)
BEFORE = IntQuery("before", "Only changes before this version (to page back).")
FROM = IntQuery("from", "The version to compare from.", required=True)
TO = IntQuery("to", "The version to compare to (default: the current one).")


@bp.get("/sets/<int:set_id>/history")
@describe("The set's changes, newest first", operation_id="getHistory", parameters=(LIMIT, BEFORE),
          responses={200: json_reply(schemas.History)}, errors=(400, 404, 503))
def history(set_id: int) -> Response:
    """The set's changes, newest first (``?limit=``, ``?before=<version>`` to page back)."""
    limit = LIMIT.get()
    assert limit is not None
    changes = services().store.history(set_id, limit, BEFORE.get())
    body: schemas.History = {"set": set_id, "changes": [change_json(set_id, c) for c in changes]}
    return jsonify(body)


@bp.get("/sets/<int:set_id>/history/<int:version>")
@describe("One change with each object before and after it", operation_id="getChange",
          responses={200: json_reply(schemas.ChangeDetail)}, errors=(404, 503))
def change(set_id: int, version: int) -> Response:
    """One change: who, when, and each object before and after it."""
    info, items = services().store.change(set_id, version)
    body: schemas.ChangeDetail = {**change_json(set_id, info), "items": [item_json(i) for i in items]}
    return jsonify(body)


@bp.get("/sets/<int:set_id>/diff")
@describe("Objects added, removed and changed between two versions", operation_id="getDiff",
          parameters=(FROM, TO), responses={200: json_reply(schemas.Diff)}, errors=(400, 404, 503))
def diff(set_id: int) -> Response:
    """What differs between versions ``from`` and ``to`` (default: the current one)."""
    start = FROM.get()
    if start is None:
        raise InvalidInputError("from (a version) is required")
    result = services().store.diff(set_id, start, TO.get())
    body: schemas.Diff = {
        "set": set_id,
        "from": result.from_version,
        "to": result.to_version,
        "items": [item_json(i) for i in result.items],
    }
    return jsonify(body)


@bp.post("/sets/<int:set_id>/restore")
@describe("Restore an earlier version, as a new change", operation_id="restoreSet",
          parameters=(IF_MATCH, X_USER), body=Body({"application/json": schemas.RestoreRequest}),
          responses={200: json_reply(schemas.SetWrite)}, errors=(400, 404, 409, 413, 503))
def restore(set_id: int) -> Response:
    """Make the set what it was at ``{"version": N}``, as a new change (``If-Match``: the set's ETag)."""
    precondition = if_match()
    body = object_body()
    fields: schemas.RestoreRequest = schemas.validate_body(schemas.RestoreRequest, body, "restore")
    result = services().store.restore(set_id, fields.version, who(body), if_version=precondition)
    answer: schemas.SetWrite = {**write_json(result), "set": set_json(result.info), "warnings": []}
    return write_response(result, answer)
