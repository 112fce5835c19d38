"""The annotation layer in a real Chromium against a real server: outlines drawn where the XML puts
them (within 1 screen px) on a plain slide and on a slide with a bounds offset, rotated and mirrored,
with WebGL2 (SwiftShader here) and with the Canvas 2D fallback; hidden groups not drawn; fly-to
centres an annotation; hit-testing; a change made by another client found by a conditional GET;
the built-in demo's annotations on open; both compare panes. No console errors (the page fixture).

Probes read the page's screenshot (what the user sees: tiles and overlay composited) and compare
with positions computed here from the view (centre, zoom, rotation, flip), not by the page's code.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import sys
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

CMU = "aperio/CMU-1-Small-Region.svs"  # 2220 x 2967, no bounds offset
BOUNDS = "bounds/mirax-2region.mrxs"  # bounds offset (2664, 2088)
MAGENTA = (255, 0, 255)
CYAN = (0, 255, 255)
#: Probe rectangles (slide px): x0, y0, x1, y1.
PROBE = {CMU: (600.0, 800.0, 1400.0, 1800.0), BOUNDS: (3000.0, 2500.0, 4000.0, 3500.0)}
#: A small shape far from the probe, for fly-to (slide px).
TARGET = {CMU: (1500.0, 1900.0, 1600.0, 1960.0), BOUNDS: (5200.0, 4200.0, 5300.0, 4260.0)}
MARKER = (9320.0, 6696.0, 9384.0, 6760.0)  # region1-tl of the bounds slide: a red 64 px square
PAINTED = "() => document.querySelector('[data-pane]').dataset.annotationsPaintedMs"
OVERLAY = "document.querySelector('[data-pane]').wsi.annotations"
STAGE = "document.querySelector('[data-pane]').wsi.viewer.stage"


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def _feature(ring: list[list[float]], group: str, kind: str = "Rectangle", name: str = "") -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "asap": {"type": kind, "group": group, "color": "#F4FA58"}}}


def _post_set(url: str, slide: str, name: str, features: list[dict[str, Any]]) -> dict[str, Any]:
    doc = {"type": "FeatureCollection", "features": features,
           "asapGroups": [{"name": "probe", "color": "#ff00ff"}, {"name": "target", "color": "#00ffff"}]}
    info = requests.get(f"{url}/api/slides/{slide}", timeout=30).json()
    created = requests.post(f"{url}{info['urls']['annotations']}?name={name}", json=doc, timeout=60)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()["set"]
    return body


@pytest.fixture(scope="module")
def layer_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server over the CMU slide (whose sidecar is the built-in demo's annotation set, written
    for its size) and the bounds slide, each with a probe set posted through the API."""
    root = tmp_path_factory.mktemp("layer-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    from viewer.demo import write_demo_annotations

    write_demo_annotations(root / "aperio" / "CMU-1-Small-Region.xml", 2220, 2967)
    subprocess.run([sys.executable, str(DATA / "tools" / "make_bounds_slides.py"), str(root / "bounds"),
                    "--only", "mirax-2region"], check=True, capture_output=True)
    data_dir = tmp_path_factory.mktemp("layer-server") / "data"
    data_dir.mkdir()
    with running_server(str(root), "--workers", "1", data_dir=data_dir) as running:
        server = Server(url=running.url, slide_dir=root)
        for slide in (CMU, BOUNDS):
            features = [_feature(_rect(*PROBE[slide]), "probe", name="probe"),
                        _feature(_rect(*TARGET[slide]), "target", "Polygon", name="target")]
            if slide == BOUNDS:
                features.append(_feature(_rect(*MARKER), "probe", name="marker"))
            server.truth[slide] = _post_set(running.url, slide, "probes", features)
        yield server


def _open(page: Page, server: Server, slide: str, **query: object) -> dict[str, Any]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    page.goto(f"{server.url}/view/{slide}?{q}")
    wait_first_viewport(page)
    page.wait_for_function(PAINTED, timeout=30000)
    wait_fully_loaded(page)
    return _view(page)


def _view(page: Page) -> dict[str, Any]:
    """The view OpenSeadragon shows (after its constraints) and the element's size."""
    view: dict[str, Any] = page.evaluate("""() => {
      const w = document.querySelector('[data-pane]').wsi;
      const el = w.viewer.hooks.osd;
      return { ...w.viewer.getViewState(true), width: el.clientWidth, height: el.clientHeight };
    }""")
    return view


def _screen(view: dict[str, Any], x: float, y: float) -> tuple[float, float]:
    """A slide point on screen (element CSS px): zoom and clockwise rotation about the view centre,
    then the horizontal mirror of the whole element."""
    a = math.radians(view["rotation"])
    dx, dy = (x - view["x"]) * view["zoom"], (y - view["y"]) * view["zoom"]
    sx = view["width"] / 2 + dx * math.cos(a) - dy * math.sin(a)
    sy = view["height"] / 2 + dx * math.sin(a) + dy * math.cos(a)
    return (view["width"] - sx if view["flip"] else sx), sy


def _shot(page: Page) -> np.ndarray:
    """The pane's pixels as the user sees them (RGB)."""
    box = page.locator("[data-osd]").bounding_box()
    assert box is not None
    page.wait_for_timeout(150)  # one more frame of the overlay
    png = page.screenshot(clip=box)
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int32)


