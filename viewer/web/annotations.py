"""The annotation API: sets of a slide, whole-set reads and writes (GeoJSON or ASAP XML), single
annotations and groups with their own versions, history, diff, restore, export and import.

Everything is in **slide space** (level-0 px). Versions travel as ETags: a set's ETag is its
version, an annotation's or group's ETag is the object's version; writes take ``If-Match`` and a
stale one gets 412 with the current object in ``current``. Who made a change comes from the
``X-User`` header (or a ``user`` member of a JSON body), "anonymous" otherwise.

Routes: ``/api/annotations/<slide id>`` lists and creates the sets of a slide (the slide id is a
path, so it comes last); everything else lives under ``/api/sets/<set id>/...``. Every URL a client
needs is in the ``urls`` of the slide entry, of the set list and of each set.
"""

from __future__ import annotations

import json
import math
import operator
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import (
    AnnotationFormatError,
    ConflictError,
    InputTooLargeError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    ValidationError,
    ViewerError,
)
from viewer.store import (
    AnnotationRecord,
    ChangeInfo,
    ChangeItem,
    GroupRecord,
    SetInfo,
    SetState,
    Store,
    WriteResult,
    annotation_from_doc,
    name_from_file,
)
from viewer.web.security import ascii_float, ascii_int, check_author
from viewer.web.services import services

bp = Blueprint("annotations", __name__, url_prefix="/api")

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPES = ("application/json", "application/geo+json")
_SIMPLIFY_TYPES = frozenset({"Polygon", "Spline"})  # outlines: Douglas-Peucker
_DECIMATE_TYPES = _SIMPLIFY_TYPES | {"PointSet"}  # points closer than a screen pixel merge
_MAX_INT = 2**31 - 1


# --------------------------------------------------------------------------------------------------
# Request helpers


@bp.before_request
def _ids_in_range() -> None:
    """Ids beyond the database's integers name nothing (and must not reach the driver)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and value > _MAX_INT:
            raise NotFoundError("no such annotation set, annotation, group or version")


def _store() -> Store:
    return services().store


@bp.errorhandler(PreconditionFailedError)
def _stale(exc: PreconditionFailedError) -> Response:
    """412 in the one error shape, with ``current`` as the API shows that object and its ETag."""
    current = exc.current
    etag = None
    if isinstance(current, AnnotationRecord):
        etag, current = current.version, _record_feature(current)
    elif isinstance(current, GroupRecord):
        etag, current = current.version, _group_json(current)
    elif isinstance(current, int):
        etag = current
    response = jsonify({"error": exc.message, "status": 412, "details": exc.details, "current": current})
    response.status_code = 412
    if etag is not None:
        response.headers["ETag"] = _etag(etag)
    return response


def _who(body: Any = None) -> str:
    """Who makes a change: a JSON body's ``user``, else ``X-User`` (both checked by
    :func:`check_author`: the sidecar's name is reserved; the hook of viewer/web/security.py has
    refused a reserved ``X-User`` already)."""
    if isinstance(body, dict) and isinstance(body.get("user"), str):
        check_author(body["user"], "user")
        return str(body["user"])
    return request.headers.get("X-User", "")


def _if_match() -> int | None:
    """The version named by ``If-Match`` (None when absent or ``*``)."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    text = raw.strip()
    if text.startswith("W/"):
        text = text[2:]
    version = ascii_int(text.strip('"'))
    if version is None or version > _MAX_INT:
        raise InvalidInputError('If-Match must be one ETag as sent by the server, e.g. "12"')
    return version


def _int_arg(name: str, default: int | None = None, low: int = 0, high: int = _MAX_INT) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = ascii_int(raw)
    if value is None or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer from {low} to {high} (ASCII digits)")
    return value


def _body_bytes() -> tuple[bytes, str]:
    """The uploaded document and its kind ("xml" or "json"): raw body or a multipart ``file``."""
    limit = services().settings["ANNOTATION_MAX_MB"] << 20
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInputError("multipart upload needs a 'file' field")
        data = upload.read(limit + 1)
        kind = "xml" if (upload.filename or "").lower().endswith(".xml") else ""
    else:
        data = request.get_data(cache=True)
        kind = "xml" if request.mimetype in XML_TYPES else "json" if request.mimetype in JSON_TYPES else ""
    if len(data) > limit:
        raise InputTooLargeError(f"annotation documents are limited to {limit >> 20} MiB")
    if not kind:
        kind = "xml" if data.lstrip()[:1] == b"<" else "json"
    return data, kind


def _loads(data: bytes) -> Any:
    """A body's JSON (ValueError or RecursionError when it is none); an integer too long for a
    float reads as inf, which the readers report with its location, as they report 1e400."""
    from viewer.annotations.geojson import parse_json

    return parse_json(data)


def _json_body() -> Any:
    data = request.get_data(cache=True)
    if len(data) > services().settings["ANNOTATION_MAX_MB"] << 20:
        raise InputTooLargeError("request body too large")
    try:
        return _loads(data)
    except (ValueError, RecursionError):
        raise InvalidInputError("the body must be JSON") from None


def _object_body() -> dict[str, Any]:
    body = _json_body()
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object")
    return body


def _parse_document(data: bytes, kind: str) -> AnnotationSet:
    """An uploaded ASAP XML or GeoJSON document as a validated model (slide space)."""
    if kind == "xml":
        from viewer.annotations.asap import read_asap

        aset = read_asap(data, max_bytes=services().settings["ANNOTATION_MAX_MB"] << 20)
    else:
        try:
            doc = _loads(data)
        except (ValueError, RecursionError):
            raise InvalidInputError("the body is neither ASAP XML nor JSON") from None
        aset = _collection_to_model(doc)
    aset.validate()
    return aset


# --------------------------------------------------------------------------------------------------
# JSON shapes


def _group_json(rec: GroupRecord) -> dict[str, Any]:
    g = rec.group
    return {
        "id": rec.id,
        "version": rec.version,
        "name": g.name,
        "parent": g.parent,
        "color": g.color,
        "attributes": g.attributes,
    }


def _group_from_json(body: Any, where: str = "group") -> Group:
    if not isinstance(body, dict):
        raise ValidationError(f"{where} must be a JSON object", [f"{where}: not an object"])
    problems = []
    name = body.get("name")
    if not isinstance(name, str):
        problems.append(f"{where}: name must be a string")
    parent = body.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append(f"{where}: parent must be a group name or null")
    color = body.get("color", "#64FE2E")
    if not isinstance(color, str):
        problems.append(f"{where}: color must be a string")
    attributes = body.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        problems.append(f"{where}: attributes must be an object of strings")
    if problems:
        raise ValidationError(f"invalid {where}: {problems[0]}", problems)
    return Group(name=str(name), parent=parent, color=color, attributes=dict(attributes))


