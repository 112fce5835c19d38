"""The HTTP API through Flask's test client: listing, info, DZI, tiles with ETag/304, thumbnails,
associated images, the one error shape, and the OpenAPI document covering every route."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image

from viewer.web.openapi import openapi_document

CMU = "aperio/CMU-1-Small-Region.svs"


def slide_entry(client: FlaskClient, slide_id: str) -> dict:
    slides = client.get("/api/slides").get_json()["slides"]
    return next(s for s in slides if s["id"] == slide_id)


def test_listing_has_every_field_and_working_urls(client: FlaskClient) -> None:
    response = client.get("/api/slides")
    assert response.status_code == 200
    slides = response.get_json()["slides"]
    assert {s["id"] for s in slides} >= {CMU, "generic-tiff/boxes.tiff", "dicom/boxes"}
    for slide in slides:
        for key in ("id", "name", "width", "height", "level_count", "mpp_x", "mpp_y", "objective_power",
                    "vendor", "bounds", "associated", "urls"):
            assert key in slide, key
        assert set(slide["bounds"]) == {"x", "y", "width", "height"}
        for name in ("dzi", "thumbnail", "viewer", "info"):
            assert client.get(slide["urls"][name]).status_code == 200, (slide["id"], name)
    cmu = slide_entry(client, CMU)
    assert (cmu["width"], cmu["height"], cmu["vendor"]) == (2220, 2967, "aperio")
    assert cmu["bounds"] == {"x": 0, "y": 0, "width": 2220, "height": 2967}
    assert "error" not in cmu


def test_info_adds_properties_and_geometry(client: FlaskClient) -> None:
    info = client.get(slide_entry(client, CMU)["urls"]["info"]).get_json()
    assert info["properties"]["openslide.vendor"] == "aperio"
    assert info["properties"]["aperio.AppMag"] == "20"
    assert info["quickhash"] == info["properties"]["openslide.quickhash-1"]
    assert info["level_dimensions"] == [[2220, 2967]]
    assert info["deepzoom"]["width"] == 2220 and info["deepzoom"]["level_count"] == 13
    assert info["image_to_slide"] == {"offset_x": 0, "offset_y": 0, "scale": 1}


def test_dzi_and_tiles_at_the_addresses_openseadragon_derives(client: FlaskClient) -> None:
    dzi_url = slide_entry(client, CMU)["urls"]["dzi"]
    response = client.get(dzi_url)
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    size = root.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    assert (size.get("Width"), size.get("Height")) == ("2220", "2967")
    tile_size, fmt = int(root.get("TileSize")), root.get("Format")
    base = dzi_url[: -len(".dzi")] + "_files"
    tile = client.get(f"{base}/12/2_3.{fmt}")
    assert tile.status_code == 200 and tile.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(tile.data)).size == (tile_size, tile_size)
    png = client.get(f"{base}/12/2_3.png")
    assert png.mimetype == "image/png"
    a = np.asarray(Image.open(io.BytesIO(tile.data)).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(png.data)).convert("RGB"), dtype=float)
    assert np.abs(a - b).mean() < 2


def test_tiles_have_strong_etags_long_cache_and_304(client: FlaskClient) -> None:
    url = "/deepzoom/aperio/CMU-1-Small-Region.svs_files/11/1_1.jpeg"
    first = client.get(url)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{24}"', etag)  # strong: no W/
    assert "max-age=31536000" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    other = client.get("/deepzoom/aperio/CMU-1-Small-Region.svs_files/11/0_1.jpeg")
    assert other.headers["ETag"] != etag
    assert client.get(url, headers={"If-None-Match": '"nope"'}).status_code == 200


def test_thumbnail_size_limits(client: FlaskClient) -> None:
    url = slide_entry(client, CMU)["urls"]["thumbnail"]
    image = Image.open(io.BytesIO(client.get(url + "?max=200").data))
    assert max(image.size) == 200
    for bad in ("0", "-3", "abc", "100000", "1e3"):
        response = client.get(f"{url}?max={bad}")
        assert response.status_code == 400
        assert response.get_json()["error"].startswith("max must be")


def test_associated_images_only_when_enabled(make_app, slide_dir: Path) -> None:
    closed = make_app(SLIDE_DIR=str(slide_dir)).test_client()
    assert "associated" not in slide_entry(closed, CMU)["urls"]
    refused = closed.get("/api/associated/label/" + CMU)
    assert refused.status_code == 403 and "SERVE_ASSOCIATED_IMAGES" in refused.get_json()["error"]
    opened = make_app(SLIDE_DIR=str(slide_dir), SERVE_ASSOCIATED_IMAGES=True).test_client()
    urls = slide_entry(opened, CMU)["urls"]["associated"]
    assert set(urls) == {"label", "macro", "thumbnail"}
    label = opened.get(urls["label"])
    assert label.mimetype == "image/png" and Image.open(io.BytesIO(label.data)).size == (387, 463)
    assert opened.get("/api/associated/nope/" + CMU).status_code == 404


@pytest.mark.parametrize("url", [
    "/api/slides/nope.svs", "/api/slides/../../etc/passwd", "/api/slides/%2e%2e/%2e%2e/etc/passwd",
    "/api/slides/%252e%252e/etc/passwd", "/api/slides//etc/passwd", "/deepzoom/..%2f..%2fetc%2fpasswd.dzi",
    "/deepzoom/aperio/CMU-1-Small-Region.svs_files/13/0_0.jpeg",
    "/deepzoom/aperio/CMU-1-Small-Region.svs_files/12/99_0.jpeg",
    "/deepzoom/aperio/CMU-1-Small-Region.svs_files/12/0_0.gif",
    "/deepzoom/aperio/CMU-1-Small-Region.svs_files/-1/0_0.jpeg",
    "/api/thumbnail/%00", "/api/no-such-route",
])
def test_errors_are_404_in_the_one_shape(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    body = response.get_json()
    assert set(body) == {"error", "status", "details"} and body["status"] == 404
    assert "/tmp" not in body["error"] and "etc" not in body["error"]


def test_method_not_allowed_is_json(client: FlaskClient) -> None:
    response = client.post("/api/slides")
    assert response.status_code == 405
    assert response.get_json()["status"] == 405


def test_unreadable_slide_is_422_while_others_serve(make_app, tmp_path: Path, slide_dir: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "broken.svs").write_bytes(b"II*\0" + b"\xff" * 5000)
    (root / "good.svs").write_bytes((slide_dir / "aperio/small.svs").read_bytes())
    client = make_app(SLIDE_DIR=str(root)).test_client()
    slides = {s["id"]: s for s in client.get("/api/slides").get_json()["slides"]}
    assert slides["broken.svs"]["error"]
    for url in (slides["broken.svs"]["urls"]["dzi"], "/deepzoom/broken.svs_files/0/0_0.jpeg"):
        response = client.get(url)
        assert response.status_code == 422 and "broken.svs" in response.get_json()["error"]
    assert client.get(slides["good.svs"]["urls"]["dzi"]).status_code == 200


def test_openapi_documents_every_api_route(client: FlaskClient) -> None:
    """Every route of the url_map under /api/ and /deepzoom/, each method, with a description of its
    own (no placeholder), its path parameters and the refusals of the security hook."""
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    checked = 0
    for rule in client.application.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if not path.startswith(("/api/", "/deepzoom/")):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = doc["paths"][path][method.lower()]
            assert "x-undocumented" not in operation, (method, path)
            assert operation["summary"] and operation["operationId"], (method, path)
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), (method, path)
            assert "421" in operation["responses"], (method, path)
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                assert {"403", "415"} <= set(operation["responses"]), (method, path)
            headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            if "If-Match" in headers:
                assert operation["responses"]["412"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/PreconditionFailed"}
            if "If-None-Match" in headers:
                assert "304" in operation["responses"]
            checked += 1
    assert checked >= 30
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    document = openapi_document(client.application)
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "status", "details"]
    # every $ref resolves
    text = client.get("/api/openapi.json").get_data(as_text=True)
    for name in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert name in doc["components"]["schemas"], name


def test_openapi_is_built_once_per_app(make_app, slide_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer.web import openapi

    client = make_app(SLIDE_DIR=str(slide_dir)).test_client()
    built = []
    real = openapi.openapi_document
    monkeypatch.setattr(openapi, "openapi_document", lambda app: built.append(app) or real(app))
    first = client.get("/api/openapi.json").data
    assert client.get("/api/openapi.json").data == first and len(built) == 1
