"""The built-in demo slide as the listing and the viewer page show it while it is generated.

With no SLIDE_DIR, ``GET /api/slides`` lists the demo slide before it exists, as an entry with
``"status": "preparing"`` (or ``"failed"``, with an ``error``) and the generator's ``progress``,
and with only a viewer URL (no tiles, thumbnail or info yet); the viewer page of that id shows the
same progress. Once the slide is written the entry is an ordinary slide. The state comes from
:func:`viewer.demo.demo_status`, which every worker reads from the data directory.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for

from viewer.demo import DEMO_HEIGHT, DEMO_MPP, DEMO_WIDTH, demo_slide_path, demo_status
from viewer.slides import SlideInfo
from viewer.tiffwriter import pyramid_sizes
from viewer.web.services import services

#: The members of a progress report a client sees (the rest describe the slide, in the entry).
_PROGRESS_FIELDS = ("stage", "message", "percent", "eta_seconds", "level", "level_count", "tiles_done",
                    "tiles_total", "started_at", "updated_at")


def _serving_demo() -> bool:
    return not services().settings["SLIDE_DIR"]


def _demo_id() -> str:
    return demo_slide_path(services().data_dir).name  # its path relative to the demo directory


def library_slides() -> list[SlideInfo]:
    """The library's scan; when the demo has just been written, rescanned so that it is listed now
    rather than at the next periodic rescan (and a page that saw it ready can open it)."""
    library = services().slides
    infos = library.scan()
    if (_serving_demo() and demo_slide_path(services().data_dir).exists()
            and all(info.id != _demo_id() for info in infos)):
        infos = library.scan(force=True)
    return infos


def list_demo_when_ready() -> None:
    """Before a request that names the demo slide: when it has just been written, this worker's
    library lists it at once (each worker rescans on its own, at most every two seconds, and
    another worker may have answered the listing that sent the client here)."""
    args = request.view_args or {}
    if _serving_demo() and args.get("slide_id") == _demo_id():
        library_slides()


def preparing_entry() -> dict[str, Any] | None:
    """The listing entry of the demo while it is not ready, else None."""
    if not _serving_demo():
        return None
    status = demo_status(services().data_dir)
    if status.state == "ready":
        return None
    progress = status.progress
    width, height, mpp = (progress.width, progress.height, progress.mpp) if progress else (
        DEMO_WIDTH, DEMO_HEIGHT, DEMO_MPP)
    report = progress.to_json() if progress else {
        "stage": "starting", "message": "starting", "percent": 0.0, "eta_seconds": None, "level": None,
        "level_count": len(pyramid_sizes(width, height)), "tiles_done": 0, "tiles_total": 0,
        "started_at": None, "updated_at": None}
    slide_id = _demo_id()
    entry: dict[str, Any] = {
        "id": slide_id,
        "name": slide_id,
        "folder": "",
        "width": width,
        "height": height,
        "level_count": report["level_count"],
        "mpp_x": mpp,
        "mpp_y": mpp,
        "objective_power": None,
        "vendor": None,
        "bounds": {"x": 0, "y": 0, "width": width, "height": height},
        "associated": [],
        "status": "preparing" if status.state == "preparing" else "failed",
        "progress": {key: report[key] for key in _PROGRESS_FIELDS},
        "urls": {"viewer": url_for("pages.viewer", slide_id=slide_id)},
    }
    if status.error:
        entry["error"] = status.error
    return entry


def preparing_slide(slide_id: str) -> dict[str, Any] | None:
    """The demo's entry when *slide_id* is the demo and it is not ready yet, else None."""
    if not _serving_demo() or slide_id != _demo_id():
        return None
    return preparing_entry()
