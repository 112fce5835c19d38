"""Store records as the annotation API shows them (the shapes of ``viewer/web/schemas.py``), with
the URLs a client follows, and the one answer of every write."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from flask import Response, jsonify, url_for

from viewer.annotations.display import feature
from viewer.annotations.model import Annotation, Group
from viewer.store import AnnotationRecord, ChangeInfo, ChangeItem, GroupRecord, SetInfo, WriteResult
from viewer.web import schemas
from viewer.web.conditional import etag_of

#: Annotations are the lab's own data: revalidated every time, and kept by no shared cache.
PRIVATE = "private, no-cache"


def group_json(rec: GroupRecord) -> schemas.Group:
    """One stored group with its id and version."""
    g = rec.group
    return {
        "id": rec.id,
        "version": rec.version,
        "name": g.name,
        "parent": g.parent,
        "color": g.color,
        "attributes": g.attributes,
    }


def record_feature(rec: AnnotationRecord) -> schemas.Feature:
    """One stored annotation as a GeoJSON Feature (slide space) with its id and version."""
    return cast(schemas.Feature, feature(rec.id, rec.version, rec.annotation))


def item_json(item: ChangeItem) -> schemas.ChangeItem:
    """What one change did to one object."""

    def one(obj: Annotation | Group | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        if isinstance(obj, Annotation):
            return feature(item.id, 0, obj)
        return {**group_json(GroupRecord(item.id, 0, obj)), "version": None}

    kind: Literal["annotation", "group"] = "annotation" if item.kind == "annotation" else "group"
    return {"kind": kind, "id": item.id, "before": one(item.before), "after": one(item.after)}


def set_urls(set_id: int) -> schemas.SetUrls:
    """Every URL of one annotation set."""
    return {
        "self": url_for("annotations.sets.get_set", set_id=set_id),
        "asap_xml": url_for("annotations.sets.set_xml", set_id=set_id),
        "annotations": url_for("annotations.objects.create_annotation", set_id=set_id),
        "groups": url_for("annotations.objects.create_group", set_id=set_id),
        "history": url_for("annotations.history.history", set_id=set_id),
        "diff": url_for("annotations.history.diff", set_id=set_id),
        "restore": url_for("annotations.history.restore", set_id=set_id),
        "export": url_for("annotations.export.export", set_id=set_id),
        "summary": url_for("annotations.sets.set_summary", set_id=set_id),
        "sharing": url_for("annotations.sets.put_sharing", set_id=set_id),
    }


def set_json(info: SetInfo) -> schemas.Set:
    """A set without its content."""
    from viewer.web.access import access_json

    owner, sharing, editors = access_json(info.id)
    sidecar: schemas.Sidecar | None = None
    if info.sidecar_path:
        sidecar = {
            "file": Path(info.sidecar_path).name,
            "error": info.sidecar_error,
            "warnings": info.sidecar_warnings,
        }
    return {
        "id": info.id,
        "slide": info.slide_key,
        "name": info.name,
        "version": info.version,
        "annotation_count": info.annotation_count,
        "vertex_count": info.vertex_count,
        "created_at": info.created_at,
        "created_by": info.created_by,
        "updated_at": info.updated_at,
        "sidecar": sidecar,
        "urls": set_urls(info.id),
        "owner": owner,
        "sharing": sharing,
        "editors": editors,
    }


def change_json(set_id: int, change: ChangeInfo) -> schemas.Change:
    """One entry of a set's history."""
    return {
        "version": change.version,
        "at": change.at,
        "who": change.who,
        "kind": change.kind,
        "message": change.message,
        "created": change.created,
        "updated": change.updated,
        "deleted": change.deleted,
        "urls": {
            "change": url_for("annotations.history.change", set_id=set_id, version=change.version),
            "state": url_for("annotations.sets.get_set", set_id=set_id, version=change.version),
            "asap_xml": url_for("annotations.sets.set_xml", set_id=set_id, version=change.version),
        },
    }


def write_json(result: WriteResult) -> schemas.Write:
    """The members every write answers with."""
    body: schemas.Write = {
        "set_version": result.info.version,
        "change": change_json(result.info.id, result.change) if result.change else None,
    }
    if result.sidecar_error:
        # The change is kept in the store; the client is told the file could not follow.
        body["sidecar_error"] = result.sidecar_error
    return body


def write_response(result: WriteResult, body: Mapping[str, Any], status: int = 200,
                   etag: int | None = None) -> Response:
    """A write's answer: *body* (a shape extending :func:`write_json`), the ETag of what was
    written (the set's version unless *etag*), and ``X-Sidecar-Error`` when the file could not follow."""
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = etag_of(result.info.version if etag is None else etag)
    if result.sidecar_error:
        response.headers["X-Sidecar-Error"] = result.sidecar_error.encode("ascii", "replace").decode()[:500]
    return response
