"""The annotation HTTP API through the real app: sets of a slide, GeoJSON and ASAP XML reads and
writes with ETags, single annotations and groups, history, diff, restore, export, import, viewport
queries and limits. The store runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tifffile
from flask.testing import FlaskClient

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.geojson import from_geojson
from viewer.app import create_app

DATA = Path(__file__).parent / "data"
REAL = DATA / "asap" / "real"
SLIDE_ID = "CMU-1-Small-Region.svs"
#: What a legitimate client adds to an XML or multipart upload: a page of this server sends its own
#: Origin (the test client's host is localhost), curl and scripts an X-Requested-With header.
BROWSER = {"Origin": "http://localhost"}
SCRIPT = {"X-Requested-With": "tests"}


@pytest.fixture(params=ENGINES)
def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Factory of test clients over a slide directory holding the small Aperio slide and a sidecar."""
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / SLIDE_ID)
    apps = []
    with database_setting(request.param, tmp_path) as database:

        def factory(sidecar: str | None = "tumor_111.xml", **settings: Any) -> FlaskClient:
            if sidecar:
                shutil.copy(REAL / sidecar, slides / "CMU-1-Small-Region.xml")
            app = create_app(
                {
                    "SLIDE_DIR": str(slides),
                    "DATA_DIR": str(tmp_path / "data"),
                    "DATABASE": database,
                    **settings,
                }
            )
            app.config["TESTING"] = True
            apps.append(app)
            return app.test_client()

        yield factory
        for app in apps:
            services = app.extensions["wsi_viewer"]
            if "store" in services.__dict__:
                services.store.close()
            if "slides" in services.__dict__:
                services.slides.close()


@pytest.fixture()
def client(make_client: Any) -> FlaskClient:
    return make_client()  # type: ignore[no-any-return]


def the_slide(client: FlaskClient) -> dict[str, Any]:
    (slide,) = client.get("/api/slides").get_json()["slides"]
    return slide  # type: ignore[no-any-return]


def the_set(client: FlaskClient) -> dict[str, Any]:
    return client.get(the_slide(client)["urls"]["annotations"]).get_json()["sets"][0]  # type: ignore[no-any-return]


def feature(name: str, ring: list[list[float]], group: str | None = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
        "properties": {"name": name, "asap": {"type": "Polygon", "group": group, "color": "#F4FA58"}},
    }


SQUARE = [[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0]]


def test_slide_listing_counts_sidecar_annotations_and_links_them(client: FlaskClient) -> None:
    slide = the_slide(client)
    expected = read_asap(REAL / "tumor_111.xml")
    assert slide["annotation_count"] == len(expected.annotations)
    listing = client.get(slide["urls"]["annotations"]).get_json()
    (s,) = listing["sets"]
    assert s["sidecar"] == {"file": "CMU-1-Small-Region.xml", "error": None, "warnings": []}
    assert s["created_by"] == "sidecar" and s["vertex_count"] == expected.vertex_count()
    xml = client.get(slide["urls"]["annotations_xml"])
    assert xml.status_code == 200 and xml.data == (REAL / "tumor_111.xml").read_bytes()
    detail = client.get(slide["urls"]["info"]).get_json()
    assert detail["annotation_count"] == len(expected.annotations)


def test_set_json_round_trips_and_carries_an_etag(client: FlaskClient) -> None:
    s = the_set(client)
    r = client.get(s["urls"]["self"])
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    body = r.get_json()
    assert r.headers["ETag"] == f'"{body["version"]}"'
    assert from_geojson(body) == read_asap(REAL / "tumor_111.xml")
    assert all(isinstance(f["id"], int) and f["properties"]["version"] == 1 for f in body["features"])
    assert client.get(s["urls"]["self"], headers={"If-None-Match": r.headers["ETag"]}).status_code == 304

    # Replace through JSON with If-Match; the old ETag is then stale.
    body["features"] = body["features"][:3]
    put = client.put(s["urls"]["self"], json=body, headers={"If-Match": r.headers["ETag"], "X-User": "ann"})
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["change"]["deleted"] == len(read_asap(REAL / "tumor_111.xml").annotations) - 3
    stale = client.put(s["urls"]["self"], json=body, headers={"If-Match": r.headers["ETag"]})
    assert stale.status_code == 412 and stale.get_json()["current"] == put.get_json()["set_version"]
    assert len(client.get(s["urls"]["self"]).get_json()["features"]) == 3


