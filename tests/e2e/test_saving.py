"""The editor's saving in a real Chromium against a real server (E2 of issue 13): a create whose
answer is lost on the way back is sent again and applied once (Idempotency-Key); dots drawn while
the server is down are kept in IndexedDB ("offline: N changes queued"), survive the tab being
closed, and arrive once each, in order, when the server is back and the slide is opened again; a
conflicting edit from another browser shows the conflict dialog with both versions drawn, and each
choice does what it says; a read-only server's page says so and offers no tools.

The module has its own server (its own slide copy and database, restarted on the same port so the
page keeps its origin and its IndexedDB)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Route

from tests._server import free_port, running_server
from tests.e2e.conftest import CMU, DATA, VIEWPORT, wait_first_viewport

pytestmark = pytest.mark.e2e

PANE = "document.querySelector('[data-pane]')"
STATUS = "[data-save-status]"
#: What a page logs while its server is down (tiles, the change watcher, the queue's retries).
OFFLINE_NOISE = ("net::ERR_CONNECTION_REFUSED", "Failed to fetch", "ERR_CONNECTION_RESET", "NetworkError")
SCRIPT = {"X-Requested-With": "tests", "Content-Type": "application/json"}
#: The changes of a slide the page's IndexedDB holds (persist.js, as the queue reads them).
STORED = """async (slide) => {
  const {openPersist} = await import('/static/js/editor/persist.js');
  const s = await openPersist('wsi-viewer-edits');
  return {durable: s.durable, n: (await s.list(slide)).length};
}"""


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("saving-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    return root


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """The server's data directory (database), kept across its restarts within a test."""
    path = tmp_path / "data"
    path.mkdir()
    return path


class Tab:
    """A page of a browser context that collects errors (network errors of a stopped server aside)."""

    def __init__(self, context: BrowserContext, expected: tuple[str, ...] = ()) -> None:
        self.noise = OFFLINE_NOISE + expected  # what the test causes on purpose (a 412, a 403)
        self.errors: list[str] = []
        self.page: Page = context.new_page()
        self.page.set_default_timeout(30000)
        self.page.on("console", lambda m: m.type == "error" and self._error(m.text))
        self.page.on("pageerror", lambda e: self._error(str(e)))

    def _error(self, text: str) -> None:
        if not any(noise in text for noise in self.noise):
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
            " return e && e.dataset.state === state"
            " && (pending === null || e.dataset.pending === String(pending)); }",
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
    browser: Browser, slides: Path, data_dir: Path,
) -> None:
    port = free_port()
    context = browser.new_context(viewport=VIEWPORT)
    dots = [(900.0, 1300.0), (1000.0, 1350.0), (1100.0, 1400.0), (1200.0, 1450.0), (1300.0, 1500.0),
            (1400.0, 1550.0)]
    try:
        with running_server(str(slides), "--workers", "1", data_dir=data_dir, port=port) as server:
            tab = Tab(context)
            tab.open(server.url)
            tab.dot(*dots[0])  # online: makes the set and the first dot
            saved = tab.wait_status("saved", 0)
            assert saved["text"].startswith("saved ") and len(saved["text"]) == len("saved 12:03:14")
            # the next create reaches the server, but its answer is lost on the way back: the queue
            # sends it again with the same Idempotency-Key and gets the stored answer
            lost: list[str] = []

            def lose_the_answer(route: Route) -> None:
                if route.request.method == "POST" and not lost:
                    lost.append(route.request.headers["idempotency-key"])
                    route.fetch()  # applied by the server...
                    route.abort("connectionreset")  # ...but the page never hears of it
                else:
                    route.continue_()

            tab.page.route("**/api/sets/*/annotations", lose_the_answer)
            tab.dot(*dots[1])
            tab.wait_status("saved", 0)
            tab.page.unroute("**/api/sets/*/annotations")
            assert len(lost) == 1
            (s,) = _sets(server.url)
            assert len(_features(server.url, s)) == 2  # applied once
        # the server is gone: drawing goes on, the changes wait in IndexedDB
        for x, y in dots[2:]:
            tab.dot(x, y)
        offline = tab.wait_status("offline", 4)
        assert offline["text"] == "offline: 4 changes queued"
        stored = tab.page.evaluate(STORED, CMU)
        assert stored == {"durable": True, "n": 4}
        tab.page.close()  # the tab is closed before anything could be sent
        with running_server(str(slides), "--workers", "1", data_dir=data_dir, port=port) as server:
            (s,) = _sets(server.url)
            assert len(_features(server.url, s)) == 2  # nothing arrived while no page was open
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
            assert again.page.evaluate(STORED, CMU) == {"durable": True, "n": 0}
            assert tab.errors == [] and again.errors == [], tab.errors + again.errors
    finally:
        context.close()


