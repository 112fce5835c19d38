"""The layers panel in a real Chromium against a real server: the list of every annotation (from
the set summary), filter and sort; review keys stepping in order and flying to each; a hidden group
not drawn (pixel probe) and restored from the URL after a reload; a change made through the API by
another client (and a new set) shown without a reload; the hover tooltip and click selection; the
PNG screenshot carrying the overlay; the help listing the panel's keys. No console errors (the
page fixture)."""

from __future__ import annotations

import base64
import io
import shutil
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Page

from tests._server import running_server
from tests.e2e.conftest import DATA, Server, wait_first_viewport, wait_fully_loaded
from tests.e2e.test_annotation_layer import CYAN, MAGENTA, _mask, _rect, _screen, _shot, _view

pytestmark = pytest.mark.e2e

CMU = "aperio/CMU-1-Small-Region.svs"  # 2220 x 2967, mpp 0.499
PAINTED = "() => document.querySelector('[data-pane]').dataset.annotationsPaintedMs"
WSI = "document.querySelector('[data-pane]').wsi"
#: (name, group, ring) of the panel's set: three magenta rectangles and two cyan polygons, by size.
SHAPES = [
    ("big", "probe", _rect(200, 200, 1000, 1000)),
    ("small", "target", _rect(1500, 1900, 1560, 1940)),
    ("medium", "probe", _rect(1200, 300, 1500, 700)),
    ("tiny", "target", _rect(300, 2500, 320, 2520)),
    ("wide", "probe", _rect(200, 1500, 2000, 1700)),
]


def _features() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "asap": {"type": "Polygon", "group": group, "color": "#F4FA58"}},
        }
        for name, group, ring in SHAPES
    ]
    out.append(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[100, 2800], [700, 2800]]},
            "properties": {
                "name": "ruler",
                "asap": {"type": "Measurement", "group": None, "color": "#00ff00"},
                "metadata": {"ANNOTATION_DESCRIPTION": "measured twice"},
            },
        }
    )
    return out