def test_asap_xml_put_and_get(client: FlaskClient) -> None:
    slide = the_slide(client)
    etag = client.get(slide["urls"]["annotations_xml"]).headers["ETag"]
    data = (REAL / "tumor_031.xml").read_bytes()
    r = client.put(
        slide["urls"]["annotations_xml"],
        data=data,
        content_type="application/xml",
        headers={"If-Match": etag, **BROWSER},
    )
    assert r.status_code == 200
    assert client.get(slide["urls"]["annotations_xml"]).data == data
    bad = client.put(
        slide["urls"]["annotations_xml"],
        data=b"<ASAP_Annotations><Annotations><Annotation",
        content_type="application/xml",
        headers=SCRIPT,
    )
    assert bad.status_code in (400, 422) and bad.get_json()["details"]


def test_single_annotations_have_their_own_versions(client: FlaskClient) -> None:
    s = the_set(client)
    created = client.post(s["urls"]["annotations"], json=feature("mine", SQUARE), headers={"X-User": "bob"})
    assert created.status_code == 201
    url = created.headers["Location"]
    etag = created.headers["ETag"]
    other = client.get(s["urls"]["self"]).get_json()["features"][0]
    other_url = f"{s['urls']['annotations']}/{other['id']}"
    # An edit of another annotation does not make this one stale.
    moved = feature("theirs", [[x + 1, y] for x, y in SQUARE])
    assert (
        client.put(
            other_url, json=moved, headers={"If-Match": f'"{other["properties"]["version"]}"'}
        ).status_code
        == 200
    )
    upd = client.put(url, json=feature("mine v2", SQUARE), headers={"If-Match": etag})
    assert upd.status_code == 200 and upd.headers["ETag"] != etag
    stale = client.put(url, json=feature("mine v3", SQUARE), headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.get_json()["current"]["properties"]["name"] == "mine v2"
    assert stale.headers["ETag"] == upd.headers["ETag"]
    got = client.get(url)
    assert got.get_json()["properties"]["name"] == "mine v2" and got.headers["ETag"] == upd.headers["ETag"]
    assert client.delete(url, headers={"If-Match": etag}).status_code == 412
    assert client.delete(url, headers={"If-Match": upd.headers["ETag"]}).status_code == 200
    assert client.get(url).status_code == 404
    history = client.get(s["urls"]["history"]).get_json()["changes"]
    assert [c["kind"] for c in history[:4]] == ["delete", "update", "update", "create"]
    assert history[3]["who"] == "bob"


def test_groups_crud_and_rename_carries_members(client: FlaskClient) -> None:
    s = the_set(client)
    g = client.post(
        s["urls"]["groups"], json={"name": "stroma", "color": "#00ff00", "attributes": {"k": "v"}}
    )
    assert g.status_code == 201
    group_url = g.headers["Location"]
    a = client.post(s["urls"]["annotations"], json=feature("in stroma", SQUARE, group="stroma"))
    assert a.status_code == 201
    renamed = client.put(
        group_url, json={"name": "stroma2", "color": "#00ff00"}, headers={"If-Match": g.headers["ETag"]}
    )
    assert renamed.status_code == 200 and renamed.get_json()["change"]["updated"] == 2
    assert client.get(a.headers["Location"]).get_json()["properties"]["asap"]["group"] == "stroma2"
    assert client.delete(group_url).status_code == 409
    assert client.delete(a.headers["Location"]).status_code == 200
    assert client.delete(group_url).status_code == 200
    dup = client.post(s["urls"]["groups"], json={"name": "tumor"})  # tumor_111 has it already
    existing = {g["name"] for g in client.get(s["urls"]["self"]).get_json()["groups"]}
    if "tumor" in existing and dup.status_code != 201:
        assert dup.status_code == 422


def test_history_past_states_diff_and_restore(client: FlaskClient) -> None:
    s = the_set(client)
    original_xml = client.get(s["urls"]["asap_xml"]).data
    first = client.get(s["urls"]["self"]).get_json()["features"][0]
    client.delete(f"{s['urls']['annotations']}/{first['id']}", headers={"X-User": "eve"})
    client.post(s["urls"]["annotations"], json=feature("new", SQUARE))
    changes = client.get(s["urls"]["history"]).get_json()["changes"]
    assert [c["version"] for c in changes] == [3, 2, 1]
    past = client.get(changes[-1]["urls"]["asap_xml"])
    assert past.data == original_xml and past.headers["ETag"] == '"1"'
    assert len(client.get(changes[-1]["urls"]["state"]).get_json()["features"]) == len(
        read_asap(REAL / "tumor_111.xml").annotations
    )
    detail = client.get(changes[1]["urls"]["change"]).get_json()
    assert detail["who"] == "eve" and detail["items"][0]["after"] is None
    assert detail["items"][0]["before"]["geometry"] == first["geometry"]
    diff = client.get(s["urls"]["diff"], query_string={"from": 1, "to": 3}).get_json()
    assert {(i["before"] is None, i["after"] is None) for i in diff["items"]} == {
        (True, False),
        (False, True),
    }
    restored = client.post(s["urls"]["restore"], json={"version": 1}, headers={"If-Match": '"3"'})
    assert restored.status_code == 200 and restored.get_json()["change"]["kind"] == "restore"
    assert client.get(s["urls"]["asap_xml"]).data == original_xml
    assert len(client.get(s["urls"]["history"]).get_json()["changes"]) == 4
    assert (
        client.post(s["urls"]["restore"], json={"version": 1}, headers={"If-Match": '"3"'}).status_code == 412
    )
    assert client.post(s["urls"]["restore"], json={"version": 99}).status_code == 404


def test_viewport_query_and_simplification(client: FlaskClient) -> None:
    s = the_set(client)
    everything = client.get(s["urls"]["self"]).get_json()["features"]

    def bbox(f: dict[str, Any]) -> tuple[float, float, float, float]:
        ring = f["geometry"]["coordinates"][0]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        return min(xs), min(ys), max(xs), max(ys)

    x0, y0, x1, y1 = bbox(everything[0])
    view = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    got = client.get(s["urls"]["self"], query_string={"bbox": ",".join(map(str, view))}).get_json()
    expected = [
        f["id"]
        for f in everything
        if bbox(f)[0] <= view[2] and bbox(f)[2] >= view[0] and bbox(f)[1] <= view[3] and bbox(f)[3] >= view[1]
    ]
    assert [f["id"] for f in got["features"]] == expected and expected

    def vertices(tolerance: str) -> int:
        got = client.get(s["urls"]["self"], query_string={"bbox": "-1e9,-1e9,1e9,1e9", "simplify": tolerance})
        features = got.get_json()["features"]
        assert len(features) == len(everything)
        return sum(len(f["geometry"]["coordinates"][0]) for f in features)

    full_vertices = sum(len(f["geometry"]["coordinates"][0]) for f in everything)
    assert vertices("0") == full_vertices
    assert vertices("1024") <= vertices("64") < full_vertices
    for bad in ["1,2,3", "a,b,c,d", "5,5,1,1", "nan,0,1,1"]:
        r = client.get(s["urls"]["self"], query_string={"bbox": bad})
        assert r.status_code == 400 and r.get_json()["error"]
    assert client.get(s["urls"]["self"], query_string={"simplify": "-1"}).status_code == 400


def test_export_formats_and_upload_import(client: FlaskClient) -> None:
    s = the_set(client)
    xml = client.get(s["urls"]["export"], query_string={"format": "asap"})
    assert (
        xml.data == (REAL / "tumor_111.xml").read_bytes()
        and "attachment" in xml.headers["Content-Disposition"]
    )
    geo = client.get(s["urls"]["export"], query_string={"format": "geojson"})
    assert from_geojson(geo.data) == read_asap(REAL / "tumor_111.xml")
    slide = the_slide(client)
    # The slide is 2220x2967 px; draw a known square in a new set and check the mask's pixels.
    created = client.post(slide["urls"]["annotations"], json={"name": "mask test"}).get_json()["set"]
    client.post(created["urls"]["groups"], json={"name": "tumour"})
    client.post(
        created["urls"]["annotations"],
        json=feature("sq", [[100, 100], [300, 100], [300, 300], [100, 300]], group="tumour"),
    )
    mask = client.get(created["urls"]["export"], query_string={"format": "mask", "labels": "tumour=2"})
    assert mask.status_code == 200 and mask.mimetype == "image/tiff"
    with tifffile.TiffFile(io.BytesIO(mask.data)) as tif:
        pixels = tif.pages[0].asarray()
    assert pixels.shape == (2967, 2220)
    assert pixels[200, 200] == 2 and pixels[50, 50] == 0 and pixels[400, 400] == 0
    assert client.get(s["urls"]["export"], query_string={"format": "pdf"}).status_code == 400

    upload = client.post(
        slide["urls"]["annotations"],
        data={"file": (io.BytesIO((REAL / "tumor_031.xml").read_bytes()), "tumor_031.xml")},
        content_type="multipart/form-data",
        headers=SCRIPT,
    )
    assert upload.status_code == 201
    new = upload.get_json()["set"]
    assert new["name"] == "tumor_031.xml"
    assert client.get(new["urls"]["asap_xml"]).data == (REAL / "tumor_031.xml").read_bytes()
    again = client.post(
        slide["urls"]["annotations"],
        data={"file": (io.BytesIO(b"<x/>"), "tumor_031.xml")},
        content_type="multipart/form-data",
        headers=BROWSER,
    )
    assert again.status_code in (400, 409, 422)
    geojson = client.post(
        slide["urls"]["annotations"] + "?name=from-geojson",
        data=geo.data,
        content_type="application/geo+json",
    )
    assert geojson.status_code == 201
    assert geojson.get_json()["set"]["annotation_count"] == len(read_asap(REAL / "tumor_111.xml").annotations)


def test_validation_lists_every_problem_and_limits_hold(make_client: Any) -> None:
    client = make_client(MAX_SET_VERTICES=400)
    s = the_set(client)
    bad = {
        "type": "FeatureCollection",
        "features": [feature("a\x01", SQUARE), feature("b\x02", SQUARE), feature("c\x03", SQUARE)],
    }
    r = client.put(s["urls"]["self"], json=bad)
    assert r.status_code in (400, 422)
    assert len(r.get_json()["details"]) >= 3
    many = {
        "type": "FeatureCollection",
        "features": [feature(str(i), [[i, 0], [i + 1, 0], [i + 1, 1], [i, 1]]) for i in range(101)],
    }
    assert client.put(s["urls"]["self"], json=many).status_code == 413
    for body, ctype in [
        (b"{", "application/json"),
        (b"[1,2]", "application/json"),
        (b"\xff\xfe", "text/xml"),
    ]:
        r = client.put(s["urls"]["self"], data=body, content_type=ctype, headers=SCRIPT)
        assert r.status_code in (400, 422) and set(r.get_json()) >= {"error", "status", "details"}
    assert client.put(s["urls"]["self"], json=bad, headers={"If-Match": "garbage"}).status_code == 400
    assert client.get("/api/sets/99999").status_code == 404
    assert client.get("/api/sets/99999999999999999999999").status_code == 404
    assert client.get("/api/annotations/../etc/passwd").status_code == 404
    assert client.get(s["urls"]["history"]).get_json()["changes"][0]["version"] == 1


def test_writeback_over_http_keeps_desktop_asap_in_step(make_client: Any, tmp_path: Path) -> None:
    client = make_client(SIDECAR_WRITEBACK=True)
    s = the_set(client)
    r = client.post(s["urls"]["annotations"], json=feature("browser edit", SQUARE))
    assert r.status_code == 201 and "sidecar_error" not in r.get_json()
    on_disk = read_asap(tmp_path / "slides" / "CMU-1-Small-Region.xml")
    assert on_disk.annotations[-1].name == "browser edit"
    assert write_asap(on_disk) == client.get(s["urls"]["asap_xml"]).data


def test_demo_sidecar_is_imported_like_any_other(tmp_path: Path) -> None:
    """The built-in demo writes its ASAP XML beside its slide; the store imports it on first use."""
    from viewer.demo import DEMO_HEIGHT, DEMO_STEM, DEMO_WIDTH, write_demo_annotations

    slides = tmp_path / "demo"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / f"{DEMO_STEM}.svs")
    write_demo_annotations(slides / f"{DEMO_STEM}.xml", DEMO_WIDTH, DEMO_HEIGHT)
    expected = read_asap(slides / f"{DEMO_STEM}.xml")
    app = create_app({"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    slide = the_slide(client)
    assert slide["annotation_count"] == len(expected.annotations) > 0
    (s,) = client.get(slide["urls"]["annotations"]).get_json()["sets"]
    assert s["sidecar"]["file"] == f"{DEMO_STEM}.xml"
    assert client.get(s["urls"]["asap_xml"]).data == (slides / f"{DEMO_STEM}.xml").read_bytes()
    app.extensions["wsi_viewer"].store.close()
    app.extensions["wsi_viewer"].slides.close()


def test_unreachable_database_is_503_not_500(tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / SLIDE_ID)
    app = create_app(
        {
            "SLIDE_DIR": str(slides),
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE": "postgresql://nobody:nothing@127.0.0.1:1/none?connect_timeout=2",
        }
    )
    r = app.test_client().get(f"/api/annotations/{SLIDE_ID}")
    assert r.status_code == 503 and r.get_json()["error"] == "the annotation database is unavailable"
    assert r.headers["Retry-After"]
    app.extensions["wsi_viewer"].slides.close()


WARNED_XML = b'''<?xml version="1.0"?>
<ASAP_Annotations>
<Annotations>
<Annotation Name="a" Type="Polygon" PartOfGroup="twin" Color="#F4FA58"><Coordinates>
<Coordinate Order="0" X="10,5" Y="10"/><Coordinate Order="2" X="20" Y="20"/>
<Coordinate Order="1" X="20" Y="10"/>
</Coordinates></Annotation>
</Annotations>
<AnnotationGroups>
<Group Name="twin" PartOfGroup="None" Color="#64FE2E"><Attributes/></Group>
<Group Name="twin" PartOfGroup="None" Color="#FF0000"><Attributes/></Group>
</AnnotationGroups>
</ASAP_Annotations>
'''


def test_uploads_and_replaces_answer_with_their_readers_warnings(client: FlaskClient) -> None:
    """What the ASAP reader tolerates (a decimal comma, coordinates out of Order, two groups of one
    name) is accepted, and the write's answer lists it, one line each, as the reader says it."""
    expected: list[str] = []
    read_asap(WARNED_XML, warnings=expected)
    assert len(expected) >= 3 and any("twin" in w for w in expected)
    slide = the_slide(client)
    upload = client.post(slide["urls"]["annotations"] + "?name=warned", data=WARNED_XML,
                         content_type="application/xml", headers=SCRIPT)
    assert upload.status_code == 201 and upload.get_json()["warnings"] == expected
    new = upload.get_json()["set"]
    assert [g["name"] for g in client.get(new["urls"]["self"]).get_json()["groups"]] == ["twin", "twin"]
    for url in (new["urls"]["asap_xml"], new["urls"]["self"], slide["urls"]["annotations_xml"]):
        replaced = client.put(url, data=WARNED_XML, content_type="application/xml", headers=SCRIPT)
        assert replaced.status_code == 200, (url, replaced.get_json())
        assert replaced.get_json()["warnings"] == expected, url
    # GeoJSON: the model's own warnings (groups sharing a name) come back the same way
    geojson = client.get(new["urls"]["export"], query_string={"format": "geojson"}).data
    from_json = client.put(new["urls"]["self"], data=geojson, content_type="application/geo+json")
    assert from_json.status_code == 200 and any("twin" in w for w in from_json.get_json()["warnings"])
    clean = client.put(new["urls"]["self"], data=(REAL / "tumor_031.xml").read_bytes(),
                       content_type="application/xml", headers=SCRIPT)
    assert clean.status_code == 200 and clean.get_json()["warnings"] == []
