"""Value overlays in the browser (issue 14): a float32 map uploaded to the CMU slide, shown by the
WebGL2 layer (and the Canvas 2D fallback); threshold, opacity and colormap change the drawn pixels
as the lookup says, with no tile request; the legend shows the range; the cursor readout is the
stored value; the settings survive a reload through the URL.

The map is a horizontal ramp at 1/16 of the slide: cell (i, j) holds i / (W - 1), so the value at
a slide point is known (x // 16 / 138) and each position checks the registration too."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BOUNDS, CMU, Server, settled_query, view_url, wait_first_viewport

pytestmark = pytest.mark.e2e

SCALE = 16
GRID_W, GRID_H = 139, 186  # ceil(2220 / 16), ceil(2967 / 16)


def ramp_value(x: float) -> float:
    """The stored value at slide x (float32, as the grid holds it)."""
    return float(np.float32((int(x) // SCALE) / (GRID_W - 1)))


def upload(server: Server, slide_id: str, grid: np.ndarray, name: str) -> dict[str, Any]:
    """A grid uploaded to a slide as .npy (the scale from its shape)."""
    buf = io.BytesIO()
    np.save(buf, grid)
    slide = requests.get(f"{server.url}/api/slides/{slide_id}", timeout=30).json()
    made = requests.post(
        f"{server.url}{slide['urls']['overlays']}", files={"file": (f"{name}.npy", buf.getvalue())},
        data={"name": name}, headers={"X-Requested-With": "test"}, timeout=60,
    )
    assert made.status_code == 201, made.text
    overlay: dict[str, Any] = made.json()
    assert overlay["encoding"] == "u16" and overlay["scale"] == SCALE, overlay
    return overlay


@pytest.fixture()
def overlays(server: Server, page: Page) -> Iterator[list[dict[str, Any]]]:
    """Overlays a test uploads; removed after it (the server is shared), once its page is closed
    (an open page may still ask for an overlay's statistics: a 404 in its console)."""
    made: list[dict[str, Any]] = []
    yield made
    page.context.close()
    for overlay in made:
        gone = requests.delete(f"{server.url}{overlay['urls']['self']}", headers={"X-Requested-With": "test"},
                               timeout=30)
        assert gone.status_code == 204, gone.text


@pytest.fixture()
def ramp_overlay(server: Server, overlays: list[dict[str, Any]]) -> dict[str, Any]:
    """The ramp on the CMU slide."""
    grid = np.tile((np.arange(GRID_W, dtype=np.float32) / (GRID_W - 1))[None, :], (GRID_H, 1))
    overlays.append(upload(server, CMU, grid, "ramp e2e"))
    return overlays[-1]


# In the page: the element point (CSS px) of a slide point, and the colour drawn there.
PIXEL_JS = """([x, y]) => {
  const w = document.querySelector('[data-pane]').wsi;
  const layer = w.overlays.values;
  const m = layer.stage.frame().slideToElement;
  const ex = m.a * x + m.c * y + m.e, ey = m.b * x + m.d * y + m.f;
  return {element: [ex, ey], rgba: layer.readPixel(ex, ey)};
}"""

LUT_JS = """async ([name, index]) => {
  const m = await import('/static/js/overlays/colormaps.js');
  const lut = m.colormapLut(name);
  return Array.from(lut.slice(index * 4, index * 4 + 4));
}"""


# A control moved on a layer told its full-resolution draw takes 100 ms: the scale, canvas size
# and frame size of the draw in the event, and the colours it drew at slide (x, y) and at slide
# (16 * 40 + 8, y) (below the threshold), read back from the reduced canvas in the same task.
PACED_JS = """([sel, x, y]) => {
  const pane = document.querySelector('[data-pane]');
  const layer = pane.wsi.overlays.values;
  layer.fullDrawMs = 100;
  const el = document.querySelector(sel);
  el.value = '0.75';
  el.dispatchEvent(new Event('input', {bubbles: true}));
  const f = layer.stage.frame(), canvas = layer.canvas, gl = layer.renderer.gl;
  const read = (sx) => {
    const m = f.slideToElement;
    const ex = m.a * sx + m.c * y + m.e, ey = m.b * sx + m.d * y + m.f;
    const px = Math.floor(ex * f.dpr * canvas.width / f.width);
    const py = Math.floor(ey * f.dpr * canvas.height / f.height);
    const out = new Uint8Array(4);
    gl.readPixels(px, canvas.height - 1 - py, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, out);
    return [...out];
  };
  return {scale: layer.scale, pane: pane.dataset.overlayScale, canvas: [canvas.width, canvas.height],
          frame: [f.width, f.height], rgba: read(x), rgbaBelow: read(16 * 40 + 8)};
}"""

CANVAS_SIZE_JS = """() => { const c = document.querySelector('canvas[data-overlay="values"]');
  const f = document.querySelector('[data-pane]').wsi.overlays.values.stage.frame();
  return [c.width, c.height, f.width, f.height]; }"""


SHOT_JS = """async ([x, y]) => {
  const blob = await document.querySelector('[data-pane]').wsi.viewer.screenshot();
  const image = await createImageBitmap(blob);
  const ctx = new OffscreenCanvas(image.width, image.height).getContext('2d');
  ctx.drawImage(image, 0, 0);
  const dpr = devicePixelRatio;
  return Array.from(ctx.getImageData(Math.floor(x * dpr), Math.floor(y * dpr), 1, 1).data);
}"""


def lut_index(value: float, lo: float = 0.0, hi: float = 1.0) -> int:
    code = round(value * 65535)  # u16 over [0, 1]
    v = code / 65535
    return round(min(1.0, max(0.0, (v - lo) / (hi - lo))) * 255)


def expected(page: Page, cmap: str, value: float, opacity: float, premultiplied: bool) -> list[float]:
    r, g, b, a = page.evaluate(LUT_JS, [cmap, lut_index(value)])
    alpha = a * opacity
    k = alpha / 255 if premultiplied else 1.0
    return [r * k, g * k, b * k, alpha]


def assert_colour(seen: list[int], want: list[float], what: str) -> None:
    close = all(abs(s - w) <= 2 for s, w in zip(seen, want, strict=True))
    assert close, f"{what}: drew {seen}, expected {want}"


def wait_settled(page: Page, overlay_id: str) -> None:
    """Until the overlay layer has drawn every tile of the view and none is on its way."""
    page.wait_for_function("(id) => document.querySelector('[data-pane]').wsi?.overlays?.layer(id)"
                           "?.settled()", arg=overlay_id, timeout=30000)


def open_overlay(page: Page, server: Server, overlay: dict[str, Any], **query: object) -> dict[str, Any]:
    """The viewer on the whole CMU slide; waits until the overlay's view is drawn."""
    page.goto(view_url(server, CMU, x=1110, y=1480, z=0.25, **query))
    wait_first_viewport(page)
    wait_settled(page, overlay["id"])
    return page.evaluate("() => ({mode: document.querySelector('[data-pane]').wsi.overlays.values.mode})")


@pytest.fixture()
def made_sets(server: Server, page: Page) -> Iterator[list[dict[str, Any]]]:
    """Sets the test makes on the CMU slide; emptied after it (later tests draw that slide), once
    its page is closed (an open page would fetch the emptied set's statistics)."""
    made: list[dict[str, Any]] = []
    yield made
    page.context.close()
    for aset in made:
        url = f"{server.url}{aset['urls']['self']}"
        current = requests.get(url, timeout=60)
        emptied = requests.put(url, json={"type": "FeatureCollection", "features": []},
                               headers={"If-Match": current.headers["ETag"]}, timeout=60)
        assert emptied.status_code == 200, emptied.text


def test_overlay_controls_repaint_without_tiles_and_survive_a_reload(
    page: Page, server: Server, ramp_overlay: dict[str, Any], made_sets: list[dict[str, Any]],
) -> None:
    overlay = ramp_overlay
    tiles: list[str] = []
    page.on("request", lambda r: tiles.append(r.url) if "/overlays/" in r.url and "_files/" in r.url
            else None)
    assert open_overlay(page, server, overlay)["mode"] == "webgl2"
    assert tiles, "the overlay's tiles were fetched"
    y = 1480.0
    low, mid, high = 16 * 40 + 8, 16 * 103 + 8, 16 * 124 + 8  # values 0.29, 0.746, 0.899

    def drawn(x: float) -> list[int]:
        rgba: list[int] = page.evaluate(PIXEL_JS, [x, y])["rgba"]
        return rgba

    # defaults: jet over [0, 1], threshold 0.5, opacity 0.5
    assert drawn(low)[3] == 0, "below the threshold: not drawn"
    assert_colour(drawn(mid), expected(page, "jet", ramp_value(mid), 0.5, True), "default style")

    page.locator("[data-overlays-toggle]").click()
    section = page.locator(f'[data-overlay-id="{overlay["id"]}"]')
    expect(section).to_be_visible()
    expect(section.locator("[data-legend-min]")).to_have_text("0.00000")
    expect(section.locator("[data-legend-max]")).to_have_text("1.00000")

    before = len(tiles)
    set_range = """([sel, v]) => { const el = document.querySelector(sel); el.value = String(v);
      el.dispatchEvent(new Event('input', {bubbles: true})); }"""
    sel = f'[data-overlay-id="{overlay["id"]}"] [data-control="%s"]'
    page.evaluate(set_range, [sel % "threshold", 0.8])
    assert drawn(mid)[3] == 0, "the threshold moved above 0.746"
    assert_colour(drawn(high), expected(page, "jet", ramp_value(high), 0.5, True), "threshold 0.8")
    page.evaluate(set_range, [sel % "opacity", 1])
    assert_colour(drawn(high), expected(page, "jet", ramp_value(high), 1.0, True), "opacity 1")
    section.locator('[data-control="colormap"]').select_option("magma")
    assert_colour(drawn(high), expected(page, "magma", ramp_value(high), 1.0, True), "magma")
    # the display range: max 0.9 puts 0.899 at the top of magma (pale yellow)
    section.locator('[data-control="max"]').fill("0.9")
    section.locator('[data-control="max"]').dispatch_event("change")
    expect(section.locator("[data-legend-max]")).to_have_text("0.90000")
    r, g, b, a = page.evaluate(LUT_JS, ["magma", lut_index(ramp_value(high), 0.0, 0.9)])
    assert_colour(drawn(high), [r, g, b, a], "max 0.9")
    # the legend bar: the display range left to right in the colormap, a gap below the threshold
    bar = section.locator("[data-legend]").evaluate(
        "(c) => [10, 100, 250].map((x) => Array.from(c.getContext('2d').getImageData(x, 6, 1, 1).data))")
    assert bar[0][3] == 0 and bar[1][3] == 0, f"0.04 and 0.35 are below the threshold 0.8: {bar}"
    assert bar[2] == page.evaluate(LUT_JS, ["magma", 250]), f"0.88 in magma over [0, 0.9]: {bar}"

    # where the full-resolution draw is slower than the budget (as told here: 100 ms), the frames
    # while a control moves are drawn at a quarter of the resolution, in the right place, and the
    # view at full resolution once the control rests (static/js/overlays/repaint-pacing.js)
    paced = page.evaluate(PACED_JS, [sel % "opacity", high, y])
    assert paced["scale"] == 0.25 and paced["pane"] == "0.25", paced
    assert paced["canvas"] == [math.ceil(paced["frame"][0] / 4), math.ceil(paced["frame"][1] / 4)], paced
    # a canvas px now covers 4 device px, a map cell here: it may sample the next cell (2 LUT steps)
    want = [r * 0.75, g * 0.75, b * 0.75, a * 0.75]
    assert max(abs(s - w) for s, w in zip(paced["rgba"], want, strict=True)) <= 8, (paced, want)
    assert paced["rgbaBelow"][3] == 0, "below the threshold, at a quarter of the resolution"
    page.wait_for_function("() => document.querySelector('[data-pane]').dataset.overlayScale === '1'",
                           timeout=5000)
    size = page.evaluate(CANVAS_SIZE_JS)
    assert size[:2] == size[2:], f"full resolution again once the control rests: {size}"
    assert_colour(drawn(high), [r * 0.75, g * 0.75, b * 0.75, a * 0.75], "opacity 0.75, full resolution")
    page.evaluate("(id) => { document.querySelector('[data-pane]').wsi.overlays.values.fullDrawMs = null; }")
    page.evaluate(set_range, [sel % "opacity", 1])
    page.wait_for_timeout(300)
    assert tiles[before:] == [], "no tile request while the controls moved"

    # To polygons at the current threshold: the ramp >= 0.8 is one region, a new set drawn at once
    with page.expect_response(lambda r: r.url.endswith(overlay["urls"]["polygons"])) as answer:
        section.locator("[data-overlay-polygons]").click()
    made = answer.value.json()
    made_sets.append(made["set"])
    assert made["regions"] == 1, made
    expect(section.locator("[data-overlay-status]")).to_contain_text("1 region")
    page.wait_for_function("(id) => document.querySelector('[data-pane]').wsi.annotations.layer(id)",
                           arg=made["set"]["id"])

    # the value under the cursor is the stored one
    element = page.evaluate(PIXEL_JS, [16 * 50 + 8, y])["element"]
    box = page.locator("[data-pane] [data-osd]").bounding_box()
    assert box
    page.mouse.move(box["x"] + element[0], box["y"] + element[1])
    readout = section.locator("[data-overlay-value]")
    expect(readout).not_to_have_attribute("data-value", "")
    page.wait_for_function("(el) => el.dataset.value", arg=readout.element_handle())
    assert abs(float(readout.get_attribute("data-value") or "nan") - ramp_value(16 * 50 + 8)) < 1e-6

    # the URL keeps it all: a reload draws the same
    query = settled_query(page)
    assert query.get("ov", "").startswith(f"{overlay['id']}:1:magma:0:0.9:0.8:1:n"), query
    page.reload()
    wait_settled(page, overlay["id"])
    assert drawn(mid)[3] == 0
    assert_colour(drawn(high), [r, g, b, a], "after the reload")
    expect(page.locator(sel % "colormap")).to_have_value("magma")

    # smooth sampling interpolates decoded values: one cell (16 px at zoom 1) is one colour when
    # nearest, a gradient when smooth (a narrow display range makes the step between cells large)
    page.locator("[data-overlays-toggle]").click()
    for control, value in (("min", "0.84"), ("max", "0.86")):
        page.locator(sel % control).fill(value)
        page.locator(sel % control).dispatch_event("change")
    page.evaluate("""() => document.querySelector('[data-pane]').wsi.viewer.setViewState(
      {x: 1896, y: 1480, zoom: 1, rotation: 0, flip: false}, true)""")
    wait_settled(page, overlay["id"])
    left, right = 16 * 118 + 3, 16 * 118 + 13
    assert drawn(left) == drawn(right), "nearest: one cell, one colour"
    page.locator(sel % "sampling").select_option("s")
    apart = max(abs(a - b) for a, b in zip(drawn(left), drawn(right), strict=True))
    assert apart > 20, f"smooth: a gradient across the cell ({drawn(left)} vs {drawn(right)})"


def test_overlay_on_a_bounds_slide_2d_fallback_screenshot_and_compare(
    page: Page, server: Server, ramp_overlay: dict[str, Any], overlays: list[dict[str, Any]],
) -> None:
    # registration on a slide with a bounds offset (2664, 2088): a 1/16 map of the whole level 0
    # whose value is its column / 1023 above slide y 3504 and 0 below; with the threshold between
    # columns 299 and 300, slide (4804, 3500) is drawn and (4796, 3500), (4804, 3508) are not
    width, height = (server.truth["level0"][k] // SCALE for k in ("width", "height"))
    grid = np.tile((np.arange(width, dtype=np.float32) / (width - 1))[None, :], (height, 1))
    grid[3504 // SCALE:] = 0
    shifted = upload(server, BOUNDS, grid, "bounds ramp e2e")
    overlays.append(shifted)
    state = f"{shifted['id']}:1:grey:0:1:{299.5 / 1023}:1:n"
    page.goto(view_url(server, BOUNDS, x=4800, y=3500, z=1, ov=state))
    wait_first_viewport(page)
    wait_settled(page, shifted["id"])
    assert page.evaluate(PIXEL_JS, [4804, 3500])["rgba"][3] == 255
    assert page.evaluate(PIXEL_JS, [4796, 3500])["rgba"][3] == 0
    assert page.evaluate(PIXEL_JS, [4804, 3508])["rgba"][3] == 0
    # a lost WebGL context (a GPU reset) comes back with the overlay drawn again
    page.evaluate("""() => new Promise((done) => {
      const canvas = document.querySelector('canvas[data-overlay="values"]');
      const lose = canvas.getContext('webgl2').getExtension('WEBGL_lose_context');
      const restore = () => setTimeout(() => lose.restoreContext(), 50);
      canvas.addEventListener('webglcontextlost', restore, {once: true});
      canvas.addEventListener('webglcontextrestored', () => done(), {once: true});
      lose.loseContext();
    })""")
    wait_settled(page, shifted["id"])
    assert page.evaluate(PIXEL_JS, [4804, 3500])["rgba"][3] == 255

    assert open_overlay(page, server, ramp_overlay, gl=0)["mode"] == "canvas2d"
    high = 16 * 124 + 8
    rgba = page.evaluate(PIXEL_JS, [16 * 40 + 8, 1480.0])["rgba"]
    assert rgba[3] == 0
    rgba = page.evaluate(PIXEL_JS, [high, 1480.0])["rgba"]
    assert_colour(rgba, expected(page, "jet", ramp_value(high), 0.5, False), "2D default style")

    # the viewer's PNG of the view includes the overlay
    element = page.evaluate(PIXEL_JS, [high, 1480.0])["element"]
    shown = page.evaluate(SHOT_JS, element)
    page.evaluate("(id) => document.querySelector('[data-pane]').wsi.overlays.values.update(id, "
                  "{visible: false})", ramp_overlay["id"])
    hidden = page.evaluate(SHOT_JS, element)
    assert max(abs(a - b) for a, b in zip(shown, hidden, strict=True)) > 30, (shown, hidden)

    # compare mode: each pane its own settings, from lov= / rov=
    oid = ramp_overlay["id"]
    page.goto(f"{server.url}/compare?left={CMU}&right={CMU}&lov={oid}:1:viridis:0:1:0.8:0.3:s")
    page.wait_for_function("() => document.querySelector('[data-compare-app]').dataset.ready")
    settings = page.evaluate("""(id) => Array.from(document.querySelectorAll('[data-pane]'),
      (p) => p.wsi.overlays.values.entry(id).settings)""", oid)
    assert settings[0] == {"visible": True, "colormap": "viridis", "min": 0, "max": 1, "threshold": 0.8,
                           "opacity": 0.3, "smooth": True}
    assert settings[1]["threshold"] == 0.5 and settings[1]["colormap"] == "jet"
