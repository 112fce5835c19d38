"""The brush (issue 13) in a real Chromium against the real server: a polygon made through the API,
a brush stroke added with the mouse, one cut with Alt+drag across it (splitting it in two) and a
cutting dab inside (a hole); the area the API then measures (the set summary's ASAP area) changed
by what shapely computes for the same strokes (within 1 %), and undo brings each state back."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page
from shapely.geometry import LineString, Point, Polygon

from tests.e2e.conftest import CMU, Server, wait_first_viewport, wait_fully_loaded
from tests.e2e.test_editor import _screen

pytestmark = pytest.mark.e2e

PANE = "document.querySelector('[data-pane]')"
CENTRE = (1110.0, 1480.0)
RADIUS = 300.0
#: The brush's width when the tool starts (static/js/editor/tools/brush.js DEFAULT_WIDTH_PX).
WIDTH_PX = 24


@pytest.fixture()
def brush_set(server: Server) -> Iterator[dict[str, Any]]:
    """A set on the CMU slide holding one 120-vertex wavy disc; emptied after the test (the server
    is shared by every browser test)."""
    ring = []
    for i in range(120):
        a = 2 * math.pi * i / 120
        r = RADIUS * (1 + 0.05 * math.sin(5 * a))
        ring.append([round(CENTRE[0] + r * math.cos(a), 3), round(CENTRE[1] + r * math.sin(a), 3)])
    doc = {
        "type": "FeatureCollection", "asapGroups": [{"name": "tumour", "color": "#ff0000"}],
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]},
                      "properties": {"name": "lesion", "asap": {"type": "Polygon", "group": "tumour",
                                                                "color": "#ff0000"}}}],
    }
    slide = requests.get(f"{server.url}/api/slides/{CMU}", timeout=30).json()
    created = requests.post(f"{server.url}{slide['urls']['annotations']}?name=brush", json=doc, timeout=60)
    assert created.status_code == 201, created.text
    aset: dict[str, Any] = created.json()["set"]
    aset["ring"] = ring
    yield aset
    current = requests.get(f"{server.url}{aset['urls']['self']}", timeout=60)
    emptied = requests.put(
        f"{server.url}{aset['urls']['self']}", json={"type": "FeatureCollection", "features": []},
        headers={"If-Match": current.headers["ETag"]}, timeout=60,
    )
    assert emptied.status_code == 200, emptied.text


def _summary(server: Server, aset: dict[str, Any]) -> list[dict[str, Any]]:
    """The set's annotations as the API measures them (name, area_px2...)."""
    body = requests.get(f"{server.url}{aset['urls']['summary']}", timeout=30).json()
    annotations: list[dict[str, Any]] = body["annotations"]
    return annotations


def _drag(page: Page, path: list[tuple[float, float]], alt: bool = False) -> None:
    """Press at the first point, move along straight segments through the others, release."""
    screen = _screen(page, [list(p) for p in path])
    page.mouse.move(*screen[0])
    if alt:
        page.keyboard.down("Alt")
    page.mouse.down()
    for at in screen[1:]:
        page.mouse.move(*at, steps=12)
    page.mouse.up()
    if alt:
        page.keyboard.up("Alt")


def _saved(page: Page) -> None:
    """Every change confirmed by the server (and none refused)."""
    page.wait_for_function(f"() => {PANE}.dataset.editorPending === '0'")
    assert page.evaluate(f"() => {PANE}.dataset.editorError ?? null") is None


def _total_area(server: Server, aset: dict[str, Any], pieces: int) -> float:
    annotations = _summary(server, aset)
    assert len(annotations) == pieces, annotations
    return float(sum(a["area_px2"] for a in annotations))


def _close(got: float, want: float, what: str) -> None:
    assert abs(got - want) <= 0.01 * abs(want), f"{what}: {got} vs shapely's {want}"


