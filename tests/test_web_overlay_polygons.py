"""Heatmap → annotations over HTTP (issue 14): POST /api/overlays/<id>/polygons makes a set of the
known regions of a generated map (a disk and a ring with its hole, areas within 1 %, the hole a
keyhole, in slide space also on a slide with a bounds offset), GET .../statistics gives max/mean
per annotation; every bad input a precise 4xx. The app's test client, real slides, real files."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests._overlay_helpers import write_sparse_tiles_slide
from viewer.app import create_app
from viewer.overlays import AddOptions
from viewer.overlays.polygons import PolygonRequest, contour_level, region_polygons

DATA = Path(__file__).parent / "data"
CMU = "CMU-1-Small-Region.svs"  # 2220 x 2967 px, 0.499 µm/px
SCALE = 16
HEADERS = {"X-Requested-With": "test", "X-User": "pathologist"}


def known_map(width: int, height: int) -> np.ndarray:
    """0.1 background; 0.9 in a disk (r 20 cells at (35, 40)) and a ring (r 12..35 at (85, 130))."""
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    grid = np.full((height, width), 0.1, dtype=np.float32)
    grid[np.hypot(xx - 35, yy - 40) <= 20] = 0.9
    ring = np.hypot(xx - 85, yy - 130)
    grid[(ring <= 35) & (ring > 12)] = 0.9
    return grid


def _app(tmp: Path, slides: Path, **settings: Any) -> Flask:
    app = create_app({"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp / "data"), **settings})
    app.config["TESTING"] = True
    return app


def _add(app: Flask, tmp: Path, slide_id: str, grid: np.ndarray, options: AddOptions) -> str:
    np.save(tmp / "map.npy", grid)
    overlay = app.extensions["wsi_viewer"].overlays.add(slide_id, tmp / "map.npy", "known.npy", options)
    return str(overlay.id)


@pytest.fixture()
def cmu(tmp_path: Path) -> tuple[Flask, str]:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / CMU)
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / "other.svs")
    app = _app(tmp_path, slides)
    overlay_id = _add(app, tmp_path, CMU, known_map(139, 186), AddOptions(name="known"))
    return app, overlay_id


def _post(client: FlaskClient, overlay_id: str, body: Any, **headers: str) -> Any:
    return client.post(f"/api/overlays/{overlay_id}/polygons", json=body, headers={**HEADERS, **headers})


def test_polygons_of_known_regions_and_their_statistics(cmu: tuple[Flask, str]) -> None:
    app, overlay_id = cmu
    client = app.test_client()
    descriptor = client.get(f"/api/overlays/{overlay_id}").get_json()
    assert descriptor["scale"] == SCALE
    answer = _post(client, overlay_id, {"threshold": 0.5, "tolerance_um": 0.5})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["regions"] == 2
    assert body["set"]["name"] == "known >= 0.5"
    assert body["set"]["created_by"] == "pathologist"
    assert body["set"]["annotation_count"] == 2
    assert answer.headers["Location"] == f"/api/sets/{body['set']['id']}"
    set_id = body["set"]["id"]

    summary = client.get(f"/api/sets/{set_id}/summary").get_json()
    mpp = summary["mpp"]
    records = summary["annotations"]
    cell_um2 = SCALE * SCALE * mpp[0] * mpp[1]
    ring, disk = records  # largest first
    assert (ring["name"], disk["name"]) == ("region 1", "region 2")
    assert abs(ring["area_um2"] / (math.pi * (35**2 - 12**2) * cell_um2) - 1) < 0.01
    assert abs(disk["area_um2"] / (math.pi * 20**2 * cell_um2) - 1) < 0.01
    assert disk["camelyon"] == ring["camelyon"] == "micro"  # 40 cells = 320 µm, 70 cells = 560 µm across
    assert ring["max_diameter_um"] == pytest.approx(70 * SCALE * mpp[0], rel=0.02)
    assert "micro: area" in ring["comment"] and "1 hole" in ring["comment"]
    assert "max 0.9, mean 0.9 over" in ring["comment"]

    features = client.get(f"/api/sets/{set_id}").get_json()["features"]
    outline = features[0]["geometry"]["coordinates"][0]
    # one ring with the hole joined in: the cut's two ends each appear twice
    _, counts = np.unique(np.array(outline[:-1]), axis=0, return_counts=True)
    assert (counts == 2).sum() >= 2
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    assert min(xs) == pytest.approx((85 - 35) * SCALE, abs=SCALE)
    assert max(ys) == pytest.approx((130 + 35) * SCALE, abs=SCALE)

    stats = client.get(f"/api/overlays/{overlay_id}/statistics?set={set_id}")
    assert stats.status_code == 200
    found = stats.get_json()["annotations"]
    ids = [str(f["id"]) for f in features]
    assert sorted(found) == sorted(ids)
    ring_cells = found[ids[0]]
    assert ring_cells["max"] == pytest.approx(0.9) and ring_cells["mean"] == pytest.approx(0.9)
    assert ring_cells["cells"] == pytest.approx(math.pi * (35**2 - 12**2), rel=0.02)
    again = client.get(f"/api/overlays/{overlay_id}/statistics?set={set_id}",
                       headers={"If-None-Match": stats.headers["ETag"]})
    assert again.status_code == 304
    # a change of the set is a new answer (the server keeps answers by overlay and set version)
    gone = client.delete(f"/api/sets/{set_id}/annotations/{ids[1]}", headers=HEADERS)
    assert gone.status_code in (200, 204), gone.get_data(as_text=True)
    changed = client.get(f"/api/overlays/{overlay_id}/statistics?set={set_id}",
                         headers={"If-None-Match": stats.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != stats.headers["ETag"]
    assert list(changed.get_json()["annotations"]) == [ids[0]]
    assert changed.get_json()["annotations"][ids[0]] == ring_cells

    # the same again: a name of its own, also when the name is given (the page's button sends one)
    second = _post(client, overlay_id, {"threshold": 0.5})
    assert second.status_code == 201 and second.get_json()["set"]["name"] == "known >= 0.5 (2)"
    third = _post(client, overlay_id, {"threshold": 0.5, "name": "known >= 0.5"})
    assert third.status_code == 201 and third.get_json()["set"]["name"] == "known >= 0.5 (3)"
    named = _post(client, overlay_id, {"threshold": 0.6, "name": "mine", "min_area_um2": 1e5})
    assert named.status_code == 201 and named.get_json()["regions"] == 1  # the disk (80,000 µm²) left out
    empty = _post(client, overlay_id, {"threshold": 0.95})
    assert empty.status_code == 201 and empty.get_json()["regions"] == 0  # nothing that high: an empty set


def test_bad_requests(cmu: tuple[Flask, str], tmp_path: Path) -> None:
    app, overlay_id = cmu
    client = app.test_client()

    def error(response: Any, status: int, text: str) -> None:
        assert response.status_code == status, response.get_json()
        assert text in response.get_json()["error"], response.get_json()

    error(_post(client, overlay_id, {"threshold": 1.5}), 422, "outside the overlay's value range [0, 1]")
    error(_post(client, overlay_id, {"threshold": -0.1}), 422, "outside the overlay's value range")
    error(_post(client, overlay_id, {}), 422, "threshold")
    error(_post(client, overlay_id, {"threshold": "0.5"}), 422, "threshold")
    error(_post(client, overlay_id, {"threshold": 0.5, "tolerance_um": -1}), 422, "tolerance_um")
    error(_post(client, overlay_id, {"threshold": 0.5, "min_area_um2": "big"}), 422, "min_area_um2")
    error(_post(client, overlay_id, [0.5]), 400, "JSON object")
    bad_json = client.post(f"/api/overlays/{overlay_id}/polygons", data=b"{", headers=HEADERS,
                           content_type="application/json")
    assert bad_json.status_code == 400
    error(_post(client, "0123456789ab", {"threshold": 0.5}), 404, "overlay")
    error(client.get(f"/api/overlays/{overlay_id}/statistics"), 400, "set is required")
    error(client.get(f"/api/overlays/{overlay_id}/statistics?set=x"), 400, "set must be an integer")
    error(client.get(f"/api/overlays/{overlay_id}/statistics?set=999"), 404, "")

    # a set of another slide: 422
    made = client.post("/api/annotations/other.svs", json={"name": "elsewhere"}, headers=HEADERS)
    assert made.status_code == 201
    error(client.get(f"/api/overlays/{overlay_id}/statistics?set={made.get_json()['set']['id']}"), 422,
          "the overlay on 'CMU-1-Small-Region.svs'")

    # limits: vertices over MAX_SET_VERTICES, regions over 20,000 (isolated cells), each 413 with the count
    small = _app(tmp_path / "small", tmp_path / "slides", MAX_SET_VERTICES=50)
    small_id = _add(small, tmp_path, CMU, known_map(139, 186), AddOptions(name="known"))
    error(_post(small.test_client(), small_id, {"threshold": 0.5}), 413, "2 regions with")
    specks = np.zeros((371, 278), dtype=np.float32)
    specks[::2, ::2] = 1.0  # 186 x 139 = 25,854 one-cell regions
    specks_id = _add(app, tmp_path, CMU, specks, AddOptions(name="specks", scale=8))
    error(_post(client, specks_id, {"threshold": 0.5}), 413, "25,854 regions at threshold 0.5")
    # nothing was stored by the refused requests
    sets = client.get(f"/api/annotations/{CMU}").get_json()["sets"]
    assert [s["name"] for s in sets] == []


@pytest.fixture(scope="module")
def bounds_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generic-tiff bounds slide (tests/data/tools: 12288 x 9216, bounds 2304, 1792, 6144 x 4608)."""
    return write_sparse_tiles_slide(tmp_path_factory.mktemp("bounds"))