def _feature(obj_id: int, version: int, a: Annotation, groups: list[Group] | None = None) -> dict[str, Any]:
    """A GeoJSON Feature (slide space) with our id and the annotation's version; *groups* give the
    class colours."""
    from viewer.annotations.geojson import annotation_to_feature

    feature = annotation_to_feature(a, groups)
    feature["id"] = obj_id
    feature.setdefault("properties", {})
    feature["properties"]["version"] = version
    return feature


def _annotation_from_feature(body: Any) -> Annotation:
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
            f"invalid GeoJSON: {len(problems)} problems; first: {problems[0]}", problems[:50]
        )


def _collection_to_model(doc: Any) -> AnnotationSet:
    """A FeatureCollection (ours, with ``groups``, or anyone's GeoJSON) as a model."""
    _check_envelope(doc)
    from viewer.annotations.geojson import GROUPS_MEMBER, from_geojson, group_to_json

    if isinstance(doc, dict) and GROUPS_MEMBER not in doc and isinstance(doc.get("groups"), list):
        groups = [_group_from_json(g, f"groups[{i}]") for i, g in enumerate(doc["groups"])]
        doc = {**doc, GROUPS_MEMBER: [group_to_json(g) for g in groups]}
    aset: AnnotationSet = _guarded(from_geojson, doc)
    return aset


def _record_feature(rec: AnnotationRecord) -> dict[str, Any]:
    return _feature(rec.id, rec.version, rec.annotation)


def _item_json(item: ChangeItem) -> dict[str, Any]:
    def one(obj: Annotation | Group | None) -> Any:
        if obj is None:
            return None
        if isinstance(obj, Annotation):
            return _feature(item.id, 0, obj)
        return {"id": item.id, **_group_json(GroupRecord(item.id, 0, obj)), "version": None}

    return {"kind": item.kind, "id": item.id, "before": one(item.before), "after": one(item.after)}


def set_urls(set_id: int) -> dict[str, str]:
    """Every URL of one annotation set."""
    return {
        "self": url_for("annotations.get_set", set_id=set_id),
        "asap_xml": url_for("annotations.set_xml", set_id=set_id),
        "annotations": url_for("annotations.create_annotation", set_id=set_id),
        "groups": url_for("annotations.create_group", set_id=set_id),
        "history": url_for("annotations.history", set_id=set_id),
        "diff": url_for("annotations.diff", set_id=set_id),
        "restore": url_for("annotations.restore", set_id=set_id),
        "export": url_for("annotations.export", set_id=set_id),
    }


def _set_json(info: SetInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": info.id,
        "slide": info.slide_key,
        "name": info.name,
        "version": info.version,
        "annotation_count": info.annotation_count,
        "vertex_count": info.vertex_count,
        "created_at": info.created_at,
        "created_by": info.created_by,
        "updated_at": info.updated_at,
        "sidecar": None,
        "urls": set_urls(info.id),
    }
    if info.sidecar_path:
        body["sidecar"] = {"file": Path(info.sidecar_path).name, "error": info.sidecar_error}
    return body


def _change_json(set_id: int, change: ChangeInfo) -> dict[str, Any]:
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
            "change": url_for("annotations.change", set_id=set_id, version=change.version),
            "state": url_for("annotations.get_set", set_id=set_id, version=change.version),
            "asap_xml": url_for("annotations.set_xml", set_id=set_id, version=change.version),
        },
    }


def _etag(version: int) -> str:
    return f'"{version}"'


def _write_response(
    result: WriteResult, body: dict[str, Any], status: int = 200, etag: int | None = None
) -> Response:
    body["set_version"] = result.info.version
    body["change"] = _change_json(result.info.id, result.change) if result.change else None
    if result.sidecar_error:
        # The change is kept in the store; the client is told the file could not follow.
        body["sidecar_error"] = result.sidecar_error
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = _etag(result.info.version if etag is None else etag)
    if result.sidecar_error:
        response.headers["X-Sidecar-Error"] = result.sidecar_error.encode("ascii", "replace").decode()[:500]
    return response


# --------------------------------------------------------------------------------------------------
# Slides: their sets


def open_slide(slide_id: str) -> int:
    """The store's id of a slide of the library (first use imports its ASAP sidecar)."""
    svc = services()
    info = svc.slides.info(slide_id)
    known = [i.id for i in svc.slides.scan()]
    path = svc.slides.root / info.id
    return svc.store.open_slide(info.id, path, info.quickhash, known_keys=known)


def slide_annotation_urls(slide_id: str) -> dict[str, str]:
    """The annotation URLs of a slide's listing entry."""
    return {
        "annotations": url_for("annotations.slide_sets", slide_id=slide_id),
        "annotations_xml": url_for("annotations.slide_xml", slide_id=slide_id),
    }


def annotation_counts(slide_ids: list[str]) -> dict[str, int]:
    """Annotations per slide over all its sets; slides never used are opened first (sidecar import)."""
    svc = services()
    counts = svc.store.annotation_counts(slide_ids)
    for slide_id in slide_ids:
        if slide_id not in counts:
            try:
                open_slide(slide_id)
            except Exception:  # noqa: BLE001 - one broken sidecar must not break the listing
                current_app.logger.exception("could not open %s in the annotation store", slide_id)
                continue
    missing = [s for s in slide_ids if s not in counts]
    if missing:
        counts.update(svc.store.annotation_counts(missing))
    return counts


@bp.get("/annotations/<path:slide_id>")
def slide_sets(slide_id: str) -> Response:
    """The annotation sets (layers) of a slide."""
    store = _store()
    slide = open_slide(slide_id)
    body = {
        "slide": slide_id,
        "sets": [_set_json(info) for info in store.list_sets(slide)],
        "sidecar_error": store.slide_error(slide),
        "urls": {
            "create": url_for("annotations.slide_sets", slide_id=slide_id),
            "asap_xml": url_for("annotations.slide_xml", slide_id=slide_id),
        },
    }
    return jsonify(body)


