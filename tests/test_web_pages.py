"""HTML pages through Flask's test client: data reaches the browser through data-* JSON, every
module the pages load exists, vendored OpenSeadragon is local, and bad ids get the error page."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
CMU = "aperio/CMU-1-Small-Region.svs"
HTML = {"Accept": "text/html"}


def _data_json(page: str, name: str) -> object:
    match = re.search(rf"data-{name}='([^']*)'", page)
    assert match is not None, name
    return json.loads(html.unescape(match.group(1)))


def test_library_page_points_at_the_listing(client: FlaskClient) -> None:
    response = client.get("/", headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    config = _data_json(page, "config")
    assert isinstance(config, dict)
    assert client.get(config["slides"]).status_code == 200
    assert 'type="module"' in page and "js/library.js" in page


def test_viewer_page_embeds_the_slide_info(client: FlaskClient) -> None:
    response = client.get(f"/view/{CMU}", headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    slide = _data_json(page, "slide")
    assert slide == client.get(f"/api/slides/{CMU}").get_json()  # the same body as the API
    assert "<script>" not in page  # no inline scripts: data only through data-* attributes
    # every script and module preload is a local file that exists (no CDN)
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert (ROOT / src.removeprefix("/")).is_file(), src
    assert "openseadragon-5.0.1/openseadragon.min.js" in page
    assert (ROOT / "static/vendor/openseadragon-5.0.1/LICENSE.txt").is_file()


def test_modulepreload_lists_every_module_the_entry_imports(client: FlaskClient) -> None:
    def imports(module: str, seen: set[str]) -> set[str]:
        for name in re.findall(r'from "\./([\w-]+\.js)"', (ROOT / "static/js" / module).read_text()):
            if name not in seen:
                seen.add(name)
                imports(name, seen)
        return seen

    for url, entry in ((f"/view/{CMU}", "viewer-page.js"), (f"/compare?left={CMU}", "compare-page.js")):
        page = client.get(url, headers=HTML).get_data(as_text=True)
        preloaded = set(re.findall(r'rel="modulepreload" href="/static/js/([\w-]+\.js)"', page))
        assert preloaded == imports(entry, set()), entry


def test_compare_page_defaults_right_to_left(client: FlaskClient) -> None:
    page = client.get(f"/compare?left={CMU}", headers=HTML).get_data(as_text=True)
    assert _data_json(page, "left") == _data_json(page, "right")
    response = client.get("/compare", headers=HTML)
    assert response.status_code == 400
    assert "compare needs ?left=" in response.get_data(as_text=True)


def test_unknown_and_unreadable_slides_get_the_error_page(
    make_app: Callable[..., Flask], tmp_path: Path,
) -> None:
    slides = tmp_path / "slides"
    (slides / "aperio").mkdir(parents=True)
    shutil.copy(ROOT / "tests/data/slides" / CMU, slides / CMU)
    (slides / "pages-broken.svs").write_bytes(b"II*\x00 a TIFF header, then nothing readable" * 10)
    client = make_app(SLIDE_DIR=str(slides)).test_client()
    response = client.get("/view/no/such.svs", headers=HTML)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<h1>Not found</h1>" in page and 'href="/"' in page and "app.css" in page
    response = client.get("/view/pages-broken.svs", headers=HTML)
    assert response.status_code == 422
    assert "cannot be displayed" in response.get_data(as_text=True)
    response = client.get(f"/compare?left={CMU}&right=no/such.svs", headers=HTML)
    assert response.status_code == 404