def _mask(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 60) -> np.ndarray:
    return np.all(np.abs(pixels - np.array(rgb)) <= tol, axis=2)


def _edge_offsets(mask: np.ndarray, view: dict[str, Any],
                  rect: tuple[float, float, float, float]) -> list[float]:
    """For points at 30/50/70 % of each edge of a slide rectangle: the mean signed distance
    (screen px, along the edge's normal) of the outline pixels near it from where it belongs."""
    x0, y0, x1, y1 = rect
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    ys, xs = np.nonzero(mask)
    centres = np.stack([xs + 0.5, ys + 0.5], axis=1)
    out = []
    for i in range(4):
        a = np.array(_screen(view, *corners[i]))
        b = np.array(_screen(view, *corners[(i + 1) % 4]))
        tangent = (b - a) / np.linalg.norm(b - a)
        normal = np.array([-tangent[1], tangent[0]])
        for t in (0.3, 0.5, 0.7):
            m = a + (b - a) * t
            rel = centres - m
            along, across = rel @ tangent, rel @ normal
            near = (np.abs(along) <= 4) & (np.abs(across) <= 8)
            assert near.sum() >= 3, f"no outline near edge {i} at {t}: {m}"
            out.append(float(across[near].mean()))
    return out


@pytest.mark.parametrize(
    ("slide", "query"),
    [
        (CMU, {"x": 1000, "y": 1300, "z": 0.5}),
        (CMU, {"x": 1000, "y": 1300, "z": 0.4, "r": 90, "flip": 1}),
        (BOUNDS, {"x": 3500, "y": 3000, "z": 0.5}),
        (BOUNDS, {"x": 3500, "y": 3000, "z": 0.6, "r": 30, "flip": 1}),
        (BOUNDS, {"x": 3500, "y": 3000, "z": 0.6, "r": 30, "flip": 1, "gl": 0}),  # Canvas 2D fallback
    ],
)
def test_outline_drawn_where_the_annotation_is(page: Page, layer_server: Server, slide: str,
                                               query: dict[str, float]) -> None:
    view = _open(page, layer_server, slide, **query)
    mode = page.locator("[data-pane]").get_attribute("data-overlay-mode")
    assert mode == ("canvas2d" if query.get("gl") == 0 else "webgl2")
    if mode == "canvas2d":
        assert page.locator("[data-overlay-notice]").is_visible()
    offsets = _edge_offsets(_mask(_shot(page), MAGENTA), view, PROBE[slide])
    assert max(abs(o) for o in offsets) <= 1.0, offsets
    if mode == "webgl2":
        # an animated pan by a fraction of a pixel: its frames move the cached raster (no render),
        # and at rest the outline is where it belongs again, in the pixels a fresh render makes
        # (not a copy shifted by the fraction)
        before = page.evaluate(f"() => ({{ ...{STAGE}.cache }})")
        page.evaluate(f"() => {STAGE}.viewer.panBy(37.4, -21.3)")
        page.wait_for_function(f"() => !{STAGE}.moving()", timeout=20000)
        after = page.evaluate(f"() => ({{ ...{STAGE}.cache }})")
        assert after["blits"] > before["blits"], (before, after)
        view = _view(page)
        panned = _shot(page)
        offsets = _edge_offsets(_mask(panned, MAGENTA), view, PROBE[slide])
        assert max(abs(o) for o in offsets) <= 1.0, offsets
        page.evaluate(f"() => {STAGE}.invalidate()")
        fresh = _shot(page)
        assert page.evaluate(f"() => {STAGE}.cache.renders") > after["renders"]
        outline = _mask(panned, MAGENTA) | _mask(fresh, MAGENTA)
        differ = np.abs(panned - fresh).max(axis=2) > 24
        assert outline.sum() > 200 and differ[outline].mean() < 0.02, (outline.sum(), differ[outline].mean())


