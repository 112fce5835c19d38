"""Exports of a set: ASAP XML and GeoJSON downloads, and ASAP's training mask as a TIFF: a small
one answered during the request, a larger one made by a job (``viewer/web/jobs.py``). The cost
of a mask (vertices painted x output rows) is bounded before any work."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, request

from viewer.annotations.model import AnnotationSet
from viewer.errors import ConflictError, InputTooLargeError, InvalidInputError
from viewer.store import SetState
from viewer.web import schemas
from viewer.web.auth import author
from viewer.web.openapi import Reply, describe, json_reply
from viewer.web.params import VERSION, IntQuery, TextQuery
from viewer.web.services import services

bp = Blueprint("export", __name__)

FORMAT = TextQuery("format", "GET: asap (default), geojson, imagescope (Aperio ImageScope XML, "
                   "MicronsPerPixel from the slide), ndpa (Hamamatsu NDPA, placed with the slide's "
                   "frame: 422 for a slide without one) or mask; POST: must be mask.",
                   choices=("asap", "geojson", "imagescope", "ndpa", "mask"))
LABELS = TextQuery("labels", "mask: NAME=LABEL,... (group names)")
ORDER = TextQuery("order", "mask: NAME,NAME,... (later overwrites)")
DOWNSAMPLE = IntQuery("downsample", "mask: output px per level-0 px, per axis.", low=1, high=4096, default=1)
_MASK_PARAMETERS = (VERSION, FORMAT, LABELS, ORDER, DOWNSAMPLE)


def _export_name(state: SetState) -> str:
    """Download name stem of a set's exports: ``<slide stem>-<set name>-v<version>``, tamed."""
    stem = Path(state.info.slide_key).stem or "slide"
    filename = f"{stem}-{state.info.name}-v{state.version}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)


@bp.get("/sets/<int:set_id>/export")
@describe(
    "Download as ASAP XML, GeoJSON, ImageScope XML, NDPA or a small mask TIFF (a larger mask is a job)",
    description="format=mask is answered here only up to MASK_DIRECT_MAX_COST (vertices x output rows "
    "+ output pixels); above it the answer is 409 with the numbers, and the mask is made by POSTing "
    "the same URL (a job). Above MASK_MAX_COST (vertices x output rows): 413.",
    operation_id="exportSet",
    parameters=_MASK_PARAMETERS,
    responses={200: Reply("the file", {"application/xml": str, "application/geo+json": None,
                                       "image/tiff": bytes})},
    errors=(400, 404, 409, 413, 422, 503),
)
def export(set_id: int) -> Response:
    """Download the set (``?version=``) as ``format=asap`` (XML), ``geojson`` or a small ``mask``
    (a tiled uint8 TIFF at the slide's size / ``downsample``; ``labels=NAME=N,...``,
    ``order=NAME,...``). A mask over ``MASK_DIRECT_MAX_COST`` is a job: POST the same URL."""
    fmt = FORMAT.get() or "asap"
    state = services().store.state(set_id, VERSION.get())
    filename = _export_name(state)
    if fmt == "asap":
        from viewer.annotations.asap import write_asap

        return _download(write_asap(state.to_model()), "application/xml", filename + ".xml")
    if fmt == "geojson":
        from viewer.annotations.geojson import to_geojson

        data = json.dumps(to_geojson(state.to_model())).encode()
        return _download(data, "application/geo+json", filename + ".geojson")
    if fmt == "imagescope":
        from viewer.annotations.imagescope import write_imagescope

        info = services().slides.info(state.info.slide_key)
        data = write_imagescope(state.to_model(), mpp=info.mpp_x)
        return _download(data, "application/xml", filename + ".xml")
    if fmt == "ndpa":
        from viewer.annotations.ndpa import write_ndpa
        from viewer.web.bodies import slide_frame

        data = write_ndpa(state.to_model(), slide_frame(state.info.slide_key))
        return _download(data, "application/xml", filename + ".ndpa")
    return _mask(_mask_request(state))


@bp.post("/sets/<int:set_id>/export")
@describe(
    "Start a mask export job (format=mask, the GET's parameters)",
    description="Answers 202 with the job (see getJob) and its Location; poll urls.self (a job nobody "
    "polls for MASK_JOB_ABANDON_S is cancelled) and download urls.result once state is done: the bytes "
    "a GET would give. At most MASK_JOBS run at once per host, the others wait (queue_position); 503 "
    "when MASK_JOB_QUEUE jobs are already waiting or running; 413 above MASK_MAX_COST (vertices x "
    "output rows).",
    operation_id="startExportJob",
    parameters=_MASK_PARAMETERS,
    responses={202: json_reply(schemas.Job, "the job, queued", location=True)},
    errors=(400, 404, 413, 422, 503),
)
def export_job(set_id: int) -> Response:
    """Start a mask export job (``format=mask``, the GET's parameters): ``202`` with the job and its
    ``Location``; poll it, then download ``urls.result`` (the TIFF a GET would give)."""
    from viewer.web.jobs import job_manager, job_response

    if request.args.get("format") != "mask":
        raise InvalidInputError("only masks are export jobs: POST with format=mask (GET the asap and "
                                "geojson formats, which are answered at once)")
    state = services().store.state(set_id, VERSION.get())
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
        set_id=set_id,
        requester=author(),
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
    downsample = DOWNSAMPLE.get()
    assert downsample is not None
    raw_labels = LABELS.get()
    labels = parse_labels(raw_labels) if raw_labels else None
    order = [n for n in (ORDER.get() or "").split(",") if n] or None
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
