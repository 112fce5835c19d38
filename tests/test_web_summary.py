"""The set summary of the layers panel (GET set.urls.summary): every annotation measured as
``wsi-viewer info`` measures it (compared with the real command on CAMELYON files), an ETag of
the set version with 304s, a sidecar edited on disk picked up by the conditional GET, and a
10^6-vertex set (its cold, cached and after-edit times printed; benchmarks/summary.py measures
them, parts included). tests/test_summary_measures.py compares the fast path's every number with
the reference functions of one annotation."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.app import create_app

DATA = Path(__file__).parent / "data"
REAL = DATA / "asap" / "real"
SLIDE_ID = "CMU-1-Small-Region.svs"
SCRIPT = {"X-Requested-With": "tests"}


@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[tuple[FlaskClient, Path, Any]]:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / SLIDE_ID)
    shutil.copy(REAL / "tumor_039.xml", slides / "CMU-1-Small-Region.xml")
    app = create_app(
        {
            "SLIDE_DIR": str(slides),
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE": f"sqlite:///{tmp_path / 'a.db'}",
        }
    )
    app.config["TESTING"] = True
    services = app.extensions["wsi_viewer"]
    yield app.test_client(), slides, services
    services.store.close()
    services.slides.close()


def info_json(xml: Path, slide: Path) -> dict[str, Any]:
    """``wsi-viewer info --json --slide`` run as the user runs it."""
    out = subprocess.run(
        [sys.executable, "-m", "viewer.cli", "info", str(xml), "--slide", str(slide), "--json"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def first_set(client: FlaskClient) -> dict[str, Any]:
    (slide,) = client.get("/api/slides").get_json()["slides"]
    return client.get(slide["urls"]["annotations"]).get_json()["sets"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("xml", ["tumor_039.xml", "tumor_111.xml"])
def test_summary_equals_wsi_viewer_info(setup: tuple[FlaskClient, Path, Any], xml: str) -> None:
    client, slides, _ = setup
    shutil.copy(REAL / xml, slides / "CMU-1-Small-Region.xml")
    s = first_set(client)
    (slide,) = client.get("/api/slides").get_json()["slides"]
    assert slide["set_count"] == 1 and slide["annotation_count"] == s["annotation_count"]
    r = client.get(s["urls"]["summary"])
    assert r.status_code == 200 and r.headers["ETag"] == f'"{s["version"]}"'
    body = r.get_json()
    report = info_json(REAL / xml, slides / SLIDE_ID)
    assert body["mpp"] == report["mpp"] and body["version"] == s["version"]
    listed = report["annotation_list"]
    assert len(body["annotations"]) == len(listed) == s["annotation_count"]
    classes = 0
    for got, want in zip(body["annotations"], listed, strict=True):
        assert (got["name"], got["type"], got["group"], got["points"]) == (
            want["name"],
            want["type"],
            want["group"],
            want["points"],
        )
        assert got["area_px2"] == want["area_px2"] and got["area_um2"] == want["area_um2"]
        assert got["max_diameter_um"] == want.get("longest_diameter_um")
        assert got["camelyon"] == want.get("category")
        classes += got["camelyon"] is not None
        x0, y0, x1, y1 = got["bbox"]
        assert x0 <= x1 and y0 <= y1
    assert classes == sum(report["categories"].values()) > 0
    # the same version again: 304 without a body
    again = client.get(s["urls"]["summary"], headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_summary_follows_edits_and_sidecar_changes_on_disk(setup: tuple[FlaskClient, Path, Any]) -> None:
    client, slides, _ = setup
    shutil.copy(REAL / "tumor_111.xml", slides / "CMU-1-Small-Region.xml")
    s = first_set(client)
    first = client.get(s["urls"]["summary"])
    etag = first.headers["ETag"]
    n = len(first.get_json()["annotations"])
    # an annotation added through the API, with a comment and a measurement
    added = client.post(
        s["urls"]["annotations"],
        headers=SCRIPT,
        json={
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[0, 0], [300, 400]]},
            "properties": {
                "name": "ruler",
                "asap": {"type": "Measurement", "group": None, "color": "#F4FA58"},
                "metadata": {"ANNOTATION_DESCRIPTION": "check this"},
            },
        },
    )
    assert added.status_code == 201, added.get_json()
    changed = client.get(s["urls"]["summary"], headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    ruler = changed.get_json()["annotations"][-1]
    assert len(changed.get_json()["annotations"]) == n + 1
    assert ruler["name"] == "ruler" and ruler["comment"] == "check this"
    assert ruler["length_px"] == 500.0 and ruler["length_um"] == pytest.approx(
        500.0 * changed.get_json()["mpp"][0]
    )
    assert ruler["area_um2"] is None and ruler["camelyon"] is None
    # desktop ASAP rewrites the sidecar: the conditional GET itself notices it
    etag = changed.headers["ETag"]
    time.sleep(0.01)
    shutil.copy(REAL / "tumor_031.xml", slides / "CMU-1-Small-Region.xml")
    os.utime(slides / "CMU-1-Small-Region.xml", ns=(time.time_ns(), time.time_ns() + 10**9))
    # the layer's own check (GET self?bbox=0,0,0,0 with If-None-Match) notices it too
    layer_check = client.get(f"{s['urls']['self']}?bbox=0,0,0,0", headers={"If-None-Match": etag})
    assert layer_check.status_code == 200 and layer_check.headers["ETag"] != etag
    after = client.get(s["urls"]["summary"], headers={"If-None-Match": etag})
    assert after.status_code == 200, "the sidecar edit was not picked up by the conditional GET"
    names = [a["name"] for a in after.get_json()["annotations"]]
    expected = info_json(REAL / "tumor_031.xml", slides / SLIDE_ID)
    assert names == [a["name"] for a in expected["annotation_list"]]


def test_summary_of_a_million_vertices_answers_in_well_under_a_second(
    setup: tuple[FlaskClient, Path, Any],
) -> None:
    client, _slides, services = setup
    store = services.store
    slide_key = services.slide_annotations.open(SLIDE_ID)
    polygons = []
    for i in range(5000):  # 5,000 polygons x 200 vertices
        cx, cy = 100 + (i % 100) * 200, 100 + (i // 100) * 200
        ring = [
            (cx + 80 * math.cos(k * math.tau / 200), cy + 80 * math.sin(k * math.tau / 200))
            for k in range(200)
        ]
        polygons.append(Annotation(f"p{i}", "Polygon", "tumor", "#F4FA58", ring))
    result = store.create_set(slide_key, "big", "tests", AnnotationSet(polygons, [Group("tumor")]))
    url = f"/api/sets/{result.info.id}/summary"
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        r = client.get(url)
        timings.append(time.perf_counter() - started)
        assert r.status_code == 200
    body = r.get_json()
    assert len(body["annotations"]) == 5000 and sum(a["points"] for a in body["annotations"]) == 10**6
    assert {a["camelyon"] for a in body["annotations"]} == {"itc"}  # 160 px x 0.499 um < 200 um
    # one annotation moved by another client: only it is read and measured again
    moved = body["annotations"][10]
    feature = client.get(f"/api/sets/{result.info.id}/annotations/{moved['id']}").get_json()
    feature["geometry"]["coordinates"] = [[[x + 5, y] for x, y in feature["geometry"]["coordinates"][0]]]
    put = client.put(f"/api/sets/{result.info.id}/annotations/{moved['id']}", json=feature, headers=SCRIPT)
    assert put.status_code == 200, put.get_json()
    started = time.perf_counter()
    after = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
    after_edit = time.perf_counter() - started
    assert after.status_code == 200
    again = after.get_json()["annotations"][10]
    assert again["bbox"][0] == moved["bbox"][0] + 5 and again["version"] > moved["version"]
    print(
        f"summary of 10^6 vertices: first {timings[0]:.3f} s, cached {min(timings[1:]) * 1000:.1f} ms, "
        f"after one edit {after_edit * 1000:.1f} ms"
    )
    # measured again: the moved annotation alone (one record more in the per-version cache)
    assert len(services.summary_cache._records) == 5000 + 1


def polygon(name: str, size: float) -> dict[str, Any]:
    """A square drawn through the API, as the viewer's editor sends it."""
    ring = [[0, 0], [size, 0], [size, size], [0, size], [0, 0]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"name": name, "asap": {"type": "Polygon", "group": None, "color": "#F4FA58"}},
    }


