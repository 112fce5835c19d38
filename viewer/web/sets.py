"""Annotation sets: the sets of a slide (list, create, upload), the slide's first set as ASAP XML
(read, and write with the first save creating it), and whole-set reads and writes (GeoJSON with
viewport queries, ASAP XML). Everything is in slide space (level-0 px); a set's ETag is its version.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, url_for

from viewer.annotations.display import display_features, display_tile_key, zoom_tolerance
from viewer.annotations.model import Annotation, AnnotationSet
from viewer.errors import InvalidInputError, SlideNotFoundError, ValidationError
from viewer.slide_annotations import FIRST_SET_NAME
from viewer.store import WriteResult, annotation_from_doc, annotation_outlines, name_from_file
from viewer.web import access, schemas
from viewer.web.bodies import (
    collection_to_model,
    document_bytes,
    loads,
    object_body,
    read_document,
    replacement,
    upload_name,
    who,
)
from viewer.web.conditional import etag_of, if_match, is_fresh, not_modified
from viewer.web.openapi import Body, Reply, describe, json_reply
from viewer.web.params import IF_MATCH, IF_NONE_MATCH, VERSION, X_USER, BoxQuery, TextQuery, ToleranceQuery
from viewer.web.services import services
from viewer.web.shapes import PRIVATE, group_json, set_json, write_json, write_response

bp = Blueprint("sets", __name__)

BBOX = BoxQuery("bbox", "x0,y0,x1,y1 in slide px: only annotations whose bounding box meets it.")
SIMPLIFY = ToleranceQuery(
    "simplify", "Douglas-Peucker tolerance in slide px for the zoom (rounded down to a power of two)."
)
CLIP = TextQuery(
    "clip", "1 (with bbox): outlines of more than 256 vertices cut to the bbox, for a display tile; "
    "a cut Feature's properties.whole = {bbox, area, points} of the whole annotation.", choices=("0", "1")
)
NAME = TextQuery("name", "The new set's name (default: the uploaded file's, else 'layer N').")
_XML = Reply("ASAP XML", {"application/xml": str})
_DOCUMENT = Body({
    "application/geo+json": schemas.FeatureCollection,
    "application/json": schemas.FeatureCollection,
    "application/xml": str,
    "multipart/form-data": schemas.Upload,
})
_WRITE_ERRORS = (400, 404, 409, 413, 422, 503)
#: A box holding every annotation (slide px): the summary lists the whole set.
_EVERYWHERE = (-1e18, -1e18, 1e18, 1e18)
_FORMATS = (
    "An XML body (application/xml, or a multipart file named .xml or .ndpa) is ASAP XML, Aperio "
    "ImageScope XML or Hamamatsu NDPA, told apart by its root element (<ASAP_Annotations>, "
    "<Annotations> of layers with <Regions>, <annotations>). NDPA positions are nanometres from "
    "the slide centre: they are placed with the slide's hamamatsu.XOffsetFromSlideCentre / "
    "YOffsetFromSlideCentre, openslide.mpp-x / -y and size, and a slide without them is 422 naming "
    "what is missing. The answer's warnings list what the reader tolerated. A region's ImageScope "
    "Text, an NDPA viewstate's details and the ASAP Comment attribute become the annotation's "
    "comment (GeoJSON: properties.metadata.ANNOTATION_DESCRIPTION)."
)


def slide_annotation_urls(slide_id: str) -> dict[str, str]:
    """The annotation URLs of a slide's listing entry."""
    return {
        "annotations": url_for("annotations.sets.slide_sets", slide_id=slide_id),
        "annotations_xml": url_for("annotations.sets.slide_xml", slide_id=slide_id),
    }


def _set_write(result: WriteResult, warnings: list[str]) -> schemas.SetWrite:
    """The answer of a write of a whole set, with what its document's reader tolerated."""
    return {**write_json(result), "set": set_json(result.info), "warnings": warnings}


# --------------------------------------------------------------------------------------------------
# A slide's sets


@bp.get("/annotations/<path:slide_id>")
@describe("The annotation sets (layers) of a slide; first use imports its ASAP sidecar",
          operation_id="listSets", responses={200: json_reply(schemas.SetList)}, errors=(400, 404, 422, 503))
