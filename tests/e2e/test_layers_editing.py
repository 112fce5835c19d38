"""The layers panel beyond issue 12, in a real Chromium against a real server: one panel per pane
in compare mode (own sets, own hidden groups, own URL keys, review keys on the active pane); a set
hidden at load (or hidden when it changes) keeps its list right and shows the changes once shown;
groups created, renamed, recoloured, nested, made active and deleted from the panel, a new set,
refusals (409, 412) shown; the history with a preview of an earlier version on the slide and its
restore. The API's state is checked after every write. No console errors (the page fixture)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Dialog, Page

from tests._server import running_server
from tests.e2e.conftest import DATA, Console, Server, wait_first_viewport, wait_fully_loaded
from tests.e2e.test_annotation_layer import CYAN, MAGENTA, PAINTED, _mask, _rect, _screen, _view

pytestmark = pytest.mark.e2e

CMU = "aperio/CMU-1-Small-Region.svs"  # 2220 x 2967, mpp 0.499
COPY = "other/CMU-copy.svs"  # the same image under another id: its own sets
ORANGE = (255, 140, 0)  # the history preview's colour (static/js/layers/preview-layer.js)
WSI = "document.querySelector('[data-pane]').wsi"
LEFT = "[data-side='left'] [data-pane]"
RIGHT = "[data-side='right'] [data-pane]"
HEADERS = {"X-Requested-With": "tests", "X-User": "tests"}


def _feature(ring: list[list[float]], group: str | None, name: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"name": name, "asap": {"type": "Polygon", "group": group, "color": "#F4FA58"}},
    }


def _new_set(server: Server, slide: str, name: str, features: list[dict[str, Any]]) -> dict[str, Any]:
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "asapGroups": [{"name": "probe", "color": "#ff00ff"}, {"name": "target", "color": "#00ffff"}],
    }
    info = requests.get(f"{server.url}/api/slides/{slide}", timeout=30).json()
    made = requests.post(
        f"{server.url}{info['urls']['annotations']}?name={name}", json=doc, headers=HEADERS, timeout=60
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()["set"]
    return body


def _add(server: Server, aset: dict[str, Any], feature: dict[str, Any]) -> None:
    """One annotation added by another client (the API)."""
    made = requests.post(
        f"{server.url}{aset['urls']['annotations']}", headers=HEADERS, timeout=30, json=feature
    )
    assert made.status_code == 201, made.text


@pytest.fixture(scope="module")
def edit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("edit-slides")
    for target in (CMU, COPY):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "slides" / CMU, root / target)
    data_dir = tmp_path_factory.mktemp("edit-server") / "data"
    data_dir.mkdir()
    with running_server(str(root), "--workers", "1", data_dir=data_dir) as running:
        yield Server(url=running.url, slide_dir=root, truth={"data_dir": data_dir})


def _pixels(page: Page, selector: str) -> np.ndarray:
    box = page.locator(f"{selector} [data-osd]").bounding_box()
    assert box is not None
    page.wait_for_timeout(200)  # one more frame of the overlay
    with Image.open(io.BytesIO(page.screenshot(clip=box))) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int32)


def _open(
    page: Page, server: Server, slide: str, query: str = "x=1110&y=1480&z=0.25", painted: bool = True
) -> None:
    page.goto(f"{server.url}/view/{slide}?{query}")
    wait_first_viewport(page)
    if painted:  # (a set hidden at load draws nothing, so the overlay never says it has painted)
        page.wait_for_function(PAINTED, timeout=30000)
    wait_fully_loaded(page)
    page.locator("[data-osd] canvas").first.focus()
    page.keyboard.press("Shift+A")
    page.wait_for_selector("[data-layers-panel]:not([hidden]) [data-layer-set]")


def _api(server: Server, url: str) -> Any:
    answer = requests.get(f"{server.url}{url}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _groups(server: Server, aset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in _api(server, f"{aset['urls']['self']}?bbox=0,0,0,0")["groups"]}


def test_compare_panes_have_their_own_layers_panels(page: Page, edit_server: Server) -> None:
    left = _new_set(
        edit_server, CMU, "left reader", [_feature(_rect(300, 300, 1900, 2600), "probe", "left big")]
    )
    right = _new_set(
        edit_server,
        COPY,
        "right reader",
        [
            _feature(_rect(300, 300, 1900, 2600), "target", "right big"),
            _feature(_rect(500, 500, 700, 700), "target", "right small"),
        ],
    )
    page.goto(
        f"{edit_server.url}/compare?left={CMU}&right={COPY}&lz=0.2&rz=0.2&lx=1110&ly=1480&rx=1110&ry=1480"
    )
    page.wait_for_selector("[data-compare-app][data-ready='true']")
    for pane in (LEFT, RIGHT):
        wait_first_viewport(page, pane)
        page.wait_for_function(
            "(p) => document.querySelector(p).dataset.annotationsPaintedMs", arg=pane, timeout=30000
        )
    page.hover(LEFT)
    page.keyboard.press("Shift+A")  # the active (left) pane's panel
    lp, rp = "[data-side='left'] [data-layers-panel]", "[data-side='right'] [data-layers-panel]"
    page.wait_for_selector(f"{lp}:not([hidden]) [data-entry]")
    assert page.locator(rp).is_hidden()
    page.click("[data-side='right'] [data-layers-toggle]")
    page.wait_for_selector(f"{rp}:not([hidden]) [data-entry]")
    assert page.locator(f"{lp} [data-layer-set] strong").all_inner_texts() == ["left reader"]
    assert page.locator(f"{rp} [data-layer-set] strong").all_inner_texts() == ["right reader"]
    assert page.locator(f"{rp} [data-entry] .entry-name").all_inner_texts() == ["right big", "right small"]
    assert _mask(_pixels(page, LEFT), MAGENTA).sum() > 200 and _mask(_pixels(page, RIGHT), CYAN).sum() > 200
    # hide the left pane's group: the left layer stops drawing it, the right one is untouched
    page.uncheck(f"{lp} [data-group-visible='probe']")
    assert _mask(_pixels(page, LEFT), MAGENTA).sum() == 0
    assert _mask(_pixels(page, RIGHT), CYAN).sum() > 200
    page.wait_for_function(
        "(v) => new URLSearchParams(location.search).getAll('lhg').includes(v)", arg=f"{left['id']}:probe"
    )
    assert "rhg" not in page.url and "hg=" not in page.url.replace("lhg=", "")
    # review keys step through the active pane's list only
    page.hover(RIGHT)
    page.keyboard.press(".")
    page.wait_for_selector(f"{rp} [data-entry][aria-selected='true']")
    assert page.locator(f"{rp} [data-entry][aria-selected='true'] .entry-name").inner_text() == "right big"
    assert page.locator(f"{lp} [data-entry][aria-selected='true']").count() == 0
    # the URL round trip: each pane gets its own hidden groups back
    page.reload()
    page.wait_for_selector("[data-compare-app][data-ready='true']")
    for pane in (LEFT, RIGHT):
        page.wait_for_function(
            "(p) => document.querySelector(p).dataset.annotationsPaintedMs", arg=pane, timeout=30000
        )
        wait_fully_loaded(page, pane)
    states = page.evaluate("""() => [...document.querySelectorAll('[data-pane]')].map((p) =>
      Object.fromEntries(p.wsi.annotations.layers[0].groups().map((g) => [g.name, g.visible])))""")
    assert states[0]["probe"] is False and all(states[1].values()), states
    assert _mask(_pixels(page, LEFT), MAGENTA).sum() == 0 and _mask(_pixels(page, RIGHT), CYAN).sum() > 200
    page.click("[data-side='left'] [data-layers-toggle]")
    assert not page.is_checked(f"{lp} [data-group-visible='probe']")
    assert right["id"] != left["id"]


def test_a_hidden_set_keeps_its_count_and_shows_changes_when_shown(page: Page, edit_server: Server) -> None:
    aset = _new_set(
        edit_server, CMU, "hidden reader", [_feature(_rect(200, 200, 600, 600), "probe", "first")]
    )
    sid = aset["id"]
    _open(page, edit_server, CMU, f"x=1110&y=1480&z=0.25&hide={sid}", painted=False)
    count = f"[data-layer-set='{sid}'] .layer-set-head .muted"
    assert page.locator(count).inner_text().strip() == "1"
    _add(edit_server, aset, _feature(_rect(1200, 1800, 1700, 2300), "target", "added while hidden"))
    page.wait_for_function(
        "(s) => document.querySelector(s).textContent.trim() === '2'", arg=count, timeout=15000
    )
    layer = f"{WSI}.annotations.layer({sid})"
    assert page.evaluate(f"() => {layer}.annotations().length") == 0  # hidden: nothing fetched
    page.check(f"[data-set-visible='{sid}']")
    page.wait_for_function(
        f"() => {layer}.annotations().some((a) => a.name === 'added while hidden')", timeout=15000
    )
    x, y = _screen(_view(page), 1450, 1800)  # the new rectangle's top edge
    assert _mask(_pixels(page, "")[int(y) - 3 : int(y) + 4, int(x) - 3 : int(x) + 4], CYAN).any()
    # hidden again after it was drawn: a change reloads it (no version left), the next ones still count
    page.uncheck(f"[data-set-visible='{sid}']")
    for n, name in ((3, "second"), (4, "third")):
        _add(edit_server, aset, _feature(_rect(100 * n, 2500, 100 * n + 50, 2550), None, name))
        page.wait_for_function(
            "([s, n]) => document.querySelector(s).textContent.trim() === n",
            arg=[count, str(n)],
            timeout=15000,
        )


def _form(page: Page, sid: int) -> str:
    return f"[data-group-form='{sid}']"


def test_groups_and_a_new_set_from_the_panel(page: Page, edit_server: Server, console: Console) -> None:
    aset = _new_set(edit_server, CMU, "grouping", [_feature(_rect(200, 200, 600, 600), "probe", "in probe")])
    sid = aset["id"]
    _open(page, edit_server, CMU)
    events = "window.__events"
    page.evaluate(f"""() => {{ {events} = [];
      for (const t of ['active-group', 'active-set'])
        {WSI}.panel.addEventListener(t, (e) => {events}.push([t, e.detail])); }}""")
    box = f"[data-layer-set='{sid}']"
    # create
    page.click(f"{box} [data-new-group='{sid}']")
    page.fill(f"{_form(page, sid)} [data-group-name]", "Mitoses")
    page.fill(f"{_form(page, sid)} [data-group-color]", "#00ff00")
    page.click(f"{_form(page, sid)} [data-group-save]")
    page.wait_for_selector(f"{box} [data-group='Mitoses']")
    g = _groups(edit_server, aset)["Mitoses"]
    assert (g["color"].upper(), g["parent"]) == ("#00FF00", None)
    # a new group is the active one (the editor's new annotations go there)
    assert page.evaluate(f"() => {WSI}.panel.activeGroup({sid})") == "Mitoses"
    assert page.evaluate(events)[-1] == ["active-group", {"setId": sid, "name": "Mitoses"}]
    # rename, recolour and nest under "probe" in one save
    page.click(f"{box} [data-edit-group='Mitoses']")
    page.fill(f"{_form(page, sid)} [data-group-name]", "Mitosis")
    page.fill(f"{_form(page, sid)} [data-group-color]", "#ffff00")
    page.select_option(f"{_form(page, sid)} [data-group-parent]", "probe")
    page.click(f"{_form(page, sid)} [data-group-save]")
    page.wait_for_selector(f"{box} [data-group='Mitosis']")
    groups = _groups(edit_server, aset)
    assert "Mitoses" not in groups
    assert (groups["Mitosis"]["color"].upper(), groups["Mitosis"]["parent"]) == ("#FFFF00", "probe")
    assert (
        page.evaluate(f"() => {WSI}.panel.activeGroup({sid})") == "Mitosis"
    )  # the active group follows its rename
    # a name the set has: the API's 409, shown
    page.click(f"{box} [data-new-group='{sid}']")
    page.fill(f"{_form(page, sid)} [data-group-name]", "target")
    page.click(f"{_form(page, sid)} [data-group-save]")
    page.wait_for_selector("[data-layer-error]:not([hidden])")
    error = page.locator("[data-layer-error]").inner_text()
    assert "refused" in error and "409" in error, error
    page.click(f"{_form(page, sid)} [data-group-cancel]")
    # stale: someone else changed the group since the panel read it -> 412, shown, and the panel re-reads
    # (the change watcher stopped first: within 2 s it would re-read the group itself, and the save
    # would then not be stale; picking up such changes is the watcher's own tests' part)
    page.evaluate(f"() => {WSI}.watcher.stop()")
    rec = groups["target"]
    changed = requests.put(
        f"{edit_server.url}{aset['urls']['groups']}/{rec['id']}",
        headers={**HEADERS, "If-Match": f'"{rec["version"]}"'},
        json={"name": "target", "parent": None, "color": "#00FFFE", "attributes": {}},
        timeout=30,
    )
    assert changed.status_code == 200, changed.text
    page.click(f"{box} [data-edit-group='target']")
    page.fill(f"{_form(page, sid)} [data-group-name]", "targets")
    page.click(f"{_form(page, sid)} [data-group-save]")
    page.wait_for_function("() => document.querySelector('[data-layer-error]').textContent.includes('412')")
    assert "targets" not in _groups(edit_server, aset)
    page.click(f"{_form(page, sid)} [data-group-cancel]")
    page.evaluate(f"() => {WSI}.watcher.check()")  # the watcher runs again (and goes on every 2 s)
    # the active group by its radio; ungrouped too
    page.check(f"{box} [data-active-group-of='{sid}'][value='target']")
    assert page.evaluate(f"() => {WSI}.panel.activeGroup({sid})") == "target"
    page.check(f"{box} [data-active-group-of='{sid}'][data-ungrouped]")
    assert page.evaluate(f"() => {WSI}.panel.activeGroup({sid})") is None
    # delete a group that is not empty: asked, then its annotation and child group move to its parent
    _add(edit_server, aset, _feature(_rect(700, 700, 800, 800), "Mitosis", "in Mitosis"))
    page.wait_for_function(f"() => {WSI}.panel.entries.get({sid}).length === 2", timeout=15000)
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.click(f"{box} [data-edit-group='probe']")
    page.click(f"{_form(page, sid)} [data-group-delete]")
    page.wait_for_function(f"() => !document.querySelector(\"{box} [data-group='probe']\")", timeout=15000)
    assert questions and "1 annotation(s) and 1 child group(s)" in questions[0], questions
    groups = _groups(edit_server, aset)
    assert "probe" not in groups and groups["Mitosis"]["parent"] is None
    feature = _api(edit_server, f"{aset['urls']['annotations']}/{_first_id(edit_server, aset, 'in probe')}")
    assert feature["properties"]["asap"]["group"] is None
    # an empty group deletes at once (after asking)
    page.click(f"{box} [data-edit-group='target']")
    page.click(f"{_form(page, sid)} [data-group-delete]")
    page.wait_for_function(f"() => !document.querySelector(\"{box} [data-group='target']\")", timeout=15000)
    assert "target" not in _groups(edit_server, aset) and "empty group" in questions[-1]
    # a new set: made through the API, listed, and the active set
    page.fill("[data-new-set-name]", "second reader")
    page.click("[data-new-set]")
    page.wait_for_selector("[data-layer-set] strong:has-text('second reader')")
    listing = _api(edit_server, f"/api/annotations/{CMU}")["sets"]
    made = next(s for s in listing if s["name"] == "second reader")
    assert page.evaluate(f"() => {WSI}.panel.activeSet()") == made["id"]
    assert page.evaluate(events)[-1] == ["active-set", {"setId": made["id"]}]
    assert page.is_checked(f"[data-active-set='{made['id']}']")
    assert page.locator("[data-layer-error]").is_hidden()
    # Chromium logs the two refusals this test provoked (409, 412) as failed loads; nothing else
    expected = [e for e in console.errors if "status of 409" in e or "status of 412" in e]
    assert len(expected) == 2, console.errors
    console.errors[:] = [e for e in console.errors if e not in expected]


def _first_id(server: Server, aset: dict[str, Any], name: str) -> int:
    summary = _api(server, aset["urls"]["summary"])
    return int(next(a["id"] for a in summary["annotations"] if a["name"] == name))


def test_history_previews_an_earlier_version_and_restores_it(page: Page, edit_server: Server) -> None:
    first = _rect(300, 300, 900, 900)
    aset = _new_set(edit_server, COPY, "history", [_feature(first, "probe", "moving")])  # version 1
    url = f"{edit_server.url}{aset['urls']['annotations']}/{_first_id(edit_server, aset, 'moving')}"
    for ring in (_rect(1200, 1200, 1800, 1800), _rect(1200, 2000, 1900, 2700)):  # versions 2 and 3
        current = requests.get(url, timeout=30)
        body = current.json()
        body["geometry"]["coordinates"] = [ring]
        put = requests.put(
            url, json=body, headers={**HEADERS, "If-Match": current.headers["ETag"]}, timeout=30
        )
        assert put.status_code == 200, put.text
    history = _api(edit_server, aset["urls"]["history"])["changes"]
    assert [c["version"] for c in history] == [3, 2, 1]
    _open(page, edit_server, COPY)
    sid = aset["id"]
    page.click(f"[data-history='{sid}']")
    page.wait_for_selector("[data-history-panel]:not([hidden]) [data-change]")
    lines = page.locator("[data-history-list] [data-change]").all_inner_texts()
    assert [line.split(" · ")[0] for line in lines] == ["v3", "v2", "v1"] and " · tests · " in lines[0], lines
    view = _view(page)
    x, y = _screen(view, 600, 300)  # the top edge of version 1's outline
    x3, y3 = _screen(view, 1550, 2000)  # the top edge of the current outline
    before = _pixels(page, "")
    assert not _mask(before[int(y) - 4 : int(y) + 5, int(x) - 20 : int(x) + 20], ORANGE).any()
    assert _mask(before[int(y3) - 3 : int(y3) + 4, int(x3) - 3 : int(x3) + 4], MAGENTA).any()
    page.click("[data-change='1']")
    page.wait_for_selector("[data-pane][data-history-preview='1']")
    assert "Previewing version 1" in page.locator("[data-preview-status]").inner_text()
    shown = _pixels(page, "")
    assert _mask(shown[int(y) - 4 : int(y) + 5, int(x) - 20 : int(x) + 20], ORANGE).sum() > 5
    assert not _mask(
        shown[int(y3) - 3 : int(y3) + 4, int(x3) - 3 : int(x3) + 4], MAGENTA
    ).any()  # hidden while previewing
    page.once("dialog", lambda d: d.accept())
    page.click("[data-restore]")
    page.wait_for_function(
        "() => document.querySelector('[data-history-list] [data-change]')?.dataset.change === '4'",
        timeout=15000,
    )
    assert page.locator("[data-history-list] [data-change]").first.inner_text().split(" · ")[3] == "restore"
    assert requests.get(url, timeout=30).json()["geometry"]["coordinates"] == [first]
    newest = _api(edit_server, aset["urls"]["history"])["changes"][0]
    assert (newest["version"], newest["kind"]) == (4, "restore")
    page.wait_for_function(f"() => {WSI}.annotations.layer({sid}).version === 4", timeout=15000)
    wait_fully_loaded(page)
    after = _pixels(page, "")
    assert _mask(after[int(y) - 3 : int(y) + 4, int(x) - 3 : int(x) + 4], MAGENTA).any()
    assert not _mask(
        after[int(y) - 4 : int(y) + 5, int(x) - 20 : int(x) + 20], ORANGE
    ).any()  # the preview is gone
    # a change made elsewhere while the history is open: listed without a reload
    _add(edit_server, aset, _feature(_rect(100, 2500, 200, 2600), None, "later"))
    page.wait_for_function(
        "() => document.querySelector('[data-history-list] [data-change]')?.dataset.change === '5'",
        timeout=15000,
    )


def test_read_only_pages_show_no_editing_controls(page: Page, edit_server: Server) -> None:
    aset = _new_set(edit_server, COPY, "read only", [_feature(_rect(300, 300, 900, 900), "probe", "kept")])
    # a second server on the same store, read-only (config.readOnly on its pages)
    with running_server(
        str(edit_server.slide_dir), "--workers", "1", "--read-only", data_dir=edit_server.truth["data_dir"]
    ) as ro:
        _open(page, Server(url=ro.url, slide_dir=edit_server.slide_dir), COPY)
        box = f"[data-layer-set='{aset['id']}']"
        page.wait_for_selector(f"{box} [data-group='probe']")
        for control in (
            "[data-new-group]",
            "[data-edit-group]",
            "[data-active-set]",
            "[data-active-group-of]",
            "[data-new-set-name]",
            "[data-group-form]",
        ):
            assert page.locator(control).count() == 0, control
        page.click(f"[data-history='{aset['id']}']")  # the history and its preview are for everyone
        page.click("[data-change='1']")
        page.wait_for_selector("[data-pane][data-history-preview='1']")
        assert page.locator("[data-restore]").is_hidden()
        page.goto("about:blank")  # before this server stops: the page polls it