@bp.post("/annotations/<path:slide_id>")
def create_set(slide_id: str) -> Response:
    """A new set: empty (JSON ``{"name": ...}``), or an upload of ASAP XML / GeoJSON (``?name=``)."""
    slide = open_slide(slide_id)
    data, kind = _body_bytes()
    name = request.args.get("name")
    content: AnnotationSet | None = None
    who = _who()
    if kind == "json":
        try:
            doc = _loads(data) if data.strip() else {}
        except (ValueError, RecursionError):
            raise InvalidInputError("the body must be JSON or ASAP XML") from None
        if not isinstance(doc, dict):
            raise InvalidInputError("the body must be a JSON object")
        who = _who(doc) if "user" in doc else who
        if name is None and isinstance(doc.get("name"), str):
            name = doc["name"]
        if doc.get("type") == "FeatureCollection" or "features" in doc:
            content = _collection_to_model(doc)
            content.validate()
    else:
        content = _parse_document(data, kind)
    if name is None:
        upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
        if upload is not None and upload.filename:
            name = name_from_file(upload.filename)
        else:
            name = f"layer {len(_store().list_sets(slide)) + 1}"
    result = _store().create_set(slide, name, who, content, message="imported upload" if content else "")
    response = _write_response(result, {"set": _set_json(result.info)}, 201)
    response.headers["Location"] = url_for("annotations.get_set", set_id=result.info.id)
    return response


def _default_set(slide_id: str, create: bool) -> int | None:
    """The set ``urls.annotations_xml`` of a slide reads and writes: its first set."""
    store = _store()
    slide = open_slide(slide_id)
    found = store.list_sets(slide)
    if found:
        return found[0].id
    if not create:
        return None
    return store.create_set(slide, "default", _who()).info.id


@bp.get("/annotations-xml/<path:slide_id>")
def slide_xml(slide_id: str) -> Response:
    """The slide's first set as ASAP XML (an empty document when it has none)."""
    set_id = _default_set(slide_id, create=False)
    if set_id is None:
        from viewer.annotations.asap import write_asap

        response = Response(write_asap(AnnotationSet()), mimetype="application/xml")
        response.headers["ETag"] = _etag(0)
        return response
    return _xml_response(set_id)


@bp.put("/annotations-xml/<path:slide_id>")
def put_slide_xml(slide_id: str) -> Response:
    """Replace the slide's first set (created when missing) by an ASAP XML body; If-Match optional."""
    set_id = _default_set(slide_id, create=True)
    assert set_id is not None
    return _replace(set_id)


# --------------------------------------------------------------------------------------------------
# Whole sets


_Key = tuple[int, int, int, int, float]  # (store, group colours, annotation id, version, tolerance)