def slide_sets(slide_id: str) -> Response:
    """The annotation sets (layers) of a slide."""
    store = services().store
    slide = services().slide_annotations.open(slide_id)
    body: schemas.SetList = {
        "slide": slide_id,
        "sets": [set_json(info) for info in access.readable(store.list_sets(slide))],
        "sidecar_error": store.slide_error(slide),
        "urls": {
            "create": url_for("annotations.sets.slide_sets", slide_id=slide_id),
            "asap_xml": url_for("annotations.sets.slide_xml", slide_id=slide_id),
        },
    }
    return jsonify(body)


@bp.post("/annotations/<path:slide_id>")
@describe(
    'Create a set: empty ({"name"}) or from an uploaded ASAP XML, ImageScope XML, NDPA or GeoJSON '
    "document",
    description=_FORMATS,
    operation_id="createSet",
    parameters=(NAME, X_USER),
    body=Body({**_DOCUMENT.content, "application/json": schemas.SetCreate}, required=False),
    responses={201: json_reply(schemas.SetWrite, "created", location=True)},
    errors=_WRITE_ERRORS,
)
def create_set(slide_id: str) -> Response:
    """A new set: empty (JSON ``{"name": ...}``), or an upload of ASAP XML / GeoJSON (``?name=``)."""
    access.require_create()
    store = services().store
    slide = services().slide_annotations.open(slide_id)
    data, kind = document_bytes()
    name = NAME.get()
    content: AnnotationSet | None = None
    warnings: list[str] = []
    author = who()
    if kind == "json":
        doc = loads(data, "the body must be JSON or ASAP XML") if data.strip() else {}
        if not isinstance(doc, dict):
            raise InvalidInputError("the body must be a JSON object")
        fields: schemas.SetCreate = schemas.validate_body(schemas.SetCreate, doc, "set", ValidationError)
        author = who(doc) if fields.user is not None else author
        if name is None:
            name = fields.name
        if doc.get("type") == "FeatureCollection" or "features" in doc:
            content = collection_to_model(doc, warnings)
    else:
        _doc, content, warnings = read_document(data, kind, lambda: slide_id)
    if name is None:
        file_name = upload_name()
        name = name_from_file(file_name) if file_name else f"layer {len(store.list_sets(slide)) + 1}"
    owner, sharing = access.new_set_owner()
    result = store.create_set(slide, name, author, content, message="imported upload" if content else "",
                              owner=owner, sharing=sharing)
    response = write_response(result, _set_write(result, warnings), 201)
    response.headers["Location"] = url_for("annotations.sets.get_set", set_id=result.info.id)
    return response


@bp.get("/annotations-xml/<path:slide_id>")
@describe(
    "The slide's first set as ASAP XML (an empty document with ETag \"0\" when it has none)",
    operation_id="getSlideXml",
    parameters=(IF_NONE_MATCH,),
    responses={200: _XML},
    errors=(400, 404, 422, 503),
)
def slide_xml(slide_id: str) -> Response:
    """The slide's first set as ASAP XML (an empty document, version 0, when it has none)."""
    first = services().slide_annotations.first_set(slide_id)
    if first is not None:
        access.require_set_access(first.id, "read")
        return _xml_response(first.id)
    etag = etag_of(0)
    if is_fresh(etag):
        return not_modified(etag, PRIVATE)
    from viewer.annotations.asap import write_asap

    response = Response(write_asap(AnnotationSet()), mimetype="application/xml")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = PRIVATE
    return response


@bp.put("/annotations-xml/<path:slide_id>")
@describe(
    "Replace the slide's first set by an ASAP XML (or GeoJSON) body; the first save creates it",
    description='If-Match "0" (the ETag of the empty document), * or none creates the set with this '
    "content in one change when the slide has none; when another save created it first, the answer "
    "is 412 with that set's version.",
    operation_id="putSlideXml",
    parameters=(IF_MATCH, X_USER),
    body=_DOCUMENT,
    responses={200: json_reply(schemas.SetWrite)},
    errors=_WRITE_ERRORS,
)
def put_slide_xml(slide_id: str) -> Response:
    """Replace the slide's first set (created in one change when missing); If-Match optional."""
    precondition = if_match()
    first = services().slide_annotations.first_set(slide_id) if access.checking() else None
    if first is None:
        access.require_create()
    else:
        access.require_set_access(first.id, "edit")
    slide = services().slide_annotations.open(slide_id)
    aset, warnings, author = replacement(lambda: slide_id)
    owner, sharing = access.new_set_owner()  # if this save makes the set
    result = services().store.replace_first_set(slide, aset, author, if_version=precondition,
                                                name=FIRST_SET_NAME, owner=owner, sharing=sharing)
    return write_response(result, _set_write(result, warnings))


