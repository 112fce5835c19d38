"""One huge outline at high zoom in a real Chromium (software WebGL) against a real server: a
100,000-vertex star over the whole CMU slide, viewed at 40x and panned, is painted where its
vertices are and never blocks the page's main thread for long.

It once did: every region tile received the star whole (the server sent each annotation that meets
the tile uncut) and SwiftShader drew its slivers with multisampling, taking 2-6 s per frame at
40x. The server now cuts big outlines to the tile (``clip=1``), each draw is scissored to its tile
and the canvas is not multisampled.

The server is this module's own (its own copy of the slide and data directory), so the set is
gone with it and no other test sees it.
"""

from __future__ import annotations

import io
import math
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Page

from tests._server import running_server
from tests.e2e.conftest import DATA, Server, wait_first_viewport, wait_fully_loaded

pytestmark = pytest.mark.e2e

CMU = "aperio/CMU-1-Small-Region.svs"  # 2220 x 2967, 0.499 µm/px: 40x = 2 screen px per slide px
CENTRE = (1110.0, 1480.0)
VERTICES = 100_000
#: Longest main-thread task allowed (ms). Generous on purpose: CI is a loaded 2-core machine. Before
#: the fix a frame of this view took 5-8 s on a quiet machine (tasks of 5,100-8,500 ms, the view
#: loaded after 28 s); after it, 0.4-0.8 s quiet and up to 3.2 s in a full CI run beside the other
#: tests: still far from the issue's ~200 ms target (strokes of 10^5 segments a frame cost
#: SwiftShader ~2 us a triangle, pixels or not), so the bound sits between the two; lower it as
#: frames get cheaper.
LONG_TASK_BOUND_MS = 4500
LAYER = "document.querySelector('[data-pane]').wsi.annotations.layers[0]"


def _star() -> list[list[float]]:
    """The star of tests/e2e/test_export.py (radii random 100-1300 px), open ring."""
    rng = np.random.default_rng(7)
    angles = np.sort(rng.uniform(0, 2 * np.pi, VERTICES))
    radii = rng.uniform(100, 1300, VERTICES)
    xs, ys = CENTRE[0] + radii * np.cos(angles), CENTRE[1] + radii * np.sin(angles)
    return [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]


@pytest.fixture(scope="module")
def star_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[list[float]]]]:
    root = tmp_path_factory.mktemp("big-outline-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    data_dir = tmp_path_factory.mktemp("big-outline-server") / "data"
    data_dir.mkdir()
    ring = _star()
    with running_server(str(root), "--workers", "1", data_dir=data_dir) as running:
        asap = {"type": "Polygon", "group": "tumour", "color": "#ff0000"}
        geometry = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
        doc: dict[str, Any] = {
            "type": "FeatureCollection", "asapGroups": [{"name": "tumour", "color": "#ff0000"}],
            "features": [{"type": "Feature", "geometry": geometry, "properties": {"asap": asap}}],
        }
        slide = requests.get(f"{running.url}/api/slides/{CMU}", timeout=30).json()
        url = f"{running.url}{slide['urls']['annotations']}?name=star"
        created = requests.post(url, json=doc, timeout=120)
        assert created.status_code == 201, created.text
        yield Server(url=running.url, slide_dir=root), ring


def _long_tasks(page: Page) -> list[int]:
    tasks: list[int] = page.evaluate("window.__longTasks.splice(0)")
    return tasks


def _wait_exact_tiles_drawn(page: Page) -> None:
    """Until the layer draws the view from exact (level 0) tiles only."""
    page.wait_for_function(f"""() => {{ const l = {LAYER};
      return l && l.lastDraws.length > 0 && l.lastDraws.every((d) => d.tile.lod === 0); }}""", timeout=60000)


def _red_near(page: Page, x: float, y: float) -> bool:
    """Whether the screenshot has an outline-red pixel within 2 px of element point (x, y)."""
    box = page.locator("[data-osd]").bounding_box()
    assert box is not None
    page.wait_for_timeout(150)  # one more frame of the overlay
    png = page.screenshot(clip={"x": box["x"] + x - 2, "y": box["y"] + y - 2, "width": 5, "height": 5})
    with Image.open(io.BytesIO(png)) as img:
        px = np.asarray(img.convert("RGB"), dtype=np.int32)
    return bool(np.any((px[..., 0] >= 180) & (px[..., 1] <= 90) & (px[..., 2] <= 90)))


def test_star_at_40x_paints_and_pans_without_long_tasks(
    page: Page, star_server: tuple[Server, list[list[float]]],
) -> None:
    server, ring = star_server
    page.add_init_script("""window.__longTasks = [];
      new PerformanceObserver((list) => list.getEntries()
        .forEach((e) => window.__longTasks.push(Math.round(e.duration))))
        .observe({ entryTypes: ["longtask"] });""")
    page.goto(f"{server.url}/view/{CMU}?x={CENTRE[0]}&y={CENTRE[1]}&z=0.05")
    wait_first_viewport(page)
    page.wait_for_function("() => document.querySelector('[data-pane]').dataset.annotationsPaintedMs",
                           timeout=60000)
    _long_tasks(page)  # opening is not what this test measures

    page.click("button[data-mag='40']")
    wait_fully_loaded(page)
    _wait_exact_tiles_drawn(page)
    for _ in range(3):
        page.mouse.move(640, 400)
        page.mouse.down()
        page.mouse.move(520, 330, steps=6)
        page.mouse.up()
    wait_fully_loaded(page)
    _wait_exact_tiles_drawn(page)
    page.wait_for_timeout(500)
    tasks = _long_tasks(page)
    assert max(tasks, default=0) <= LONG_TASK_BOUND_MS, f"main-thread long tasks (ms): {tasks}"

    # The outline passes through every vertex: a vertex in the middle of the view is drawn red,
    # and is not once the layer is hidden (the tissue there is not outline-red).
    view = page.evaluate("""() => { const w = document.querySelector('[data-pane]').wsi;
      const el = w.viewer.osd.canvas;
      return { ...w.viewer.getViewState(true), width: el.clientWidth, height: el.clientHeight }; }""")
    assert view["zoom"] == pytest.approx(2.0, rel=0.05) and view["rotation"] == 0 and not view["flip"]
    cx, cy = view["width"] / 2, view["height"] / 2
    shown = [((x - view["x"]) * view["zoom"] + cx, (y - view["y"]) * view["zoom"] + cy) for x, y in ring]
    middle = [p for p in shown if abs(p[0] - cx) < 200 and abs(p[1] - cy) < 150]
    assert middle, "no vertex of the star near the view's centre"
    x, y = min(middle, key=lambda p: math.hypot(p[0] - cx, p[1] - cy))
    assert _red_near(page, x, y)
    page.evaluate(f"() => {LAYER}.setVisible(false)")
    assert not _red_near(page, x, y)

    # Listing, hit-testing and fly-to know the whole annotation, not the piece in a tile.
    meta = page.evaluate(f"() => {LAYER}.annotations().map((a) => ({{ bbox: a.bbox, points: a.points }}))")
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    assert meta == [{"bbox": pytest.approx([min(xs), min(ys), max(xs), max(ys)]), "points": VERTICES}]