def _square(x: float, y: float, side: float, name: str) -> dict[str, Any]:
    ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "asap": {"type": "Polygon", "group": None, "color": "#F4FA58"}}}


def _edit_elsewhere(other: Page, url: str, name: str, dx: float) -> int:
    """The other browser renames the annotation and moves it by *dx* (over its current version)."""
    version: int = other.evaluate(
        """async ([url, name, dx]) => {
          const current = await (await fetch(url)).json();
          current.properties.name = name;
          current.geometry.coordinates[0] = current.geometry.coordinates[0].map(([x, y]) => [x + dx, y]);
          const r = await fetch(url, {method: 'PUT', body: JSON.stringify(current), headers: {
            'Content-Type': 'application/json', 'X-Requested-With': 'tests',
            'If-Match': `"${current.properties.version}"`}});
          if (r.status !== 200) throw new Error(`PUT ${r.status}`);
          return (await r.json()).annotation.properties.version;
        }""",
        [url, name, dx],
    )
    return version


def test_a_conflicting_edit_shows_both_versions_and_each_choice_does_what_it_says(
    browser: Browser, slides: Path, data_dir: Path,
) -> None:
    mine_context = browser.new_context(viewport=VIEWPORT)
    their_context = browser.new_context(viewport=VIEWPORT)
    try:
        with running_server(str(slides), "--workers", "1", data_dir=data_dir) as server:
            made = requests.post(f"{server.url}/api/annotations/{CMU}", json={"name": "shared"},
                                 headers=SCRIPT, timeout=30)
            s = made.json()["set"]
            created = requests.post(f"{server.url}{s['urls']['annotations']}",
                                    json=_square(1000, 1400, 160, "square"), headers=SCRIPT, timeout=30)
            url = server.url + created.headers["Location"]
            tab = Tab(mine_context, ("status of 412 (PRECONDITION FAILED)",))
            tab.open(server.url)
            other = Tab(their_context)
            other.open(server.url)
            dialog = tab.page.locator("[data-conflict-dialog]")
            page = tab.page

            def drag(dx_slide: float) -> None:
                """Select the square (loaded exact at its version), let the other browser save over it,
                then move it: my save meets their version."""
                page.keyboard.press("v")
                box = page.evaluate(
                    """([setId, id, server]) => { const wsi = document.querySelector('[data-pane]').wsi;
                       // the square's centre as this page holds it (the editor's copy, else the server's)
                       const f = wsi.editor.doc.get(`s${setId}:${id}`)?.feature ?? server;
                       const ring = f.geometry.coordinates[0].slice(0, -1);
                       const cx = ring.reduce((a, p) => a + p[0], 0) / ring.length;
                       const cy = ring.reduce((a, p) => a + p[1], 0) / ring.length;
                       const m = wsi.viewer.stage.frame().slideToElement;
                       const r = wsi.viewer.osd.canvas.getBoundingClientRect();
                       return [r.left + m.a * cx + m.c * cy + m.e, r.top + m.b * cx + m.d * cy + m.f,
                               m.a]; }""",
                    [s["id"], created.json()["annotation"]["id"], requests.get(url, timeout=30).json()])
                x, y, zoom = box
                page.mouse.move(x, y)
                page.mouse.down()
                page.mouse.up()
                page.wait_for_function(f"() => {PANE}.wsi.editor.selection.size === 1")
                their_version.append(_edit_elsewhere(other.page, url, f"theirs {len(their_version)}", 40))
                page.mouse.move(x, y)
                page.mouse.down()
                for step in range(1, 6):
                    page.mouse.move(x + dx_slide * zoom * step / 5, y)
                page.mouse.up()

            their_version: list[int] = []

            def conflict_then(choice: str) -> dict[str, Any]:
                """My move meets their save: the dialog, then *choice*; the server's copy after."""
                drag(-100)
                dialog.wait_for(state="visible")
                assert tab.wait_status("conflict")["text"] == "conflict"
                assert f"theirs {len(their_version) - 1}" in dialog.locator("[data-theirs]").inner_text()
                assert page.eval_on_selector("[data-overlay=conflict]", "c => c.dataset.versions") == "2"
                assert [b.inner_text() for b in dialog.locator("[data-choices] button").all()] == [
                    "Keep mine", "Take theirs", "Keep both"]
                dialog.locator(f"[data-choice={choice}]").click()
                dialog.wait_for(state="hidden")
                tab.wait_status("saved", 0)
                return dict(requests.get(url, timeout=30).json())

            # 1. keep mine: mine whole is saved over theirs (their move is gone)
            now = conflict_then("mine")
            assert now["properties"]["version"] > their_version[0]
            assert now["geometry"]["coordinates"][0][0][0] == pytest.approx(1000 - 100, abs=4)
            # 2. take theirs: nothing of mine is written
            now = conflict_then("theirs")
            assert (now["properties"]["version"], now["properties"]["name"]) == (their_version[1], "theirs 1")
            # ... and the page shows theirs, not mine: its document holds their version (a later edit
            # starts from it), and the layer draws their square (mine moved 100 px left)
            shown = page.evaluate(
                """(key) => { const e = document.querySelector('[data-pane]').wsi.editor.doc.get(key);
                   return e && [e.feature.properties.name, e.version, e.points[0][0]]; }""",
                f"s{s['id']}:{now['id']}")
            assert shown[:2] == ["theirs 1", their_version[1]], shown
            assert shown[2] == pytest.approx(now["geometry"]["coordinates"][0][0][0], abs=0.01)
            # 3. keep both: theirs stays, mine is a new annotation
            now = conflict_then("both")
            assert (now["properties"]["version"], now["properties"]["name"]) == (their_version[2], "theirs 2")
            features = _features(server.url, s)
            assert len(features) == 2, features
            (mine,) = [f for f in features if f["id"] != now["id"]]
            assert page.eval_on_selector("[data-overlay=conflict]", "c => c.dataset.versions") == "0"
            assert mine["geometry"]["coordinates"][0][0][0] < now["geometry"]["coordinates"][0][0][0]
            # the editor's entry is mine, the new annotation; the server's (old id) is its layer's again
            state = page.evaluate(
                """([setId, oldId, newId]) => {
                   const editor = document.querySelector('[data-pane]').wsi.editor;
                   const entry = editor.doc.get(editor.localIdOf(setId, newId));
                   return {entry: entry?.annotationId ?? null,
                           oldHidden: [...editor.hidden.values()].some((r) => r.annotationId === oldId),
                           oldIsMine: editor.localIdOf(setId, oldId)
                             === editor.localIdOf(setId, newId)}; }""",
                [s["id"], now["id"], mine["id"]])
            assert state == {"entry": mine["id"], "oldHidden": False, "oldIsMine": False}, state
            assert tab.errors == [] and other.errors == [], tab.errors + other.errors
    finally:
        mine_context.close()
        their_context.close()


def test_a_read_only_server_says_so_and_offers_no_tools(
    browser: Browser, slides: Path, data_dir: Path,
) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        with running_server(str(slides), "--workers", "1", "--read-only", data_dir=data_dir) as server:
            tab = Tab(context, ("status of 403 (FORBIDDEN)",))
            tab.page.goto(f"{server.url}/view/{CMU}")
            wait_first_viewport(tab.page)
            notice = tab.page.locator("[data-read-only]")
            notice.wait_for(state="visible")
            assert notice.inner_text() == "read-only: this server does not accept changes"
            assert tab.page.locator("[data-editor-tools]").is_hidden()
            assert tab.page.evaluate(f"() => !{PANE}.wsi.editor && !document.querySelector('{STATUS}')")
            refused = tab.page.evaluate(
                """async (url) => {
                  const r = await fetch(url, {method: 'POST', body: '{"name": "x"}',
                                              headers: {'Content-Type': 'application/json'}});
                  return [r.status, (await r.json()).error];
                }""",
                f"/api/annotations/{CMU}")
            assert refused[0] == 403 and refused[1].startswith("read-only: ")
            assert tab.errors == [], tab.errors
    finally:
        context.close()