# --------------------------------------------------------------------------------------------------
# Whole sets


@bp.get("/sets/<int:set_id>")
@describe(
    "The set as GeoJSON in slide space, with its groups (ETag: the version shown)",
    parameters=(VERSION, BBOX, SIMPLIFY, CLIP, IF_NONE_MATCH),
    responses={200: json_reply(schemas.SetDocument, "FeatureCollection", media_type="application/geo+json")},
    errors=(400, 404, 503),
)
def get_set(set_id: int) -> Response:
    """The set as a GeoJSON FeatureCollection (slide space) plus its groups; ``?version=`` for a
    past state, ``?bbox=x0,y0,x1,y1`` for what meets a view, ``?simplify=<px>`` for a zoom level."""
    svc = services()
    store = svc.store
    version = VERSION.get()
    bbox = BBOX.get()
    tolerance = zoom_tolerance(SIMPLIFY.get())
    clip = CLIP.get() == "1"
    if clip and bbox is None:
        raise InvalidInputError("clip needs bbox")
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
    etag = etag_of(at)
    if is_fresh(etag):
        return not_modified(etag, PRIVATE)
    group_models = [g.group for g in group_recs]

    def fetch(ids: list[int]) -> dict[int, tuple[int, Annotation]]:
        return {i: (v, annotation_from_doc(doc)) for i, (v, doc) in store.docs(set_id, ids).items()}

    # a display tile (current version): the joined features any worker made are on disk
    key = None if bbox is None else display_tile_key(
        svc.settings["DATABASE"] or str(svc.data_dir), set_id, info.created_at, at, group_models, bbox,
        tolerance, clip)
    cached = svc.display_tiles.get(key) if key else None
    if cached is not None:
        features = cached.decode()
    else:
        features = ",".join(display_features(svc.feature_cache, id(store), group_models, rows, tolerance,
                                             fetch, bbox if clip else None))
        if key:
            svc.display_tiles.put(key, features.encode())
    from viewer.annotations.geojson import group_to_json

    head: schemas.SetDocumentHead = {
        "type": "FeatureCollection",
        **set_json(info),
        "version": at,
        "groups": [group_json(g) for g in group_recs],
        "asapGroups": [group_to_json(g) for g in group_models],  # type: ignore[misc]
    }
    text = json.dumps(head, separators=(",", ":"))[:-1] + ',"features":[' + features + "]}"
    response = Response(text, mimetype="application/geo+json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = PRIVATE
    return response


@bp.get("/sets/<int:set_id>/summary")
@describe(
    "Every annotation of the set, measured (name, type, group, bbox, area, length, longest "
    "diameter, CAMELYON class), for the viewer's layers panel (ETag: the set's version)",
    operation_id="getSetSummary",
    parameters=(IF_NONE_MATCH,),
    responses={200: json_reply(schemas.SetSummary)},
    errors=(400, 404, 503),
)
def set_summary(set_id: int) -> Response:
    """Every annotation's measures at the current version; 304 while the version is unchanged
    (reading the set's info first also imports a sidecar edited on disk)."""
    svc = services()
    store = svc.store
    info = store.set_info(set_id)
    etag = etag_of(info.version)
    if is_fresh(etag):
        return not_modified(etag, PRIVATE)
    try:
        slide = svc.slides.info(info.slide_key)
    except SlideNotFoundError:  # the slide file is gone: its annotations are still measured in px
        slide = None
    mpp = (float(slide.mpp_x), float(slide.mpp_y or slide.mpp_x)) if slide and slide.mpp_x else None
    key = (id(store), set_id, info.version, mpp)
    data = svc.summary_cache.cached(key)
    if data is None:
        # (id, version) of every annotation from the bounding-box index, documents only for the
        # annotations not measured before: after one edit of a large set, one is read and measured
        info, _groups, listing = store.query(set_id, _EVERYWHERE)
        head = {"set": set_id, "version": info.version, "mpp": list(mpp) if mpp else None}

        from viewer.annotations.summary import Outlines  # numpy and GEOS: imported on first use

        def fetch(ids: list[int]) -> Outlines:
            found = store.docs(set_id, ids)
            heads, points, offsets = annotation_outlines([doc for _v, doc in found.values()])
            return Outlines(list(found), [v for v, _d in found.values()], heads, points, offsets)

        key = (id(store), set_id, info.version, mpp)
        data = svc.summary_cache.encode(key, head, listing, fetch)
        etag = etag_of(info.version)
    response = Response(data, mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = PRIVATE
    return response


def _xml_response(set_id: int) -> Response:
    from viewer.annotations.asap import write_asap

    store = services().store
    version = VERSION.get()
    if version is None:  # the current version: answer a fresh copy without reading the content
        current = etag_of(store.set_info(set_id).version)
        if is_fresh(current):
            return not_modified(current, PRIVATE)
    state = store.state(set_id, version)
    etag = etag_of(state.version)
    if is_fresh(etag):
        return not_modified(etag, PRIVATE)
    response = Response(write_asap(state.to_model()), mimetype="application/xml")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = PRIVATE
    return response


@bp.get("/sets/<int:set_id>/asap.xml")
@describe("The set (or ?version=) as ASAP XML, as desktop ASAP writes it",
          operation_id="getSetXml", parameters=(VERSION, IF_NONE_MATCH), responses={200: _XML},
          errors=(400, 404, 503))
def set_xml(set_id: int) -> Response:
    """The set (``?version=``: a past state) as ASAP XML, byte-compatible with desktop ASAP."""
    return _xml_response(set_id)


def _replace(set_id: int) -> Response:
    precondition = if_match()
    aset, warnings, author = replacement(lambda: services().store.set_info(set_id).slide_key)
    result = services().store.replace(set_id, aset, author, if_version=precondition)
    return write_response(result, _set_write(result, warnings))


@bp.put("/sets/<int:set_id>")
@describe("Replace the whole set (GeoJSON, ASAP XML, ImageScope XML or NDPA body); If-Match: the set's "
          "ETag", description=_FORMATS, operation_id="replaceSet", parameters=(IF_MATCH, X_USER),
          body=_DOCUMENT, responses={200: json_reply(schemas.SetWrite)}, errors=_WRITE_ERRORS)
def put_set(set_id: int) -> Response:
    """Replace the whole set by a GeoJSON FeatureCollection or ASAP XML body (``If-Match``: its ETag)."""
    return _replace(set_id)


@bp.put("/sets/<int:set_id>/asap.xml")
@describe("Replace the whole set by ASAP XML; If-Match: the set's ETag",
          operation_id="replaceSetXml", parameters=(IF_MATCH, X_USER),
          body=Body({"application/xml": str}), responses={200: json_reply(schemas.SetWrite)},
          errors=_WRITE_ERRORS)
def put_set_xml(set_id: int) -> Response:
    """Replace the whole set by an ASAP XML body (``If-Match``: its ETag)."""
    return _replace(set_id)


@bp.patch("/sets/<int:set_id>")
@describe("Rename the set; If-Match: the set's ETag (optional; stale: 412 with its version)",
          parameters=(IF_MATCH, X_USER), body=Body({"application/json": schemas.SetRename}),
          responses={200: json_reply(schemas.SetRenamed)}, errors=(400, 404, 409, 413, 422, 503))
def rename_set(set_id: int) -> Response:
    """Rename a set: ``{"name": ...}`` (``If-Match``: its ETag, like every other write)."""
    precondition = if_match()
    body = object_body()
    fields: schemas.SetRename = schemas.validate_body(schemas.SetRename, body, "rename", ValidationError)
    info = services().store.rename_set(set_id, fields.name, who(body), if_version=precondition)
    answer: schemas.SetRenamed = {"set": set_json(info)}
    response = jsonify(answer)
    response.headers["ETag"] = etag_of(info.version)
    return response



@bp.put("/sets/<int:set_id>/sharing")
@describe(
    "Change who reads and edits the set: its owner or an admin",
    description='{"sharing": "private" | "read" | "edit", "editors": [account names]} (either or both; '
    "the editors replace the old list). private: its owner and editors only (others get 404, as for a "
    "set that does not exist); read: everyone reads, its owner and editors edit; edit: every annotator "
    "edits too. A name without an account is a 422.",
    operation_id="putSetSharing",
    body=Body({"application/json": schemas.SharingRequest}),
    responses={200: json_reply(schemas.SharingAnswer)},
    errors=(400, 403, 404, 413, 422, 503),
)
def put_sharing(set_id: int) -> Response:
    """Change the set's sharing and/or granted editors (its owner or an admin; 403 otherwise)."""
    access.require_share(set_id)
    body = object_body()
    fields: schemas.SharingRequest = schemas.validate_body(schemas.SharingRequest, body, "sharing",
                                                           ValidationError)
    changed = services().store.share_set(set_id, fields.sharing, fields.editors, who(body))
    access.remember([changed])
    return jsonify(access.sharing_json(changed))
