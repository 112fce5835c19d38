"""HTML pages: the slide library (``/``), the viewer (``/view/<id>``) and compare mode (``/compare``).

Pages are thin shells: data reaches the browser's ES modules through ``data-*`` attributes
(``|tojson``), and each page has one entry module in ``static/js``. The viewer page embeds the
slide's info (the body of ``GET /api/slides/<id>``) so the first tiles are requested without an
extra round trip.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from viewer.errors import InvalidInputError, SlideUnreadableError
from viewer.web.access import reads_only
from viewer.web.api import slide_detail
from viewer.web.auth import page_config as auth_page_config
from viewer.web.demo import list_demo_when_ready, preparing_slide

bp = Blueprint("pages", __name__)
bp.before_app_request(list_demo_when_ready)  # tiles, info and pages of the demo the moment it is written

#: The vendored OpenSeadragon build the viewer pages load (static/vendor/README.md).
OPENSEADRAGON = "vendor/openseadragon-5.0.1/openseadragon.min.js"


def _viewable(slide_id: str) -> dict[str, Any]:
    """The info of a slide the viewer can show; unknown ids 404, unreadable slides 422."""
    detail = slide_detail(slide_id)
    if detail.get("error") or "deepzoom" not in detail:
        reason = detail.get("error", "unreadable")
        raise SlideUnreadableError(f"{detail['name']} cannot be displayed: {reason}")
    return detail


def _page_config() -> dict[str, Any]:
    """URLs every page's JavaScript may need, and whether the server takes writes (``READ_ONLY``)."""
    return {
        "library": url_for("pages.index"),
        "slides": url_for("api.list_slides"),
        "compare": url_for("pages.compare"),
        "readOnly": bool(current_app.config["WSI_VIEWER"].get("READ_ONLY", False)) or reads_only(),
        **auth_page_config(),  # auth mode, user, role, csrfToken (viewer/web/auth.py)
    }


@bp.get("/")
def index() -> str:
    """The slide library page (its JSON twin is ``/api/slides``)."""
    return render_template("index.html", page_config=_page_config())


@bp.get("/view/<path:slide_id>")
def viewer(slide_id: str) -> str:
    """The viewer page of one slide; the view (centre, zoom, rotation) lives in the query string.

    The demo slide while it is generated gets the page's preparing state: the generator's
    progress, until the slide is ready and the page loads again by itself.
    """
    preparing = preparing_slide(slide_id)
    if preparing is not None:
        return render_template("viewer.html", slide=preparing, preparing=True, page_config=_page_config())
    slide = _viewable(slide_id)
    return render_template(
        "viewer.html", slide=slide, page_config=_page_config(), openseadragon=OPENSEADRAGON,
    )


@bp.get("/compare")
def compare() -> str:
    """Two slides (or one twice) side by side: ``?left=<id>&right=<id>``; right defaults to left."""
    left_id = request.args.get("left", "").strip()
    if not left_id:
        raise InvalidInputError("compare needs ?left=<slide id> (and optionally &right=<slide id>)")
    right_id = request.args.get("right", "").strip() or left_id
    left = _viewable(left_id)
    right = left if right_id == left_id else _viewable(right_id)
    return render_template(
        "compare.html", left=left, right=right, page_config=_page_config(), openseadragon=OPENSEADRAGON,
    )
