"""The first start in a real Chromium: a server with no slide directory and a fresh data directory
answers at once; the library shows the demo slide being prepared with the generator's progress,
then the slide itself, without a reload; the demo's viewer page shows the same progress and then
opens the slide by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests._server import running_server
from tests.e2e.conftest import wait_first_viewport

pytestmark = pytest.mark.e2e

DEMO_ID = "tumor_demo.tif"
ROW = f"tr[data-slide-id='{DEMO_ID}']"


@pytest.fixture()
def first_start(tmp_path: Path) -> Iterator[str]:
    """A server without a slide directory, on an empty data directory, with a small demo."""
    with running_server("--workers", "1", data_dir=tmp_path / "data",
                        env={"WSI_VIEWER_TEST_DEMO_SIZE": "4096x3072"}) as running:
        yield running.url


@pytest.mark.timeout(300)
def test_library_and_viewer_show_the_progress_then_the_slide(page: Page, first_start: str) -> None:
    page.goto(first_start + "/")
    row = page.locator(ROW)
    expect(row).to_have_attribute("data-status", "preparing")
    bar = row.locator("[data-progress] progress")
    expect(bar).to_be_visible()
    expect(row.locator("[data-progress-text]")).to_contain_text("%")
    expect(row).to_contain_text("4,096 × 3,072 px")
    assert row.locator("a").count() == 0 and row.locator("input").count() == 0  # nothing to open yet
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # The viewer page of the demo, meanwhile: the same progress instead of an error.
    viewer = page.context.new_page()
    viewer.goto(first_start + f"/view/{DEMO_ID}")
    expect(viewer.locator("[data-preparing-page] [data-progress] progress")).to_be_visible()
    expect(viewer.locator("[data-preparing-page] h2")).to_have_text("Being prepared")

    # The bar moves as the generator goes (sampled while the row is still being prepared).
    values = []
    deadline = time.monotonic() + 240
    bar_now = f"{ROW}[data-status='preparing'] [data-progress] progress"
    read = f"() => document.querySelector(\"{bar_now}\")?.value"
    while time.monotonic() < deadline:
        value = page.evaluate(read)
        if value is None:
            break
        values.append(value)
        page.wait_for_timeout(250)
    assert len(values) >= 2 and values == sorted(values) and values[-1] > values[0], values

    # Ready: the same document now lists the slide, with its thumbnail and link.
    link = page.locator(f"{ROW} a.slide-name")
    expect(link).to_have_attribute("href", f"/view/{DEMO_ID}", timeout=30000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator(f"{ROW} [data-progress]")).to_have_count(0)
    thumb = page.locator(f"{ROW} img")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())

    # ... and the viewer page opened the slide by itself.
    expect(viewer.locator("[data-viewer-app]")).to_be_attached(timeout=30000)
    assert wait_first_viewport(viewer) > 0
    viewer.close()
