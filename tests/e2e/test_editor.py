"""The browser editor (issue 13) in a real Chromium against a real server: each tool drawn with
the mouse, what the API then holds (the set's ASAP XML: types, groups, coordinates within a
screen px at the zoom drawn), also on a bounds-offset slide and on a rotated, mirrored view;
undo/redo of each action (the API's state after each); the polygon's keys.

The module has its own server (its own slide copies and database), so the sets it makes are seen
by no other test."""

from __future__ import annotations

import json
import math
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

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


def _asap(server: Server, slide: str, set_id: int | None = None) -> list[dict[str, Any]]:
    """The annotations of a set of the slide (the first by default), from its ASAP XML."""
    sets = requests.get(f"{server.url}/api/annotations/{slide}", timeout=30).json()["sets"]
    chosen = [s for s in sets if set_id in (None, s["id"])]
    if not chosen:
        return []
    xml = requests.get(f"{server.url}{chosen[0]['urls']['asap_xml']}", timeout=30)
    assert xml.status_code == 200, xml.text
    out = []
    for a in ET.fromstring(xml.content).iter("Annotation"):
        coords = sorted(a.iter("Coordinate"), key=lambda c: int(c.get("Order", "0")))
        out.append({
            "name": a.get("Name"), "type": a.get("Type"),
            "group": None if a.get("PartOfGroup") == "None" else a.get("PartOfGroup"),
            "points": [[float(c.get("X", "nan")), float(c.get("Y", "nan"))] for c in coords],
        })
    return out


def _close(got: list[list[float]], want: list[list[float]], tolerance: float) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert abs(g[0] - w[0]) <= tolerance and abs(g[1] - w[1]) <= tolerance, (got, want)


def _drag(page: Page, path: list[tuple[float, float]]) -> None:
    page.mouse.move(*path[0])
    page.mouse.down()
    for at in path[1:]:
        page.mouse.move(*at)
    page.mouse.up()


def _set_with_group(server: Server, slide: str, name: str, group: str) -> dict[str, Any]:
    """A new empty set on the slide with one group (the editor draws into the first set)."""
    info = requests.get(f"{server.url}/api/slides/{slide}", timeout=30).json()
    created = requests.post(f"{server.url}{info['urls']['annotations']}", json={"name": name},
                            headers={"X-Requested-With": "test"}, timeout=30)
    assert created.status_code == 201, created.text
    aset: dict[str, Any] = created.json()["set"]
    g = requests.post(f"{server.url}{aset['urls']['groups']}", json={"name": group, "color": "#ff0000"},
                      headers={"X-Requested-With": "test"}, timeout=30)
    assert g.status_code == 201, g.text
    return aset


def _circle(cx: float, cy: float, r: float, n: int) -> list[list[float]]:
    turns = [2 * math.pi * i / n for i in range(n + 1)]
    return [[cx + r * math.cos(t), cy + r * math.sin(t)] for t in turns]