class _FeatureCache:
    """Encoded features by (store, annotation id, version, tolerance): a viewport query re-uses the
    JSON of annotations it sent before, so panning a 10^6-vertex set costs an index scan and a join."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[_Key, str] = OrderedDict()
        self._pending: dict[_Key, threading.Event] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get_many(self, keys: list[_Key]) -> list[str | None]:
        """The cached texts of *keys* (None where absent)."""
        with self._lock:
            out = []
            for key in keys:
                found = self._items.get(key)
                if found is not None:
                    self._items.move_to_end(key)
                out.append(found)
            return out

    def claim(
        self, keys: list[_Key]
    ) -> tuple[list[str | None], list[int], list[tuple[int, threading.Event]]]:
        """Cached texts of *keys* (None where absent), the indices this caller must encode (claimed
        now), and (index, event) for those another request is encoding (wait, then get_many)."""
        with self._lock:
            # C-level passes over the hits (a zoomed-out view is thousands of cached features); only
            # misses take the Python loop.
            out: list[str | None] = list(map(self._items.get, keys))
            deque(map(self._items.move_to_end, compress(keys, out)), maxlen=0)  # LRU: hits are recent
            mine: list[int] = []
            theirs: list[tuple[int, threading.Event]] = []
            for index in compress(range(len(out)), map(operator.not_, out)):
                key = keys[index]
                if key in self._pending:
                    theirs.append((index, self._pending[key]))
                else:
                    self._pending[key] = threading.Event()
                    mine.append(index)
            return out, mine, theirs

    def release(self, keys: list[_Key], texts: list[str | None]) -> None:
        """Store what was encoded for claimed *keys* (None: failed) and wake whoever waits for them."""
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if text is not None and key not in self._items:
                    self._items[key] = text
                    self._bytes += len(text)
                event = self._pending.pop(key, None)
                if event is not None:
                    event.set()
            while self._bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)


_features = _FeatureCache()


def _tolerance(raw: str | None) -> float:
    """``simplify`` in px, rounded down to a power of two so nearby zooms share cached results."""
    if raw is None or raw == "":
        return 0.0
    value = ascii_float(raw)
    if value is None:
        raise InvalidInputError("simplify must be a number of px (>= 0)")
    if not math.isfinite(value) or value < 0 or value > 1e7:
        raise InvalidInputError("simplify must be a number of px from 0 to 1e7")
    if value < 0.5:
        return 0.0
    return float(2 ** math.floor(math.log2(value)))


def _bbox_arg() -> tuple[float, float, float, float] | None:
    raw = request.args.get("bbox")
    if raw is None:
        return None
    parsed = [ascii_float(p) for p in raw.split(",")]
    values = [v for v in parsed if v is not None]
    if (
        len(values) != 4
        or len(parsed) != 4
        or not all(math.isfinite(v) for v in values)
        or values[0] > values[2]
        or values[1] > values[3]
    ):
        raise InvalidInputError("bbox must be x0,y0,x1,y1 in slide px with x0 <= x1 and y0 <= y1")
    return (values[0], values[1], values[2], values[3])


def _decimate(coords: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """Drop vertices closer than *step* (slide px) to the last one kept; keep at least 3.

    A cheap first pass before Douglas-Peucker: at a coarse zoom most vertices of a traced outline
    are within a screen pixel of their neighbours, and shapely's topology-preserving simplification
    costs per input vertex.
    """
    out = [coords[0]]
    lx, ly = coords[0]
    limit = step * step
    for x, y in coords[1:]:
        if (x - lx) ** 2 + (y - ly) ** 2 >= limit:
            out.append((x, y))
            lx, ly = x, y
    if len(out) < 3:
        n = len(coords)
        out = [coords[0], coords[n // 3], coords[2 * n // 3]]
    return out


def _encode_feature(obj_id: int, version: int, a: Annotation, tolerance: float, groups: list[Group]) -> str:
    """One Feature as JSON text, simplified to *tolerance* slide px (0: exact) for display."""
    if tolerance > 0 and a.type in _DECIMATE_TYPES and len(a.coordinates) > 8:
        a.coordinates = _decimate(a.coordinates, tolerance / 2)
        if a.type in _SIMPLIFY_TYPES and len(a.coordinates) > 8:
            from viewer.annotations.geometry import simplify

            a.coordinates = simplify(a.coordinates, tolerance, closed=True)
    return json.dumps(_feature(obj_id, version, a, groups), separators=(",", ":"), allow_nan=False)


@bp.get("/sets/<int:set_id>")
def get_set(set_id: int) -> Response:
    """The set as a GeoJSON FeatureCollection (slide space) plus its groups; ``?version=`` for a
    past state, ``?bbox=x0,y0,x1,y1`` for what meets a view, ``?simplify=<px>`` for a zoom level."""
    store = _store()
    version = _int_arg("version")
    bbox = _bbox_arg()
    tolerance = _tolerance(request.args.get("simplify"))
    rows: list[tuple[int, int, Annotation | None]]
    if bbox is not None:
        info, group_recs, found = store.query(set_id, bbox)
        if version is not None and version != info.version:
            raise InvalidInputError("bbox is for the current version only")
        rows = [(i, v, None) for i, v in found]
        at = info.version
    else:
        state = store.state(set_id, version)
        info, group_recs, at = state.info, state.groups, state.version
        rows = [(r.id, r.version, r.annotation) for r in state.annotations]
    etag = _etag(at)
    if request.if_none_match.contains(etag.strip('"')):
        response = Response(status=304)
        response.headers["ETag"] = etag
        return response
    group_models = [g.group for g in group_recs]
    # Features carry their class colour: a cached feature is valid for these groups only.
    key = (id(store), hash(tuple((g.name, g.color) for g in group_models)))
    keys = [(*key, obj_id, v, tolerance) for obj_id, v, _a in rows]
    parts, mine, theirs = _features.claim(keys)
    # Only documents nobody has cached or is encoding are read (and parsed, and simplified): panning
    # re-uses the rest, and concurrent requests for one view encode each feature once.
    try:
        fetched = store.docs(set_id, [rows[i][0] for i in mine if rows[i][2] is None]) if mine else {}
        for index in mine:
            obj_id, v, a = rows[index]
            if a is None:
                if obj_id not in fetched:
                    continue  # deleted since the query
                v, doc = fetched[obj_id]
                a = annotation_from_doc(doc)
            parts[index] = _encode_feature(obj_id, v, a, tolerance, group_models)
    finally:
        _features.release([keys[i] for i in mine], [parts[i] for i in mine])
    for index, event in theirs:
        event.wait(60)
        parts[index] = _features.get_many([keys[index]])[0]
        if parts[index] is None:  # the other request failed: do it here
            obj_id, v, a = rows[index]
            if a is None:
                doc_row = store.docs(set_id, [obj_id]).get(obj_id)
                if doc_row is None:
                    continue
                v, a = doc_row[0], annotation_from_doc(doc_row[1])
            parts[index] = _encode_feature(obj_id, v, a, tolerance, group_models)
    from viewer.annotations.geojson import GROUPS_MEMBER, group_to_json

    head = {
        "type": "FeatureCollection",
        **_set_json(info),
        "version": at,
        "groups": [_group_json(g) for g in group_recs],
        GROUPS_MEMBER: [group_to_json(g) for g in group_models],
    }
    text = (
        json.dumps(head, separators=(",", ":"))[:-1]
        + ',"features":['
        + ",".join(p for p in parts if p)
        + "]}"
    )
    response = Response(text, mimetype="application/geo+json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _xml_response(set_id: int) -> Response:
    from viewer.annotations.asap import write_asap

    version = _int_arg("version")
    state = _store().state(set_id, version)
    response = Response(write_asap(state.to_model()), mimetype="application/xml")
    response.headers["ETag"] = _etag(state.version)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/sets/<int:set_id>/asap.xml")
def set_xml(set_id: int) -> Response:
    """The set (``?version=``: a past state) as ASAP XML, byte-compatible with desktop ASAP."""
    return _xml_response(set_id)


def _replace(set_id: int) -> Response:
    data, kind = _body_bytes()
    who = _who()
    if kind == "json":
        try:
            doc = _loads(data)
        except (ValueError, RecursionError):
            raise InvalidInputError("the body must be GeoJSON or ASAP XML") from None
        who = _who(doc) if isinstance(doc, dict) and "user" in doc else who
        aset = _collection_to_model(doc)
    else:
        aset = _parse_document(data, kind)
    result = _store().replace(set_id, aset, who, if_version=_if_match())
    return _write_response(result, {"set": _set_json(result.info)})


@bp.put("/sets/<int:set_id>")
def put_set(set_id: int) -> Response:
    """Replace the whole set by a GeoJSON FeatureCollection or ASAP XML body (``If-Match``: its ETag)."""
    return _replace(set_id)


@bp.put("/sets/<int:set_id>/asap.xml")
def put_set_xml(set_id: int) -> Response:
    """Replace the whole set by an ASAP XML body (``If-Match``: its ETag)."""
    return _replace(set_id)


@bp.patch("/sets/<int:set_id>")
def rename_set(set_id: int) -> Response:
    """Rename a set: ``{"name": ...}``."""
    body = _object_body()
    info = _store().rename_set(set_id, body.get("name"), _who(body))  # type: ignore[arg-type]
    response = jsonify({"set": _set_json(info)})
    response.headers["ETag"] = _etag(info.version)
    return response


# --------------------------------------------------------------------------------------------------
# Single annotations


@bp.post("/sets/<int:set_id>/annotations")
def create_annotation(set_id: int) -> Response:
    """Add one annotation (a GeoJSON Feature in slide space)."""
    body = _object_body()
    result = _store().create_annotation(set_id, _annotation_from_feature(body), _who(body))
    assert result.annotation is not None
    rec = result.annotation
    response = _write_response(result, {"annotation": _record_feature(rec)}, 201, etag=rec.version)
    response.headers["Location"] = url_for("annotations.annotation", set_id=set_id, annotation_id=rec.id)
    return response


@bp.get("/sets/<int:set_id>/annotations/<int:annotation_id>")
def annotation(set_id: int, annotation_id: int) -> Response:
    """One annotation as a GeoJSON Feature; its ETag is its own version."""
    rec = _store().annotation(set_id, annotation_id)
    response = jsonify(_record_feature(rec))
    response.headers["ETag"] = _etag(rec.version)
    return response


@bp.put("/sets/<int:set_id>/annotations/<int:annotation_id>")
def update_annotation(set_id: int, annotation_id: int) -> Response:
    """Replace one annotation; ``If-Match`` names the version edited (412 with ``current`` if stale)."""
    body = _object_body()
    result = _store().update_annotation(
        set_id, annotation_id, _annotation_from_feature(body), _who(body), if_version=_if_match()
    )
    assert result.annotation is not None
    return _write_response(
        result, {"annotation": _record_feature(result.annotation)}, etag=result.annotation.version
    )


@bp.delete("/sets/<int:set_id>/annotations/<int:annotation_id>")
def delete_annotation(set_id: int, annotation_id: int) -> Response:
    """Delete one annotation (the history keeps it); ``If-Match`` as for updates."""
    result = _store().delete_annotation(set_id, annotation_id, _who(), if_version=_if_match())
    return _write_response(result, {"deleted": annotation_id})


# --------------------------------------------------------------------------------------------------
# Single groups


@bp.post("/sets/<int:set_id>/groups")
def create_group(set_id: int) -> Response:
    """Add one group: ``{"name", "parent", "color", "attributes"}``."""
    body = _object_body()
    result = _store().create_group(set_id, _group_from_json(body), _who(body))
    assert result.group is not None
    response = _write_response(result, {"group": _group_json(result.group)}, 201, etag=result.group.version)
    response.headers["Location"] = url_for("annotations.group", set_id=set_id, group_id=result.group.id)
    return response


@bp.get("/sets/<int:set_id>/groups/<int:group_id>")
def group(set_id: int, group_id: int) -> Response:
    """One group; its ETag is its own version."""
    rec = _store().group(set_id, group_id)
    response = jsonify(_group_json(rec))
    response.headers["ETag"] = _etag(rec.version)
    return response


@bp.put("/sets/<int:set_id>/groups/<int:group_id>")
def update_group(set_id: int, group_id: int) -> Response:
    """Replace one group (a rename carries over to its annotations and child groups)."""
    body = _object_body()
    result = _store().update_group(
        set_id, group_id, _group_from_json(body), _who(body), if_version=_if_match()
    )
    assert result.group is not None
    return _write_response(result, {"group": _group_json(result.group)}, etag=result.group.version)


@bp.delete("/sets/<int:set_id>/groups/<int:group_id>")
def delete_group(set_id: int, group_id: int) -> Response:
    """Delete an empty group (409 while it has annotations or child groups)."""
    result = _store().delete_group(set_id, group_id, _who(), if_version=_if_match())
    return _write_response(result, {"deleted": group_id})


# --------------------------------------------------------------------------------------------------
# History


@bp.get("/sets/<int:set_id>/history")
def history(set_id: int) -> Response:
    """The set's changes, newest first (``?limit=``, ``?before=<version>`` to page back)."""
    limit = _int_arg("limit", 100, 1, 1000)
    before = _int_arg("before")
    assert limit is not None
    changes = _store().history(set_id, limit, before)
    return jsonify({"set": set_id, "changes": [_change_json(set_id, c) for c in changes]})


