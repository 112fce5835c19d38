"""The overlay HTTP API (issue 14): upload, list, descriptor, value tiles (ETag, 304, cache), the value
at a point, delete; every malformed upload a precise 4xx that leaves nothing in OVERLAY_DIR; the
upload's own body limit (OVERLAY_UPLOAD_MAX_MB) against a real server, Content-Length and chunked.
Real slides, real TIFF/CSV files, the app's test client and a real ``wsi-viewer serve``."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tifffile
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from urllib3 import encode_multipart_formdata

from tests._server import Server, running_server
from viewer.app import create_app
from viewer.web.security import SECURITY_HEADERS

DATA = Path(__file__).parent / "data"
CMU = "CMU-1-Small-Region.svs"  # 2220 x 2967 px: at 1/16 a 139 x 186 grid (sides rounded up)
GRID_W, GRID_H = 139, 186
LIST = f"/api/slides/{CMU}/overlays"
UPLOAD_HEADERS = {"X-Requested-With": "test"}


def _slides(root: Path, attached: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "slides" / "aperio" / CMU, root / CMU)
    if attached:  # ASAP's convention beside the slide: attached automatically
        tifffile.imwrite(root / "CMU-1-Small-Region_likelihood_map.tif", _position_grid())
    return root


def _position_grid(width: int = GRID_W, height: int = GRID_H) -> np.ndarray:
    """uint8 values that tell their cell: (i + 7 j) mod 256 (neighbours differ along both axes)."""
    j, i = np.mgrid[0:height, 0:width]
    return ((i + 7 * j) % 256).astype(np.uint8)


def _tiff(values: np.ndarray, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, values, **kwargs)
    return buffer.getvalue()


def _app(tmp: Path, **settings: Any) -> Flask:
    app = create_app({"SLIDE_DIR": str(tmp / "slides"), "DATA_DIR": str(tmp / "data"), **settings})
    app.config["TESTING"] = True
    return app


Fields = list[tuple[str, Any]]  # (name, text) or (name, (filename, bytes)), in order, repeats allowed


def _upload(client: FlaskClient, fields: Fields | dict[str, Any], url: str = LIST) -> Any:
    body, content_type = encode_multipart_formdata(fields)
    return client.post(url, data=body, headers={**UPLOAD_HEADERS, "Content-Type": content_type})


def _stored(root: Path) -> list[str]:
    """What OVERLAY_DIR holds (hidden part and staging files included)."""
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _security_headers(response: Any) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name) == value, (name, response.status_code)


# --------------------------------------------------------------------------------------------------
# The whole story through the app


@pytest.fixture()
def story(tmp_path: Path) -> Iterator[tuple[FlaskClient, Path]]:
    _slides(tmp_path / "slides", attached=True)
    app = _app(tmp_path)
    yield app.test_client(), tmp_path / "data" / "overlays"
    app.extensions["wsi_viewer"].slides.close()


def test_upload_list_describe_tile_value_and_delete(story: tuple[FlaskClient, Path]) -> None:
    client, root = story
    values = _position_grid()
    # the part file of an upload a killed server left a day ago is swept by the next upload
    root.mkdir(parents=True)
    for name, age in ((".upload-killed.part", 86400 + 60), (".upload-live.part", 60)):
        (root / name).write_bytes(b"II*\x00")
        then = time.time() - age
        os.utime(root / name, (then, then))
    created = _upload(client, {"file": ("model-a.tif", _tiff(values)), "name": "Model A"})
    assert created.status_code == 201, created.get_json()
    overlay = created.get_json()
    assert _stored(root) == [".upload-live.part", overlay["id"]]
    (root / ".upload-live.part").unlink()
    assert created.headers["Location"] == overlay["urls"]["self"] == f"/api/overlays/{overlay['id']}"
    # the scale from the shape ratio (1/16, sides rounded up), the range of uint8
    assert (overlay["width"], overlay["height"], overlay["scale"]) == (GRID_W, GRID_H, 16)
    assert overlay["name"] == "Model A" and overlay["kind"] == "heatmap" and overlay["encoding"] == "u8"
    assert overlay["value_range"] == {"min": 0, "max": 255} and overlay["origin"] == {"x": 0, "y": 0}
    assert overlay["source"] == {"format": "tiff", "filename": "model-a.tif", "dtype": "uint8",
                                 "attached": False}
    assert set(overlay["urls"]) == {"self", "tiles", "value", "polygons", "statistics"}
    assert overlay["urls"]["polygons"] == overlay["urls"]["self"] + "/polygons"
    assert overlay["urls"]["statistics"] == overlay["urls"]["self"] + "/statistics"
    _security_headers(created)

    # listed on the slide (the attached likelihood map first), in the slide entry and the listing
    listed = client.get(LIST).get_json()["overlays"]
    assert [o["attached"] for o in listed] == [True, False] and listed[1] == overlay
    detail = client.get(f"/api/slides/{CMU}").get_json()
    assert detail["urls"]["overlays"] == LIST and detail["overlays"] == listed
    entry = next(s for s in client.get("/api/slides").get_json()["slides"] if s["id"] == CMU)
    assert entry["overlays"] == listed and entry["urls"]["overlays"] == LIST
    assert client.get(overlay["urls"]["self"]).get_json() == overlay

    # a value tile: the slide's Deep Zoom tile layout, each px the cell its centre falls in
    level = overlay["native_level"]
    downsample = 2 ** (detail["deepzoom"]["level_count"] - 1 - level)
    url = overlay["urls"]["tiles"].format(level=level, col=0, row=0)
    tile = client.get(url)
    assert tile.status_code == 200 and tile.mimetype == "image/png"
    assert tile.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = tile.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong
    _security_headers(tile)
    image = Image.open(io.BytesIO(tile.data))
    assert image.mode == "LA"
    pixels = np.asarray(image)
    th, tw = pixels.shape[:2]
    cells_x = ((np.arange(tw) + 0.5) * downsample // 16).astype(int)
    cells_y = ((np.arange(th) + 0.5) * downsample // 16).astype(int)
    assert np.array_equal(pixels[..., 0], values[np.ix_(cells_y, cells_x)])
    assert (pixels[..., 1] == 255).all()

    # conditional requests: 304 with the cache headers, a weak tag matches too; not off the grid
    for sent in (etag, f"W/{etag}", f'"other", {etag}'):
        again = client.get(url, headers={"If-None-Match": sent})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag, sent
        assert again.headers["Cache-Control"] == tile.headers["Cache-Control"]
        _security_headers(again)
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    off_grid = overlay["urls"]["tiles"].format(level=level, col=999, row=0)
    for headers in ({}, {"If-None-Match": "*"}):
        missing = client.get(off_grid, headers=headers)
        assert missing.status_code == 404 and missing.is_json, headers
        _security_headers(missing)
    too_deep = overlay["urls"]["tiles"].format(level=detail["deepzoom"]["level_count"], col=0, row=0)
    assert client.get(too_deep).status_code == 404

    # the stored value at a slide point: the cell's, null outside the grid; bad queries name x / y
    value_url = overlay["urls"]["value"]
    assert client.get(f"{value_url}?x=100&y=100").get_json() == {"x": 100, "y": 100, "value": values[6, 6]}
    assert client.get(f"{value_url}?x=2219.5&y=2966").get_json()["value"] == values[185, 138]
    assert client.get(f"{value_url}?x=-1&y=5").get_json()["value"] is None
    for query, name in (("x=abc&y=1", "x"), ("x=1", "y"), ("x=nan&y=1", "x"), ("x=1&y=1e999", "y")):
        bad = client.get(f"{value_url}?{query}")
        assert bad.status_code == 400 and bad.get_json()["error"].startswith(f"{name} "), query

    # stated scale and origin are kept
    placed = _upload(client, {"file": ("placed.tif", _tiff(values)), "scale": "8",
                              "origin_x": "100", "origin_y": "200.5"}).get_json()
    assert placed["scale"] == 8 and placed["origin"] == {"x": 100, "y": 200.5}
    point = client.get(f"{placed['urls']['value']}?x={100 + 8 * 3 + 1}&y={200.5 + 8 * 2 + 1}").get_json()
    assert point["value"] == values[2, 3]

    # the other fields reach the store: a label map's kind and class names, a CSV's patch size
    labels = _upload(client, {"file": ("classes.tif", _tiff((values % 3).astype(np.uint8))), "kind": "labels",
                              "classes": "normal, tumour ,necrosis"}).get_json()
    assert labels["kind"] == "labels"
    assert [c["name"] for c in labels["classes"]] == ["normal", "tumour", "necrosis"]
    patches = _upload(client, {"file": ("p.csv", b"x,y,score\n0,0,0.25\n48,0,0.75\n"), "patch_size": "48",
                               "name": "patches"}).get_json()
    assert patches["scale"] == 48 and (patches["width"], patches["height"]) == (2, 1)
    inside = client.get(f"{patches['urls']['value']}?x=60&y=10").get_json()["value"]
    assert inside == pytest.approx(0.75, abs=1e-4)

    # delete: 204, then gone everywhere, nothing left on disk; the attached map cannot be deleted
    for found in (overlay, placed, labels, patches):
        assert client.delete(found["urls"]["self"], headers=UPLOAD_HEADERS).status_code == 204
    assert client.get(overlay["urls"]["self"]).status_code == 404
    assert client.get(url).status_code == 404
    assert client.get(f"{value_url}?x=1&y=1").status_code == 404
    assert client.delete(overlay["urls"]["self"], headers=UPLOAD_HEADERS).status_code == 404
    assert _stored(root) == []
    attached = listed[0]
    refused = client.delete(attached["urls"]["self"], headers=UPLOAD_HEADERS)
    assert refused.status_code == 403 and "likelihood_map" in refused.get_json()["error"]
    assert [o["id"] for o in client.get(LIST).get_json()["overlays"]] == [attached["id"]]
    assert client.get("/api/overlays/UPPER").status_code == 404
    assert client.get("/api/slides/nope.svs/overlays").status_code == 404


# --------------------------------------------------------------------------------------------------
# Malformed uploads


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Path]]:
    tmp = tmp_path_factory.mktemp("overlay-uploads")
    (_slides(tmp / "slides") / "unreadable.svs").write_bytes(b"II*\x00" + b"\xff" * 4000)
    app = _app(tmp, OVERLAY_MAX_MPX=1)  # the slide-size grid (6.6 Mpx) is over it, 1/16 is not
    yield app.test_client(), tmp / "data" / "overlays"
    app.extensions["wsi_viewer"].slides.close()


def _file(data: bytes, name: str = "heat.tif") -> tuple[str, tuple[str, bytes]]:
    return ("file", (name, data))


_GOOD = _tiff(_position_grid())
_NAN = np.full((GRID_H, GRID_W), 0.5, np.float32)
_NAN[3, 4] = np.nan
_CASES: list[tuple[str, Fields, int, str]] = [
    ("no file", [("name", "x")], 400, "file: required"),
    ("file as a plain field", [("file", "abc")], 400, "file: required"),
    ("file without a name", [_file(_GOOD, "")], 400, "file: needs a file name"),
    ("two files", [_file(_GOOD), _file(_GOOD)], 400, "file: send one"),
    ("scale abc", [_file(_GOOD), ("scale", "abc")], 400, "scale "),
    ("scale 0", [_file(_GOOD), ("scale", "0")], 400, "scale "),
    ("scale -1", [_file(_GOOD), ("scale", "-1")], 400, "scale "),
    ("scale nan", [_file(_GOOD), ("scale", "nan")], 400, "scale "),
    ("scale inf", [_file(_GOOD), ("scale", "inf")], 400, "scale "),
    ("scale twice", [_file(_GOOD), ("scale", "16"), ("scale", "8")], 400, "scale: give it once"),
    ("unknown kind", [_file(_GOOD), ("kind", "probability")], 400, "kind "),
    ("origin not a number", [_file(_GOOD), ("origin_x", "1,5")], 400, "origin_x "),
    ("range upside down", [_file(_GOOD), ("value_min", "1"), ("value_max", "0")], 400, "value_min "),
    ("patch size 0", [_file(_GOOD), ("patch_size", "0")], 400, "patch_size "),
    ("empty class name", [_file(_GOOD), ("classes", "normal,,tumour")], 400, "classes"),
    ("unknown field", [_file(_GOOD), ("scal", "16")], 400, "unknown field 'scal'"),
    ("a field over the form memory", [_file(_GOOD), ("name", "x" * 600_000)], 413, "form field"),
    ("empty file", [_file(b"")], 422, "empty"),
    ("a wrong field is told before the file's problem", [_file(b""), ("scale", "abc")], 400, "scale "),
    ("unknown extension", [_file(_GOOD, "heat.jpg")], 422, "heat.jpg"),
    ("size ratio fits no downsample", [_file(_tiff(_position_grid(100, 100)))], 422, "downsample"),
    ("NaN", [_file(_tiff(_NAN))], 422, "NaN"),
    ("unsupported dtype", [_file(_tiff(_position_grid().astype(np.int32)))], 422, "int32"),
    ("three channels", [_file(_tiff(np.zeros((GRID_H, GRID_W, 3), np.uint8)))], 422, "channel"),
    ("truncated TIFF", [_file(_GOOD[: len(_GOOD) // 2])], 422, "truncated"),
    ("over OVERLAY_MAX_MPX", [_file(_tiff(np.zeros((2967, 2220), np.uint8)))], 413, "OVERLAY_MAX_MPX"),
    ("CSV missing a column", [_file(b"x,y,width,score\n0,0,96,0.5\n", "p.csv")], 422, "height"),
    ("CSV non-numeric", [_file(b"x,y,width,height,score\n0,0,96,96,high\n", "p.csv")], 422, "line 2"),
]


@pytest.mark.parametrize(("fields", "status", "needle"), [c[1:] for c in _CASES], ids=[c[0] for c in _CASES])
def test_malformed_upload_is_a_precise_4xx_and_leaves_nothing(
    strict_app: tuple[FlaskClient, Path], fields: dict[str, Any], status: int, needle: str
) -> None:
    client, root = strict_app
    answer = _upload(client, fields)
    body = answer.get_json()
    assert answer.status_code == status and needle in body["error"], body
    assert body["status"] == status
    _security_headers(answer)
    assert _stored(root) == []
    assert client.get(LIST).get_json() == {"overlays": []}


def test_uploads_that_are_not_overlay_forms(strict_app: tuple[FlaskClient, Path]) -> None:
    client, root = strict_app
    as_json = client.post(LIST, json={"file": "heat.tif"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.get_json()["error"]
    cut = client.post(LIST, data=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.tif\""
                      b"\r\n\r\nII*\x00", headers={**UPLOAD_HEADERS, "Content-Type": "multipart/form-data"})
    assert cut.status_code == 400 and "multipart" in cut.get_json()["error"]
    body, content_type = encode_multipart_formdata([_file(_GOOD)])
    no_proof = client.post(LIST, data=body, headers={"Content-Type": content_type})
    assert no_proof.status_code == 403 and "X-Requested-With" in no_proof.get_json()["error"]
    unknown = _upload(client, [_file(_GOOD)], url="/api/slides/nope.svs/overlays")
    assert unknown.status_code == 404
    unreadable = _upload(client, [_file(_GOOD)], url="/api/slides/unreadable.svs/overlays")
    assert unreadable.status_code == 422, unreadable.get_json()
    assert _stored(root) == []


def test_an_overlay_dir_that_cannot_be_written_is_a_503_naming_the_setting(tmp_path: Path) -> None:
    _slides(tmp_path / "slides")
    (tmp_path / "a-file").write_bytes(b"")
    app = _app(tmp_path, OVERLAY_DIR=str(tmp_path / "a-file" / "overlays"))
    answer = _upload(app.test_client(), [_file(_GOOD)])
    body = answer.get_json()
    assert answer.status_code == 503 and "OVERLAY_DIR" in body["error"] and str(tmp_path) not in body["error"]
    app.extensions["wsi_viewer"].slides.close()


# --------------------------------------------------------------------------------------------------
# The upload's own body limit, on a real server


def _raw_post(server: Server, path: str, body: bytes, content_type: str, chunked: bool) -> tuple[int, str]:
    """POST over a socket (the server may answer before reading it all): (status, the whole answer)."""
    host, port = server.url.removeprefix("http://").split(":")
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Requested-With: test\r\n"
            f"Content-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n").encode()
    if chunked:
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    received = b""
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        try:
            sock.sendall(head + body)
        except OSError:  # answered (413) and closed before the body was all sent
            pass
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    text = received.decode("latin-1")
    return int(text.split(" ", 2)[1]), text


def test_upload_body_limit_is_overlay_upload_max_mb_and_other_routes_keep_max_upload_mb(
    tmp_path: Path,
) -> None:
    slides = _slides(tmp_path / "slides")
    grid = np.zeros((math.ceil(2967 / 2), 2220 // 2), np.uint8)  # 1/2: 1.6 MB, between the limits
    fits, fits_type = encode_multipart_formdata({"file": ("half.tif", _tiff(grid))})
    full = _tiff(np.zeros((2967, 2220), np.uint8))
    too_big, too_big_type = encode_multipart_formdata({"file": ("full.tif", full)})
    assert 1 << 20 < len(fits) < 2 << 20 < len(too_big)
    annotation = json.dumps({"type": "FeatureCollection", "features": [], "pad": "x" * (3 << 19)}).encode()
    root = tmp_path / "data" / "overlays"
    with running_server(str(slides), "--max-upload-mb", "1", "--overlay-upload-max-mb", "2",
                        "--workers", "1", data_dir=tmp_path / "data") as server:
        created = []
        for chunked in (False, True):
            status, text = _raw_post(server, LIST, fits, fits_type, chunked)
            assert status == 201, text
            created.append(json.loads(text.split("\r\n\r\n", 1)[1])["id"])
            status, text = _raw_post(server, LIST, too_big, too_big_type, chunked)
            assert status == 413 and "OVERLAY_UPLOAD_MAX_MB" in text, text
            assert "x-content-type-options: nosniff" in text.lower()
            status, text = _raw_post(server, f"/api/annotations/{CMU}", annotation, "application/json",
                                     chunked)
            assert status == 413 and "OVERLAY" not in text, text  # MAX_UPLOAD_MB still holds elsewhere
        assert _stored(root) == sorted(created)  # no part file of the refused bodies is left
        # a client gone half-way through its file: its part file is removed too
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall((f"POST {LIST} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Requested-With: test\r\n"
                          f"Content-Type: {fits_type}\r\nContent-Length: {len(fits)}\r\n\r\n").encode()
                         + fits[: len(fits) // 2])
            deadline = time.monotonic() + 30
            while not any(name.startswith(".upload-") for name in _stored(root)):
                assert time.monotonic() < deadline, "the upload never started"
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        while _stored(root) != sorted(created):
            assert time.monotonic() < deadline, _stored(root)
            time.sleep(0.05)
        assert "Traceback" not in server.log.read_text(errors="replace")


def test_a_slide_broken_since_it_was_scanned_does_not_fail_the_listing(tmp_path: Path) -> None:
    slides = _slides(tmp_path / "slides", attached=True)
    broken = slides / "broken.svs"
    shutil.copy(slides / CMU, broken)
    shutil.copy(slides / "CMU-1-Small-Region_likelihood_map.tif", slides / "broken_likelihood_map.tif")
    first = _app(tmp_path)
    assert len(first.test_client().get("/api/slides").get_json()["slides"]) == 2  # metadata cached on disk
    first.extensions["wsi_viewer"].slides.close()
    # the file breaks, keeping its size and mtime: the cached metadata still says it is readable
    stat = broken.stat()
    broken.write_bytes(b"\0" * stat.st_size)
    os.utime(broken, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    app = _app(tmp_path)
    client = app.test_client()
    listing = client.get("/api/slides")
    assert listing.status_code == 200
    entries = {s["id"]: s for s in listing.get_json()["slides"]}
    # the listing opens no slide (its entries come from cached metadata, overlays included)
    assert set(entries) == {"broken.svs", CMU} and len(entries[CMU]["overlays"]) == 1
    [listed] = entries["broken.svs"]["overlays"]
    tile = client.get(listed["urls"]["tiles"].format(level=0, col=0, row=0))
    assert tile.status_code == 422 and "broken.svs" in tile.get_json()["error"]  # the tile says why
    app.extensions["wsi_viewer"].slides.close()


def test_the_readme_overlay_block_runs_against_a_real_server(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("**Overlays from a script.**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert block.startswith("S=http://127.0.0.1:8000\n")
    slides = tmp_path / "slides"
    slides.mkdir()
    # the demo's names over the small fixture slide (the block's points and tile are inside both)
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / "tumor_demo.tif")
    tifffile.imwrite(slides / "tumor_demo_likelihood_map.tif", _position_grid())
    work = tmp_path / "work"
    work.mkdir()
    heat = np.linspace(0, 1, GRID_W * GRID_H, dtype=np.float32).reshape(GRID_H, GRID_W)
    tifffile.imwrite(work / "heat.tif", heat)
    (work / "patches.csv").write_text("x,y,score\n0,0,0.5\n96,0,0.9\n0,96,0.1\n")
    with running_server(str(slides), "--workers", "1", data_dir=tmp_path / "data") as server:
        script = block.replace("S=http://127.0.0.1:8000", f"S={server.url}", 1)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        answer = requests.get(f"{server.url}/api/slides/tumor_demo.tif/overlays", timeout=30)
        listed = answer.json()["overlays"]
    # what each step says: the attached map listed first, the CSV kept, the heatmap read and removed
    assert [(o["name"], o["source"]["format"]) for o in listed] == [
        ("tumor_demo_likelihood_map.tif", "tiff"), ("patches.csv", "csv")]
    assert listed[1]["scale"] == 96
    value = json.loads(done.stdout.splitlines()[-1])
    cell = 2000 // 16 * GRID_W + 1000 // 16
    assert value["x"] == 1000 and value["value"] == pytest.approx(cell / (GRID_W * GRID_H - 1), abs=1e-6)
    with Image.open(work / "tile.png") as tile:
        assert tile.format == "PNG" and tile.mode == "RGBA"  # float32: u16 packing