def test_each_tool_drawn_with_the_mouse_is_what_the_api_holds(page: Page, editor_server: Server) -> None:
    aset = _set_with_group(editor_server, CMU, "reader 1", "tumour")
    _open(page, editor_server, CMU, "x=1110&y=1480&z=0.5")
    pane = PANE
    # the active group of the layers panel is where new annotations go
    page.wait_for_function(f"() => {pane}.wsi.panel.groups?.get({aset['id']})?.length")
    page.evaluate(f"() => {pane}.wsi.panel.setActiveSet({aset['id']})")  # whatever other tests left
    page.evaluate(f"() => {pane}.wsi.panel.setActiveGroup({aset['id']}, 'tumour')")
    assert page.evaluate(f"() => {pane}.wsi.editor.activeGroup()") == "tumour"
    px = 1 / _zoom(page)  # slide px per screen px at this zoom

    # the tools and their ASAP keys are in the ? overlay; the palette's buttons have names
    page.keyboard.press("?")
    help_dialog = page.locator("dialog[data-help]")
    for text in ("Polygon (click vertices)", "Point set", "Measurement ruler", "Brush", "Select and edit"):
        expect(help_dialog).to_contain_text(text)
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.get_by_role("toolbar").get_by_role("button", name="Polygon", exact=True).click()  # (P: the same)
    assert page.evaluate(f"() => {pane}.dataset.editorTool") == "polygon"
    assert page.locator('[data-tool="polygon"]').get_attribute("aria-pressed") == "true"
    poly = [[900.0, 1300.0], [1300.0, 1320.0], [1250.0, 1700.0], [950.0, 1650.0]]
    for at in _screen(page, [*poly, [1000.0, 1500.0]]):
        _click(page, at)
    page.keyboard.press("Backspace")
    _click(page, _screen(page, [poly[0]])[0])
    _saved(page)
    for at in _screen(page, [[600.0, 1000.0], [700.0, 1000.0]]):  # Esc cancels a polygon: nothing saved
        _click(page, at)
    page.keyboard.press("Escape")
    assert page.evaluate(f"() => {pane}.dataset.editorTool") == "polygon", "Esc cancelled the shape only"
    for at in _screen(page, [[600.0, 1000.0], [700.0, 1000.0]]):  # Enter on 2 vertices: told, nothing saved
        _click(page, at)
    page.keyboard.press("Enter")
    expect(page.locator("[data-editor-toast]")).to_have_text("a polygon needs 3 points at least")
    tri = [[400.0, 1800.0], [700.0, 1800.0], [550.0, 2050.0]]
    for at in _screen(page, tri):  # Enter closes
        _click(page, at)
    page.keyboard.press("Enter")
    _saved(page)

    page.evaluate(f"() => {pane}.wsi.panel.setActiveGroup({aset['id']}, null)")  # the rest: ungrouped
    page.keyboard.press("r")
    _drag(page, _screen(page, [[1500.0, 1000.0], [1600.0, 1050.0], [1700.0, 1200.0]]))
    page.mouse.dblclick(*_screen(page, [[1000.0, 1000.0]])[0])  # ASAP's dialog: a rectangle of a size
    dialog = page.locator("[data-editor-ask]")
    dialog.get_by_label("Width (µm)").fill("99.8")
    dialog.get_by_label("Height (µm)").fill("49.9")
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_have_count(0)
    page.keyboard.press("d")
    _click(page, _screen(page, [[1800.0, 1800.0]])[0])
    page.keyboard.press("i")
    points = [[300.0, 1000.0], [350.0, 1020.0], [420.0, 1080.0]]
    for at in _screen(page, points):
        _click(page, at)
    page.keyboard.press("Enter")
    page.keyboard.press("s")
    spline = [[1400.0, 1800.0], [1700.0, 1850.0], [1650.0, 2100.0], [1420.0, 2080.0]]
    for at in _screen(page, spline):
        _click(page, at)
    page.keyboard.press("Enter")
    page.keyboard.press("m")
    ruler = [[200.0, 1200.0], [600.0, 1500.0]]
    _click(page, _screen(page, [ruler[0]])[0])
    page.mouse.move(*_screen(page, [ruler[1]])[0])
    label = page.evaluate(f"() => {pane}.wsi.editor.canvas.draft?.label")
    assert label == "250 µm", label  # 500 px at 0.499 µm/px: the live length
    _click(page, _screen(page, [ruler[1]])[0])
    page.keyboard.press("f")
    circle = _circle(1900.0, 1400.0, 150.0, 120)
    _drag(page, _screen(page, circle))
    _saved(page)

    page.reload()  # what the server holds, not what the page remembers
    wait_first_viewport(page)
    got = _asap(editor_server, CMU, aset["id"])
    assert [(a["type"], a["group"]) for a in got] == [
        ("Polygon", "tumour"), ("Polygon", "tumour"), ("Rectangle", None), ("Rectangle", None), ("Dot", None),
        ("PointSet", None),
        ("Spline", None), ("Measurement", None), ("Polygon", None),
    ]
    _close(got[0]["points"], poly, px)
    _close(got[1]["points"], tri, px)
    _close(got[2]["points"], [[1500.0, 1000.0], [1700.0, 1000.0], [1700.0, 1200.0], [1500.0, 1200.0]], px)
    # 99.8 x 49.9 µm at 0.499 µm/px: 200 x 100 px round the double-click
    _close(got[3]["points"], [[900.0, 950.0], [1100.0, 950.0], [1100.0, 1050.0], [900.0, 1050.0]], px)
    _close(got[4]["points"], [[1800.0, 1800.0]], px)
    _close(got[5]["points"], points, px)
    _close(got[6]["points"], spline, px)
    _close(got[7]["points"], ruler, px)
    free = got[8]["points"]
    assert 10 < len(free) < 120, f"{len(free)} vertices: the stroke was simplified"
    for x, y in free:  # every vertex on the circle drawn (Douglas-Peucker at 1 screen px)
        assert abs(math.hypot(x - 1900, y - 1400) - 150) <= 2 * px, (x, y)


