"""Compare mode in a real Chromium: two panes, synchronised while linked, independent when not."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e._pixels import canvas_stats
from tests.e2e.conftest import CMU, Server, settled_query, wait_first_viewport

pytestmark = pytest.mark.e2e

LEFT = "[data-side='left'] [data-pane]"
RIGHT = "[data-side='right'] [data-pane]"
OTHER = "aperio/tcga-cr-7395-01a-01-ts1.svs"  # another size, no mpp


def _mag(page: Page, pane: str) -> str:
    return page.locator(f"{pane} [data-mag-readout]").inner_text()


def test_two_panes_zoom_together_while_linked(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/compare?left={CMU}&right={CMU}")
    page.wait_for_selector("[data-compare-app][data-ready='true']")
    wait_first_viewport(page, LEFT)
    wait_first_viewport(page, RIGHT)
    assert canvas_stats(page, LEFT)["pinkish"] > 1000 and canvas_stats(page, RIGHT)["pinkish"] > 1000
    page.hover(LEFT)
    page.click("button[data-mag='10']")
    expect(page.locator(f"{LEFT} [data-mag-readout]")).to_have_text("10×")
    expect(page.locator(f"{RIGHT} [data-mag-readout]")).to_have_text("10×")
    # a pan of the left view moves the right one the same way
    page.locator(f"{LEFT} [data-osd] [role=application]").focus()
    page.keyboard.press("ArrowRight")
    q = settled_query(page)
    assert abs(float(q["lx"]) - float(q["rx"])) <= 1 and abs(float(q["ly"]) - float(q["ry"])) <= 1
    assert float(q["lx"]) > 2220 / 2

    # unlink: the right view stays where it is
    page.keyboard.press("l")
    expect(page.locator("button[data-action='lock']")).to_have_attribute("aria-pressed", "false")
    page.click("button[data-mag='20']")
    expect(page.locator(f"{LEFT} [data-mag-readout]")).to_have_text("20×")
    page.wait_for_timeout(500)
    assert _mag(page, RIGHT) == "10×"
    assert "lock=0" in page.url


def test_different_slides_keep_their_own_scale(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/compare?left={CMU}&right={OTHER}")
    page.wait_for_selector("[data-compare-app][data-ready='true']")
    wait_first_viewport(page, LEFT)
    wait_first_viewport(page, RIGHT)
    assert page.locator(f"{RIGHT} select[data-picker='right']").input_value() == OTHER
    left_before = float(page.locator(f"{LEFT} [data-mag-readout]").get_attribute("data-zoom") or "0")
    right_before = float(page.locator(f"{RIGHT} [data-mag-readout]").get_attribute("data-zoom") or "0")
    page.hover(LEFT)
    page.keyboard.press("+")
    settled_query(page)
    left_after = float(page.locator(f"{LEFT} [data-mag-readout]").get_attribute("data-zoom") or "0")
    right_after = float(page.locator(f"{RIGHT} [data-mag-readout]").get_attribute("data-zoom") or "0")
    # linked zoom keeps the ratio between the two views
    assert left_after / left_before == pytest.approx(right_after / right_before, rel=0.02)
    assert left_after > left_before * 1.2
