"""Fixtures of the end-to-end tests: a real ``wsi-viewer serve`` process over a copy of the
fixture slides (plus a generated MIRAX slide with a bounds offset and two unreadable files), and a
real headless Chromium (Debian's package) driven by Playwright's Python API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests._server import running_server

DATA = Path(__file__).parent.parent / "data"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}

#: Ids of the slides the tests use.
CMU = "aperio/CMU-1-Small-Region.svs"      # 2220 x 2967, 0.499 µm/px
NO_MPP = "aperio/tcga-cr-7395-01a-01-ts1.svs"  # no mpp recorded
BOUNDS = "bounds/mirax-2region.mrxs"       # bounds offset (2664, 2088), 0.5 µm/px


@dataclass
class Server:
    """A running server: its base URL and the slide directory it serves."""

    url: str
    slide_dir: Path
    truth: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def e2e_slide_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixture slides, the generated bounds slide and two files OpenSlide cannot read."""
    root = tmp_path_factory.mktemp("e2e-slides")
    shutil.copytree(DATA / "slides", root, dirs_exist_ok=True)
    subprocess.run(
        [sys.executable, str(DATA / "tools" / "make_bounds_slides.py"), str(root / "bounds"),
         "--only", "mirax-2region"],
        check=True, capture_output=True,
    )
    (root / "broken").mkdir()
    (root / "broken" / "not-a-slide.svs").write_bytes(b"II*\x00 this is not a slide" * 64)
    return root


@pytest.fixture(scope="session")
def server(e2e_slide_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``wsi-viewer serve`` in a subprocess (one gunicorn worker), label images on."""
    data_dir = tmp_path_factory.mktemp("e2e-server") / "data"
    data_dir.mkdir()
    truth = json.loads((e2e_slide_dir / "bounds" / "mirax-2region.json").read_text())
    with running_server(
        str(e2e_slide_dir), "--workers", "1", "--serve-associated-images", data_dir=data_dir,
    ) as running:
        yield Server(url=running.url, slide_dir=e2e_slide_dir, truth=truth)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (WSI_VIEWER_TEST_CHROMIUM overrides the path)."""
    browser = playwright_instance.chromium.launch(
        executable_path=os.environ.get("WSI_VIEWER_TEST_CHROMIUM", "/usr/bin/chromium"),
        args=CHROMIUM_ARGS,
    )
    yield browser
    browser.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions seen by a page."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} @ {message.location}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture()
def console() -> Console:
    """Collects the page's console errors; the page fixture asserts there are none."""
    return Console()


@pytest.fixture()
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context and page; fails the test on any console error or page error."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20000)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()
    assert console.errors == [], "\n".join(console.errors)


def wait_first_viewport(page: Page, pane: str = "[data-pane]") -> float:
    """Wait until every tile of the first view is drawn; return the time it took (ms)."""
    handle = page.wait_for_function(
        "(pane) => document.querySelector(pane)?.dataset.firstViewportMs", arg=pane, timeout=30000,
    )
    return float(handle.json_value())


def wait_fully_loaded(page: Page, pane: str = "[data-pane]") -> None:
    """Wait until the current view has all its tiles (after a zoom or pan settled)."""
    settled_query(page)  # the animation is over (the URL follows it), so this is the new view
    page.wait_for_function(
        "(pane) => document.querySelector(pane).dataset.fullyLoaded === 'true'", arg=pane, timeout=30000,
    )


def settled_query(page: Page, quiet_ms: int = 800, timeout_s: float = 20) -> dict[str, str]:
    """The page's query parameters once the URL has stopped changing for *quiet_ms*."""
    deadline = time.monotonic() + timeout_s
    last, since = page.url, time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        if page.url != last:
            last, since = page.url, time.monotonic()
        elif (time.monotonic() - since) * 1000 >= quiet_ms:
            break
    return {k: v[0] for k, v in parse_qs(urlparse(last).query).items()}


def view_url(server: Server, slide_id: str, **query: object) -> str:
    """The viewer URL of a slide, with an optional view in the query (x, y, z, r, flip)."""
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{server.url}/view/{slide_id}" + (f"?{q}" if q else "")