def test_outline_frames_the_marker_of_a_bounds_offset_slide(page: Page, layer_server: Server) -> None:
    # The red marker square is in the tiles; the magenta rectangle is the annotation at the same
    # slide coordinates: both must coincide on screen, whatever the bounds offset does to tiles.
    view = _open(page, layer_server, BOUNDS, x=9352, y=6728, z=2)
    page.evaluate(f"() => {OVERLAY}.layers.forEach((l) => l.setFillOpacity(0))")
    pixels = _shot(page)
    red = _mask(pixels, (255, 0, 0), 40)
    ys, xs = np.nonzero(red)
    assert len(xs) > 2000, len(xs)
    magenta = _mask(pixels, MAGENTA)
    offsets = _edge_offsets(magenta, view, MARKER)
    assert max(abs(o) for o in offsets) <= 1.0, offsets
    # the red square (tiles) fills the outline (overlay): its pure-red pixels stop at most 2.5 px
    # inside the outline's centre line (1 px under the 2 px outline, about 1 px of JPEG edge)
    left, top = _screen(view, MARKER[0], MARKER[1])
    right, bottom = _screen(view, MARKER[2], MARKER[3])
    assert 0 <= xs.min() - left <= 2.5 and 0 <= right - (xs.max() + 1) <= 2.5, (xs.min(), left, right)
    assert 0 <= ys.min() - top <= 2.5 and 0 <= bottom - (ys.max() + 1) <= 2.5, (ys.min(), top, bottom)


def test_hidden_group_is_not_drawn_and_hit_test_finds_it(page: Page, layer_server: Server) -> None:
    view = _open(page, layer_server, CMU, x=1000, y=1300, z=0.5)
    assert _mask(_shot(page), MAGENTA).sum() > 500
    inside = _screen(view, 700, 900)
    hit = page.evaluate("""([x, y]) => {
      const o = document.querySelector('[data-pane]').wsi.annotations;
      const t0 = performance.now();
      const h = o.hitTest({x, y});
      return h && { name: h.annotation.name, group: h.annotation.group, ms: performance.now() - t0 };
    }""", list(inside))
    assert hit is not None and hit["name"] == "probe" and hit["group"] == "probe", hit
    assert hit["ms"] < 50
    name_at = """([x, y]) => document.querySelector('[data-pane]').wsi.annotations.hitTest({x, y})
      ?.annotation.name ?? null"""
    # outside it (the demo set may be there), then 1.5 px off its outline
    assert page.evaluate(name_at, list(_screen(view, 500, 700))) != "probe"
    assert page.evaluate(name_at, list(_screen(view, 1400 + 3, 1000))) == "probe"
    page.evaluate("""() => { const o = document.querySelector('[data-pane]').wsi.annotations;
      o.layers.find((l) => l.set.name === 'probes').setGroupVisible('probe', false); }""")
    pixels = _shot(page)
    assert _mask(pixels, MAGENTA).sum() == 0
    assert _mask(pixels, CYAN).sum() > 20  # the other group is still drawn
    assert page.evaluate(name_at, list(inside)) != "probe"