@bp.get("/sets/<int:set_id>/history/<int:version>")
def change(set_id: int, version: int) -> Response:
    """One change: who, when, and each object before and after it."""
    info, items = _store().change(set_id, version)
    return jsonify({**_change_json(set_id, info), "items": [_item_json(i) for i in items]})


@bp.get("/sets/<int:set_id>/diff")
def diff(set_id: int) -> Response:
    """What differs between versions ``from`` and ``to`` (default: the current one)."""
    start = _int_arg("from")
    if start is None:
        raise InvalidInputError("from (a version) is required")
    result = _store().diff(set_id, start, _int_arg("to"))
    return jsonify(
        {
            "set": set_id,
            "from": result.from_version,
            "to": result.to_version,
            "items": [_item_json(i) for i in result.items],
        }
    )


@bp.post("/sets/<int:set_id>/restore")
def restore(set_id: int) -> Response:
    """Make the set what it was at ``{"version": N}``, as a new change (``If-Match``: the set's ETag)."""
    body = _object_body()
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= _MAX_INT:
        raise InvalidInputError("version must be a version number of this set")
    result = _store().restore(set_id, version, _who(body), if_version=_if_match())
    return _write_response(result, {"set": _set_json(result.info)})


# --------------------------------------------------------------------------------------------------
# Export


def _export_name(state: SetState) -> str:
    """Download name stem of a set's exports: ``<slide stem>-<set name>-v<version>``, tamed."""
    stem = Path(state.info.slide_key).stem or "slide"
    filename = f"{stem}-{state.info.name}-v{state.version}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)


@bp.get("/sets/<int:set_id>/export")
def export(set_id: int) -> Response:
    """Download the set (``?version=``) as ``format=asap`` (XML), ``geojson`` or a small ``mask``
    (a tiled uint8 TIFF at the slide's size / ``downsample``; ``labels=NAME=N,...``,
    ``order=NAME,...``). A mask over ``MASK_DIRECT_MAX_COST`` is a job: POST the same URL."""
    fmt = request.args.get("format", "asap")
    if fmt not in ("asap", "geojson", "mask"):
        raise InvalidInputError("format must be asap, geojson or mask")
    state = _store().state(set_id, _int_arg("version"))
    filename = _export_name(state)
    if fmt == "asap":
        from viewer.annotations.asap import write_asap

        data = write_asap(state.to_model())
        return _download(data, "application/xml", filename + ".xml")
    if fmt == "geojson":
        from viewer.annotations.geojson import to_geojson

        data = json.dumps(to_geojson(state.to_model())).encode()
        return _download(data, "application/geo+json", filename + ".geojson")
    return _mask(_mask_request(state))


@bp.post("/sets/<int:set_id>/export")
def export_job(set_id: int) -> Response:
    """Start a mask export job (``format=mask``, the GET's parameters): ``202`` with the job and its
    ``Location``; poll it, then download ``urls.result`` (the TIFF a GET would give)."""
    from viewer.web.jobs import job_manager, job_response

    if request.args.get("format") != "mask":
        raise InvalidInputError("only masks are export jobs: POST with format=mask (GET the asap and "
                                "geojson formats, which are answered at once)")
    state = _store().state(set_id, _int_arg("version"))
    mask = _mask_request(state)
    view = job_manager().submit(
        "mask",
        {"width": mask.width, "height": mask.height, "downsample": float(mask.downsample),
         "labels": mask.labels, "order": mask.order, "mpp": mask.mpp},
        mask.aset,
        mask.filename,
        meta={"set": set_id, "version": state.version, "format": "mask", "downsample": mask.downsample,
              "width": mask.width, "height": mask.height},
        total=mask.height,
        result_type="image/tiff",
    )
    return job_response(view, 202)


