"""HTML pages: the slide library (``/``) and the viewer (``/view/<id>``)."""

from __future__ import annotations

from flask import Blueprint, render_template

from viewer.web.services import services

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """The slide library page (its JSON twin is ``/api/slides``)."""
    return render_template("index.html")


@bp.get("/view/<path:slide_id>")
def viewer(slide_id: str) -> str:
    """The viewer page of one slide."""
    info = services().slides.info(slide_id)
    return render_template("viewer.html", slide_id=info.id)