@pytest.mark.parametrize("rotation", [0, 90])
def test_fly_to_centres_the_annotation(page: Page, layer_server: Server, rotation: int) -> None:
    _open(page, layer_server, BOUNDS, x=3500, y=3000, z=0.3, r=rotation)
    page.evaluate("""() => { const o = document.querySelector('[data-pane]').wsi.annotations;
      const layer = o.layers.find((l) => l.set.name === 'probes');
      const target = layer.annotations().find((a) => a.name === 'target');
      layer.flyTo(target.id); }""")
    wait_fully_loaded(page)
    page.wait_for_timeout(300)
    view = _view(page)
    x0, y0, x1, y1 = TARGET[BOUNDS]
    assert abs(view["x"] - (x0 + x1) / 2) < 1 and abs(view["y"] - (y0 + y1) / 2) < 1
    ys, xs = np.nonzero(_mask(_shot(page), CYAN))
    assert len(xs) > 100
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    assert abs(cx - view["width"] / 2) <= 2 and abs(cy - view["height"] / 2) <= 2, (cx, cy, view)
    # zoomed in as far as the viewer goes (2 screen px per slide px: the small box would fit larger)
    assert abs(view["zoom"] - 2) < 1e-6
    extent = sorted((xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()))
    assert abs(extent[0] - 60 * 2) <= 3 and abs(extent[1] - 100 * 2) <= 3, extent


def test_change_by_another_client_found_by_a_conditional_get(page: Page, layer_server: Server) -> None:
    _open(page, layer_server, CMU, x=1000, y=1300, z=0.5)
    check = """() => document.querySelector('[data-pane]').wsi.annotations.checkForChanges()"""
    assert sorted(page.evaluate(check)) == [False, False]  # demo sidecar set and probes: 304s
    probes = layer_server.truth[CMU]
    added = requests.post(f"{layer_server.url}{probes['urls']['annotations']}",
                          json=_feature(_rect(1500, 1000, 1700, 1200), "target", "Polygon", name="added"),
                          headers={"X-User": "someone-else"}, timeout=30)
    assert added.status_code == 201, added.text
    assert sorted(page.evaluate(check)) == [False, True]
    page.wait_for_function("""() => document.querySelector('[data-pane]').wsi.annotations.layers
      .some((l) => l.annotations().some((a) => a.name === 'added'))""")
    view = _view(page)
    offsets = _edge_offsets(_mask(_shot(page), CYAN), view, (1500, 1000, 1700, 1200))
    assert max(abs(o) for o in offsets) <= 1.0, offsets


def test_demo_annotations_show_on_open(page: Page, layer_server: Server) -> None:
    # The CMU slide's sidecar is the built-in demo's annotation set: imported on first open, drawn
    # with the slide, every annotation loaded at the fit view.
    expected = requests.get(f"{layer_server.url}/api/annotations/{CMU}", timeout=30).json()
    sidecar = next(s for s in expected["sets"] if s["sidecar"])
    page.goto(f"{layer_server.url}/view/{CMU}")
    first = wait_first_viewport(page)
    painted = float(page.wait_for_function(PAINTED, timeout=30000).json_value())
    assert painted > 0 and first > 0
    loaded = page.evaluate("""(id) => document.querySelector('[data-pane]').wsi.annotations.layer(id)
      .annotations().length""", sidecar["id"])
    assert loaded == sidecar["annotation_count"] > 5
    assert page.locator("[data-pane]").get_attribute("data-annotation-sets") == "2"


def test_both_compare_panes_draw_their_annotations(page: Page, layer_server: Server) -> None:
    page.goto(f"{layer_server.url}/compare?left={CMU}&right={BOUNDS}")
    for side in ("left", "right"):
        pane = f"[data-side='{side}'] [data-pane]"
        page.wait_for_function("(p) => document.querySelector(p)?.dataset.annotationsPaintedMs", arg=pane,
                               timeout=30000)
        assert page.locator(pane).get_attribute("data-overlay-mode") == "webgl2"
    assert page.locator("canvas[data-overlay='annotations']").count() == 2
