"""The viewer's Export panel in a real Chromium against a real server: a set's ASAP XML download,
and a mask made by a server job whose progress bar runs to done, then downloads the TIFF."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tifffile
from playwright.sync_api import Page, expect

from tests.e2e.conftest import CMU, Console, Server, view_url

pytestmark = pytest.mark.e2e


@pytest.fixture()
def polygon_set(server: Server) -> Iterator[Callable[[str, int], dict]]:
    """Makes sets with :func:`_polygon_set`; empties them after the test. The server is shared by
    every browser test, and a 10^5-vertex star left on the CMU slide would be drawn by each later
    viewer test on that slide."""
    made: list[dict] = []

    def make(name: str, vertices: int) -> dict:
        made.append(_polygon_set(server, name, vertices))
        return made[-1]

    yield make
    for aset in made:
        current = requests.get(f"{server.url}{aset['urls']['self']}", timeout=60)
        emptied = requests.put(
            f"{server.url}{aset['urls']['self']}", json={"type": "FeatureCollection", "features": []},
            headers={"If-Match": current.headers["ETag"]}, timeout=60,
        )
        assert emptied.status_code == 200, emptied.text


def _polygon_set(server: Server, name: str, vertices: int) -> dict:
    """A set on the CMU slide holding one star polygon in group "tumour" (many vertices make the
    mask job take a moment, so the bar is seen moving)."""
    rng = np.random.default_rng(7)
    angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
    radii = rng.uniform(100, 1300, vertices)
    xs, ys = 1110 + radii * np.cos(angles), 1480 + radii * np.sin(angles)
    ring = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
    doc = {
        "name": name, "type": "FeatureCollection", "asapGroups": [{"name": "tumour", "color": "#ff0000"}],
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]},
                      "properties": {"asap": {"type": "Polygon", "group": "tumour", "color": "#ff0000"}}}],
    }
    slide = requests.get(f"{server.url}/api/slides/{CMU}", timeout=30).json()
    created = requests.post(f"{server.url}{slide['urls']['annotations']}?name={name}", json=doc, timeout=60)
    assert created.status_code == 201, created.text
    body: dict = created.json()["set"]
    return body


def test_mask_export_shows_progress_and_downloads_the_tiff(
    page: Page, server: Server, polygon_set: Callable[[str, int], dict],
) -> None:
    aset = polygon_set("export e2e", 60_000)
    posts: list[dict] = []
    page.on("request", lambda r: posts.append({"url": r.url, "headers": r.headers, "body": r.post_data})
            if r.method == "POST" else None)
    page.goto(view_url(server, CMU))
    toggle = page.locator("[data-export-toggle]")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    panel = page.locator("[data-export-panel]")
    expect(panel).to_be_visible()
    section = panel.locator(f'[data-export-set="{aset["id"]}"]')
    expect(section).to_contain_text("60,000 vertices")

    # A plain download: the API's own URL plus its format.
    with page.expect_download() as xml_download:
        section.locator('[data-export-format="asap"]').click()
    assert xml_download.value.suggested_filename.endswith(".xml")
    assert b"<ASAP_Annotations>" in Path(xml_download.value.path()).read_bytes()

    # The mask: a job, a bar that moves to 100 %, then the download.
    section.locator("[data-mask-downsample]").select_option("1")
    section.locator("[data-mask-labels]").fill("tumour=5")
    bar = section.locator("[data-mask-progress]")
    status = section.locator("[data-mask-status]")
    values: list[float] = []
    with page.expect_download(timeout=60_000) as mask_download:
        section.locator("[data-mask-start]").click()
        expect(section.locator("[data-mask-cancel]")).to_be_visible()
        for _ in range(600):
            values.append(float(bar.evaluate("(b) => b.value")))
            if bar.get_attribute("data-state") == "done":
                break
            page.wait_for_timeout(50)
    expect(status).to_contain_text("Done: ")
    assert values[-1] == 100 and values == sorted(values), values
    assert bar.get_attribute("data-state") == "done"
    expect(section.locator("[data-mask-cancel]")).to_be_hidden()
    expect(section.locator("[data-mask-result]")).to_be_visible()
    download = mask_download.value
    assert download.suggested_filename.endswith("-mask.tif")
    data = Path(download.path()).read_bytes()
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        level0 = tif.pages[0].asarray()
    assert level0.shape == (2967, 2220) and set(np.unique(level0)) == {0, 5}
    # The browser's write was JSON (the server refuses other cross-site-able writes).
    (start,) = [p for p in posts if "format=mask" in p["url"]]
    assert start["headers"]["content-type"] == "application/json" and start["body"] == "{}"
    assert "downsample=1" in start["url"] and "labels=tumour%3D5" in start["url"]


def test_cancel_and_errors_are_shown_in_the_panel(
    page: Page, server: Server, console: Console, polygon_set: Callable[[str, int], dict],
) -> None:
    aset = polygon_set("export cancel", 120_000)
    page.goto(view_url(server, CMU))
    page.locator("[data-export-toggle]").click()
    section = page.locator(f'[data-export-set="{aset["id"]}"]')
    # A bad label map is refused by the server before any job: its message is shown.
    section.locator("[data-mask-labels]").fill("nothing=1")
    section.locator("[data-mask-start]").click()
    status = section.locator("[data-mask-status]")
    expect(status).to_contain_text("no group is called 'nothing'")
    expect(status).to_have_attribute("role", "alert")
    # Chromium logs every 4xx fetch; this one is the point of the test.
    expected = [e for e in console.errors if "status of 400" in e and "labels=nothing" in e]
    assert len(expected) == 1
    console.errors.remove(expected[0])
    # A running job is cancelled by the button.
    section.locator("[data-mask-labels]").fill("")
    section.locator("[data-mask-downsample]").select_option("1")
    section.locator("[data-mask-start]").click()
    cancel = section.locator("[data-mask-cancel]")
    expect(cancel).to_be_visible()
    cancel.click()
    expect(status).to_contain_text("Cancelled: cancelled by request", timeout=20_000)
    expect(section.locator("[data-mask-result]")).to_be_hidden()
    expect(section.locator("[data-mask-start]")).to_be_enabled()
