"""The security policy in a real Chromium against a real server: the pages work under the
Content-Security-Policy (no violation, no console error, the PNG screenshot included), the page's
own writes go through, and a page of another origin cannot change anything by forms or fetch."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Response

from tests._server import Server, free_port, running_server
from tests.e2e.conftest import wait_first_viewport
from viewer.web.security import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent.parent / "data"
SLIDE_ID = "CMU-1-Small-Region.svs"
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (these tests write): the small Aperio slide with an ASAP sidecar."""
    root = tmp_path_factory.mktemp("e2e-security")
    (root / "slides").mkdir()
    (root / "data").mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, root / "slides" / SLIDE_ID)
    shutil.copy(DATA / "asap" / "real" / "tumor_111.xml", root / "slides" / "CMU-1-Small-Region.xml")
    with running_server(str(root / "slides"), "--workers", "1", data_dir=root / "data") as running:
        yield running


def _violations(page: Page) -> list[str]:
    return page.evaluate("window.__cspViolations")  # type: ignore[no-any-return]


def test_pages_work_under_the_content_security_policy(page: Page, own_server: Server) -> None:
    page.add_init_script(WATCH_CSP)
    response = page.goto(own_server.url + "/")
    assert response is not None and response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.wait_for_selector("[data-library][data-loaded='true']")
    thumb = page.locator(f"tr[data-slide-id='{SLIDE_ID}'] img")
    thumb.scroll_into_view_if_needed()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert _violations(page) == []

    page.goto(f"{own_server.url}/view/{SLIDE_ID}")
    assert wait_first_viewport(page) > 0
    page.keyboard.press("Shift+I")  # the info panel: built by script
    page.wait_for_selector("[data-info-panel]:not([hidden])")
    with page.expect_download() as download:  # canvas -> blob: -> download link
        page.click("button[data-action='screenshot']")
    assert download.value.suggested_filename.endswith(".png")
    page.keyboard.press("e")  # rotation: OpenSeadragon sets element styles from script (CSSOM)
    page.wait_for_timeout(300)
    assert _violations(page) == []

    page.goto(f"{own_server.url}/compare?left={SLIDE_ID}")
    page.wait_for_selector("[data-compare-app][data-ready='true']")
    wait_first_viewport(page, "[data-side='right'] [data-pane]")
    assert _violations(page) == []


def test_the_watcher_sees_what_the_policy_blocks(browser: Browser, own_server: Server) -> None:
    """The control of the test above: an inline script and an inline style are reported."""
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.add_init_script(WATCH_CSP)
        page.goto(own_server.url + "/")
        page.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "1";
            document.head.append(s);
            document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
        }""")
        page.wait_for_function("window.__cspViolations.length >= 2")
        assert sorted(v.split()[0] for v in _violations(page)) == ["script-src-elem", "style-src-attr"]
        assert any("Content Security Policy" in e for e in errors)
    finally:
        context.close()


def test_the_pages_own_writes_go_through(page: Page, own_server: Server) -> None:
    page.goto(f"{own_server.url}/view/{SLIDE_ID}")
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                             body: JSON.stringify({name: "from the page"})})).status""",
        f"/api/annotations/{SLIDE_ID}",
    )
    assert status == 201
    names = [s["name"] for s in requests.get(f"{own_server.url}/api/annotations/{SLIDE_ID}", timeout=30)
             .json()["sets"]]
    assert "from the page" in names


def _attack_page(victim: str, set_id: int) -> bytes:
    restore, create = f"{victim}/api/sets/{set_id}/restore", f"{victim}/api/annotations/{SLIDE_ID}"
    return f"""<!doctype html><title>cat pictures</title>
<form id="plain" method="POST" enctype="text/plain" action="{restore}" target="sink1">
  <input name='{{"version":0,"x":"' value='"}}'></form>
<form id="form" method="POST" action="{create}" target="sink2"><input name="name" value="evil"></form>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<script>
document.getElementById("plain").submit();
document.getElementById("form").submit();
fetch("{restore}", {{method: "POST", mode: "no-cors", body: '{{"version": 0}}'}});
const upload = new FormData();
upload.append("file", new Blob(["<ASAP_Annotations/>"], {{type: "text/xml"}}), "evil.xml");
fetch("{create}", {{method: "POST", mode: "no-cors", body: upload}});
fetch("{create}", {{method: "POST", mode: "no-cors", body: new Blob(['{{"name": "evil"}}'])}});
</script>""".encode()


def test_a_page_of_another_origin_changes_nothing(browser: Browser, own_server: Server) -> None:
    # The server answers to 127.0.0.1 and localhost; the attacker's page is on localhost at another
    # port (another site, on loopback so no Private Network Access rule stops the requests first).
    listing = requests.get(f"{own_server.url}/api/annotations/{SLIDE_ID}", timeout=30).json()["sets"]
    before = [(s["name"], s["version"], s["annotation_count"]) for s in listing]
    body = _attack_page(own_server.url, listing[0]["id"])

    class AttackerPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), AttackerPage)
    thread = threading.Thread(target=attacker.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        answers: list[tuple[str, int]] = []

        def on_response(response: Response) -> None:
            if response.url.startswith(own_server.url) and response.request.method == "POST":
                answers.append((response.url, response.status))

        page.on("response", on_response)
        page.goto(f"http://localhost:{attacker.server_address[1]}/")
        deadline = 100
        while len(answers) < 5 and deadline:
            page.wait_for_timeout(100)
            deadline -= 1
        # every attempt reached the server, which refused it (the browser let them all through)
        assert len(answers) == 5, answers
        assert {status for _, status in answers} <= {403, 415}, answers
    finally:
        context.close()
        attacker.shutdown()
        attacker.server_close()
    after = requests.get(f"{own_server.url}/api/annotations/{SLIDE_ID}", timeout=30).json()["sets"]
    assert [(s["name"], s["version"], s["annotation_count"]) for s in after] == before