@dataclass
class _MaskRequest:
    """A validated mask export: what to paint, at which size, and what it costs."""

    aset: AnnotationSet
    labels: dict[str, int] | None
    order: list[str] | None
    downsample: int
    width: int  # output px (at downsample)
    height: int
    mpp: tuple[float, float] | None
    filename: str
    vertices: int  # of the painted annotations
    cost: int  # vertices x output rows


def _mask_request(state: SetState) -> _MaskRequest:
    """Read and check the mask parameters; refuse a mask that costs more than ``MASK_MAX_COST``."""
    from viewer.annotations.masks import check_mask_request, mask_vertex_count, parse_labels

    info = services().slides.info(state.info.slide_key)
    if info.error or not info.width:
        raise InvalidInputError("the slide cannot be read, so its size for the mask is unknown")
    downsample = _int_arg("downsample", 1, 1, 4096)
    assert downsample is not None
    labels = parse_labels(request.args["labels"]) if request.args.get("labels") else None
    order = [n for n in request.args.get("order", "").split(",") if n] or None
    aset = state.to_model()
    check_mask_request(aset, labels, order)
    width, height = -(-info.width // downsample), -(-info.height // downsample)
    if width * height > 1 << 36:
        raise InputTooLargeError("mask too large: use downsample")
    vertices = mask_vertex_count(aset, labels, order)
    cost, limit = vertices * height, services().settings["MASK_MAX_COST"]
    if cost > limit:
        raise InputTooLargeError(
            f"mask too costly: {vertices:,} vertices x {height:,} output rows = {cost:,}, over "
            f"MASK_MAX_COST ({limit:,}); use a larger downsample or fewer annotations (labels)",
            details=[{"vertices": vertices, "rows": height, "cost": cost, "limit": limit}],
        )
    mpp = (info.mpp_x, info.mpp_y) if info.mpp_x and info.mpp_y else None
    return _MaskRequest(aset, labels, order, downsample, width, height, mpp,
                        _export_name(state) + "-mask.tif", vertices, cost)


def _mask(mask: _MaskRequest) -> Response:
    """A small mask, answered in the request; a larger one is refused with 409 (it needs a job)."""
    from viewer.annotations.masks import write_mask_tiff

    work, limit = mask.cost + mask.width * mask.height, services().settings["MASK_DIRECT_MAX_COST"]
    if work > limit:
        raise ConflictError(
            f"this mask is too large to make during the request ({mask.vertices:,} vertices x "
            f"{mask.height:,} rows + {mask.width * mask.height:,} pixels = {work:,}, over "
            f"MASK_DIRECT_MAX_COST ({limit:,})): POST the same URL to start an export job, poll "
            "its urls.self and download its urls.result",
            details=[{"vertices": mask.vertices, "rows": mask.height, "pixels": mask.width * mask.height,
                      "cost": work, "limit": limit, "method": "POST"}],
        )
    with tempfile.TemporaryDirectory(prefix="wsi-mask-") as tmp:
        out = Path(tmp) / "mask.tif"
        write_mask_tiff(mask.aset, out, mask.width, mask.height, mask.labels, mask.order,
                        level_downsample=float(mask.downsample), mpp=mask.mpp)
        data = out.read_bytes()
    return _download(data, "image/tiff", mask.filename)


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --------------------------------------------------------------------------------------------------
# OpenAPI description of these routes (merged into /api/openapi.json by viewer/web/openapi.py)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    out = {str(c): _json(_ref("Error"), "error") for c in codes}
    if 412 in codes:
        out["412"] = _json(_ref("PreconditionFailed"), "stale If-Match; current holds the latest")
    return out


_SET_ID = {"name": "set_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
_SLIDE_ID = {
    "name": "slide_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "Slide id: its path relative to the slide directory.",
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": 'The ETag of the version the client edited, e.g. "12" (absent or *: unconditional).',
}
_X_USER = {
    "name": "X-User",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Who makes the change (recorded in the history); default anonymous.",
}
_VERSION = {
    "name": "version",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0},
    "description": "A past version of the set (default: the current one).",
}
_DOC_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/geo+json": {"schema": _ref("FeatureCollection")},
        "application/json": {"schema": _ref("FeatureCollection")},
        "application/xml": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
    },
}
_WRITE_CODES = (400, 404, 409, 412, 413, 422)


