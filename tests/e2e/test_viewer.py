"""The viewer page in a real Chromium against a real server: tiles, magnification, URL state,
scale bar, cursor coordinates on a slide with a bounds offset, keyboard, info panel."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, Request, expect

from tests.e2e._pixels import canvas_stats, find_colour
from tests.e2e.conftest import (
    BOUNDS,
    CMU,
    NO_MPP,
    Server,
    settled_query,
    view_url,
    wait_first_viewport,
    wait_fully_loaded,
)

pytestmark = pytest.mark.e2e

TILE = re.compile(r"/deepzoom/(?P<slide>.+)_files/(?P<level>\d+)/(?P<col>\d+)_(?P<row>\d+)\.(jpeg|png)$")
CMU_MPP = 0.499
CMU_DZ_MAX_LEVEL = math.ceil(math.log2(2967))  # Deep Zoom level of native resolution: 12


def _readout(page: Page) -> str:
    return page.locator("[data-mag-readout]").inner_text()


def test_canvas_shows_tissue_tiles(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU))
    ms = wait_first_viewport(page)
    assert ms > 0
    stats = canvas_stats(page)
    assert stats["drawn"] > 0.3 * stats["total"]  # the slide covers a good part of the window
    assert stats["std"] > 20  # real image content, not a flat colour
    assert stats["pinkish"] > 5000  # H&E-stained tissue


def test_magnification_buttons_change_readout_and_tile_level(page: Page, server: Server) -> None:
    levels: list[int] = []

    def on_request(request: Request) -> None:
        match = TILE.search(request.url)
        if match and match["slide"] == CMU:
            levels.append(int(match["level"]))

    page.on("request", on_request)
    finest = {}
    for mag, start_zoom in (("20", 0.05), ("5", 0.05), ("2.5", 0.05)):
        # start from a fresh page zoomed far out: zooming in, no finer level is fetched on the way
        page.goto(view_url(server, CMU, x=1110, y=1480, z=start_zoom))
        wait_first_viewport(page)
        levels.clear()
        page.click(f"button[data-mag='{mag}']")
        expect(page.locator("[data-mag-readout]")).to_have_text(f"{mag}×")
        expect(page.locator(f"button[data-mag='{mag}']")).to_have_attribute("aria-pressed", "true")
        wait_fully_loaded(page)
        assert levels, f"no tiles requested at {mag}×"
        finest[mag] = max(levels)
    # 20x on a 0.499 µm/px slide is native resolution: the deepest Deep Zoom level
    assert finest["20"] == CMU_DZ_MAX_LEVEL
    # each halving of the magnification is one Deep Zoom level less (OpenSeadragon may fetch one
    # level finer than the screen needs, so 5x -- 4 times less than 20x -- is 1 or 2 levels down)
    assert finest["5"] in (CMU_DZ_MAX_LEVEL - 2, CMU_DZ_MAX_LEVEL - 1)
    assert finest["2.5"] == finest["5"] - 1
    # 40x is 2x past the native 20x: allowed (the cap); nothing beyond
    page.click("button[data-mag='40']")
    expect(page.locator("[data-mag-readout]")).to_have_text("40×")
    page.keyboard.press("+")
    page.keyboard.press("+")
    settled_query(page)
    zoom = float(page.locator("[data-mag-readout]").get_attribute("data-zoom") or "nan")
    assert 1.99 <= zoom <= 2 + 1e-6  # capped at 2 screen px per slide px: 40.1x on this 20.04x slide
    assert _readout(page) == "40.1×"
    expect(page.locator("[data-overzoom]")).to_be_visible()
    page.click("button[data-mag='20']")
    expect(page.locator("[data-overzoom]")).to_be_hidden()


def test_url_holds_the_view_and_reload_restores_it(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU))
    wait_first_viewport(page)
    page.click("button[data-mag='10']")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("e")  # rotate 90° ("r" is the rectangle tool, as in ASAP)
    page.wait_for_function("() => new URLSearchParams(location.search).get('r') === '90'")
    before = settled_query(page)  # the URL follows 250 ms after the view settles
    assert set(before) >= {"x", "y", "z", "r"}
    assert abs(float(before["z"]) - 10 / (10 / CMU_MPP)) < 1e-3
    centre = page.locator("[data-osd]").bounding_box()
    assert centre is not None
    cx, cy = centre["x"] + centre["width"] / 2, centre["y"] + centre["height"] / 2
    page.mouse.move(cx, cy)
    pane = page.locator("[data-pane]")
    cursor_before = (pane.get_attribute("data-cursor-x"), pane.get_attribute("data-cursor-y"))
    # the centre is right of and below the slide centre after panning right and down
    assert float(before["x"]) > 2220 / 2 and float(before["y"]) > 2967 / 2

    page.reload()
    wait_first_viewport(page)
    expect(page.locator("[data-mag-readout]")).to_have_text("10×")
    expect(page.locator("[data-rotation-readout]")).to_have_text("90°")
    page.mouse.move(cx + 1, cy)
    page.mouse.move(cx, cy)
    cursor_after = (pane.get_attribute("data-cursor-x"), pane.get_attribute("data-cursor-y"))
    # the same slide point under the pointer (the URL rounds the centre to whole slide px)
    assert all(abs(int(a) - int(b)) <= 1 for a, b in zip(cursor_after, cursor_before, strict=True))
    assert settled_query(page) == before  # restoring did not move the view


def test_scale_bar_reads_right_for_known_mpp(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU, x=1110, y=1480, z=1))
    wait_first_viewport(page)
    bar = page.locator("[data-scalebar]")
    expect(bar).to_be_visible()
    # At 1 screen px per slide px, 140 px = 69.9 µm: the longest 1-2-5 length is 50 µm.
    expect(page.locator("[data-scalebar-label]")).to_have_text("50 µm")
    width = page.locator("[data-scalebar-bar]").bounding_box()
    assert width is not None and abs(width["width"] - 50 / CMU_MPP) < 1.0
    page.goto(view_url(server, CMU, x=1110, y=1480, z=0.25))
    wait_first_viewport(page)
    expect(page.locator("[data-scalebar-label]")).to_have_text("200 µm")
    width = page.locator("[data-scalebar-bar]").bounding_box()
    assert width is not None and abs(width["width"] - 200 / CMU_MPP * 0.25) < 1.0
    expect(page.locator("[data-scale-notice]")).to_be_hidden()


def test_slide_without_mpp_hides_scale_bar_with_a_notice(page: Page, server: Server) -> None:
    page.goto(view_url(server, NO_MPP))
    wait_first_viewport(page)
    expect(page.locator("[data-scalebar]")).to_be_hidden()
    expect(page.locator("[data-scale-notice]")).to_be_visible()
    expect(page.locator("button[data-mag='10']")).to_be_disabled()
    expect(page.locator("[data-mag-readout]")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    page.click("button[data-action='native']")
    expect(page.locator("[data-mag-readout]")).to_have_text("100%")
    expect(page.locator("[data-cursor-um]")).to_have_text("")


@pytest.mark.parametrize(
    ("marker", "query"),
    [
        ("region0-tl", {"x": 2760, "y": 2150, "z": 1}),
        ("region0-tl", {"x": 2760, "y": 2150, "z": 0.7, "r": 90}),
        ("region1-br", {"x": 12300, "y": 9200, "z": 1.3, "flip": 1}),
    ],
)
def test_cursor_reads_slide_coordinates_on_a_slide_with_bounds_offset(
    page: Page, server: Server, marker: str, query: dict[str, float],
) -> None:
    truth = {m["id"]: m for m in server.truth["features"]["markers"]["items"]}[marker]
    centre_x = truth["x"] + truth["width"] / 2
    centre_y = truth["y"] + truth["height"] / 2
    assert server.truth["bounds"]["x"] > 0  # the point of this slide: image px != slide px
    page.goto(view_url(server, BOUNDS, **query))
    wait_first_viewport(page)
    found = find_colour(page, tuple(truth["rgb"]), tolerance=45)
    assert found is not None and found["count"] > 100, found
    page.mouse.move(found["x"], found["y"])
    pane = page.locator("[data-pane]")
    x = float(pane.get_attribute("data-cursor-x") or "nan")
    y = float(pane.get_attribute("data-cursor-y") or "nan")
    # within 3 slide px (plus a screen px) of the marker's centre in slide space
    tolerance = 3 + 1 / float(query["z"])
    assert abs(x - centre_x) <= tolerance and abs(y - centre_y) <= tolerance, (x, y, centre_x, centre_y)
    readout = page.locator("[data-cursor-px]").inner_text()
    assert readout == f"x {int(x):,} · y {int(y):,} px"
    um = page.locator("[data-cursor-um]").inner_text()
    match = re.fullmatch(r"\(x ([\d,.]+) · y ([\d,.]+) µm\)", um)
    assert match is not None, um
    um_x, um_y = (float(v.replace(",", "")) for v in match.groups())
    assert abs(um_x - x * 0.5) <= 0.55 and abs(um_y - y * 0.5) <= 0.55  # 0.5 µm/px


@pytest.mark.parametrize(
    ("slide", "query"),
    [
        (CMU, {"x": 1110, "y": 1480, "z": 0.77}),  # stored 240 px JPEG tiles, no overlap
        (CMU, {"x": 1110, "y": 1480, "z": 1.63}),  # past native resolution
        (CMU, {"x": 1110, "y": 1480, "z": 0.9, "r": 33}),  # free rotation
        (BOUNDS, {"x": 4700, "y": 3600, "z": 0.37}),  # 254 px tiles with overlap 1
    ],
)
def test_no_seams_between_tiles(page: Page, server: Server, slide: str, query: dict[str, float]) -> None:
    # Each view lies inside the slide, so every canvas pixel must be covered by a tile: a seam
    # would leave (partly) transparent pixels, through which the dark stage shows as a line.
    page.goto(view_url(server, slide, **query))
    wait_first_viewport(page)
    stats = canvas_stats(page)
    assert stats["drawn"] == stats["total"]
    assert stats["translucent"] == 0


def test_keyboard_help_and_info_panel(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU))
    wait_first_viewport(page)
    page.keyboard.press("4")
    expect(page.locator("[data-mag-readout]")).to_have_text("10×")
    page.keyboard.press("0")
    expect(page.locator("button[data-mag='10']")).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("?")
    help_dialog = page.locator("dialog[data-help]")
    expect(help_dialog).to_be_visible()
    for text in ("Pan up", "Zoom in", "40× objective", "Rotate 90° clockwise", "Full screen", "This help"):
        expect(help_dialog).to_contain_text(text)
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("Shift+I")  # "i" is the point-set tool, as in ASAP
    panel = page.locator("[data-info-panel]")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("openslide.mpp-x")
    expect(panel).to_contain_text("2,220 × 2,967 px")
    # label and macro images are served (SERVE_ASSOCIATED_IMAGES is on in this server)
    label = panel.locator("img[data-associated='label']")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=label.element_handle())
    panel.locator("input[type='search']").fill("mpp-y")
    expect(panel.locator("tbody tr:visible")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_screenshot_downloads_the_view_as_png(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU, x=1000, y=1200, z=0.5))
    wait_first_viewport(page)
    with page.expect_download() as info:
        page.click("button[data-action='screenshot']")
    download = info.value
    assert download.suggested_filename.startswith("CMU-1-Small-Region_x1000_y1200_10x")
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    with Image.open(io.BytesIO(data)) as shot:  # the picture is the slide as shown, not a blank canvas
        pixels = np.asarray(shot.convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert pixels.std() > 20 and (pixels[..., 0] - pixels[..., 1] > 30).mean() > 0.05  # pink tissue


def test_flip_and_free_rotation(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU))
    wait_first_viewport(page)
    page.click("button[data-action='flip']")
    expect(page.locator("button[data-action='flip']")).to_have_attribute("aria-pressed", "true")
    page.locator("[data-rotation]").fill("33")
    expect(page.locator("[data-rotation-readout]")).to_have_text("33°")
    page.wait_for_function(
        "() => { const q = new URLSearchParams(location.search);"
        " return q.get('r') === '33' && q.get('flip') === '1'; }"
    )
    page.locator("[data-osd] [role=application]").focus()  # keys typed into the slider belong to the slider
    page.keyboard.press("]")
    page.wait_for_function("() => new URLSearchParams(location.search).get('r') === '38'")


def test_fullscreen_button_and_key(page: Page, server: Server) -> None:
    page.goto(view_url(server, CMU))
    wait_first_viewport(page)
    page.click("button[data-action='fullscreen']")
    page.wait_for_function("() => document.fullscreenElement !== null")
    page.locator("[data-osd] [role=application]").focus()
    page.keyboard.press("Shift+F")  # "f" is the freehand tool
    page.wait_for_function("() => document.fullscreenElement === null")