def test_the_newest_annotation_deleted_and_another_drawn_is_summarised_as_itself(
    setup: tuple[FlaskClient, Path, Any],
) -> None:
    # issue 12: SQLite gave the next annotation the deleted one's id (the largest + 1)
    client, _slides, services = setup
    slide_key = services.slide_annotations.open(SLIDE_ID)
    made = services.store.create_set(slide_key, "A", "tests", AnnotationSet())
    summary, annotations = f"/api/sets/{made.info.id}/summary", f"/api/sets/{made.info.id}/annotations"
    drawn = [client.post(annotations, json=polygon(n, 100), headers=SCRIPT) for n in ("kept", "lesion")]
    assert [r.status_code for r in drawn] == [201, 201]
    kept, lesion = client.get(summary).get_json()["annotations"]  # measured, and cached by the server
    assert lesion["name"] == "lesion" and lesion["area_px2"] == pytest.approx(100 * 100)
    gone = client.delete(f"{annotations}/{lesion['id']}", headers=SCRIPT)
    assert gone.status_code in (200, 204), gone.get_json()
    region = client.post(annotations, json=polygon("region 1", 400), headers=SCRIPT)
    assert region.status_code == 201, region.get_json()
    listed = client.get(summary).get_json()["annotations"]
    assert [a["name"] for a in listed] == ["kept", "region 1"]
    assert listed[0] == kept  # the record kept from before
    assert listed[1]["id"] > lesion["id"]  # a new id: nothing cached for it, nor in a browser
    assert listed[1]["area_px2"] == pytest.approx(400 * 400) and listed[1]["bbox"] == [0, 0, 400, 400]
    assert client.get(f"{annotations}/{lesion['id']}").status_code == 404  # the deleted one stays gone
    late = client.delete(f"{annotations}/{lesion['id']}", headers=SCRIPT)  # a stale client's retry
    assert late.status_code == 404
    assert [a["name"] for a in client.get(summary).get_json()["annotations"]] == ["kept", "region 1"]