def openapi_paths() -> dict[str, Any]:
    """The paths of the annotation API."""
    write = _json(_ref("SetWrite"))
    ann_write = _json(_ref("AnnotationWrite"))
    group_write = _json(_ref("GroupWrite"))
    xml = {"description": "ASAP XML", "content": {"application/xml": {"schema": {"type": "string"}}}}
    return {
        "/api/annotations/{slide_id}": {
            "get": {
                "summary": "The annotation sets (layers) of a slide; first use imports its ASAP sidecar",
                "operationId": "listSets",
                "parameters": [_SLIDE_ID],
                "responses": {"200": _json(_ref("SetList")), **_errors(400, 404, 422)},
            },
            "post": {
                "summary": 'Create a set: empty ({"name"}) or from an uploaded ASAP XML / GeoJSON',
                "operationId": "createSet",
                "parameters": [
                    _SLIDE_ID,
                    {"name": "name", "in": "query", "schema": {"type": "string"}},
                    _X_USER,
                ],
                "requestBody": {
                    "required": False,
                    "content": {
                        **_DOC_BODY["content"],
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}, "user": {"type": "string"}},
                            }
                        },
                    },
                },
                "responses": {"201": _json(_ref("SetWrite"), "created"), **_errors(*_WRITE_CODES)},
            },
        },
        "/api/annotations-xml/{slide_id}": {
            "get": {
                "summary": "The slide's first set as ASAP XML (empty document if it has none)",
                "operationId": "getSlideXml",
                "parameters": [_SLIDE_ID],
                "responses": {"200": xml, **_errors(400, 404, 422)},
            },
            "put": {
                "summary": "Replace the slide's first set (created if missing) by an ASAP XML body",
                "operationId": "putSlideXml",
                "parameters": [_SLIDE_ID, _IF_MATCH, _X_USER],
                "requestBody": _DOC_BODY,
                "responses": {"200": write, **_errors(*_WRITE_CODES)},
            },
        },
        "/api/sets/{set_id}": {
            "get": {
                "summary": "The set as GeoJSON in slide space, with its groups (ETag: the version)",
                "operationId": "getSet",
                "parameters": [
                    _SET_ID,
                    _VERSION,
                    {
                        "name": "bbox",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "x0,y0,x1,y1 in slide px: only annotations meeting it",
                    },
                    {
                        "name": "simplify",
                        "in": "query",
                        "schema": {"type": "number", "minimum": 0},
                        "description": "Douglas-Peucker tolerance in slide px (for the zoom)",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "FeatureCollection",
                        "content": {"application/geo+json": {"schema": _ref("FeatureCollection")}},
                    },
                    "304": {"description": "Not modified"},
                    **_errors(400, 404),
                },
            },
            "put": {
                "summary": "Replace the whole set (GeoJSON or ASAP XML body); If-Match: the set's ETag",
                "operationId": "replaceSet",
                "parameters": [_SET_ID, _IF_MATCH, _X_USER],
                "requestBody": _DOC_BODY,
                "responses": {"200": write, **_errors(*_WRITE_CODES)},
            },
            "patch": {
                "summary": "Rename the set",
                "operationId": "renameSet",
                "parameters": [_SET_ID, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json({"type": "object", "required": ["set"], "properties": {"set": _ref("Set")}}),
                    **_errors(400, 404, 409, 413, 422),
                },
            },
        },
        "/api/sets/{set_id}/asap.xml": {
            "get": {
                "summary": "The set (or ?version=) as ASAP XML",
                "operationId": "getSetXml",
                "parameters": [_SET_ID, _VERSION],
                "responses": {"200": xml, **_errors(400, 404)},
            },
            "put": {
                "summary": "Replace the whole set by ASAP XML; If-Match: the set's ETag",
                "operationId": "replaceSetXml",
                "parameters": [_SET_ID, _IF_MATCH, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {"application/xml": {"schema": {"type": "string"}}},
                },
                "responses": {"200": write, **_errors(*_WRITE_CODES)},
            },
        },
        "/api/sets/{set_id}/annotations": {
            "post": {
                "summary": "Add one annotation (a GeoJSON Feature in slide space)",
                "operationId": "createAnnotation",
                "parameters": [_SET_ID, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Feature")}},
                },
                "responses": {"201": _json(_ref("AnnotationWrite"), "created"), **_errors(*_WRITE_CODES)},
            },
        },
        "/api/sets/{set_id}/annotations/{annotation_id}": {
            "parameters": [
                _SET_ID,
                {
                    "name": "annotation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "get": {
                "summary": "One annotation; ETag = its own version",
                "operationId": "getAnnotation",
                "responses": {"200": _json(_ref("Feature")), **_errors(404)},
            },
            "put": {
                "summary": "Replace one annotation; If-Match: its version (412 with current if stale)",
                "operationId": "updateAnnotation",
                "parameters": [_IF_MATCH, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Feature")}},
                },
                "responses": {"200": ann_write, **_errors(*_WRITE_CODES)},
            },
            "delete": {
                "summary": "Delete one annotation (kept in the history)",
                "operationId": "deleteAnnotation",
                "parameters": [_IF_MATCH, _X_USER],
                "responses": {"200": _json(_ref("DeleteWrite")), **_errors(400, 404, 409, 412)},
            },
        },
        "/api/sets/{set_id}/groups": {
            "post": {
                "summary": "Add one group",
                "operationId": "createGroup",
                "parameters": [_SET_ID, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("GroupIn")}},
                },
                "responses": {"201": _json(_ref("GroupWrite"), "created"), **_errors(*_WRITE_CODES)},
            },
        },
        "/api/sets/{set_id}/groups/{group_id}": {
            "parameters": [
                _SET_ID,
                {
                    "name": "group_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "get": {
                "summary": "One group; ETag = its own version",
                "operationId": "getGroup",
                "responses": {"200": _json(_ref("Group")), **_errors(404)},
            },
            "put": {
                "summary": "Replace one group (a rename carries to its members); If-Match: its version",
                "operationId": "updateGroup",
                "parameters": [_IF_MATCH, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("GroupIn")}},
                },
                "responses": {"200": group_write, **_errors(*_WRITE_CODES)},
            },
            "delete": {
                "summary": "Delete an empty group (409 otherwise)",
                "operationId": "deleteGroup",
                "parameters": [_IF_MATCH, _X_USER],
                "responses": {"200": _json(_ref("DeleteWrite")), **_errors(400, 404, 409, 412)},
            },
        },
        "/api/sets/{set_id}/history": {
            "get": {
                "summary": "The set's changes, newest first",
                "operationId": "getHistory",
                "parameters": [
                    _SET_ID,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["set", "changes"],
                            "properties": {
                                "set": {"type": "integer"},
                                "changes": {"type": "array", "items": _ref("Change")},
                            },
                        }
                    ),
                    **_errors(400, 404),
                },
            },
        },
        "/api/sets/{set_id}/history/{version}": {
            "get": {
                "summary": "One change with each object before and after it",
                "operationId": "getChange",
                "parameters": [
                    _SET_ID,
                    {
                        "name": "version",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "allOf": [
                                _ref("Change"),
                                {
                                    "type": "object",
                                    "required": ["items"],
                                    "properties": {"items": {"type": "array", "items": _ref("ChangeItem")}},
                                },
                            ]
                        }
                    ),
                    **_errors(404),
                },
            },
        },
        "/api/sets/{set_id}/diff": {
            "get": {
                "summary": "Objects added, removed and changed between two versions",
                "operationId": "getDiff",
                "parameters": [
                    _SET_ID,
                    {
                        "name": "from",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    {"name": "to", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["from", "to", "items"],
                            "properties": {
                                "set": {"type": "integer"},
                                "from": {"type": "integer"},
                                "to": {"type": "integer"},
                                "items": {"type": "array", "items": _ref("ChangeItem")},
                            },
                        }
                    ),
                    **_errors(400, 404),
                },
            },
        },
        "/api/sets/{set_id}/restore": {
            "post": {
                "summary": "Restore an earlier version, as a new change",
                "operationId": "restoreSet",
                "parameters": [_SET_ID, _IF_MATCH, _X_USER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["version"],
                                "properties": {
                                    "version": {"type": "integer", "minimum": 0},
                                    "user": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": write, **_errors(400, 404, 409, 412, 413)},
            },
        },
        "/api/sets/{set_id}/export": {
            "get": {
                "summary": "Download as ASAP XML, GeoJSON or a small mask TIFF (a larger mask is a job)",
                "description": "format=mask is answered here only up to MASK_DIRECT_MAX_COST (vertices x "
                "output rows + output pixels); above it the answer is 409 with the numbers, and the mask "
                "is made by POSTing the same URL (a job). Above MASK_MAX_COST (vertices x output rows): 413.",
                "operationId": "exportSet",
                "parameters": [_SET_ID, _VERSION, *_MASK_PARAMETERS],
                "responses": {
                    "200": {
                        "description": "the file",
                        "content": {"application/xml": {}, "application/geo+json": {}, "image/tiff": {}},
                    },
                    **_errors(400, 404, 409, 413, 422),
                },
            },
            "post": {
                "summary": "Start a mask export job (format=mask, the GET's parameters)",
                "description": "Answers 202 with the job (see getJob) and its Location; poll urls.self "
                "(a job nobody polls for MASK_JOB_ABANDON_S is cancelled) and download urls.result once "
                "state is done: the bytes a GET would give. At most MASK_JOBS run at once per host, the "
                "others wait (queue_position); 503 when MASK_JOB_QUEUE jobs are already waiting or "
                "running; 413 above MASK_MAX_COST (vertices x output rows).",
                "operationId": "startExportJob",
                "parameters": [_SET_ID, _VERSION, *_MASK_PARAMETERS],
                "responses": {
                    "202": _json(_ref("Job"), "the job, queued"),
                    **_errors(400, 404, 413, 422, 503),
                },
            },
        },
    }


_MASK_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "format",
        "in": "query",
        "schema": {"type": "string", "enum": ["asap", "geojson", "mask"]},
        "description": "GET: default asap; POST: must be mask",
    },
    {
        "name": "labels",
        "in": "query",
        "schema": {"type": "string"},
        "description": "mask: NAME=LABEL,... (group names)",
    },
    {
        "name": "order",
        "in": "query",
        "schema": {"type": "string"},
        "description": "mask: NAME,NAME,... (later overwrites)",
    },
    {
        "name": "downsample",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 4096},
    },
]


