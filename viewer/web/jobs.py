"""Jobs over HTTP: poll, download the result, cancel (``viewer.jobs`` does the work).

A job is created by the route that owns the work (``POST /api/sets/<id>/export?format=mask``), which
answers ``202`` with ``Location`` and the job below. Then ``GET urls.self`` shows its progress (and
keeps it alive: a job nobody polls for ``MASK_JOB_ABANDON_S`` is cancelled), ``GET urls.result``
downloads the result once ``state`` is ``done``, ``POST urls.cancel`` cancels it and ``DELETE
urls.self`` cancels it and forgets it with its result. A job id is random and unguessable; it is
the only handle on the job. With logins, every route also needs read access to the set the job
reads (kept in the job): a job of a set the user may not read (made private since, or another's)
is a 404, as a job that does not exist.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_file, url_for

from viewer.errors import NotFoundError
from viewer.jobs import FINISHED, JobLimits, JobManager, JobView
from viewer.web import access, schemas
from viewer.web.openapi import Reply, describe, json_reply
from viewer.web.services import services

bp = Blueprint("jobs", __name__, url_prefix="/api")

_EXTENSION = "wsi_viewer_jobs"
_build_lock = threading.Lock()
#: seconds a client should wait before its next poll of an unfinished job
POLL_AFTER_S = 1


def job_manager() -> JobManager:
    """The app's job manager (one per worker process; every worker of a host shares the jobs)."""
    manager: JobManager | None = current_app.extensions.get(_EXTENSION)
    if manager is None:
        with _build_lock:
            manager = current_app.extensions.get(_EXTENSION)
            if manager is None:
                s = services().settings
                limits = JobLimits(
                    running=s["MASK_JOBS"], queued=s["MASK_JOB_QUEUE"],
                    abandon_s=float(s["MASK_JOB_ABANDON_S"]), retention_s=float(s["MASK_JOB_RETENTION_S"]),
                )
                manager = JobManager(services().data_dir / "jobs", limits)
                current_app.extensions[_EXTENSION] = manager
    return manager


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def job_json(view: JobView) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": view.id,
        "kind": view.kind,
        "state": view.state,
        "percent": view.percent,
        "rows_done": view.done,
        "rows_total": view.total,
        "eta_seconds": view.eta_s,
        "queue_position": view.queue_position,
        "error": view.error,
        "created_at": _iso(view.created_at),
        "started_at": _iso(view.started_at),
        "finished_at": _iso(view.finished_at),
        "expires_at": _iso(view.expires_at),
        "filename": view.result_name,
        **view.meta,
        "urls": {
            "self": url_for("jobs.get_job", job_id=view.id),
            "result": url_for("jobs.job_result", job_id=view.id),
            "cancel": url_for("jobs.cancel_job", job_id=view.id),
        },
    }


def job_response(view: JobView, status: int = 200) -> Response:
    """The job as JSON, never cached, with a ``Retry-After`` hint while it is unfinished."""
    response = jsonify(job_json(view))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if view.state not in FINISHED:
        response.headers["Retry-After"] = str(POLL_AFTER_S)
    if status == 202:
        response.headers["Location"] = url_for("jobs.get_job", job_id=view.id)
    return response


_JOB = json_reply(schemas.Job, "the job")


def readable_job(job_id: str) -> JobManager:
    """The job manager, once the request's user may see job *job_id*: read access to the set it
    reads (nothing checked or read under AUTH=none).

    :raises NotFoundError: no such job, or one of a set the user may not read (the same answer).
    """
    manager = job_manager()
    if access.checking():
        view = manager.get(job_id)
        if view.set_id is None:  # every job reads a set; one that names none is shown to nobody
            raise NotFoundError("no such job (it may have expired)")
        try:
            access.require_set_access(view.set_id, "read")
        except NotFoundError:
            raise NotFoundError("no such job (it may have expired)") from None
    return manager


@bp.get("/jobs/<job_id>")
@describe("A job's state and progress; poll it (each poll keeps the job alive)", responses={200: _JOB},
          errors=(404,))
def get_job(job_id: str) -> Response:
    """The job's state and progress (each poll keeps it from being abandoned)."""
    return job_response(readable_job(job_id).poll(job_id))


@bp.get("/jobs/<job_id>/result")
@describe("Download the result of a finished job (409 while it is not done: details give its state)",
          operation_id="getJobResult", responses={200: Reply("the result file", {"image/tiff": bytes})},
          errors=(404, 409))
def job_result(job_id: str) -> Response:
    """The result file of a finished job (409 while it is not done)."""
    path, view = readable_job(job_id).result(job_id)
    response = send_file(path, mimetype=view.result_type, conditional=False, etag=False, max_age=0)
    response.headers["Content-Disposition"] = f'attachment; filename="{view.result_name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/jobs/<job_id>/cancel")
@describe("Cancel a waiting or running job (it stops within a second)",
          responses={200: json_reply(schemas.Job, "the job, cancelled unless it had finished")},
          errors=(404,))
def cancel_job(job_id: str) -> Response:
    """Cancel a waiting or running job; a finished job is shown as it is."""
    return job_response(readable_job(job_id).cancel(job_id))


@bp.delete("/jobs/<job_id>")
@describe("Cancel the job if unfinished, and delete it with its result",
          responses={204: Reply("deleted")}, errors=(404,))
def delete_job(job_id: str) -> Response:
    """Cancel the job if it is unfinished, and delete it with its result."""
    readable_job(job_id).delete(job_id)
    return Response(status=204)
