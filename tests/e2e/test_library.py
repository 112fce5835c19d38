"""The library page in a real Chromium against a real server."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BOUNDS, CMU, Console, Server

pytestmark = pytest.mark.e2e


def _open_library(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("[data-library][data-loaded='true']")


def test_library_lists_every_fixture_slide_with_its_facts(page: Page, server: Server) -> None:
    _open_library(page, server)
    ids = page.eval_on_selector_all("tr[data-slide-id]", "rows => rows.map(r => r.dataset.slideId)")
    for expected in (CMU, "generic-tiff/boxes.tiff", BOUNDS, "aperio/small.svs"):
        assert expected in ids
    cmu = page.locator(f"tr[data-slide-id='{CMU}']")
    expect(cmu).to_contain_text("2,220 × 2,967 px")
    expect(cmu).to_contain_text("20× · 0.499 µm/px")
    expect(cmu).to_contain_text("aperio")
    # folders are groups, each with a header row that folds it
    folders = page.eval_on_selector_all("tbody[data-folder]", "bodies => bodies.map(b => b.dataset.folder)")
    assert folders == sorted(folders) and {"aperio", "bounds", "generic-tiff"} <= set(folders)
    aperio = page.locator("[data-toggle-folder='aperio']")
    aperio.click()
    expect(aperio).to_have_attribute("aria-expanded", "false")
    expect(page.locator("tbody[data-folder='aperio'] tr[data-slide-id]")).to_have_count(0)
    aperio.press("Enter")
    expect(page.locator("tbody[data-folder='aperio'] tr[data-slide-id]")).to_have_count(3)
    # the thumbnail is a real image (lazy, loaded once scrolled into view)
    thumb = cmu.locator("img")
    thumb.scroll_into_view_if_needed()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    # the link opens the viewer
    assert cmu.locator("a.slide-name").get_attribute("href") == f"/view/{CMU}"


def test_unreadable_slides_are_listed_with_their_error(page: Page, server: Server) -> None:
    _open_library(page, server)
    row = page.locator("tr[data-slide-id='broken/not-a-slide.svs']")
    expect(row).to_have_class("slide-row broken")
    expect(row.locator("[data-error]")).to_contain_text("OpenSlide")
    assert row.locator("a").count() == 0  # nothing to open
    expect(page.locator("[data-count]")).to_contain_text("1 unreadable")


def test_filter_sort_and_grouping(page: Page, server: Server) -> None:
    _open_library(page, server)
    total = page.locator("tr[data-slide-id]").count()
    page.keyboard.press("/")  # focuses the filter
    page.keyboard.type("boxes")
    expect(page.locator("tr[data-slide-id]")).to_have_count(2)  # dicom/boxes + generic-tiff/boxes.tiff
    expect(page.locator("[data-count]")).to_have_text(f"2 of {total}")
    assert "q=boxes" in page.url
    page.fill("[data-filter]", "")
    page.uncheck("[data-group]")
    page.select_option("[data-sort]", "size")
    page.click("[data-direction]")  # largest first
    ids = page.eval_on_selector_all("tr[data-slide-id]", "rows => rows.map(r => r.dataset.slideId)")
    assert ids[0] == BOUNDS  # 16384 x 12288 is the largest
    assert ids[-1] == "broken/not-a-slide.svs"  # unknown size sorts last
    assert page.locator("tbody[data-folder]").count() == 0
    # the state is in the URL, so a reload keeps it
    page.reload()
    page.wait_for_selector("[data-library][data-loaded='true']")
    assert page.eval_on_selector("tr[data-slide-id]", "r => r.dataset.slideId") == BOUNDS


def test_compare_link_from_two_ticked_slides(page: Page, server: Server) -> None:
    _open_library(page, server)
    compare = page.locator("[data-compare]")
    expect(compare).to_have_attribute("aria-disabled", "true")
    page.check(f"input[data-pick='{CMU}']")
    page.check("input[data-pick='generic-tiff/boxes.tiff']")
    href = compare.get_attribute("href")
    assert href is not None and href.startswith("/compare?")
    compare.click()
    page.wait_for_selector("[data-compare-app][data-ready='true']")
    assert page.locator("[data-pane]").count() == 2


def test_error_page_for_unknown_slide(page: Page, server: Server, console: Console) -> None:
    response = page.goto(f"{server.url}/view/no/such/slide.svs")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator("a.btn.primary")).to_have_attribute("href", "/")
    # Chromium reports the 404 of the document itself; nothing else may fail.
    assert all("404" in e for e in console.errors)
    console.errors.clear()
    response = page.goto(f"{server.url}/view/broken/not-a-slide.svs")
    assert response is not None and response.status == 422
    expect(page.locator("[data-error-message]")).to_contain_text("cannot be displayed")
    console.errors.clear()


def test_a_thousand_slides_are_paged_and_thumbnails_load_lazily(page: Page, server: Server) -> None:
    # The real listing, multiplied to 1,000 entries in 20 folders (the server is real; only the
    # listing's size is made up, since 1,000 real slide files would not fit in the repository).
    real = json.loads(urllib.request.urlopen(f"{server.url}/api/slides", timeout=30).read())["slides"]
    template = next(s for s in real if s["id"] == CMU)
    many = []
    for i in range(1000):
        entry = json.loads(json.dumps(template))
        entry["id"] = f"case-{i % 20:02d}/slide-{i:04d}.svs"
        entry["name"] = f"slide-{i:04d}.svs"
        entry["folder"] = f"case-{i % 20:02d}"
        entry["urls"]["thumbnail"] += f"?copy={i}"  # a distinct URL each, so the cache cannot hide a fetch
        entry["annotation_count"] = i % 7
        entry["set_count"] = 1 + i % 2
        many.append(entry)
    thumbnails: list[str] = []
    page.on("request", lambda r: thumbnails.append(r.url) if "/api/thumbnail/" in r.url else None)
    page.route("**/api/slides", lambda route: route.fulfill(json={"slides": many}))
    _open_library(page, server)
    expect(page.locator("[data-count]")).to_have_text("1000")
    expect(page.locator("tr[data-slide-id]")).to_have_count(200)  # one page
    expect(page.locator("[data-pager] button")).to_have_count(5)
    page.wait_for_timeout(500)
    assert 0 < len(thumbnails) < 60  # only the rows near the screen fetched theirs
    page.click("[data-pager] button:nth-child(5)")
    expect(page.locator("[data-pager] button[aria-current='page']")).to_have_text("5")
    expect(page.locator("tr[data-slide-id]")).to_have_count(200)
    assert "page=4" in page.url
    page.fill("[data-filter]", "slide-0999")
    expect(page.locator("tr[data-slide-id]")).to_have_count(1)
    expect(page.locator("[data-pager]")).to_be_hidden()
    # the annotation count is a column, and a sort key
    expect(page.locator("[data-annotations-col]")).to_be_visible()
    # sets and annotations: "2 sets · 5 annotations" (999 % 2 + 1, 999 % 7)
    expect(page.locator("tr[data-slide-id] td.num")).to_have_text("2 sets · 5 annotations")
    page.fill("[data-filter]", "")
    page.select_option("[data-sort]", "annotations")
    page.click("[data-direction]")
    expect(page.locator("tr[data-slide-id] td.num").first).to_contain_text("· 6 annotations")

