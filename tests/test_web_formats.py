"""The annotation API's other formats through the real app: ImageScope XML and NDPA uploads (raw body
and multipart) and whole-set replaces, told apart from ASAP XML by their root element, with the
readers' warnings in the answer; NDPA placed with the frame of the set's slide (a generated NDPI
OpenSlide reads) and a 422 naming what a slide without one lacks; exports ``?format=imagescope|ndpa``
with their file names, ImageScope's MicronsPerPixel from the slide; comments as QuPath's
``properties.metadata.ANNOTATION_DESCRIPTION`` on every Feature; hostile and oversized bodies; the
OpenAPI document."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lxml import etree

from tests.test_annotations_ndpa import circle, document, freehand, make_ndpi, viewstate
from viewer.annotations.imagescope import read_imagescope
from viewer.annotations.ndpa import NdpaFrame, read_ndpa
from viewer.annotations.xmlsafe import REFUSED
from viewer.app import create_app

DATA = Path(__file__).parent / "data"
CMU = "CMU-1-Small-Region.svs"  # mpp 0.499, no Hamamatsu offsets
NDPI = "scan.ndpi"
NDPI_SIZE, NDPI_MPP, NDPI_OFFSET = (1200, 800), (0.4529, 0.4531), (1_234_567, -7_654_321)
FRAME = NdpaFrame(*NDPI_OFFSET, *NDPI_MPP, *NDPI_SIZE)
SCRIPT = {"X-Requested-With": "tests"}

IMAGESCOPE = b"""<Annotations MicronsPerPixel="0.252000">
\t<Annotation Id="3" Name="Tumor" Type="4" LineColor="16711680">
\t\t<Attributes/>
\t\t<Regions>
\t\t\t<Region Id="1" Type="0" Text="grade 2 &amp; necrosis" NegativeROA="0">
\t\t\t\t<Vertices><Vertex X="100.5" Y="200.25" Z="0"/><Vertex X="700" Y="210"/><Vertex X="650" Y="900"/>
\t\t\t\t<Vertex X="120" Y="880"/></Vertices>
\t\t\t</Region>
\t\t\t<Region Id="2" Type="0" Text="" NegativeROA="1">
\t\t\t\t<Vertices><Vertex X="300" Y="400"/><Vertex X="400" Y="400"/><Vertex X="400" Y="500"/></Vertices>
\t\t\t</Region>
\t\t\t<Region Id="3" Type="2" Text="">
\t\t\t\t<Vertices><Vertex X="1000" Y="1000"/><Vertex X="1200" Y="1100"/></Vertices>
\t\t\t</Region>
\t\t\t<Region Id="4" Type="0" Text="stray">
\t\t\t\t<Vertices><Vertex X="50" Y="50"/><Vertex X="60" Y="60"/><Vertex X="50" Y="50"/></Vertices>
\t\t\t</Region>
\t\t</Regions>
\t</Annotation>
</Annotations>
"""


def nm_of(x: float, y: float) -> tuple[int, int]:
    """The design note's formula, inverted: nanometres from the slide centre of level-0 (x, y)."""
    return (round((x - NDPI_SIZE[0] / 2) * NDPI_MPP[0] * 1000 + NDPI_OFFSET[0]),
            round((y - NDPI_SIZE[1] / 2) * NDPI_MPP[1] * 1000 + NDPI_OFFSET[1]))


POLYGON_PX = [(100.0, 100.0), (400.0, 120.0), (380.0, 500.0), (90.0, 450.0)]
NDPA = document([
    viewstate(1, "islet", freehand([nm_of(*p) for p in POLYGON_PX]), details="check with HE"),
    viewstate(2, "disc", circle(*nm_of(900, 250), 30 * 453), kind="circle", display="AnnotateCircle"),
])


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / CMU)
    make_ndpi(slides / NDPI, *NDPI_SIZE, mpp=NDPI_MPP, offset_nm=NDPI_OFFSET)
    app = create_app({"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp_path / "data"),
                      "DATABASE": f"sqlite:///{tmp_path / 'a.db'}", "ANNOTATION_MAX_MB": 1})
    app.config["TESTING"] = True
    yield app.test_client()
    services = app.extensions["wsi_viewer"]
    for name in ("store", "slides"):
        if name in services.__dict__:
            getattr(services, name).close()


def slide_urls(client: FlaskClient, slide_id: str) -> dict[str, str]:
    (entry,) = [s for s in client.get("/api/slides").get_json()["slides"] if s["id"] == slide_id]
    return entry["urls"]  # type: ignore[no-any-return]


def upload(client: FlaskClient, slide_id: str, data: bytes, filename: str | None = None) -> Any:
    url = slide_urls(client, slide_id)["annotations"]
    if filename is None:
        return client.post(url, data=data, content_type="application/xml", headers=SCRIPT)
    return client.post(url, data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data",
                       headers=SCRIPT)


def coordinates(feature: dict[str, Any]) -> list[tuple[float, float]]:
    geometry = feature["geometry"]
    ring = geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"]
    points = [(float(x), float(y)) for x, y in ring]
    return points[:-1] if geometry["type"] == "Polygon" else points


