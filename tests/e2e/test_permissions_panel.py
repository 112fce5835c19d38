"""Per-set permissions in a real Chromium against a real AUTH=builtin server: an annotator logs in
with the form, the layers panel shows each set's owner and sharing beside its name (read-only), a
private set of another user is not there, the active set is one they may edit (another's
read-only set is not offered, and says why),
and an edit of a set they may only read is refused (403)
while their own set takes the same edit through the page's session (cookie + CSRF token)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page

from tests._server import free_port, running_process
from tests.e2e.conftest import CMU, DATA, wait_first_viewport
from viewer.auth import Accounts
from viewer.store import Store, database_url

pytestmark = pytest.mark.e2e
DOT = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [100, 100]},
       "properties": {"name": "dot", "annotationType": "Dot"}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("perm-slides")
    (root / "aperio").mkdir()
    shutil.copy(DATA / "slides" / CMU, root / CMU)
    data = tmp_path_factory.mktemp("perm-server") / "data"
    store = Store(database_url("", data))
    try:
        accounts = Accounts(store)
        accounts.add("ana", "annotator", "ana-password")
        accounts.add("ben", "annotator", "ben-password")
        tokens = {name: accounts.new_token(name, "e2e") for name in ("ana", "ben")}
    finally:
        store.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "viewer.cli", "serve", str(root), "--workers", "1",
               "--port", str(port), "--data-dir", str(data), "--auth", "builtin"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSI_VIEWER_")}
    with running_process(command, probe=base + "/login", log_path=root.parent / "perm-server.log", env=env):
        sets = {}
        for who, name, sharing in (("ben", "ben's", "read"), ("ben", "ben's secret", "private"),
                                   ("ana", "ana's", None)):
            auth = {"Authorization": f"Bearer {tokens[who]}"}
            made = requests.post(f"{base}/api/annotations/{CMU}", json={"name": name}, headers=auth,
                                 timeout=60)
            assert made.status_code == 201, made.text
            sets[name] = made.json()["set"]
            if sharing is not None:
                shared = requests.put(base + sets[name]["urls"]["sharing"], json={"sharing": sharing},
                                      headers=auth, timeout=60)
                assert shared.status_code == 200, shared.text
        yield {"url": base, "sets": sets}


def test_an_annotator_sees_owners_and_sharing_and_edits_only_what_they_may(
    page: Page, lab: dict[str, Any]
) -> None:
    page.goto(f"{lab['url']}/view/{CMU}")
    page.wait_for_selector("[data-login-form]")
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", "ana-password")
    page.click("[data-login-form] [type=submit]")
    page.wait_for_url(f"**/view/{CMU}")
    wait_first_viewport(page)
    page.locator("[data-osd] canvas").first.focus()
    page.keyboard.press("Shift+A")
    page.wait_for_selector("[data-layers-panel]:not([hidden]) .layer-set-head")
    heads = page.locator("[data-layers-panel] .layer-set-head").all_inner_texts()
    assert len(heads) == 2, heads  # ben's private set is not listed
    assert any("ana's" in h and "read by all" in h for h in heads), heads
    assert any("ben's" in h and "ben's · read by all" in h for h in heads), heads
    assert not any("secret" in h for h in heads), heads
    # new annotations go to a set she may edit (her own, though ben's is listed first)
    active = page.locator("[data-layers-panel] input[data-active-set]:checked")
    assert active.get_attribute("data-active-set") == str(lab["sets"]["ana's"]["id"])
    # ben's read-only set is not offered as the active set, and says why
    ben_id = lab["sets"]["ben's"]["id"]
    bens = page.locator(f"[data-layers-panel] input[data-active-set='{ben_id}']")
    assert bens.is_disabled() and "you are not one of its editors" in (bens.get_attribute("title") or "")
    assert page.locator("[data-layers-panel] .set-locked").all_inner_texts() == ["· read-only for you"]
    # the page's session (its cookie, its CSRF token): the permission decides
    config = page.evaluate("() => JSON.parse(document.body.dataset.config)")
    assert (config["user"], config["role"]) == ("ana", "annotator")
    csrf = {"X-CSRF-Token": config["csrfToken"]}
    own, other = (lab["url"] + lab["sets"][name]["urls"]["annotations"] for name in ("ana's", "ben's"))
    assert page.request.post(own, data=DOT, headers=csrf).status == 201
    refused = page.request.post(other, data=DOT, headers=csrf)
    assert refused.status == 403 and "ben" in refused.json()["error"], refused.text()
    history = page.request.get(lab["url"] + lab["sets"]["ana's"]["urls"]["history"]).json()
    assert history["changes"][0]["who"] == "ana"
