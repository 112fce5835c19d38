"""READ_ONLY: every write operation of the OpenAPI document is refused with 403 and a read-only
message (nothing changes), reads keep working, the pages' config says readOnly; the setting comes
from WSI_VIEWER_READ_ONLY and `wsi-viewer serve --read-only`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests._openapi_helpers import write_operations
from tests._slide_helpers import cmu_with_sidecar
from viewer.cli import build_parser
from viewer.config import load_settings

DATA = Path(__file__).parent / "data"
SLIDE_ID = "CMU-1-Small-Region.svs"


@pytest.fixture()
def slides(tmp_path: Path) -> Path:
    """The small Aperio slide with an ASAP sidecar (its set: something to refuse to change)."""
    return cmu_with_sidecar(tmp_path / "slides")


def page_config(html: str) -> dict[str, Any]:
    match = re.search(r"data-config='([^']*)'", html)
    assert match, "the page has a data-config"
    return json.loads(match[1].replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&"))  # type: ignore[no-any-return]


def test_every_write_operation_is_refused_and_reads_work(
    make_app: Callable[..., Flask], slides: Path,
) -> None:
    client = make_app(SLIDE_DIR=str(slides), READ_ONLY=True).test_client()
    slide = client.get("/api/slides").get_json()["slides"][0]
    listing = client.get(slide["urls"]["annotations"]).get_json()
    (imported,) = listing["sets"]
    before = client.get(imported["urls"]["self"])
    assert before.status_code == 200 and before.get_json()["features"]
    annotation_id = before.get_json()["features"][0]["id"]
    ids = {"set_id": str(imported["id"]), "annotation_id": str(annotation_id), "slide_id": SLIDE_ID}
    spec = client.get("/api/openapi.json").get_json()
    refused = []
    for method, path, url in write_operations(spec, ids):
        response = client.open(url, method=method.upper(), json={"name": "x"},
                               headers={"X-Requested-With": "tests"})
        assert response.status_code == 403, (method, url, response.get_json())
        body = response.get_json()
        assert body["error"].startswith("read-only: ") and body["status"] == 403, body
        refused.append(f"{method} {path}")
    assert len(refused) >= 15, refused  # sets, annotations, groups, restore, exports, jobs...
    assert any(r.startswith("post /api/sets/{set_id}/annotations") for r in refused)
    after = client.get(imported["urls"]["self"])
    assert after.headers["ETag"] == before.headers["ETag"] and after.get_json() == before.get_json()
    assert client.get(imported["urls"]["asap_xml"]).status_code == 200
    assert client.get(slide["urls"]["dzi"]).status_code == 200
    assert client.get(imported["urls"]["history"]).status_code == 200
    # the pages say so
    for url in ("/", slide["urls"]["viewer"]):
        page = client.get(url)
        assert page.status_code == 200
        assert page_config(page.get_data(as_text=True))["readOnly"] is True
    # an unknown address keeps its 404
    assert client.post("/api/nowhere", json={}).status_code == 404


def test_a_normal_server_takes_writes_and_says_so(make_app: Callable[..., Flask], slides: Path) -> None:
    client = make_app(SLIDE_DIR=str(slides)).test_client()
    slide = client.get("/api/slides").get_json()["slides"][0]
    assert page_config(client.get(slide["urls"]["viewer"]).get_data(as_text=True))["readOnly"] is False
    made = client.post(slide["urls"]["annotations"], json={"name": "writable"})
    assert made.status_code == 201


def test_the_setting_comes_from_the_environment_and_the_serve_flag() -> None:
    assert load_settings(environ={"WSI_VIEWER_READ_ONLY": "1"})["READ_ONLY"] is True
    assert load_settings(environ={})["READ_ONLY"] is False
    args = build_parser().parse_args(["serve", "--read-only"])
    assert args.READ_ONLY is True