def test_rotated_mirrored_view_of_a_bounds_offset_slide(page: Page, editor_server: Server) -> None:
    """No set on the slide: the editor makes one; coordinates are the slide's (offset included)
    whatever the view's rotation and mirroring."""
    info = requests.get(f"{editor_server.url}/api/slides/{BOUNDS}", timeout=30).json()
    b = info["bounds"]
    cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    _open(page, editor_server, BOUNDS, f"x={cx}&y={cy}&z=0.25&r=90&flip=1")
    assert page.evaluate(f"() => {PANE}.wsi.viewer.osd.viewport.getFlip()") is True
    px = 1 / _zoom(page)
    page.keyboard.press("p")
    poly = [[cx - 300, cy - 200], [cx + 250, cy - 180], [cx + 100, cy + 300]]
    for at in _screen(page, poly):
        _click(page, at)
    page.keyboard.press("Enter")
    page.keyboard.press("r")
    _drag(page, _screen(page, [[cx - 500, cy + 400], [cx - 300, cy + 600]]))
    _saved(page)
    sets = requests.get(f"{editor_server.url}/api/annotations/{BOUNDS}", timeout=30).json()["sets"]
    assert len(sets) == 1
    got = _asap(editor_server, BOUNDS)
    assert [a["type"] for a in got] == ["Polygon", "Rectangle"]
    _close(got[0]["points"], poly, px)
    corners = [[cx - 500, cy + 400], [cx - 300, cy + 400], [cx - 300, cy + 600], [cx - 500, cy + 600]]
    _close(got[1]["points"], corners, px)


def _features(server: Server, slide: str) -> list[dict[str, Any]]:
    """The first set's annotations as GeoJSON Features (ids, names, exact coordinates)."""
    sets = requests.get(f"{server.url}/api/annotations/{slide}", timeout=30).json()["sets"]
    if not sets:
        return []
    body = requests.get(f"{server.url}{sets[0]['urls']['self']}", timeout=30).json()
    features: list[dict[str, Any]] = body["features"]
    return features


def _near(features: list[dict[str, Any]], x: float, y: float) -> list[dict[str, Any]]:
    """Polygons with a vertex within 2 px of (x, y)."""
    return [f for f in features if f["geometry"]["type"] == "Polygon"
            and any(math.hypot(p[0] - x, p[1] - y) < 2 for p in f["geometry"]["coordinates"][0])]


