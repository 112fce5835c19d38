"""The browser editor (issue 13) in a real Chromium against a real server: each tool drawn with
the mouse, what the API then holds (the set's ASAP XML: types, groups, coordinates within a
screen px at the zoom drawn), also on a bounds-offset slide and on a rotated, mirrored view;
undo/redo of each action (the API's state after each); the polygon's keys.

The module has its own server (its own slide copies and database), so the sets it makes are seen
by no other test."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page

from tests._server import running_server
from tests.e2e.conftest import BOUNDS, CMU, DATA, Server, wait_first_viewport, wait_fully_loaded

pytestmark = pytest.mark.e2e

PANE = "document.querySelector('[data-pane]')"


@pytest.fixture(scope="module")
def editor_server(e2e_slide_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own over the CMU slide and the bounds-offset MIRAX slide."""
    root = tmp_path_factory.mktemp("editor-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    shutil.copytree(e2e_slide_dir / "bounds", root / "bounds")
    data_dir = tmp_path_factory.mktemp("editor-server") / "data"
    data_dir.mkdir()
    with running_server(str(root), "--workers", "1", data_dir=data_dir) as running:
        yield Server(url=running.url, slide_dir=root)


def _open(page: Page, server: Server, slide: str, query: str) -> None:
    page.goto(f"{server.url}/view/{slide}?{query}")
    wait_first_viewport(page)
    page.wait_for_function(f"() => {PANE}.wsi?.editor")
    wait_fully_loaded(page)


def _screen(page: Page, points: list[list[float]]) -> list[tuple[float, float]]:
    """Slide px -> page px, through the stage's own transform (rotation, mirroring, offset)."""
    out: list[list[float]] = page.evaluate(
        """(pts) => {
          const v = document.querySelector('[data-pane]').wsi.viewer;
          const m = v.stage.frame().slideToElement;
          const r = v.osd.canvas.getBoundingClientRect();
          return pts.map(([x, y]) => [r.left + m.a * x + m.c * y + m.e, r.top + m.b * x + m.d * y + m.f]);
        }""",
        points,
    )
    return [(p[0], p[1]) for p in out]


def _zoom(page: Page) -> float:
    """CSS px per slide px of the view."""
    return float(page.evaluate(f"() => {PANE}.wsi.viewer.stage.frame().zoom"))


def _click(page: Page, at: tuple[float, float]) -> None:
    page.mouse.move(*at)
    page.mouse.down()
    page.mouse.up()


def _saved(page: Page) -> None:
    """Every change confirmed by the server and drawn by the layer."""
    page.wait_for_function(f"() => {PANE}.dataset.editorPending === '0'")


def _asap(server: Server, slide: str) -> list[dict[str, Any]]:
    """The annotations of the slide's first set, from its ASAP XML."""
    sets = requests.get(f"{server.url}/api/annotations/{slide}", timeout=30).json()["sets"]
    if not sets:
        return []
    xml = requests.get(f"{server.url}{sets[0]['urls']['asap_xml']}", timeout=30)
    assert xml.status_code == 200, xml.text
    out = []
    for a in ET.fromstring(xml.content).iter("Annotation"):
        coords = sorted(a.iter("Coordinate"), key=lambda c: int(c.get("Order", "0")))
        out.append({
            "name": a.get("Name"), "type": a.get("Type"), "group": a.get("PartOfGroup"),
            "points": [[float(c.get("X", "nan")), float(c.get("Y", "nan"))] for c in coords],
        })
    return out


def _close(got: list[list[float]], want: list[list[float]], tolerance: float) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert abs(g[0] - w[0]) <= tolerance and abs(g[1] - w[1]) <= tolerance, (got, want)


def test_polygon_drawn_with_the_mouse_is_saved(page: Page, editor_server: Server) -> None:
    _open(page, editor_server, CMU, "x=1110&y=1480&z=0.5")
    page.keyboard.press("p")
    ring = [[900.0, 1300.0], [1300.0, 1320.0], [1250.0, 1700.0], [950.0, 1650.0]]
    screen = _screen(page, ring)
    for at in screen:
        _click(page, at)
    _click(page, screen[0])
    _saved(page)
    px = 1 / _zoom(page)
    got = _asap(editor_server, CMU)
    assert [a["type"] for a in got] == ["Polygon"]
    _close(got[0]["points"], ring, px)
