"""The editor's saving in a real Chromium against a real server (E2 of issue 13): dots drawn while
the server is down are kept in IndexedDB ("offline: N changes queued"), survive the tab being
closed, and arrive once each, in order, when the server is back and the slide is opened again; a
conflicting edit from another browser shows the conflict dialog with both versions drawn, and each
choice does what it says; a read-only server's page says so and offers no tools.

The module has its own server (its own slide copy and database, restarted on the same port so the
page keeps its origin and its IndexedDB)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from tests._server import free_port, running_server
from tests.e2e.conftest import CMU, DATA, VIEWPORT, wait_first_viewport

pytestmark = pytest.mark.e2e

PANE = "document.querySelector('[data-pane]')"
STATUS = "[data-save-status]"
#: What a page logs while its server is down (tiles, the change watcher, the queue's retries).
OFFLINE_NOISE = ("net::ERR_CONNECTION_REFUSED", "Failed to fetch", "ERR_CONNECTION_RESET", "NetworkError")
SCRIPT = {"X-Requested-With": "tests", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("saving-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    return root


class Tab:
    """A page of a browser context that collects errors (network errors of a stopped server aside)."""

    def __init__(self, context: BrowserContext) -> None:
        self.errors: list[str] = []
        self.page: Page = context.new_page()
        self.page.set_default_timeout(30000)
        self.page.on("console", lambda m: m.type == "error" and self._error(m.text))
        self.page.on("pageerror", lambda e: self._error(str(e)))

    def _error(self, text: str) -> None:
        if not any(noise in text for noise in OFFLINE_NOISE):
            self.errors.append(text)

    def open(self, url: str, slide: str = CMU) -> None:
        self.page.goto(f"{url}/view/{slide}?x=1110&y=1480&z=0.5")
        wait_first_viewport(self.page)
        self.page.wait_for_function(f"() => {PANE}.wsi?.editor && {PANE}.wsi.queue")

    def status(self) -> dict[str, str]:
        return dict(self.page.eval_on_selector(
            STATUS, "e => ({state: e.dataset.state, pending: e.dataset.pending, text: e.textContent})"))

    def wait_status(self, state: str, pending: int | None = None) -> dict[str, str]:
        self.page.wait_for_function(
            "([sel, state, pending]) => { const e = document.querySelector(sel);"
            " return e && e.dataset.state === state && (pending === null || e.dataset.pending === String(pending)); }",
            arg=[STATUS, state, pending],
        )
        return self.status()

    def dot(self, x: float, y: float) -> None:
        at = self.page.evaluate(
            """([x, y]) => {
              const v = document.querySelector('[data-pane]').wsi.viewer;
              const m = v.stage.frame().slideToElement;
              const r = v.osd.canvas.getBoundingClientRect();
              return [r.left + m.a * x + m.c * y + m.e, r.top + m.b * x + m.d * y + m.f];
            }""",
            [x, y],
        )
        self.page.keyboard.press("d")
        self.page.mouse.move(*at)
        self.page.mouse.down()
        self.page.mouse.up()


def _sets(url: str) -> list[dict[str, Any]]:
    return list(requests.get(f"{url}/api/annotations/{CMU}", timeout=30).json()["sets"])


def _features(url: str, s: dict[str, Any]) -> list[dict[str, Any]]:
    return list(requests.get(f"{url}{s['urls']['self']}", timeout=30).json()["features"])


def _history(url: str, s: dict[str, Any]) -> list[dict[str, Any]]:
    return list(requests.get(f"{url}{s['urls']['history']}", timeout=30).json()["changes"])


def test_changes_made_offline_survive_the_closed_tab_and_arrive_once_in_order(
    browser: Browser, slides: Path, tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    context = browser.new_context(viewport=VIEWPORT)
    dots = [(900.0, 1300.0), (1000.0, 1350.0), (1100.0, 1400.0), (1200.0, 1450.0), (1300.0, 1500.0)]
    try:
        with running_server(str(slides), "--workers", "1", data_dir=data_dir, port=port) as server:
            tab = Tab(context)
            tab.open(server.url)
            tab.dot(*dots[0])  # online: makes the set and the first dot
            saved = tab.wait_status("saved", 0)
            assert saved["text"].startswith("saved ") and len(saved["text"]) == len("saved 12:03:14")
        # the server is gone: drawing goes on, the changes wait in IndexedDB
        for x, y in dots[1:]:
            tab.dot(x, y)
        offline = tab.wait_status("offline", 4)
        assert offline["text"] == "offline: 4 changes queued"
        stored = tab.page.evaluate(
            """async () => { const {openPersist} = await import('/static/js/editor/persist.js');
                 const s = await openPersist('wsi-viewer-edits');
                 return {durable: s.durable, n: (await s.list(%r)).length}; }""" % CMU)
        assert stored == {"durable": True, "n": 4}
        tab.page.close()  # the tab is closed before anything could be sent
        with running_server(str(slides), "--workers", "1", data_dir=data_dir, port=port) as server:
            (s,) = _sets(server.url)
            assert len(_features(server.url, s)) == 1  # nothing arrived while no page was open
            again = Tab(context)
            again.open(server.url)  # the slide opened again: its queue replays what it stored
            again.wait_status("saved", 0)
            features = _features(server.url, s)
            got = [tuple(f["geometry"]["coordinates"]) for f in features]
            assert len(got) == len(dots)
            for (gx, gy), (wx, wy) in zip(got, dots, strict=True):  # in the order drawn
                assert abs(gx - wx) <= 4 and abs(gy - wy) <= 4, (got, dots)
            # one change each, in the order drawn: none applied twice, none lost
            changes = sorted(_history(server.url, s), key=lambda c: c["version"])
            assert [(c["version"], c["created"], c["updated"]) for c in changes] == [
                (1, 0, 0), *((v, 1, 0) for v in range(2, 2 + len(dots)))], changes
            assert [f["properties"]["version"] for f in features] == list(range(2, 2 + len(dots)))
            stored_after = again.page.evaluate(
                """async () => { const {openPersist} = await import('/static/js/editor/persist.js');
                     return (await (await openPersist('wsi-viewer-edits')).list(%r)).length; }""" % CMU)
            assert stored_after == 0
            assert tab.errors == [] and again.errors == [], tab.errors + again.errors
    finally:
        context.close()
