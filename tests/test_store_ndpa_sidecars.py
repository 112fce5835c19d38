"""NDPA sidecars through a real server: a ``<slide>.ndpi.ndpa`` beside a generated NDPI (OpenSlide
reads it) is imported on first open as a set of its own (beside the ASAP sidecar's), placed with the
slide's Hamamatsu frame; an edit on disk is a new change; changes are never written back unless
write-back is on, and then written as NDPA atomically; a slide without the frame gets the sidecar
error, and an ``.ndpa`` link leading outside the slide directory is ignored."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests._server import running_server
from tests.test_annotations_ndpa import circle, document, freehand, make_ndpi, viewstate
from viewer.annotations.asap import write_asap
from viewer.annotations.model import Annotation, AnnotationSet
from viewer.annotations.ndpa import NdpaFrame, read_ndpa

DATA = Path(__file__).parent / "data"
CMU = DATA / "slides" / "aperio" / "CMU-1-Small-Region.svs"
SIZE, MPP, OFFSET = (1200, 800), (0.4529, 0.4531), (1_234_567, -7_654_321)
FRAME = NdpaFrame(*OFFSET, *MPP, *SIZE)
SCRIPT = {"X-Requested-With": "wsi-viewer-test"}
POLYGON_PX = [(100.0, 100.0), (400.0, 120.0), (380.0, 500.0), (90.0, 450.0)]


def nm_of(x: float, y: float) -> tuple[int, int]:
    return (round((x - SIZE[0] / 2) * MPP[0] * 1000 + OFFSET[0]),
            round((y - SIZE[1] / 2) * MPP[1] * 1000 + OFFSET[1]))


NDPA = document([
    viewstate(1, "islet", freehand([nm_of(*p) for p in POLYGON_PX]), details="check with HE"),
    viewstate(2, "disc", circle(*nm_of(900, 250), 30 * 453), kind="circle", display="AnnotateCircle"),
])


def slides_dir(tmp_path: Path) -> Path:
    slides = tmp_path / "slides"
    slides.mkdir()
    make_ndpi(slides / "scan.ndpi", *SIZE, mpp=MPP, offset_nm=OFFSET)
    (slides / "scan.ndpi.ndpa").write_bytes(NDPA)
    dot = AnnotationSet([Annotation("asap dot", "Dot", coordinates=[(10.0, 20.0)])])
    (slides / "scan.xml").write_bytes(write_asap(dot))
    shutil.copy(CMU, slides / "cmu.svs")
    (slides / "cmu.svs.ndpa").write_bytes(NDPA)  # an Aperio slide: no Hamamatsu frame
    shutil.copy(CMU, slides / "link.svs")
    outside = tmp_path / "outside.ndpa"
    outside.write_bytes(NDPA)
    (slides / "link.svs.ndpa").symlink_to(outside)
    return slides


def sets_of(url: str, entry: dict[str, Any]) -> dict[str, Any]:
    return requests.get(url + entry["urls"]["annotations"], timeout=30).json()  # type: ignore[no-any-return]


def features(url: str, s: dict[str, Any]) -> list[dict[str, Any]]:
    return requests.get(url + s["urls"]["self"], timeout=30).json()["features"]  # type: ignore[no-any-return]


def test_ndpa_sidecars_are_imported_and_followed_but_not_written(tmp_path: Path) -> None:
    slides = slides_dir(tmp_path)
    with running_server(str(slides), "--workers", "1", "--threads", "4",
                        data_dir=tmp_path / "data") as server:
        listed = {s["id"]: s for s in requests.get(server.url + "/api/slides", timeout=60).json()["slides"]}
        scan = sets_of(server.url, listed["scan.ndpi"])
        assert [s["name"] for s in scan["sets"]] == ["scan.xml", "scan.ndpi.ndpa"]
        assert scan["sidecar_error"] is None
        asap_set, ndpa_set = scan["sets"]
        assert (ndpa_set["sidecar"]["file"], ndpa_set["sidecar"]["error"]) == ("scan.ndpi.ndpa", None)
        assert ndpa_set["created_by"] == "sidecar" and ndpa_set["annotation_count"] == 2
        assert listed["scan.ndpi"]["annotation_count"] == 3
        islet, disc = features(server.url, ndpa_set)
        assert islet["properties"]["metadata"] == {"ANNOTATION_DESCRIPTION": "check with HE"}
        ring = islet["geometry"]["coordinates"][0][:-1]
        for (x, y), (ex, ey) in zip(ring, POLYGON_PX, strict=True):
            assert abs(x - ex) < 0.5 and abs(y - ey) < 0.5  # the formula's place on the slide
        xs = [p[0] for p in disc["geometry"]["coordinates"][0]]
        assert abs((min(xs) + max(xs)) / 2 - 900) < 0.5

        # the Aperio slide has no frame: not imported, and the listing says why
        cmu = sets_of(server.url, listed["cmu.svs"])
        assert cmu["sets"] == [] and "cmu.svs.ndpa" in cmu["sidecar_error"]
        assert "hamamatsu.XOffsetFromSlideCentre" in cmu["sidecar_error"]
        assert "/" not in cmu["sidecar_error"].split(":")[0]  # no server path in the message
        link = sets_of(server.url, listed["link.svs"])
        assert link["sets"] == [] and link["sidecar_error"] is None  # leads outside: ignored

        # an edit on disk (NDP.view saved again) is a new change by "sidecar"
        time.sleep(0.01)
        edited = NDPA.replace(b"<title>islet</title>", b"<title>islet, revised</title>")
        (slides / "scan.ndpi.ndpa").write_bytes(edited)
        names = [f["properties"]["name"] for f in features(server.url, ndpa_set)]
        assert names == ["islet, revised", "disc"]
        history = requests.get(server.url + ndpa_set["urls"]["history"], timeout=30).json()["changes"]
        assert history[0]["who"] == "sidecar" and "changed on disk" in history[0]["message"]

        # a change through the API stays in the store: write-back is off
        point: dict[str, Any] = {"type": "Point", "coordinates": [600, 400]}
        feature: dict[str, Any] = {"type": "Feature", "geometry": point,
                   "properties": {"name": "centre pin"}}
        created = requests.post(server.url + ndpa_set["urls"]["annotations"], json=feature, timeout=30)
        assert created.status_code == 201, created.text
        assert (slides / "scan.ndpi.ndpa").read_bytes() == edited
        assert len(features(server.url, ndpa_set)) == 3

        # the API through the real server: an ImageScope upload, the NDPA set exported as NDPA
        imagescope = (b'<Annotations MicronsPerPixel="0"><Annotation Id="1" Name="T" LineColor="255">'
                      b'<Regions><Region Id="1" Type="1" Text="box"><Vertices><Vertex X="10" Y="20"/>'
                      b'<Vertex X="50" Y="20"/><Vertex X="50" Y="60"/><Vertex X="10" Y="60"/></Vertices>'
                      b"</Region></Regions></Annotation></Annotations>")
        up = requests.post(server.url + listed["scan.ndpi"]["urls"]["annotations"], headers=SCRIPT,
                           files={"file": ("reader 2.xml", imagescope, "application/xml")}, timeout=30)
        assert up.status_code == 201 and up.json()["set"]["name"] == "reader 2.xml", up.text
        (box,) = features(server.url, up.json()["set"])
        assert box["properties"]["asap"]["type"] == "Rectangle"
        assert box["properties"]["metadata"] == {"ANNOTATION_DESCRIPTION": "box"}
        export = requests.get(server.url + ndpa_set["urls"]["export"] + "?format=ndpa", timeout=30)
        assert export.status_code == 200 and export.headers["Content-Disposition"].endswith('.ndpa"')
        assert [a.name for a in read_ndpa(export.content, FRAME).annotations] == [
            "islet, revised", "disc", "centre pin"]


def test_write_back_writes_ndpa_atomically(tmp_path: Path) -> None:
    slides = slides_dir(tmp_path)
    asap_before = (slides / "scan.xml").read_bytes()
    with running_server(str(slides), "--workers", "1", "--threads", "4", "--sidecar-writeback",
                        data_dir=tmp_path / "data") as server:
        listed = {s["id"]: s for s in requests.get(server.url + "/api/slides", timeout=60).json()["slides"]}
        _asap_set, ndpa_set = sets_of(server.url, listed["scan.ndpi"])["sets"]
        point: dict[str, Any] = {"type": "Point", "coordinates": [600, 400]}
        feature: dict[str, Any] = {"type": "Feature", "geometry": point,
                   "properties": {"name": "centre pin", "metadata": {"ANNOTATION_DESCRIPTION": "look here"}}}
        created = requests.post(server.url + ndpa_set["urls"]["annotations"], json=feature,
                                headers={"X-User": "ann"}, timeout=30)
        assert created.status_code == 201, created.text
        assert "sidecar_error" not in created.json(), created.json()
        data = (slides / "scan.ndpi.ndpa").read_bytes()
        assert data.startswith(b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<annotations>')
        back = read_ndpa(data, FRAME)
        assert [(a.name, a.type, a.comment) for a in back.annotations] == [
            ("islet", "Polygon", "check with HE"), ("disc", "Polygon", ""),
            ("centre pin", "Dot", "look here")]
        assert back.annotations[2].coordinates[0] == (600.0, 400.0)  # the slide centre's nanometres
        assert b"<x>1234567</x>" in data and b"<y>-7654321</y>" in data
        for (x, y), (ex, ey) in zip(back.annotations[0].coordinates, POLYGON_PX, strict=True):
            assert abs(x - ex) < 0.5 and abs(y - ey) < 0.5
        # the ASAP sidecar of the same slide is not touched; nothing is left beside the files
        assert (slides / "scan.xml").read_bytes() == asap_before
        assert sorted(p.name for p in slides.iterdir()) == sorted([
            "scan.ndpi", "scan.ndpi.ndpa", "scan.xml", "cmu.svs", "cmu.svs.ndpa", "link.svs",
            "link.svs.ndpa"])
        history = requests.get(server.url + ndpa_set["urls"]["history"], timeout=30).json()["changes"]
        assert history[0]["who"] == "ann"
        # reading the set again does not re-import our own write as an edit on disk
        assert len(features(server.url, ndpa_set)) == 3
        again = requests.get(server.url + ndpa_set["urls"]["history"], timeout=30).json()["changes"]
        assert len(again) == len(history)


def test_a_write_back_killed_before_its_commit_is_its_authors_change(tmp_path: Path) -> None:
    slides = slides_dir(tmp_path)
    paused = tmp_path / "paused-after-rename"
    env = {"WSI_VIEWER_TEST_PAUSE_AFTER_SIDECAR_RENAME": str(paused)}
    with running_server(str(slides), "--workers", "1", "--threads", "4", "--sidecar-writeback",
                        data_dir=tmp_path / "data", env=env) as server:
        listed = {s["id"]: s for s in requests.get(server.url + "/api/slides", timeout=60).json()["slides"]}
        _asap_set, ndpa_set = sets_of(server.url, listed["scan.ndpi"])["sets"]
        point: dict[str, Any] = {"type": "Point", "coordinates": [600, 400]}
        feature: dict[str, Any] = {"type": "Feature", "geometry": point, "properties": {"name": "by alice"}}
        done: list[requests.Response | BaseException] = []

        def save() -> None:
            try:
                done.append(requests.post(server.url + ndpa_set["urls"]["annotations"], json=feature,
                                          headers={"X-User": "alice"}, timeout=120))
            except requests.RequestException as exc:
                done.append(exc)

        thread = threading.Thread(target=save)
        thread.start()
        deadline = time.monotonic() + 60
        while not paused.exists():
            assert time.monotonic() < deadline, "the save never reached the rename"
            time.sleep(0.05)
        on_disk = read_ndpa(slides / "scan.ndpi.ndpa", FRAME)
        assert on_disk.annotations[-1].name == "by alice"  # renamed into place, not committed
        for pid in server.workers():
            os.kill(pid, signal.SIGKILL)
        thread.join(120)
        assert isinstance(done[0], BaseException)  # the client never got an answer
        deadline = time.monotonic() + 60
        while True:
            try:
                got = requests.get(server.url + ndpa_set["urls"]["self"], timeout=60)  # reads the file
                if got.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert [f["properties"]["name"] for f in got.json()["features"]] == ["islet", "disc", "by alice"]
        history = requests.get(server.url + ndpa_set["urls"]["history"], timeout=30).json()["changes"]
        assert [(c["who"], c["kind"]) for c in history] == [("alice", "create"), ("sidecar", "import")]