def flat(points: list[tuple[float, float]]) -> list[float]:
    return [value for point in points for value in point]


def test_imagescope_upload_export_and_replace(client: FlaskClient) -> None:
    r = upload(client, CMU, IMAGESCOPE)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["set"]["name"].startswith("layer") and body["set"]["annotation_count"] == 4
    assert any("Region 4" in w or "degenerate" in w for w in body["warnings"]), body["warnings"]
    doc = client.get(body["set"]["urls"]["self"]).get_json()
    assert [g["name"] for g in doc["groups"]] == ["Tumor", "Tumor (holes)"]
    assert doc["groups"][0]["color"] == "#0000ff"  # COLORREF 0xFF0000 is blue
    by_name = {f["properties"]["name"]: f for f in doc["features"]}
    outer = by_name["Region 1"]
    assert outer["properties"]["metadata"] == {"ANNOTATION_DESCRIPTION": "grade 2 & necrosis"}
    assert "metadata" not in by_name["Region 2"]["properties"]  # no comment, no metadata
    assert flat(coordinates(outer)) == pytest.approx([100.5, 200.25, 700, 210, 650, 900, 120, 880], abs=0.01)
    assert by_name["Region 2"]["properties"]["asap"]["group"] == "Tumor (holes)"
    one = client.get(f"{body['set']['urls']['annotations']}/{outer['id']}").get_json()
    assert one["properties"]["metadata"]["ANNOTATION_DESCRIPTION"] == "grade 2 & necrosis"
    summary = client.get(body["set"]["urls"]["summary"]).get_json()["annotations"]
    assert [a["comment"] for a in summary][0] == "grade 2 & necrosis"
    assert not summary[1]["comment"]  # no comment: empty or null
    # the viewport query carries the comment too (what the browser's layer reads)
    view = client.get(body["set"]["urls"]["self"] + "?bbox=0,0,800,1000&simplify=4").get_json()
    seen = {f["properties"]["name"]: f["properties"].get("metadata") for f in view["features"]}
    assert seen["Region 1"] == {"ANNOTATION_DESCRIPTION": "grade 2 & necrosis"}

    exported = client.get(body["set"]["urls"]["export"] + "?format=imagescope")
    assert exported.status_code == 200 and exported.mimetype == "application/xml"
    filename = re.search(r'filename="([^"]+)"', exported.headers["Content-Disposition"]).group(1)  # type: ignore[union-attr]
    assert filename.endswith(".xml") and filename.startswith("CMU-1-Small-Region-")
    root = etree.fromstring(exported.data)
    assert root.get("MicronsPerPixel") == "0.499000"  # the slide's, not the uploaded file's 0.252
    regions = root.findall("Annotation/Regions/Region")
    assert [(r.get("Type"), r.get("NegativeROA"), r.get("Text")) for r in regions] == [
        ("0", "0", "grade 2 & necrosis"), ("0", "1", ""), ("2", "0", ""), ("0", "0", "stray")]
    assert root.find("Annotation").get("LineColor") == "16711680"
    length = float(regions[0].get("Length"))
    assert float(regions[0].get("LengthMicrons")) == pytest.approx(length * 0.499, abs=0.1)
    again = read_imagescope(exported.data)
    for got, want in zip(again.annotations, read_imagescope(IMAGESCOPE).annotations, strict=True):
        assert (got.type, got.comment) == (want.type, want.comment)
        assert flat(got.coordinates) == pytest.approx(flat(want.coordinates), abs=0.01)

    # whole-set replace by ImageScope XML (the first region only), with the set's ETag
    one = re.sub(rb"\t\t\t<Region Id=\"[234]\".*?</Region>\n", b"", IMAGESCOPE, flags=re.S)
    etag = client.get(body["set"]["urls"]["self"]).headers["ETag"]
    put = client.put(body["set"]["urls"]["self"], data=one, content_type="application/xml",
                     headers={"If-Match": etag, **SCRIPT})
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["warnings"] == [] and put.get_json()["set"]["annotation_count"] == 1
    (only,) = client.get(body["set"]["urls"]["self"]).get_json()["features"]
    assert only["properties"]["metadata"]["ANNOTATION_DESCRIPTION"] == "grade 2 & necrosis"