def test_polygons_are_in_slide_space_on_a_bounds_offset_slide(tmp_path: Path, bounds_slide: Path) -> None:
    app = _app(tmp_path, bounds_slide, LIMIT_BOUNDS=True)
    client = app.test_client()
    [slide] = client.get("/api/slides").get_json()["slides"]
    # a map of the bounds only at 1/32, placed at the bounds' corner: cells 10..29 x 20..39 inside
    grid = np.zeros((4608 // 32, 6144 // 32), dtype=np.float32)
    grid[20:40, 10:30] = 1.0
    overlay_id = _add(app, tmp_path, slide["id"], grid, AddOptions(scale=32, origin_x=2304, origin_y=1792))
    answer = _post(client, overlay_id, {"threshold": 0.5, "tolerance_um": 0})
    assert answer.status_code == 201, answer.get_json()
    [feature] = client.get(f"/api/sets/{answer.get_json()['set']['id']}").get_json()["features"]
    ring = np.array(feature["geometry"]["coordinates"][0])
    # the region's edge is half-way between inside and outside cell centres: the cells' own edges
    assert ring[:, 0].min() == 2304 + 10 * 32 and ring[:, 0].max() == 2304 + 30 * 32
    assert ring[:, 1].min() == 1792 + 20 * 32 and ring[:, 1].max() == 1792 + 40 * 32


def test_a_map_over_the_cell_limit_is_contoured_on_a_coarser_level(cmu: tuple[Flask, str]) -> None:
    app, overlay_id = cmu
    field = app.extensions["wsi_viewer"].overlays.field(overlay_id)
    mpp = (0.499, 0.499)
    request = PolygonRequest(0.5, 0.0)
    assert contour_level(field, 139 * 186) == 0 and contour_level(field, 139 * 186 - 1) == 1
    fine = region_polygons(field, request, mpp)
    coarse = region_polygons(field, request, mpp, max_cells=139 * 186 - 1)  # level 1: 70 x 93 cells of 32 px
    assert len(fine) == len(coarse) == 2 and coarse.holes.tolist() == [1, 0]
    assert len(coarse.points) < len(fine.points) * 0.7
    for k in range(2):  # the same regions, within a coarse cell
        assert np.allclose(coarse.ring(k).min(axis=0), fine.ring(k).min(axis=0), atol=2 * SCALE)
        assert np.allclose(coarse.ring(k).max(axis=0), fine.ring(k).max(axis=0), atol=2 * SCALE)