def openapi_schemas() -> dict[str, Any]:
    """The component schemas of the annotation API."""
    integer, string = {"type": "integer"}, {"type": "string"}
    nullable_string = {"type": ["string", "null"]}
    change_urls = {"type": "object", "properties": {k: string for k in ("change", "state", "asap_xml")}}
    return {
        "PreconditionFailed": {
            "allOf": [
                _ref("Error"),
                {"type": "object", "required": ["current"], "properties": {"current": {}}},
            ]
        },
        "Set": {
            "type": "object",
            "required": ["id", "slide", "name", "version", "annotation_count", "vertex_count", "urls"],
            "properties": {
                "id": integer,
                "slide": string,
                "name": string,
                "version": integer,
                "annotation_count": integer,
                "vertex_count": integer,
                "created_at": string,
                "created_by": string,
                "updated_at": string,
                "sidecar": {
                    "type": ["object", "null"],
                    "properties": {"file": string, "error": nullable_string},
                },
                "urls": {
                    "type": "object",
                    "required": [
                        "self",
                        "asap_xml",
                        "annotations",
                        "groups",
                        "history",
                        "diff",
                        "restore",
                        "export",
                    ],
                    "additionalProperties": string,
                },
            },
        },
        "SetList": {
            "type": "object",
            "required": ["slide", "sets", "urls"],
            "properties": {
                "slide": string,
                "sets": {"type": "array", "items": _ref("Set")},
                "sidecar_error": nullable_string,
                "urls": {"type": "object", "additionalProperties": string},
            },
        },
        "Feature": {
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "description": "A GeoJSON Feature in slide space; properties.asap = {type, group, color}; "
            "id and properties.version are set by the server.",
            "properties": {
                "type": {"const": "Feature"},
                "id": {},
                "geometry": {"type": ["object", "null"]},
                "properties": {"type": ["object", "null"]},
            },
        },
        "FeatureCollection": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": _ref("Feature")},
                "version": integer,
                "groups": {"type": "array", "items": _ref("Group")},
                "asapGroups": {"type": "array", "items": _ref("GroupIn")},
            },
        },
        "GroupIn": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": string,
                "parent": nullable_string,
                "color": string,
                "attributes": {"type": "object", "additionalProperties": string},
            },
        },
        "Group": {
            "allOf": [
                _ref("GroupIn"),
                {
                    "type": "object",
                    "required": ["id", "version"],
                    "properties": {"id": integer, "version": {"type": ["integer", "null"]}},
                },
            ]
        },
        "Change": {
            "type": "object",
            "required": ["version", "at", "who", "kind", "message", "urls"],
            "properties": {
                "version": integer,
                "at": string,
                "who": string,
                "kind": string,
                "message": string,
                "created": integer,
                "updated": integer,
                "deleted": integer,
                "urls": change_urls,
            },
        },
        "ChangeItem": {
            "type": "object",
            "required": ["kind", "id", "before", "after"],
            "properties": {
                "kind": {"enum": ["annotation", "group"]},
                "id": integer,
                "before": {"type": ["object", "null"]},
                "after": {"type": ["object", "null"]},
            },
        },
        "Write": {
            "type": "object",
            "required": ["set_version", "change"],
            "properties": {
                "set_version": integer,
                "change": {"oneOf": [_ref("Change"), {"type": "null"}]},
                "sidecar_error": {
                    "type": "string",
                    "description": "the change is kept; the XML file could not follow",
                },
            },
        },
        "SetWrite": {
            "allOf": [
                _ref("Write"),
                {"type": "object", "required": ["set"], "properties": {"set": _ref("Set")}},
            ]
        },
        "AnnotationWrite": {
            "allOf": [
                _ref("Write"),
                {"type": "object", "required": ["annotation"], "properties": {"annotation": _ref("Feature")}},
            ]
        },
        "GroupWrite": {
            "allOf": [
                _ref("Write"),
                {"type": "object", "required": ["group"], "properties": {"group": _ref("Group")}},
            ]
        },
        "DeleteWrite": {
            "allOf": [
                _ref("Write"),
                {"type": "object", "required": ["deleted"], "properties": {"deleted": integer}},
            ]
        },
    }