def test_an_annotation_deleted_then_a_set_made_is_summarised_as_itself(
    setup: tuple[FlaskClient, Path, Any],
) -> None:
    # SQLite gave the next row the largest id + 1: the id of an annotation just deleted came back,
    # at version 1, in the next set made (the e2e suite met it: one set listed another's names)
    client, _slides, services = setup
    slide_key = services.slide_annotations.open(SLIDE_ID)
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
    big = [(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0)]
    lesion = AnnotationSet([Annotation("lesion", "Polygon", None, "#F4FA58", square)], [])
    a = services.store.create_set(slide_key, "A", "tests", lesion)
    [first] = client.get(f"/api/sets/{a.info.id}/summary").get_json()["annotations"]
    gone = client.delete(f"/api/sets/{a.info.id}/annotations/{first['id']}", headers=SCRIPT)
    assert gone.status_code in (200, 204), gone.get_json()
    region = AnnotationSet([Annotation("region 1", "Polygon", None, "#F4FA58", big)], [])
    b = services.store.create_set(slide_key, "B", "tests", region)
    [second] = client.get(f"/api/sets/{b.info.id}/summary").get_json()["annotations"]
    assert second["id"] > first["id"] and second["version"] == first["version"] == 1  # never reused
    assert second["name"] == "region 1" and second["area_px2"] == pytest.approx(16 * first["area_px2"])


def test_a_set_made_after_another_was_removed_is_summarised_as_itself(
    setup: tuple[FlaskClient, Path, Any],
) -> None:
    # SQLite gave the next set the removed one's id, and its first annotation the id (and version 1)
    # of the removed set's newest: the same summary record key, served with the removed one's name
    client, _slides, services = setup
    store = services.store
    slide_key = services.slide_annotations.open(SLIDE_ID)
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
    big = [(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0)]
    lesion = AnnotationSet([Annotation("lesion", "Polygon", None, "#F4FA58", square)], [])
    a = store.create_set(slide_key, "A", "tests", lesion)
    [first] = client.get(f"/api/sets/{a.info.id}/summary").get_json()["annotations"]
    with store.engine.begin() as conn:  # removed as an admin would (the API has no such write yet)
        for statement in (
            "DELETE FROM change_items WHERE change_id IN (SELECT id FROM changes WHERE set_id = :s)",
            "DELETE FROM changes WHERE set_id = :s",
            "DELETE FROM annotations WHERE set_id = :s",
            "DELETE FROM annotation_sets WHERE id = :s",
        ):
            conn.execute(sa.text(statement), {"s": a.info.id})
    region = AnnotationSet([Annotation("region 1", "Polygon", None, "#F4FA58", big)], [])
    b = store.create_set(slide_key, "B", "tests", region)
    assert b.info.id > a.info.id
    [second] = client.get(f"/api/sets/{b.info.id}/summary").get_json()["annotations"]
    assert second["id"] > first["id"] and second["version"] == first["version"] == 1
    assert second["name"] == "region 1" and second["area_px2"] == pytest.approx(16 * first["area_px2"])
    assert client.get(f"/api/sets/{a.info.id}/summary").status_code == 404