def test_undo_and_redo_each_action_reach_the_server(page: Page, editor_server: Server) -> None:
    _open(page, editor_server, CMU, "x=1110&y=1480&z=0.5")
    before = len(_features(editor_server, CMU))
    # who edits: the name given in the layers panel (kept in the browser) names every change
    page.keyboard.press("Shift+A")
    name_field = page.locator("[data-author-name]")
    name_field.fill("  Dr. Anna  Müller ")
    name_field.blur()  # the change is committed when the field is left
    page.keyboard.press("Shift+A")
    assert page.locator("[data-layers-panel]").is_hidden()
    # the pane grew back when the panel closed: wait for the stage to draw at the new size
    page.wait_for_function(f"""() => {{ const v = {PANE}.wsi.viewer;
      return v.stage.frame().cssWidth === v.osd.canvas.clientWidth; }}""")
    wait_fully_loaded(page)
    assert page.evaluate("() => localStorage.getItem('wsi-viewer-author')") == "Dr. Anna Müller"
    page.keyboard.press("p")
    ring = [[200.0, 1300.0], [500.0, 1300.0], [450.0, 1600.0]]
    for at in _screen(page, ring):
        _click(page, at)
    page.keyboard.press("Enter")
    _saved(page)
    [made] = _near(_features(editor_server, CMU), 200, 1300)
    # edits as the select tool makes them: the exact annotation loaded, then ops (one action each)
    local = page.evaluate(
        f"""async (id) => {{
          const ed = {PANE}.wsi.editor;
          return ed.load({{setId: ed.activeSetId(), annotationId: id}});
        }}""",
        made["id"],
    )
    assert page.evaluate(f"() => {PANE}.wsi.editor.doc.has({json.dumps(local)})")
    actions = [
        {"kind": "move-vertex", "localId": local, "index": 1, "to": [520.0, 1250.0]},
        {"kind": "set-properties", "localId": local, "properties": {"name": "checked"}},
        {"kind": "delete", "localId": local},
    ]
    for op in actions:
        page.evaluate(f"(op) => {PANE}.wsi.editor.apply(op)", op)
        _saved(page)
    assert _near(_features(editor_server, CMU), 200, 1300) == []
    assert page.locator("[data-editor-undo]").is_enabled()

    def state() -> tuple[int, str | None, list[float] | None]:
        features = _features(editor_server, CMU)
        mine = _near(features, 200, 1300)
        if not mine:
            return len(features) - before, None, None
        return len(features) - before, mine[0]["properties"]["name"], mine[0]["geometry"]["coordinates"][0][1]

    moved, original = [520.0, 1250.0], [500.0, 1300.0]
    undone = [(1, "checked", moved), (1, "", moved), (1, "", original), (0, None, None)]
    for want in undone:  # Ctrl+Z undoes the delete, the rename, the vertex move, the create
        page.keyboard.press("Control+z")
        _saved(page)
        assert state() == want
    assert not page.locator("[data-editor-undo]").is_enabled()
    redone = [(1, "", original), (1, "", moved), (1, "checked", moved), (0, None, None)]
    keys = ["Control+Shift+z", "Control+y", "Control+y", "Control+Shift+z"]
    for key, want in zip(keys, redone, strict=True):
        page.keyboard.press(key)
        _saved(page)
        assert state() == want
    assert not page.locator("[data-editor-redo]").is_enabled()
    page.locator("[data-editor-undo]").click()  # the toolbar's button: the delete undone once more
    _saved(page)
    assert state() == (1, "checked", moved)
    sets = requests.get(f"{editor_server.url}/api/annotations/{CMU}", timeout=30).json()["sets"]
    history = requests.get(f"{editor_server.url}{sets[0]['urls']['history']}?limit=12", timeout=30).json()
    # the create, 3 edits, 4 undos, 4 redos and the last undo: each named after its author
    assert [c["who"] for c in history["changes"][:12]] == ["Dr. Anna Müller"] * 12