def test_ndpa_upload_is_placed_on_the_slide_and_exported_back(client: FlaskClient) -> None:
    r = upload(client, NDPI, NDPA, filename="scan.ndpi.ndpa")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["set"]["name"] == "scan.ndpi.ndpa" and body["warnings"] == []
    doc = client.get(body["set"]["urls"]["self"]).get_json()
    islet, disc = doc["features"]
    assert islet["properties"]["name"] == "islet"
    assert islet["properties"]["metadata"] == {"ANNOTATION_DESCRIPTION": "check with HE"}
    for got, want in zip(coordinates(islet), POLYGON_PX, strict=True):
        assert abs(got[0] - want[0]) < 0.5 and abs(got[1] - want[1]) < 0.5
    xs = [p[0] for p in coordinates(disc)]
    assert (min(xs) + max(xs)) / 2 == pytest.approx(900, abs=0.5)

    exported = client.get(body["set"]["urls"]["export"] + "?format=ndpa")
    assert exported.status_code == 200, exported.get_json()
    assert exported.headers["Content-Disposition"].endswith('.ndpa"')
    assert exported.data.startswith(b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<annotations>')
    root = etree.fromstring(exported.data)
    points = [(int(p.findtext("x")), int(p.findtext("y"))) for p in root.iter("point")]
    assert points == [nm_of(*p) for p in POLYGON_PX]  # the file's own nanometres again
    assert root.find("ndpviewstate/details").text == "check with HE"
    assert [a.name for a in read_ndpa(exported.data, FRAME).annotations] == ["islet", "disc"]

    # a raw NDPA body replaces the set too (placed on the set's slide)
    etag = client.get(body["set"]["urls"]["self"]).headers["ETag"]
    single = document([viewstate(1, "only", freehand([nm_of(*p) for p in POLYGON_PX[:3]]))])
    put = client.put(body["set"]["urls"]["self"], data=single, content_type="application/xml",
                     headers={"If-Match": etag, **SCRIPT})
    assert put.status_code == 200, put.get_json()
    (only,) = client.get(body["set"]["urls"]["self"]).get_json()["features"]
    assert only["properties"]["name"] == "only" and len(coordinates(only)) == 3


def test_ndpa_needs_a_slide_with_the_hamamatsu_frame(client: FlaskClient) -> None:
    for r in (upload(client, CMU, NDPA), upload(client, CMU, NDPA, filename="x.ndpa")):
        assert r.status_code == 422
        error = r.get_json()
        assert "hamamatsu.XOffsetFromSlideCentre" in error["error"] and CMU in error["error"]
        assert error["details"] == ["hamamatsu.XOffsetFromSlideCentre", "hamamatsu.YOffsetFromSlideCentre"]
    created = upload(client, CMU, IMAGESCOPE).get_json()["set"]
    refused = client.put(created["urls"]["self"], data=NDPA, content_type="application/xml", headers=SCRIPT)
    assert refused.status_code == 422 and "hamamatsu.YOffsetFromSlideCentre" in refused.get_json()["details"]
    export = client.get(created["urls"]["export"] + "?format=ndpa")
    assert export.status_code == 422 and "hamamatsu.XOffsetFromSlideCentre" in export.get_json()["error"]
    assert client.get(created["urls"]["export"] + "?format=ndp").status_code == 400
    # nothing was written by the refused requests
    sets = client.get(slide_urls(client, CMU)["annotations"]).get_json()["sets"]
    assert [(s["name"], s["annotation_count"], s["version"]) for s in sets] == [(created["name"], 4, 1)]


def test_hostile_and_oversized_bodies(client: FlaskClient) -> None:
    doctype = b'<?xml version="1.0"?>\n<!DOCTYPE Annotations [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    for body in (doctype + IMAGESCOPE, doctype + NDPA.split(b"?>\n", 1)[1]):
        r = upload(client, NDPI, body)
        assert r.status_code == 400 and r.get_json()["error"] == REFUSED, r.get_json()
    deep = (b"<Annotations><Annotation><Regions>" + b"<x>" * 300 + b"</x>" * 300
            + b"</Regions></Annotation></Annotations>")
    assert upload(client, CMU, deep).status_code == 400
    big = IMAGESCOPE.replace(b"<Attributes/>", b"<Attributes/>" + b" " * (1 << 20))
    assert upload(client, CMU, big).status_code == 413
    # a multipart file over the limit (encoded here: the test client spools a large one to a file it
    # never closes)
    padded = NDPA.replace(b"<annotations>", b"<annotations>" + b" " * (1 << 20))
    multipart = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="scan.ndpi.ndpa"\r\n'
                 b"Content-Type: application/octet-stream\r\n\r\n" + padded + b"\r\n--b0undary--\r\n")
    r = client.post(slide_urls(client, NDPI)["annotations"], data=multipart,
                    content_type="multipart/form-data; boundary=b0undary", headers=SCRIPT)
    assert r.status_code == 413 and "1 MiB" in r.get_json()["error"]
    assert client.get(slide_urls(client, CMU)["annotations"]).get_json()["sets"] == []


def test_openapi_describes_the_formats(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    text = str(spec)
    export = spec["paths"]["/api/sets/{set_id}/export"]["get"]
    (fmt,) = [p for p in export["parameters"] if p["name"] == "format"]
    assert {"imagescope", "ndpa"} <= set(fmt["schema"]["enum"])
    create = [op for path, ops in spec["paths"].items() for op in ops.values()
              if isinstance(op, dict) and op.get("operationId") == "createSet"][0]
    assert "NDPA" in create["summary"] and "hamamatsu.XOffsetFromSlideCentre" in create["description"]
    assert "ANNOTATION_DESCRIPTION" in text