def test_brush_adds_and_cuts_as_shapely_says_and_undo_restores(
    page: Page, server: Server, brush_set: dict[str, Any],
) -> None:
    page.goto(f"{server.url}/view/{CMU}?x={CENTRE[0]}&y={CENTRE[1]}&z=0.6")
    wait_first_viewport(page)
    page.wait_for_function(f"() => {PANE}.wsi?.editor")
    wait_fully_loaded(page)
    page.keyboard.press("b")
    assert page.evaluate(f"() => {PANE}.dataset.editorTool") == "brush"
    zoom = float(page.evaluate(f"() => {PANE}.wsi.viewer.stage.frame().zoom"))
    half = WIDTH_PX / zoom / 2  # the brush's radius in slide px

    polygon = Polygon(brush_set["ring"])
    start = _total_area(server, brush_set, 1)
    assert abs(start - polygon.area) < 1e-6 * polygon.area

    # Add: from inside across the right edge, then down outside it.
    cx, cy = CENTRE
    add = [(cx + 200, cy - 40), (cx + 420, cy - 40), (cx + 420, cy + 120)]
    _drag(page, add)
    assert page.evaluate(f"() => {PANE}.dataset.editorMessage") == f"add {WIDTH_PX} px"
    _saved(page)
    grown = polygon.union(LineString(add).buffer(half, quad_segs=32))
    assert grown.geom_type == "Polygon"
    after_add = _total_area(server, brush_set, 1)
    _close(after_add - start, grown.area - polygon.area, "the add's gain")

    # Cut: Alt+drag right across the (selected) polygon: two pieces, the smaller a new annotation.
    cut = [(cx - 500, cy + 150), (cx + 600, cy + 150)]
    _drag(page, cut, alt=True)
    _saved(page)
    split = grown.difference(LineString(cut).buffer(half, quad_segs=32))
    assert split.geom_type == "MultiPolygon" and len(split.geoms) == 2
    annotations = _summary(server, brush_set)
    assert sorted(a["name"] for a in annotations) == ["lesion", "lesion (2)"]
    assert {a["group"] for a in annotations} == {"tumour"}
    by_name = {a["name"]: a["area_px2"] for a in annotations}
    pieces = sorted((p.area for p in split.geoms), reverse=True)
    _close(by_name["lesion"], pieces[0], "the piece that kept the annotation")
    _close(by_name["lesion (2)"], pieces[1], "the new piece")
    _close(sum(by_name.values()) - after_add, split.area - grown.area, "the cut's loss")

    # A dab (a click) inside the bigger piece with the tool switched to cutting (C): a hole, bridged
    # into the one ring (the store takes it; ASAP's area, the API's, loses the disc).
    page.keyboard.press("c")
    dab = (cx - 100, cy - 100)
    _drag(page, [dab])
    page.keyboard.press("c")
    _saved(page)
    holed = split.difference(Point(dab).buffer(half, quad_segs=32))
    assert sum(len(p.interiors) for p in holed.geoms) == 1
    by_name = {a["name"]: a["area_px2"] for a in _summary(server, brush_set)}
    _close(by_name["lesion"], max(p.area for p in holed.geoms), "the piece with a hole")

    # Undo the dab, the cut (one action: the new piece goes, the outline comes back), then the add.
    page.keyboard.press("Control+z")
    _saved(page)
    assert len(_summary(server, brush_set)) == 2
    page.keyboard.press("Control+z")
    _saved(page)
    assert abs(_total_area(server, brush_set, 1) - after_add) < 1e-6 * after_add
    page.keyboard.press("Control+z")
    _saved(page)
    assert abs(_total_area(server, brush_set, 1) - start) < 1e-6 * start
    features = requests.get(f"{server.url}{brush_set['urls']['self']}", timeout=30).json()["features"]
    ring = features[0]["geometry"]["coordinates"][0][:-1]
    assert len(ring) == len(brush_set["ring"])
    pairs = zip(ring, brush_set["ring"], strict=True)
    assert max(abs(a - b) for p, q in pairs for a, b in zip(p, q, strict=True)) < 1e-3