def test_pointer_rules_while_drawing(page: Page, editor_server: Server) -> None:
    """In a drawing tool: a left drag draws (OpenSeadragon does not pan), a press moving < 4 px is
    a click, the middle button, space+drag and two fingers pan, the wheel zooms; the pan tool
    pans again."""
    _open(page, editor_server, CMU, "x=1110&y=1480&z=0.5")
    view = f"() => {PANE}.wsi.viewer.getViewState(true)"
    draft = f"() => {PANE}.wsi.editor.canvas.draft?.coordinates.length ?? 0"
    page.keyboard.press("r")
    start = page.evaluate(view)
    _drag(page, [(500, 400), (560, 430), (640, 480)])
    page.keyboard.press("Escape")  # (a rectangle was drawn; nothing is pending to cancel)
    assert page.evaluate(view) == start, "a left drag in a drawing tool does not pan"
    _saved(page)

    page.keyboard.press("p")
    page.mouse.move(400, 400)
    page.mouse.down()
    page.mouse.move(403, 401)  # under 4 px: still a click
    page.mouse.up()
    assert page.evaluate(draft) >= 1, "a press moving under 4 px placed a vertex"
    zoom = start["zoom"]

    page.mouse.move(700, 500)
    page.mouse.down(button="middle")
    page.mouse.move(600, 450, steps=4)
    page.mouse.up(button="middle")
    moved = page.evaluate(view)
    assert abs(moved["x"] - (start["x"] + 100 / zoom)) < 2, moved
    assert abs(moved["y"] - (start["y"] + 50 / zoom)) < 2, moved

    page.keyboard.down(" ")
    page.mouse.move(700, 500)
    page.mouse.down()
    page.mouse.move(760, 500, steps=3)
    page.mouse.up()
    page.keyboard.up(" ")
    spaced = page.evaluate(view)
    assert abs(spaced["x"] - (moved["x"] - 60 / zoom)) < 2 and abs(spaced["y"] - moved["y"]) < 2, spaced
    assert page.evaluate(draft) <= 2, "panning added no vertex (the draft: the vertex and the rubber band)"
    page.keyboard.press("Escape")

    # two fingers dragged together pan by their midpoint's path (a touch screen's gesture)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 2})
    before_touch = page.evaluate(view)
    fingers = [{"x": 600, "y": 400, "id": 1}, {"x": 700, "y": 400, "id": 2}]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers})
    for step in range(1, 5):
        moved_fingers = [{**f, "y": f["y"] + 20 * step} for f in fingers]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": moved_fingers})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    touched = page.evaluate(view)
    assert abs(touched["y"] - (before_touch["y"] - 80 / zoom)) < 3, touched
    assert abs(touched["x"] - before_touch["x"]) < 3, touched
    assert page.evaluate(draft) == 0, "the two fingers drew nothing"
    # two fingers moved apart (a pinch) zoom: twice as far apart, twice the zoom
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers})
    for step in range(1, 5):
        spread = [{**fingers[0], "x": 600 - 12.5 * step}, {**fingers[1], "x": 700 + 12.5 * step}]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": spread})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    pinched = page.evaluate(view)
    assert pinched["zoom"] == pytest.approx(2 * touched["zoom"], rel=0.05), (pinched, touched)
    assert page.evaluate(draft) == 0, "the pinch drew nothing"

    page.mouse.move(640, 400)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"(z) => {PANE}.wsi.viewer.getViewState(true).zoom > z * 1.2", arg=pinched["zoom"])

    page.keyboard.press("x")  # the pan tool: OpenSeadragon's drag-to-pan again
    before = page.evaluate(view)
    _drag(page, [(640, 400), (600, 400), (540, 400)])
    page.wait_for_function(f"(x) => Math.abs(({view})().x - x) > 10", arg=before["x"])


