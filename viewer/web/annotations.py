"""The annotation API: one blueprint over the routes of each concept, and what they share.

Everything is in **slide space** (level-0 px). Versions travel as ETags (``viewer/web/conditional.py``):
a set's ETag is its version, an annotation's or group's ETag is the object's version; writes take
``If-Match`` and a stale one gets 412 with the current object in ``current``; reads answer 304 to
an ``If-None-Match`` naming the current ETag. Who made a change comes from the ``X-User`` header
(or a ``user`` member of a JSON body), "anonymous" otherwise.

Routes: ``/api/annotations/<slide id>`` lists and creates the sets of a slide (the slide id is a
path, so it comes last); everything else lives under ``/api/sets/<set id>/...``. Every URL a client
needs is in the ``urls`` of the slide entry, of the set list and of each set.

- ``viewer/web/sets.py``: a slide's sets, its first set as ASAP XML, whole-set reads and writes;
- ``viewer/web/objects.py``: single annotations and groups;
- ``viewer/web/history.py``: history, one change, diff, restore;
- ``viewer/web/export.py``: downloads and mask jobs.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from viewer.errors import NotFoundError, PreconditionFailedError
from viewer.store import AnnotationRecord, GroupRecord
from viewer.web import export, history, objects, sets
from viewer.web.conditional import etag_of
from viewer.web.params import MAX_INT
from viewer.web.shapes import PRIVATE, group_json, record_feature

bp = Blueprint("annotations", __name__, url_prefix="/api")
for _child in (sets.bp, objects.bp, history.bp, export.bp):
    bp.register_blueprint(_child)


@bp.before_request
def _ids_in_range() -> None:
    """Ids beyond the database's integers name nothing (and must not reach the driver)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and value > MAX_INT:
            raise NotFoundError("no such annotation set, annotation, group or version")


@bp.after_request
def _private(response: Response) -> Response:
    """Annotations are the lab's own data: revalidated every time, and kept by no shared cache."""
    response.headers.setdefault("Cache-Control", PRIVATE)
    return response


@bp.errorhandler(PreconditionFailedError)
def _stale(exc: PreconditionFailedError) -> Response:
    """412 in the one error shape, with ``current`` as the API shows that object and its ETag."""
    current = exc.current
    etag = None
    if isinstance(current, AnnotationRecord):
        etag, current = current.version, record_feature(current)
    elif isinstance(current, GroupRecord):
        etag, current = current.version, group_json(current)
    elif isinstance(current, int):
        etag = current
    response = jsonify({"error": exc.message, "status": 412, "details": exc.details, "current": current})
    response.status_code = 412
    if etag is not None:
        response.headers["ETag"] = etag_of(etag)
    return response