@pytest.fixture(scope="module")
def panel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("panel-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    data_dir = tmp_path_factory.mktemp("panel-server") / "data"
    data_dir.mkdir()
    with running_server(str(root), "--workers", "1", data_dir=data_dir) as running:
        server = Server(url=running.url, slide_dir=root)
        info = requests.get(f"{running.url}/api/slides/{CMU}", timeout=30).json()
        doc = {
            "type": "FeatureCollection",
            "features": _features(),
            "asapGroups": [{"name": "probe", "color": "#ff00ff"}, {"name": "target", "color": "#00ffff"}],
        }
        created = requests.post(
            f"{running.url}{info['urls']['annotations']}?name=review", json=doc, timeout=60
        )
        assert created.status_code == 201, created.text
        server.truth["set"] = created.json()["set"]
        server.truth["slide"] = info
        yield server


def _open(page: Page, server: Server, query: str = "x=1110&y=1480&z=0.25") -> None:
    page.goto(f"{server.url}/view/{CMU}?{query}")
    wait_first_viewport(page)
    page.wait_for_function(PAINTED, timeout=30000)
    wait_fully_loaded(page)


def _open_panel(page: Page) -> None:
    page.locator("[data-osd] canvas").first.focus()
    page.keyboard.press("Shift+A")
    page.wait_for_selector("[data-layers-panel]:not([hidden]) [data-entry]")


def _entries(page: Page) -> list[str]:
    return page.locator("[data-layer-list] [data-entry] .entry-name").all_inner_texts()


def test_list_holds_every_annotation_with_measures_filter_and_sort(page: Page, panel_server: Server) -> None:
    _open(page, panel_server, "x=600&y=600&z=2")  # zoomed in: the layer has loaded a few only
    _open_panel(page)
    assert page.locator("button[data-action='layers']").get_attribute("aria-expanded") == "true"
    assert _entries(page) == [name for name, _g, _r in SHAPES] + ["ruler"]
    assert "6 of 6 annotations" in page.locator("[data-layer-status]").inner_text()
    loaded = page.evaluate(f"() => {WSI}.annotations.layers[0].annotations().length")
    assert loaded < 6, "the list must not depend on the tiles loaded"
    summary = requests.get(
        f"{panel_server.url}{panel_server.truth['set']['urls']['summary']}", timeout=30
    ).json()
    big = next(a for a in summary["annotations"] if a["name"] == "big")
    assert big["area_um2"] == pytest.approx(800 * 800 * 0.499**2, rel=1e-3)
    row = page.locator("[data-entry]", has_text="big")
    assert "Polygon · probe · 0.159 mm²" in row.inner_text()
    assert page.locator("[data-entry]", has_text="ruler").inner_text().count("measured twice") == 1
    assert "299 µm" in page.locator("[data-entry]", has_text="ruler").inner_text()  # 600 px x 0.499
    # filter and sort
    page.fill("[data-layer-filter]", "group:target")
    assert _entries(page) == ["small", "tiny"]
    page.fill("[data-layer-filter]", "")
    page.select_option("[data-layer-sort]", "size")
    page.click("[data-layer-order]")  # descending: areas in µm², a measurement by its µm
    assert _entries(page) == ["big", "wide", "medium", "small", "ruler", "tiny"]
    page.select_option("[data-layer-sort]", "name")
    page.click("[data-layer-order]")  # ascending again
    assert _entries(page) == sorted(_entries(page))
    # the help lists the panel and review keys
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    help_text = page.locator("[data-help-body]").inner_text()
    assert "Shift+A" in help_text and "Review: next annotation" in help_text


def test_library_says_sets_and_annotations(page: Page, panel_server: Server) -> None:
    listing = requests.get(f"{panel_server.url}/api/annotations/{CMU}", timeout=30).json()
    sets = len(listing["sets"])
    annotations = sum(s["annotation_count"] for s in listing["sets"])
    assert (sets, annotations) == (1, 6)
    page.goto(f"{panel_server.url}/")
    row = page.locator(f"tr[data-slide-id='{CMU}'] td.num")
    row.wait_for()
    assert row.inner_text() == "1 set · 6 annotations"


def test_review_keys_step_in_order_and_fly_to_each(page: Page, panel_server: Server) -> None:
    _open(page, panel_server)
    _open_panel(page)
    page.select_option("[data-layer-sort]", "name")
    order = _entries(page)
    assert order == ["big", "medium", "ruler", "small", "tiny", "wide"]
    boxes = {name: ring for name, _g, ring in SHAPES}
    page.locator("[data-osd] canvas").first.focus()
    for expected in order[:4]:
        page.keyboard.press(".")
        wait_fully_loaded(page)
        selected = page.locator("[data-entry][aria-selected='true'] .entry-name").inner_text()
        assert selected == expected
        view = _view(page)
        if expected in boxes:
            ring = boxes[expected]
            cx, cy = (ring[0][0] + ring[2][0]) / 2, (ring[0][1] + ring[2][1]) / 2
        else:  # the ruler
            cx, cy = 400, 2800
        assert abs(view["x"] - cx) < 1 and abs(view["y"] - cy) < 1, (expected, view)
    page.keyboard.press(",")
    wait_fully_loaded(page)
    assert page.locator("[data-entry][aria-selected='true'] .entry-name").inner_text() == order[2]
    assert "reviewing 3 of 6" in page.locator("[data-layer-status]").inner_text()
    # the selected annotation is highlighted on the slide (its layer flag)
    selected = page.evaluate(f"() => {WSI}.annotations.layers[0].selected")
    assert selected is not None


def test_hidden_group_not_drawn_and_the_url_restores_it(page: Page, panel_server: Server) -> None:
    _open(page, panel_server)
    assert _mask(_shot(page), MAGENTA).sum() > 500
    _open_panel(page)
    page.uncheck("[data-group-visible='probe']")
    pixels = _shot(page)
    assert _mask(pixels, MAGENTA).sum() == 0 and _mask(pixels, CYAN).sum() > 20
    assert _entries(page) == ["small", "tiny", "ruler"]
    set_id = panel_server.truth["set"]["id"]
    page.wait_for_function(
        "(v) => new URLSearchParams(location.search).getAll('hg').includes(v)", arg=f"{set_id}:probe"
    )
    page.reload()
    wait_first_viewport(page)
    page.wait_for_function(PAINTED, timeout=30000)
    wait_fully_loaded(page)
    pixels = _shot(page)
    assert _mask(pixels, MAGENTA).sum() == 0 and _mask(pixels, CYAN).sum() > 20
    _open_panel(page)
    assert not page.is_checked("[data-group-visible='probe']")
    # show only "probe": the cyan group goes, the magenta one comes back
    page.click("[data-only='probe']")
    pixels = _shot(page)
    assert _mask(pixels, MAGENTA).sum() > 500 and _mask(pixels, CYAN).sum() == 0
    # hide the whole set
    page.uncheck(f"[data-set-visible='{set_id}']")
    assert _mask(_shot(page), MAGENTA).sum() == 0
    page.wait_for_function("(v) => new URLSearchParams(location.search).get('hide') === v", arg=str(set_id))


def test_change_by_another_client_appears_without_a_reload(page: Page, panel_server: Server) -> None:
    _open(page, panel_server)
    _open_panel(page)
    before = len(_entries(page))
    s = panel_server.truth["set"]
    added = requests.post(
        f"{panel_server.url}{s['urls']['annotations']}",
        headers={"X-User": "someone-else"},
        json={
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [_rect(1700, 2200, 1900, 2400)]},
            "properties": {
                "name": "added elsewhere",
                "asap": {"type": "Polygon", "group": "target", "color": "#F4FA58"},
            },
        },
        timeout=30,
    )
    assert added.status_code == 201, added.text
    started = time.monotonic()
    page.wait_for_selector("[data-entry]:has-text('added elsewhere')", timeout=15000)
    shown_after = time.monotonic() - started
    assert len(_entries(page)) == before + 1
    page.wait_for_function(
        f"""() => {WSI}.annotations.layers[0].annotations()
      .some((a) => a.name === 'added elsewhere')""",
        timeout=15000,
    )
    view = _view(page)
    x, y = _screen(view, 1800, 2200)
    pixels = _shot(page)
    assert _mask(pixels[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3], CYAN).any()
    # a new set made elsewhere joins the panel
    slide = panel_server.truth["slide"]
    made = requests.post(
        f"{panel_server.url}{slide['urls']['annotations']}",
        json={"name": "second opinion"},
        headers={"X-Requested-With": "tests"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    page.wait_for_selector("[data-layer-set] strong:has-text('second opinion')", timeout=15000)
    assert shown_after < 10, shown_after
    # removing it again keeps the module's other tests as they were
    requests.delete(
        f"{panel_server.url}{s['urls']['annotations']}/{added.json()['annotation']['id']}",
        headers={"X-Requested-With": "tests"},
        timeout=30,
    )


def test_tooltip_on_hover_and_click_selects_the_list_entry(page: Page, panel_server: Server) -> None:
    _open(page, panel_server)
    _open_panel(page)
    view = _view(page)
    box = page.locator("[data-osd]").bounding_box()
    assert box is not None
    x, y = _screen(view, 1300, 500)  # inside "medium"
    page.mouse.move(box["x"] + x, box["y"] + y)
    tip = page.locator("[data-annotation-tooltip]")
    page.wait_for_selector("[data-annotation-tooltip]:not([hidden])")
    assert tip.inner_text().startswith("medium · probe · ")
    assert "mm²" in tip.inner_text() or "µm²" in tip.inner_text()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("[data-entry][aria-selected='true']")
    assert page.locator("[data-entry][aria-selected='true'] .entry-name").inner_text() == "medium"
    x, y = _screen(view, 1100, 1200)  # nothing there
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_selector("[data-annotation-tooltip]", state="hidden")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function("() => !document.querySelector(\"[data-entry][aria-selected='true']\")")


def test_png_screenshot_includes_the_annotations(page: Page, panel_server: Server) -> None:
    _open(page, panel_server)
    data = page.evaluate(f"""async () => {{
      const blob = await {WSI}.viewer.screenshot();
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = ""; for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s);
    }}""")
    with Image.open(io.BytesIO(base64.b64decode(data))) as img:
        pixels = np.asarray(img.convert("RGB"), dtype=np.int32)
    assert _mask(pixels, MAGENTA).sum() > 500 and _mask(pixels, CYAN).sum() > 20


def test_watcher_checks_every_two_seconds_and_pauses_while_the_tab_is_hidden(
    page: Page, panel_server: Server
) -> None:
    checks: list[tuple[float, str]] = []
    page.on(
        "request", lambda r: checks.append((time.monotonic(), r.url)) if "bbox=0,0,0,0" in r.url else None
    )
    _open(page, panel_server)
    page.wait_for_timeout(4500)
    visible = [t for t, _u in checks]
    assert len(visible) >= 2, checks  # one conditional GET per set every 2 s
    # what one round costs the page: the layers' conditional GETs (304) and the set list
    ms = page.evaluate(
        f"async () => {{ const t0 = performance.now(); await {WSI}.watcher.check(); "
        "return performance.now() - t0; }"
    )
    print(f"one round of change checks in the page: {ms:.1f} ms")
    assert ms < 2000
    page.evaluate("""() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(300)
    hidden_from = time.monotonic()
    page.wait_for_timeout(4500)
    assert [u for t, u in checks if t > hidden_from] == [], "checks went on while the tab was hidden"
    page.evaluate("""() => {
      Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }""")
    shown_at = time.monotonic()
    page.wait_for_timeout(1000)
    assert [u for t, u in checks if t > shown_at], "no check at once when the tab was shown again"


def test_show_only_a_nested_group_keeps_its_ancestors_on(page: Page, panel_server: Server) -> None:
    _open(page, panel_server)
    visible = page.evaluate(f"""() => {{
      const layer = {WSI}.annotations.layers[0];
      const saved = layer.groupInfo;
      layer.groupInfo = new Map([["root", {{name: "root", parent: null, color: "#ff0000"}}],
        ["child", {{name: "child", parent: "root", color: "#00ff00"}}],
        ["sibling", {{name: "sibling", parent: "root", color: "#0000ff"}}],
        ["grandchild", {{name: "grandchild", parent: "child", color: "#ffffff"}}],
        ["other", {{name: "other", parent: null, color: "#000000"}}]]);
      layer.showOnlyGroup("child");
      const out = Object.fromEntries(layer.groups().map((g) => [g.name, g.visible]));
      layer.showOnlyGroup(null);
      const all = layer.groups().every((g) => g.visible);
      layer.groupInfo = saved;
      layer.groupState.clear();
      return {{ out, all }};
    }}""")
    assert visible == {
        "out": {"root": True, "child": True, "sibling": False, "grandchild": True, "other": False},
        "all": True,
    }
