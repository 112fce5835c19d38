"""The annotation API over the store's follow-ups, through the real app on SQLite and PostgreSQL:
groups sharing a name uploaded and read back as ASAP has them, group edits that would move members
refused, a sidecar's reader warnings in the set listing, renames of a set under If-Match, and the
Cache-Control of annotation answers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap
from viewer.app import create_app

DATA = Path(__file__).parent / "data"
TWINS_XML = DATA / "asap" / "derived" / "tumor_111_twin_groups.xml"
STRAY_XML = DATA / "asap" / "derived" / "tumor_111_stray_text.xml"
SLIDE_ID = "CMU-1-Small-Region.svs"
SCRIPT = {"X-Requested-With": "tests"}


@pytest.fixture(params=ENGINES)
def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Factory of test clients over a slide directory holding the small Aperio slide and, when
    given, its sidecar."""
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / SLIDE_ID)
    apps = []
    with database_setting(request.param, tmp_path) as database:

        def factory(sidecar: Path | None = None, **settings: Any) -> FlaskClient:
            if sidecar is not None:
                shutil.copy(sidecar, slides / "CMU-1-Small-Region.xml")
            config = {"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp_path / "data"), "DATABASE": database}
            app = create_app({**config, **settings})
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


def the_slide(client: FlaskClient) -> dict[str, Any]:
    (slide,) = client.get("/api/slides").get_json()["slides"]
    return slide  # type: ignore[no-any-return]


def test_an_upload_with_twin_groups_answers_its_warnings_and_reads_back_byte_identical(
    make_client: Any,
) -> None:
    client = make_client()
    slide = the_slide(client)
    data = TWINS_XML.read_bytes()
    expected: list[str] = []
    read_asap(data, warnings=expected)
    assert any("repeats the group name" in w for w in expected)
    put = client.put(slide["urls"]["annotations_xml"], data=data, content_type="application/xml",
                     headers={**SCRIPT, "If-Match": '"0"'})
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["warnings"] == expected
    got = client.get(slide["urls"]["annotations_xml"])
    assert got.status_code == 200 and got.data == data
    assert got.headers["ETag"] == put.headers["ETag"]
    created = client.post(slide["urls"]["annotations"] + "?name=copy", data=data,
                          content_type="application/xml", headers=SCRIPT)
    assert created.status_code == 201 and created.get_json()["warnings"] == expected
    copy = created.get_json()["set"]
    assert client.get(copy["urls"]["asap_xml"]).data == data
    # a second group of an existing name would take over its members: refused, nothing written
    refused = client.post(copy["urls"]["groups"], json={"name": "tissue"})
    assert refused.status_code == 409 and "already has a group named 'tissue'" in refused.get_json()["error"]
    assert client.get(copy["urls"]["self"]).headers["ETag"] == created.headers["ETag"]
    # one twin's parent alone: 422; renaming onto a taken name: 409
    groups = client.get(copy["urls"]["self"]).get_json()["groups"]
    first = groups[0]
    url = f"{copy['urls']['groups']}/{first['id']}"
    body = {"name": "tissue", "parent": "artifact", "color": first["color"], "attributes": {}}
    assert client.put(url, json=body).status_code == 422
    assert client.put(url, json={**body, "name": "artifact", "parent": None}).status_code == 409
    # the first twin holds nothing: it deletes; the last one does not while it has members
    assert client.delete(url).status_code == 200
    last = f"{copy['urls']['groups']}/{groups[3]['id']}"
    assert client.delete(last).status_code == 409


def test_the_set_listing_shows_what_the_reader_tolerated_in_the_sidecar(make_client: Any) -> None:
    client = make_client(sidecar=STRAY_XML, SIDECAR_WRITEBACK=True)
    expected: list[str] = []
    read_asap(STRAY_XML, warnings=expected)
    assert len(expected) == 2 and "line 7: text 'stray text'" in expected[0]
    listing = client.get(the_slide(client)["urls"]["annotations"]).get_json()
    (imported,) = listing["sets"]
    assert imported["sidecar"] == {"file": "CMU-1-Small-Region.xml", "error": None, "warnings": expected}
    assert client.get(imported["urls"]["self"]).get_json()["sidecar"]["warnings"] == expected
    # written back, the file is this server's own: the stray text is gone, and so are its warnings
    group = client.post(imported["urls"]["groups"], json={"name": "new"})
    assert group.status_code == 201, group.get_json()
    after = client.get(the_slide(client)["urls"]["annotations"]).get_json()["sets"][0]
    assert after["sidecar"] == {"file": "CMU-1-Small-Region.xml", "error": None, "warnings": []}
    # a set with no sidecar has none
    made = client.post(the_slide(client)["urls"]["annotations"], json={"name": "mine"}).get_json()["set"]
    assert made["sidecar"] is None


def test_rename_set_takes_if_match(make_client: Any) -> None:
    client = make_client()
    slide = the_slide(client)
    made = client.post(slide["urls"]["annotations"], json={"name": "first"})
    assert made.status_code == 201
    aset, etag = made.get_json()["set"], made.headers["ETag"]
    stale = client.patch(aset["urls"]["self"], json={"name": "second"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412 and stale.get_json()["current"] == aset["version"]
    assert stale.headers["ETag"] == etag and stale.headers["Cache-Control"] == "private, no-cache"
    assert client.get(aset["urls"]["self"]).get_json()["name"] == "first"  # nothing changed
    weak = client.patch(aset["urls"]["self"], json={"name": "second"}, headers={"If-Match": f"W/{etag}"})
    assert weak.status_code == 412
    bad = client.patch(aset["urls"]["self"], json={"name": "second"}, headers={"If-Match": "7"})
    assert bad.status_code == 400
    renamed = client.patch(aset["urls"]["self"], json={"name": "second"}, headers={"If-Match": etag})
    assert renamed.status_code == 200 and renamed.get_json()["set"]["name"] == "second"
    assert renamed.headers["ETag"] == f'"{aset["version"] + 1}"'
    assert renamed.headers["Cache-Control"] == "private, no-cache"
    assert client.patch(aset["urls"]["self"], json={"name": "third"}).status_code == 200  # optional
    other = client.post(slide["urls"]["annotations"], json={"name": "other"}).get_json()["set"]
    taken = client.patch(other["urls"]["self"], json={"name": "third"},
                         headers={"If-Match": f'"{other["version"]}"'})
    assert taken.status_code == 409
    history = client.get(aset["urls"]["history"])
    assert [c["kind"] for c in history.get_json()["changes"]][:2] == ["rename", "rename"]
    assert history.headers["Cache-Control"] == "private, no-cache"
