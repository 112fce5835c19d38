"""Logging in with a real Chromium on a ``wsi-viewer serve --auth builtin``: the viewer page sends
a stranger to the login form, a wrong password says so, the right one opens the page asked for (its
tiles through the fast path with the session cookie); the page's writes carry the session's CSRF
token and the history names the login, a write without the token is refused; logging out ends it.
The form works without JavaScript too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests._server import free_port, running_process
from tests.e2e.conftest import Console, wait_first_viewport

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent.parent / "data"
SLIDE = "CMU-1-Small-Region.svs"


@pytest.fixture()
def builtin_server(tmp_path: Path) -> Iterator[str]:
    slides, data = tmp_path / "slides", tmp_path / "data"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE, slides / SLIDE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WSI_VIEWER_") or k.startswith("WSI_VIEWER_TEST_")}
    subprocess.run([sys.executable, "-m", "viewer.cli", "users", "add", "ann", "--role", "annotator",
                    "--data-dir", str(data)], input="pathology 4 all\n", text=True, check=True, env=env,
                   capture_output=True, timeout=120)
    port = free_port()
    command = [sys.executable, "-m", "viewer.cli", "serve", str(slides), "--auth", "builtin",
               "--workers", "1", "--port", str(port), "--data-dir", str(data)]
    base = f"http://127.0.0.1:{port}"
    with running_process(command, probe=base + "/login", log_path=tmp_path / "server.log", env=env):
        yield base


def log_in(page: Page, password: str) -> None:
    page.get_by_label("User name").fill("ann")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.timeout(180)
def test_login_write_with_csrf_and_logout(
    page: Page, browser: Browser, console: Console, builtin_server: str,
) -> None:
    base = builtin_server
    page.goto(f"{base}/view/{SLIDE}")
    expect(page).to_have_url(f"{base}/login?next=/view/{SLIDE}")
    log_in(page, "wrong")
    expect(page.locator("[data-login-message]")).to_have_text("wrong user name or password")
    log_in(page, "pathology 4 all")
    expect(page).to_have_url(f"{base}/view/{SLIDE}")
    wait_first_viewport(page)  # every tile of the first view, with the session cookie
    expect(page.locator("[data-account-name]")).to_have_text("ann")
    expect(page.locator(".panel-author")).to_have_attribute("hidden", "")  # the login is the author

    made = page.evaluate(
        """async (slide) => {
            const { apiWrite } = await import("/static/js/panel-dom.js");
            const body = { name: "from the page" };
            const created = await apiWrite("POST", `/api/annotations/${slide}`, { body });
            const history = await (await fetch(created.set.urls.history)).json();
            const bare = await fetch(`/api/annotations/${slide}`, {
                method: "POST", headers: { "Content-Type": "application/json" }, body: '{"name": "x"}',
            });
            return { who: history.changes.map((c) => c.who), bare: bare.status };
        }""",
        SLIDE,
    )
    assert made == {"who": ["ann"], "bare": 403}
    expected = [  # Chromium logs every 4xx: the wrong password's page and the write without a token
        e for e in console.errors
        if ("status of 401" in e and "/login'" in e)
        or ("status of 403" in e and f"/api/annotations/{SLIDE}'" in e)
    ]
    assert len(expected) == 2, console.errors
    for error in expected:
        console.errors.remove(error)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base}/login")
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login?next=/")

    plain = browser.new_context(java_script_enabled=False)  # the form needs no script
    try:
        bare = plain.new_page()
        bare.goto(f"{base}/login")
        log_in(bare, "pathology 4 all")
        expect(bare).to_have_url(f"{base}/")
        expect(bare.locator("[data-account-name]")).to_have_text("ann")
    finally:
        plain.close()
