"""Roles and per-set permissions (issue 16) over real HTTP: a real ``wsi-viewer serve`` with
AUTH=builtin and an account of each role (API tokens: no CSRF in the way), and AUTH=none unchanged.

* a viewer writes nothing: every write operation of the OpenAPI document is 403;
* an annotator makes sets (owned by them, shared "read"), edits their own and the granted ones,
  and every set shared "edit" (a set made before accounts: no owner, "edit");
* a private set is invisible to others: the listing leaves it out, its id is a 404 like a set that
  does not exist; an admin reads and changes everything;
* the history names the authenticated author whatever X-User or a body's user says.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests._openapi_helpers import write_operations
from tests._server import free_port, running_process
from tests._slide_helpers import cmu_with_sidecar
from tests.test_web_read_only import page_config
from viewer.auth import Accounts
from viewer.store import Store, database_url

SLIDE = "CMU-1-Small-Region.svs"
ROLES = {"ana": "annotator", "ben": "annotator", "vic": "viewer", "root": "admin"}
DOT = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10, 20]},
       "properties": {"name": "dot", "annotationType": "Dot"}}


@dataclass
class Lab:
    url: str
    tokens: dict[str, str]

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def share(self, who: str, set_id: int, **body: Any) -> requests.Response:
        return self.call(who, "PUT", f"/api/sets/{set_id}/sharing", json=body)

    def sets(self, who: str) -> dict[str, dict[str, Any]]:
        listing = self.call(who, "GET", f"/api/annotations/{SLIDE}")
        assert listing.status_code == 200, listing.text
        return {s["name"]: s for s in listing.json()["sets"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("permissions")
    slides, data = cmu_with_sidecar(root / "slides"), root / "data"
    store = Store(database_url("", data))
    try:
        accounts = Accounts(store)
        for name, role in ROLES.items():
            accounts.add(name, role, f"{name}-password")
        tokens = {name: accounts.new_token(name, "tests") for name in ROLES}
    finally:
        store.close()
    port = free_port()
    command = [sys.executable, "-m", "viewer.cli", "serve", str(slides), "--port", str(port),
               "--data-dir", str(data), "--auth", "builtin"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSI_VIEWER_")}
    env["WSI_VIEWER_SERVE_ASSOCIATED_IMAGES"] = "1"
    base = f"http://127.0.0.1:{port}"  # the API needs a login: the login page says it is up
    with running_process(command, probe=base + "/login", log_path=root / "server.log", env=env):
        yield Lab(base, tokens)


def test_a_viewer_reads_and_writes_nothing_anonymous_nothing_at_all(lab: Lab) -> None:
    (imported,) = lab.sets("vic").values()
    assert imported["owner"] is None and imported["sharing"] == "edit" and imported["editors"] == []
    got = lab.call("vic", "GET", imported["urls"]["self"])
    assert got.status_code == 200 and got.json()["features"]
    ids = {"set_id": str(imported["id"]), "annotation_id": str(got.json()["features"][0]["id"]),
           "slide_id": SLIDE, "group_id": "1", "version": "1"}
    spec = lab.call("vic", "GET", "/api/openapi.json").json()
    refused = []
    for method, path, url in write_operations(spec, ids):
        answer = lab.call("vic", method.upper(), url, json={"name": "x", "sharing": "edit"})
        assert answer.status_code == 403, (method, url, answer.text)
        assert answer.json()["status"] == 403 and "viewer" in answer.json()["error"], answer.text
        assert lab.call(None, method.upper(), url, json={"name": "x"}).status_code == 401, url
        refused.append(f"{method} {path}")
    assert "post /api/annotations/{slide_id}" in refused and "put /api/sets/{set_id}/sharing" in refused
    assert len(refused) >= 15, refused
    after = lab.call("root", "GET", imported["urls"]["self"]).json()
    assert after["version"] == imported["version"]
    # the pages offer a viewer no editing (readOnly), an annotator theirs
    pages = {who: lab.call(who, "GET", f"/view/{SLIDE}") for who in ("vic", "ana")}
    assert [page_config(pages[who].text)["readOnly"] for who in ("vic", "ana")] == [True, False]
    # the label can carry a patient's name: annotators and admins only (ASSOCIATED_IMAGE_ROLES)
    assert lab.call("vic", "GET", f"/api/associated/label/{SLIDE}").status_code == 403
    label = lab.call("ana", "GET", f"/api/associated/label/{SLIDE}")
    assert label.status_code == 200 and label.content.startswith(b"\x89PNG")


def test_owners_editors_private_sets_and_admins(lab: Lab) -> None:
    made = lab.call("ana", "POST", f"/api/annotations/{SLIDE}", json={"name": "ana's", "user": "mallory"},
                    headers={"X-User": "mallory"})
    assert made.status_code == 201, made.text
    mine = made.json()["set"]
    assert (mine["owner"], mine["sharing"], mine["editors"]) == ("ana", "read", [])
    sid = mine["id"]
    try:
        # everyone reads a "read" set; only its owner (and editors) change it
        assert lab.call("vic", "GET", f"/api/sets/{sid}").status_code == 200
        refused = lab.call("ben", "POST", f"/api/sets/{sid}/annotations", json=DOT)
        assert refused.status_code == 403 and "ana" in refused.json()["error"], refused.text
        assert lab.call("ben", "PATCH", f"/api/sets/{sid}", json={"name": "ben's now"}).status_code == 403
        assert lab.share("ben", sid, editors=["ben"]).status_code == 403
        assert lab.call("ana", "POST", f"/api/sets/{sid}/annotations", json=DOT).status_code == 201
        # granted: ben edits, and the history names who did it, not what X-User says
        unknown = lab.share("ana", sid, editors=["ben", "nobody"])
        assert unknown.status_code == 422 and "nobody" in unknown.json()["error"], unknown.text
        shared = lab.call("ana", "PUT", mine["urls"]["sharing"], json={"editors": ["ben"]})
        assert shared.status_code == 200, shared.text
        assert shared.json() == {"set": sid, "owner": "ana", "sharing": "read", "editors": ["ben"]}
        added = lab.call("ben", "POST", f"/api/sets/{sid}/annotations", json=DOT, headers={"X-User": "ana"})
        assert added.status_code == 201, added.text
        assert lab.share("ben", sid, sharing="edit").status_code == 403
        history = lab.call("vic", "GET", f"/api/sets/{sid}/history").json()["changes"]
        assert [(c["who"], c["kind"]) for c in history[:2]] == [("ben", "create"), ("ana", "sharing")]
        assert history[1]["message"] == "sharing 'read', editors: ben" and history[-1]["who"] == "ana"
        # private: gone for everyone but its owner, its editors and admins, by id guessing too
        private = lab.share("ana", sid, sharing="private")
        assert private.status_code == 200 and private.json()["sharing"] == "private"
        assert "ana's" not in lab.sets("vic") and "ana's" in lab.sets("ben") and "ana's" in lab.sets("root")
        # nor counted in the slide's entry (listing and detail) for those who may not read it
        seen = {who: lab.call(who, "GET", f"/api/slides/{SLIDE}").json() for who in ("vic", "root")}
        listed = next(s for s in lab.call("vic", "GET", "/api/slides").json()["slides"] if s["id"] == SLIDE)
        assert (listed["set_count"], listed["annotation_count"]) == (
            seen["vic"]["set_count"], seen["vic"]["annotation_count"])
        assert seen["root"]["set_count"] == seen["vic"]["set_count"] + 1
        assert seen["root"]["annotation_count"] == seen["vic"]["annotation_count"] + 2
        nothing = lab.call("vic", "GET", "/api/sets/999999")
        for path in (f"/api/sets/{sid}", f"/api/sets/{sid}/history", f"/api/sets/{sid}/asap.xml",
                     f"/api/sets/{sid}/summary", f"/api/sets/{sid}/export?format=geojson",
                     f"/api/sets/{sid}/history/1", f"/api/sets/{sid}/diff?from=0"):
            hidden = lab.call("vic", "GET", path)
            assert hidden.status_code == 404 and hidden.json()["error"] == nothing.json()["error"], path
        assert lab.call("ana", "GET", f"/api/sets/{sid}/export?format=geojson").status_code == 200
        # an admin reads and changes everything, the sharing too
        assert lab.call("root", "PATCH", f"/api/sets/{sid}", json={"name": "renamed"}).status_code == 200
        assert lab.share("root", sid, sharing="edit").status_code == 200
        # "edit": every annotator edits; a viewer still reads only
        assert lab.share("ben", sid, editors=[]).status_code == 403
        assert lab.share("root", sid, editors=[]).status_code == 200
        assert lab.call("ben", "POST", f"/api/sets/{sid}/annotations", json=DOT).status_code == 201
        assert lab.call("vic", "POST", f"/api/sets/{sid}/annotations", json=DOT).status_code == 403
    finally:  # the other test lists the slide's sets: leave it as it was
        lab.share("root", sid, sharing="private", editors=[])
    # a set made before accounts (no owner, "edit") is every annotator's
    (legacy,) = (s for s in lab.sets("ben").values() if s["owner"] is None)
    assert lab.call("ben", "POST", f"/api/sets/{legacy['id']}/annotations", json=DOT).status_code == 201
    # the slide's first set as ASAP XML is that set, with the same rules
    xml = lab.call("ben", "GET", f"/api/annotations-xml/{SLIDE}")
    assert xml.status_code == 200 and xml.headers["ETag"] == f'"{legacy["version"] + 1}"'
    put = {"data": xml.content, "headers": {"Content-Type": "application/xml", "X-Requested-With": "tests"}}
    saved = lab.call("ben", "PUT", f"/api/annotations-xml/{SLIDE}", **put)
    assert saved.status_code == 200, saved.text
    assert lab.share("root", legacy["id"], sharing="private").status_code == 200
    try:
        assert lab.call("ben", "GET", f"/api/annotations-xml/{SLIDE}").status_code == 404
        assert lab.call("ben", "PUT", f"/api/annotations-xml/{SLIDE}", **put).status_code == 404
        assert lab.call("root", "PUT", f"/api/annotations-xml/{SLIDE}", **put).status_code == 200
    finally:
        lab.share("root", legacy["id"], sharing="edit")



def test_an_annotator_writes_nothing_to_anothers_private_set_by_id_guessing(lab: Lab) -> None:
    """Every write operation on a private set's id, by an annotator it is not shared with: 404, the
    answer to the same operation on a set that does not exist; the set is unchanged."""
    made = lab.call("ana", "POST", f"/api/annotations/{SLIDE}", json={"name": "ana's private"})
    assert made.status_code == 201, made.text
    sid = made.json()["set"]["id"]
    dot = lab.call("ana", "POST", f"/api/sets/{sid}/annotations", json=DOT)
    assert dot.status_code == 201, dot.text
    assert lab.share("ana", sid, sharing="private").status_code == 200
    before = lab.call("ana", "GET", f"/api/sets/{sid}").json()
    annotation_id = str(before["features"][0]["id"])
    spec = lab.call("ben", "GET", "/api/openapi.json").json()
    ids = {"set_id": str(sid), "annotation_id": annotation_id, "slide_id": SLIDE, "group_id": "1",
           "version": "1"}
    absent = {**ids, "set_id": "999999"}
    tried = []
    for (method, path, url), (_, _, nowhere) in zip(write_operations(spec, ids),
                                                     write_operations(spec, absent), strict=True):
        if "{set_id}" not in path:
            continue
        body = {"json": {**DOT, "name": "ben was here", "sharing": "edit", "editors": ["ben"]}}
        guessed = lab.call("ben", method.upper(), url, **body)
        missing = lab.call("ben", method.upper(), nowhere, **body)
        assert guessed.status_code == 404, (method, url, guessed.text)
        assert guessed.json()["error"] == missing.json()["error"], (method, url, guessed.text)
        tried.append(f"{method} {path}")
    assert {"post /api/sets/{set_id}/annotations", "patch /api/sets/{set_id}", "put /api/sets/{set_id}",
            "put /api/sets/{set_id}/sharing",
            "delete /api/sets/{set_id}/annotations/{annotation_id}"} <= set(tried), tried
    after = lab.call("ana", "GET", f"/api/sets/{sid}").json()
    assert after["version"] == before["version"] and after["features"] == before["features"]
    assert lab.sets("ana")["ana's private"]["sharing"] == "private"

def test_without_auth_everyone_is_an_admin_as_before(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    client = make_app(SLIDE_DIR=str(cmu_with_sidecar(tmp_path / "slides"))).test_client()
    made = client.post(f"/api/annotations/{SLIDE}", json={"name": "mine"}, headers={"X-User": "eve"})
    assert made.status_code == 201, made.get_json()
    info = made.get_json()["set"]
    assert (info["owner"], info["sharing"], info["editors"], info["created_by"]) == (None, "edit", [], "eve")
    sid = info["id"]
    assert client.post(f"/api/sets/{sid}/annotations", json=DOT).status_code == 201
    shared = client.put(f"/api/sets/{sid}/sharing", json={"sharing": "private"})
    assert shared.status_code == 200 and shared.get_json()["sharing"] == "private"
    assert [s["name"] for s in client.get(f"/api/annotations/{SLIDE}").get_json()["sets"]][-1] == "mine"
    bad = client.put(f"/api/sets/{sid}/sharing", json={"sharing": "everyone"})
    assert bad.status_code == 422, bad.get_json()
    assert client.get(f"/api/associated/label/{SLIDE}").status_code == 403  # SERVE_ASSOCIATED_IMAGES off
    assert client.get(TILE).headers["Cache-Control"] == "public, max-age=31536000, immutable"  # any cache


def test_associated_image_roles_name_roles() -> None:
    from viewer.config import load_settings
    from viewer.errors import ConfigError

    settings = load_settings(None, overrides={"ASSOCIATED_IMAGE_ROLES": "admin"})
    assert settings["ASSOCIATED_IMAGE_ROLES"] == "admin"
    with pytest.raises(ConfigError, match="annotators"):
        load_settings(None, overrides={"ASSOCIATED_IMAGE_ROLES": "admin, annotators"})


TILE = f"/deepzoom/{SLIDE}_files/11/1_1.jpeg"
PRIVATE_TILE = "private, max-age=31536000, immutable"


def _heat_tiff() -> bytes:
    """A small heat map over the slide: zeros with one hot square (one region at threshold 128)."""
    import io

    import numpy as np
    import tifffile

    values = np.zeros((186, 139), np.uint8)
    values[40:80, 30:70] = 200
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, values)
    return buffer.getvalue()


def test_new_sets_are_owned_in_their_creating_change_and_tiles_are_cached_privately(lab: Lab) -> None:
    # the sets API: owner and sharing come with the set, the history holds the one creating change
    made = lab.call("ana", "POST", f"/api/annotations/{SLIDE}", json={"name": "owned at birth"})
    assert made.status_code == 201, made.text
    sid = made.json()["set"]["id"]
    overlay_url = None
    try:
        assert (made.json()["set"]["owner"], made.json()["set"]["sharing"]) == ("ana", "read")
        changes = lab.call("ana", "GET", f"/api/sets/{sid}/history").json()["changes"]
        assert [(c["version"], c["kind"], c["who"]) for c in changes] == [(1, "create", "ana")], changes
        # slide tiles with logins: a year in the browser's cache, in no shared one; the fast path
        # (a plain GET), the route (a conditional GET: 304, and 200 on another tag) alike
        tile = lab.call("ana", "GET", TILE)
        assert tile.status_code == 200 and tile.headers["Cache-Control"] == PRIVATE_TILE
        etag = tile.headers["ETag"]
        again = lab.call("ana", "GET", TILE, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["Cache-Control"] == PRIVATE_TILE
        other = lab.call("ana", "GET", TILE, headers={"If-None-Match": '"other"'})
        assert other.status_code == 200 and other.headers["Cache-Control"] == PRIVATE_TILE
        # an overlay's value tiles alike, and its regions as a set owned by who asked, in one change
        upload = lab.call("ana", "POST", f"/api/slides/{SLIDE}/overlays", headers={"X-Requested-With": "t"},
                          files={"file": ("heat.tif", _heat_tiff())}, data={"name": "heat"})
        assert upload.status_code == 201, upload.text
        overlay = upload.json()
        overlay_url = overlay["urls"]["self"]
        value_tile = lab.call("ana", "GET", overlay["urls"]["tiles"].format(level=overlay["native_level"],
                                                                            col=0, row=0))
        assert value_tile.status_code == 200 and value_tile.headers["Cache-Control"] == PRIVATE_TILE
        regions = lab.call("ana", "POST", overlay["urls"]["polygons"],
                           json={"threshold": 128, "tolerance_um": 1, "min_area_um2": 0})
        assert regions.status_code == 201, regions.text
        region_set = regions.json()["set"]
        try:
            assert (region_set["owner"], region_set["sharing"]) == ("ana", "read")
            history = lab.call("ana", "GET", f"/api/sets/{region_set['id']}/history").json()["changes"]
            assert [(c["kind"], c["who"]) for c in history] == [("create", "ana")], history
        finally:
            assert lab.share("ana", region_set["id"], sharing="private").status_code == 200  # out of lists
    finally:
        assert lab.share("ana", sid, sharing="private").status_code == 200  # sets are not deleted: hidden
        if overlay_url is not None:
            assert lab.call("ana", "DELETE", overlay_url).status_code in (200, 204)


def test_mask_jobs_are_seen_only_by_who_may_read_their_set(lab: Lab) -> None:
    made = lab.call("ana", "POST", f"/api/annotations/{SLIDE}", json={"name": "masked"})
    assert made.status_code == 201, made.text
    aset = made.json()["set"]
    try:
        square = {"type": "Feature", "properties": {"name": "sq", "annotationType": "Polygon"},
                  "geometry": {"type": "Polygon",
                               "coordinates": [[[100, 100], [400, 100], [400, 400], [100, 400], [100, 100]]]}}
        assert lab.call("ana", "POST", f"/api/sets/{aset['id']}/annotations", json=square).status_code == 201
        started = lab.call("ana", "POST", f"{aset['urls']['export']}?format=mask&downsample=8", json={})
        assert started.status_code == 202, started.text
        job = started.json()
        for _ in range(300):
            polled = lab.call("ben", "GET", job["urls"]["self"])  # ben reads the "read" set: the job too
            assert polled.status_code == 200, polled.text
            if polled.json()["state"] == "done":
                break
            time.sleep(0.1)
        assert polled.json()["state"] == "done", polled.text
        assert lab.call("ben", "GET", job["urls"]["result"]).status_code == 200
        # private now: to ben the job is what a job that does not exist is, on every route
        assert lab.share("ana", aset["id"], sharing="private").status_code == 200
        unknown = lab.call("ben", "GET", "/api/jobs/" + "0" * len(job["id"]))
        assert unknown.status_code == 404
        for method, url in (("GET", job["urls"]["self"]), ("GET", job["urls"]["result"]),
                            ("POST", job["urls"]["cancel"]), ("DELETE", job["urls"]["self"])):
            refused = lab.call("ben", method, url, headers={"X-Requested-With": "t"})
            assert refused.status_code == 404, (method, url, refused.text)
            assert refused.json()["error"] == unknown.json()["error"], refused.text
        assert lab.call(None, "GET", job["urls"]["result"]).status_code == 401
        # its owner and an admin still see it; the owner deletes it
        result = lab.call("root", "GET", job["urls"]["result"])
        assert result.status_code == 200 and result.content[:4] in (b"II*\0", b"II+\0")
        deleted = lab.call("ana", "DELETE", job["urls"]["self"], headers={"X-Requested-With": "t"})
        assert deleted.status_code == 204
        assert lab.call("ana", "GET", job["urls"]["self"]).status_code == 404
    finally:
        assert lab.share("ana", aset["id"], sharing="private").status_code == 200

