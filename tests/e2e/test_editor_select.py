"""Selecting and editing in the browser editor (issue 13 §2), with the mouse and keys in a real
Chromium against a real server, checking what the API holds after each action and after undoing
and redoing it: vertices dragged, inserted and deleted (a rectangle stays a rectangle); whole
annotations moved, duplicated, multi-selected (shift-click, box) and deleted; name, group and
colour changed in the properties panel; copied on one slide and pasted on another.

The module has its own server (the editor tests' fixture), so its sets are seen by no other test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BOUNDS, CMU, Server
from tests.e2e.test_editor import PANE, _asap, _open, _saved, _screen, _zoom, editor_server

pytestmark = pytest.mark.e2e
__all__ = ["editor_server"]  # the fixture, imported for this module

VIEW = "x=1300&y=1500&z=0.5"
SQUARE = [[900.0, 1300.0], [1300.0, 1300.0], [1300.0, 1700.0], [900.0, 1700.0]]
RECT = [[1500.0, 1300.0], [1800.0, 1300.0], [1800.0, 1500.0], [1500.0, 1500.0]]


def _feature(name: str, kind: str, points: list[list[float]], group: str | None = "tumour") -> dict[str, Any]:
    if kind == "Dot":
        geometry: dict[str, Any] = {"type": "Point", "coordinates": points[0]}
    else:
        geometry = {"type": "Polygon", "coordinates": [points + points[:1]]}
    return {"type": "Feature", "geometry": geometry,
            "properties": {"name": name, "asap": {"type": kind, "group": group, "color": "#F4FA58"}}}


def _fill_first_set(server: Server, slide: str, features: list[dict[str, Any]]) -> None:
    """The slide's first set (the editor's active set; made if the slide has none) holds
    *features* and the groups tumour and stroma."""
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features,
           "asapGroups": [{"name": "tumour", "color": "#FF0000"}, {"name": "stroma", "color": "#0000FF"}]}
    sets = _sets(server, slide)
    if sets:
        url = f"{server.url}{sets[0]['urls']['self']}"
        etag = requests.get(url, timeout=30).headers["ETag"]
        written = requests.put(url, json=doc, headers={"If-Match": etag}, timeout=30)
        assert written.status_code == 200, written.text
        return
    info = requests.get(f"{server.url}/api/slides/{slide}", timeout=30).json()
    url = f"{server.url}{info['urls']['annotations']}?name=select-e2e"
    created = requests.post(url, json=doc, timeout=30)
    assert created.status_code == 201, created.text


@pytest.fixture()
def fresh_sets(editor_server: Server) -> Iterator[Callable[[str, list[dict[str, Any]]], None]]:
    """Fills the first set of a slide; every set of the slides used is emptied afterwards (undo
    and paste may leave annotations behind)."""
    used: list[str] = []

    def make(slide: str, features: list[dict[str, Any]]) -> None:
        used.append(slide)
        _fill_first_set(editor_server, slide, features)

    yield make
    for slide in used:
        for aset in _sets(editor_server, slide):
            url = f"{editor_server.url}{aset['urls']['self']}"
            current = requests.get(url, timeout=30)
            emptied = requests.put(url, json={"type": "FeatureCollection", "features": []},
                                   headers={"If-Match": current.headers["ETag"]}, timeout=30)
            assert emptied.status_code == 200, emptied.text


def _sets(server: Server, slide: str) -> list[dict[str, Any]]:
    listing = requests.get(f"{server.url}/api/annotations/{slide}", timeout=30)
    sets: list[dict[str, Any]] = listing.json()["sets"]
    return sets


def _drag(page: Page, a: tuple[float, float], b: tuple[float, float], modifier: str | None = None) -> None:
    page.mouse.move(*a)
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.down()
    page.mouse.move(*b, steps=8)
    page.mouse.up()
    if modifier:
        page.keyboard.up(modifier)


def _press_on(page: Page, at: tuple[float, float], modifier: str | None = None) -> None:
    page.mouse.move(*at)
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.down()
    page.mouse.up()
    if modifier:
        page.keyboard.up(modifier)
    page.wait_for_timeout(450)  # no double-click with the next press


def _selected(page: Page, n: int) -> None:
    """The editor has *n* annotations selected, all fetched exact."""
    page.wait_for_function(
        f"(n) => {{ const e = {PANE}.wsi.editor;"
        " return e.selection.size === n && [...e.selection].every((id) => e.doc.has(id)); }",
        arg=n,
    )


def _close(got: list[list[float]], want: list[list[float]], tol: float) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert abs(g[0] - w[0]) <= tol and abs(g[1] - w[1]) <= tol, (got, want)


def _key(page: Page, key: str) -> None:
    page.keyboard.press(key)
    _saved(page)


def _undo_redo(page: Page, states: list[Any], read: Callable[[], Any]) -> None:
    """Every step undone (Ctrl+Z), then redone (Ctrl+Shift+Z): the API holds each state again."""
    for want in reversed(states[:-1]):
        _key(page, "Control+z")
        assert read() == want
    for want in states[1:]:
        _key(page, "Control+Shift+z")
        assert read() == want


def test_vertices_dragged_inserted_deleted_undone_and_redone(
    page: Page, editor_server: Server, fresh_sets: Any,
) -> None:
    fresh_sets(CMU, [_feature("square", "Polygon", SQUARE), _feature("box", "Rectangle", RECT)])
    _open(page, editor_server, CMU, VIEW + "&r=90&flip=1")  # handles in screen px of a turned, mirrored view
    frame = f"{PANE}.wsi.viewer.stage.frame()"
    turned = page.evaluate(f"() => [{frame}.rotation, {frame}.flip]")
    assert turned == [90, True]
    page.keyboard.press("v")
    expect(page.locator("[data-pane]")).to_have_attribute("data-editor-tool", "select")
    px = 1.01 / _zoom(page)

    def shapes() -> dict[str, list[list[float]]]:
        return {a["name"]: a["points"] for a in _asap(editor_server, CMU)}

    _press_on(page, _screen(page, [[1100, 1500]])[0])
    _selected(page, 1)
    states = [shapes()]
    # drag vertex 2 of the square by its handle
    a, b = _screen(page, [SQUARE[2], [1400, 1750]])
    _drag(page, a, b)
    _saved(page)
    states.append(shapes())
    _close(states[-1]["square"], [SQUARE[0], SQUARE[1], [1400, 1750], SQUARE[3]], px)
    # a click on the top edge inserts a vertex there
    _press_on(page, _screen(page, [[1100, 1300]])[0])
    _saved(page)
    states.append(shapes())
    _close(states[-1]["square"], [SQUARE[0], [1100, 1300], SQUARE[1], [1400, 1750], SQUARE[3]], px)
    # alt-click deletes a vertex
    _press_on(page, _screen(page, [SQUARE[0]])[0], "Alt")
    _saved(page)
    states.append(shapes())
    _close(states[-1]["square"], [[1100, 1300], SQUARE[1], [1400, 1750], SQUARE[3]], px)
    # the rectangle: a corner drags its two neighbours
    _press_on(page, _screen(page, [[1650, 1400]])[0])
    _selected(page, 1)
    a, b = _screen(page, [RECT[2], [1900, 1600]])
    _drag(page, a, b)
    _saved(page)
    states.append(shapes())
    _close(states[-1]["box"], [RECT[0], [1900, 1300], [1900, 1600], [1500, 1600]], px)
    assert states[-1]["square"] == states[-2]["square"]
    # zoomed in to the viewer's most (2 CSS px per slide px, 4x the first view) on a vertex of the
    # square selected zoomed out: its handle still picks and drags, to a fraction of a slide px
    # (the handles of a polygon drawn at 1.25x edited at 40x: tests/js/editor-vertex-edit.test.mjs)
    _press_on(page, _screen(page, [[1100, 1500]])[0])
    _selected(page, 1)
    corner = SQUARE[1]
    page.evaluate(
        f"([x, y, z]) => {PANE}.wsi.viewer.setViewState({{x, y, zoom: z, rotation: 90, flip: true}}, true)",
        [corner[0] - 20, corner[1] + 20, 2])
    page.wait_for_function(f"() => Math.abs({frame}.zoom - 2) < 0.01")
    fine = 1.01 / _zoom(page)
    a, b = _screen(page, [corner, [corner[0] + 3, corner[1] + 2]])
    _drag(page, a, b)
    _saved(page)
    states.append(shapes())
    moved_to = [corner[0] + 3, corner[1] + 2]
    _close(states[-1]["square"], [[1100, 1300], moved_to, [1400, 1750], SQUARE[3]], fine)
    _undo_redo(page, states, shapes)


def test_move_duplicate_multiselect_delete_and_properties(
    page: Page, editor_server: Server, fresh_sets: Any,
) -> None:
    fresh_sets(CMU, [
        _feature("square", "Polygon", SQUARE), _feature("dot", "Dot", [[1600, 1600]]),
        _feature("box", "Rectangle", RECT, group=None),
    ])
    _open(page, editor_server, CMU, VIEW)
    page.keyboard.press("v")
    px = 1.01 / _zoom(page)

    def state() -> list[dict[str, Any]]:
        return sorted(_asap(editor_server, CMU), key=lambda a: (a["name"], a["points"]))

    states = [state()]
    # move the square by a drag from its inside
    _press_on(page, _screen(page, [[1100, 1500]])[0])
    _selected(page, 1)
    a, b = _screen(page, [[1100, 1500], [1200, 1550]])
    _drag(page, a, b)
    _saved(page)
    states.append(state())
    moved = next(s for s in states[-1] if s["name"] == "square")
    _close(moved["points"], [[x + 100, y + 50] for x, y in SQUARE], px)
    # duplicate it: a copy beside, selected
    _key(page, "Control+d")
    states.append(state())
    copies = [s for s in states[-1] if s["name"] == "square"]
    assert len(copies) == 2
    # the copy gets a name, a group and a colour in the properties panel
    props = page.locator("[data-properties-panel]")
    expect(props).to_be_visible()
    props.locator('[data-prop="name"]').fill("copy")
    props.locator('[data-prop="name"]').press("Enter")
    _saved(page)
    states.append(state())
    props.locator('[data-prop="group"]').select_option("stroma")
    _saved(page)
    states.append(state())
    props.locator('[data-prop="color"]').fill("#00ff00")
    _saved(page)
    states.append(state())
    copy = next(s for s in states[-1] if s["name"] == "copy")
    assert copy["group"] == "stroma"
    assert _colours(editor_server)["copy"] == "#00FF00"
    # shift-click the dot: two selected; Delete deletes both
    _press_on(page, _screen(page, [[1600, 1600]])[0], "Shift")
    _selected(page, 2)
    # the layers panel's list shows the selection
    page.wait_for_function(
        """() => [...document.querySelectorAll(
                   '[data-layers-panel] [data-entry][aria-selected=true] .entry-name')]
                 .map((e) => e.textContent).sort().join() === 'copy,dot'""")
    _key(page, "Delete")
    states.append(state())
    assert sorted(s["name"] for s in states[-1]) == ["box", "square"]
    # box-select the rectangle from empty space around it, delete it
    a, b = _screen(page, [[1450, 1250], [1850, 1550]])
    gets: list[str] = []
    page.on("request", lambda r: gets.append(r.url) if r.method == "GET" and "/api/sets/" in r.url else None)
    _drag(page, a, b)
    _selected(page, 1)
    _key(page, "Delete")
    states.append(state())
    assert [s["name"] for s in states[-1]] == ["square"]
    # what the box selected was loaded exact with the set's bbox query, not one request each
    assert [u for u in gets if re.search(r"/annotations/\d+$", u)] == [], gets
    assert [u for u in gets if "bbox=" in u and "clip=" not in u], gets
    _undo_redo(page, states, state)


def _colours(server: Server) -> dict[str, str]:
    """Name -> colour of the first set of the CMU slide (its GeoJSON)."""
    aset = _sets(server, CMU)[0]
    doc = requests.get(f"{server.url}{aset['urls']['self']}", timeout=30).json()
    return {f["properties"]["name"]: f["properties"]["asap"]["color"] for f in doc["features"]}


def test_copy_on_one_slide_paste_on_another(page: Page, editor_server: Server, fresh_sets: Any) -> None:
    fresh_sets(CMU, [_feature("square", "Polygon", SQUARE)])
    fresh_sets(BOUNDS, [])
    _open(page, editor_server, CMU, VIEW)
    page.keyboard.press("v")
    # chosen in the layers panel's list: the select tool's selection
    page.keyboard.press("Shift+A")
    page.locator("[data-layers-panel]:not([hidden]) [data-entry]", has_text="square").click()
    _selected(page, 1)
    page.keyboard.press("Control+c")
    expect(page.locator("[data-pane]")).to_have_attribute("data-editor-message", "copied 1")
    _open(page, editor_server, BOUNDS, "z=0.05")
    page.keyboard.press("v")
    _key(page, "Control+v")
    pasted = _asap(editor_server, BOUNDS)
    assert [(a["name"], a["type"], a["group"]) for a in pasted] == [("square", "Polygon", "tumour")]
    assert pasted[0]["points"] == SQUARE, "slide px kept"
    _key(page, "Control+z")
    assert _asap(editor_server, BOUNDS) == []
    _key(page, "Control+Shift+z")
    assert _asap(editor_server, BOUNDS) == pasted