def test_a_save_is_drawn_from_its_answer_and_changes_by_others_still_appear(
        page: Page, editor_server: Server) -> None:
    """The layer draws the editor's saved annotation from the write's answer (no tile refetched:
    its generation stays), hides its tiles' stale copy, and still reloads for a change by another
    client; a reload of the page shows the saved state."""
    _open(page, editor_server, CMU, "x=1110&y=1480&z=0.5")
    # the change watcher stopped: its conditional GET every 2 s, answered just after a save's commit
    # but before its answer, would reload the layer (rightly: a change it has not seen yet); this
    # test asks for the checks itself
    page.evaluate(f"() => {PANE}.wsi.watcher.stop()")
    layer = f"{PANE}.wsi.annotations.layers[0]"
    page.keyboard.press("r")
    _drag(page, _screen(page, [[200.0, 2150.0], [220.0, 2160.0], [300.0, 2250.0]]))  # a free corner
    _saved(page)  # (the set may be created by this one: its layer then loads it)
    # its tiles all in: one still on its way when the next save commits comes back at the set's
    # next version before that save's answer, and the layer rightly reloads (a CI failure: the
    # generation moved) — a change it cannot tell from another client's; not what this test checks
    page.wait_for_function(f"() => !{layer}.waiting()")
    generation = page.evaluate(f"() => {layer}.generation")
    [made] = _near(_features(editor_server, CMU), 200, 2150)
    local = page.evaluate(f"""() => [...{PANE}.wsi.editor.doc.entries.values()]
      .filter((e) => e.feature.properties.asap.type === 'Rectangle').at(-1).localId""")
    page.evaluate(f"(id) => {PANE}.wsi.editor.apply({{kind: 'translate', localIds: [id], dx: 300, dy: 0}})",
                  local)
    _saved(page)
    [moved] = _near(_features(editor_server, CMU), 500, 2150)
    assert moved["id"] == made["id"] and moved["properties"]["version"] > made["properties"]["version"]
    state = page.evaluate(f"""(id) => {{ const l = {layer};
      return {{generation: l.generation, version: l.version, meta: l.annotation(id),
               listed: l.annotations().filter((m) => m.id === id).length}}; }}""", made["id"])
    assert state["generation"] == generation, "no reload: the tiles stayed"
    assert state["meta"]["patched"] and state["meta"]["version"] == moved["properties"]["version"]
    assert state["meta"]["bbox"] == [500, 2150, 600, 2250]
    assert state["listed"] == 1, "listed once (not once per patch)"
    sets = requests.get(f"{editor_server.url}/api/annotations/{CMU}", timeout=30).json()["sets"]
    assert state["version"] == sets[0]["version"]

    def hit(x: float, y: float) -> Any:
        """The layer's hit at a slide point if it is ours (an earlier test's shapes may lie near)."""
        [(px, py)] = _screen(page, [[x, y]])
        box = page.locator("[data-osd]").bounding_box()
        assert box is not None
        found = page.evaluate(f"""([x, y]) => {{ const h = {PANE}.wsi.annotations.hitTest({{x, y}}, 3);
          return h && {{id: h.annotation.id, patched: Boolean(h.annotation.patched)}}; }}""",
                             [px - box["x"], py - box["y"]])
        return found if found and found["id"] == made["id"] else None

    # drawn where it was saved (the patch), not where the tiles had it (that copy is hidden)
    assert hit(550, 2200) == {"id": made["id"], "patched": True}
    assert hit(250, 2200) is None
    # selected, the editor draws it: its saves render nothing of the layer (no pixel of it
    # changes), so no render holds the main thread while the next save's answer waits; once
    # deselected the layer draws the last save
    renders = page.evaluate(f"""async ([id, annotationId]) => {{ const e = {PANE}.wsi.editor;
      e.select([id]); await e.load({{setId: {layer}.setId, annotationId}});
      const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      await frames();
      const before = {PANE}.wsi.viewer.stage.cache.renders;
      for (const dx of [20, 20, 20]) {{
        e.apply({{kind: 'translate', localIds: [id], dx, dy: 0}});
        await new Promise((r) => {{ const t = setInterval(() => {{
          if ({PANE}.dataset.editorPending === '0') {{ clearInterval(t); r(); }} }}, 5); }});
      }}
      await frames();
      return [before, {PANE}.wsi.viewer.stage.cache.renders]; }}""", [local, made["id"]])
    assert renders[1] == renders[0], f"cache renders while the selected annotation was saved: {renders}"
    # deselected, the layer draws the last save with its next render (until then its hit test
    # knows the draws of the last one, which had the annotation hidden: a CI failure)
    before_release = page.evaluate(f"() => {PANE}.wsi.viewer.stage.cache.renders")
    page.evaluate(f"() => {PANE}.wsi.editor.select([])")
    page.wait_for_function(f"""([id, before]) => {layer}.annotation(id)?.bbox?.[0] === 560
      && {PANE}.wsi.viewer.stage.cache.renders > before""", arg=[made["id"], before_release])
    assert hit(610, 2200) == {"id": made["id"], "patched": True}
    # not selected: the layer's copy goes with the render after the answer, or within
    # HIDE_GRACE_MS (120) when the answer is slow (here held back 600 ms)
    def slow(route: Any) -> None:
        time.sleep(0.6)
        route.continue_()
    page.route("**/api/sets/*/annotations/*", slow)
    timeline = page.evaluate(f"""async (id) => {{ const cache = {PANE}.wsi.viewer.stage.cache;
      const before = cache.renders;
      {PANE}.wsi.editor.apply({{kind: 'translate', localIds: [id], dx: -60, dy: 0}});
      const at = (ms) => new Promise((r) => setTimeout(() => r(cache.renders - before), ms));
      return [await at(40), await at(260)]; }}""", local)
    _saved(page)
    page.unroute("**/api/sets/*/annotations/*", slow)
    assert timeline == [0, 1], f"renders 40 ms and 300 ms after the edit: {timeline}"
    page.wait_for_function(f"(id) => {layer}.annotation(id)?.bbox?.[0] === 500", arg=made["id"])
    assert hit(550, 2200) == {"id": made["id"], "patched": True}
    # another client adds one: the conditional GET finds it, the layer reloads (patches dropped)
    theirs = {"type": "Feature", "properties": {"name": "theirs", "asap": {"type": "Polygon"}},
              "geometry": {"type": "Polygon", "coordinates": [_circle(1300, 1300, 40, 12)]}}
    other = requests.post(f"{editor_server.url}{sets[0]['urls']['annotations']}", json=theirs,
                          headers={"X-User": "someone-else"}, timeout=30)
    assert other.status_code == 201, other.text
    assert page.evaluate(f"() => {layer}.checkForChanges()") is True
    page.wait_for_function(f"""(id) => {{ const l = {layer}; const a = l.annotation(id);
      return l.annotations().some((m) => m.name === 'theirs') && a && a.generation === l.generation; }}""",
                           arg=made["id"])
    assert page.evaluate(f"(id) => {layer}.annotation(id).patched ?? false", made["id"]) is False
    assert hit(550, 2200) == {"id": made["id"], "patched": False}
    assert hit(250, 2200) is None
    # a delete is patched too: gone from the layer at once; a reload of the page agrees
    page.evaluate(f"(id) => {PANE}.wsi.editor.apply({{kind: 'delete', localId: id}})", local)
    _saved(page)
    assert page.evaluate(f"(id) => {layer}.annotation(id)", made["id"]) is None
    assert hit(550, 2200) is None
    page.reload()
    wait_first_viewport(page)
    wait_fully_loaded(page)
    ids = page.evaluate(f"() => {layer}.annotations().map((m) => m.id)")
    theirs_id = other.json()["annotation"]["id"]
    assert made["id"] not in ids and theirs_id in ids
    requests.delete(f"{editor_server.url}{sets[0]['urls']['self']}/annotations/{theirs_id}",
                    headers={"X-User": "test"}, timeout=30)
