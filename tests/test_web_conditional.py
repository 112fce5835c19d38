"""HTTP conditional requests (RFC 9110 §13.1) on every route kind that sends an ETag, and the first
save of a slide without a set: the header parser, If-Match on each kind of write (strong
comparison: lists, ``*``, weak and stale tags are 412 with the current state, malformed ones 400),
If-None-Match on each kind of read (weak comparison, 304), and two first saves racing against a
real server process. The store runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from tests._server import running_server
from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap
from viewer.app import create_app
from viewer.web.conditional import EntityTags, parse_entity_tags

DATA = Path(__file__).parent / "data"
REAL = DATA / "asap" / "real"
SLIDE_ID = "CMU-1-Small-Region.svs"
SCRIPT = {"X-Requested-With": "tests"}
XML_A = (REAL / "tumor_031.xml").read_bytes()
XML_B = (REAL / "tumor_111.xml").read_bytes()


# --------------------------------------------------------------------------------------------------
# The parser


def test_entity_tag_lists_parse_as_rfc_9110_says() -> None:
    assert parse_entity_tags("*") == EntityTags(star=True)
    assert parse_entity_tags(' \t* ') == EntityTags(star=True)
    assert parse_entity_tags('"3"') == EntityTags(False, ((False, "3"),))
    assert parse_entity_tags('"3", W/"4" ,"x,y"') == EntityTags(
        False, ((False, "3"), (True, "4"), (False, "x,y")))
    assert parse_entity_tags(', "3",,') == EntityTags(False, ((False, "3"),))  # empty elements
    assert parse_entity_tags('""') == EntityTags(False, ((False, ""),))
    assert parse_entity_tags('"\xb2"') == EntityTags(False, ((False, "\xb2"),))  # obs-text
    for bad in ("", " ", ",", "3", '"3', '3"', 'W/3', 'w/"3"', '"3" "4"', '*, "3"', '"a b"', '"a\x01"',
                '"3";', "**"):
        assert parse_entity_tags(bad) is None, repr(bad)
    tags = parse_entity_tags('"3", W/"4", "x", "99999999999999999999"')
    assert tags is not None and tags.strong_versions() == frozenset({3})
    assert tags.matches_weakly('"4"') and tags.matches_weakly('W/"3"') and not tags.matches_weakly('"5"')


# --------------------------------------------------------------------------------------------------
# Through the app


@pytest.fixture(params=ENGINES)
def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., FlaskClient]]:
    """Test clients of apps over the small Aperio slide, each in its own slide and data directory,
    with the sidecar *sidecar* (None: a slide without a set)."""
    apps = []
    with database_setting(request.param, tmp_path) as database:

        def factory(sidecar: str | None = "tumor_111.xml", **settings: Any) -> FlaskClient:
            root = tmp_path / f"app-{len(apps)}"
            (root / "slides").mkdir(parents=True)
            shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, root / "slides" / SLIDE_ID)
            if sidecar:
                shutil.copy(REAL / sidecar, root / "slides" / "CMU-1-Small-Region.xml")
            app = create_app({"SLIDE_DIR": str(root / "slides"), "DATA_DIR": str(root / "data"),
                              "DATABASE": database, **settings})
            apps.append(app)
            return app.test_client()

        yield factory
        for app in apps:
            app.extensions["wsi_viewer"].store.close()


def _set(client: FlaskClient) -> dict[str, Any]:
    return client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]  # type: ignore[no-any-return]


def _square(name: str, x: float = 10) -> dict[str, Any]:
    ring = [[x, 10], [x + 10, 10], [x + 10, 20], [x, 20], [x, 10]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name}}


class Kind:
    """One kind of conditional write: how to read the resource's ETag and how to write it."""

    def __init__(self, name: str, etag: Callable[[FlaskClient], str],
                 write: Callable[[FlaskClient, dict[str, str]], Any], exists_after: bool = True) -> None:
        self.name, self.etag, self.write, self.exists_after = name, etag, write, exists_after


def _annotation_url(client: FlaskClient) -> str:
    s = _set(client)
    first = client.get(s["urls"]["self"]).get_json()["features"][0]
    return f"{s['urls']['annotations']}/{first['id']}"


def _group_url(client: FlaskClient) -> str:
    s = _set(client)
    found = [g for g in client.get(s["urls"]["self"]).get_json()["groups"] if g["name"] == "spare"]
    if not found:
        created = client.post(s["urls"]["groups"], json={"name": "spare"})
        return created.headers["Location"]  # type: ignore[no-any-return]
    return f"{s['urls']['groups']}/{found[0]['id']}"


KINDS = [
    Kind("set PUT (GeoJSON)", lambda c: c.get(_set(c)["urls"]["self"]).headers["ETag"],
         lambda c, h: c.put(_set(c)["urls"]["self"], json={"type": "FeatureCollection",
                                                          "features": [_square("one")]}, headers=h)),
    Kind("set PUT (ASAP XML)", lambda c: c.get(_set(c)["urls"]["asap_xml"]).headers["ETag"],
         lambda c, h: c.put(_set(c)["urls"]["asap_xml"], data=XML_A, content_type="application/xml",
                            headers={**h, **SCRIPT})),
    Kind("slide XML PUT", lambda c: c.get(f"/api/annotations-xml/{SLIDE_ID}").headers["ETag"],
         lambda c, h: c.put(f"/api/annotations-xml/{SLIDE_ID}", data=XML_A,
                            content_type="application/xml", headers={**h, **SCRIPT})),
    Kind("restore", lambda c: c.get(_set(c)["urls"]["self"]).headers["ETag"],
         lambda c, h: c.post(_set(c)["urls"]["restore"], json={"version": 0}, headers=h)),
    Kind("annotation PUT", lambda c: c.get(_annotation_url(c)).headers["ETag"],
         lambda c, h: c.put(_annotation_url(c), json=_square("moved", 30), headers=h)),
    Kind("annotation DELETE", lambda c: c.get(_annotation_url(c)).headers["ETag"],
         lambda c, h: c.delete(_annotation_url(c), headers=h)),
    Kind("group PUT", lambda c: c.get(_group_url(c)).headers["ETag"],
         lambda c, h: c.put(_group_url(c), json={"name": "spare", "color": "#112233"}, headers=h)),
    Kind("group DELETE", lambda c: c.get(_group_url(c)).headers["ETag"],
         lambda c, h: c.delete(_group_url(c), headers=h)),
]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_if_match_forms_on_every_kind_of_write(make_client: Callable[..., FlaskClient], kind: Kind) -> None:
    client = make_client()
    etag = kind.etag(client)
    version = int(etag.strip('"'))
    set_version = _set(client)["version"]
    failing = {
        "weak tag of the current version": f"W/{etag}",
        "stale tag": '"stale"',
        "another version": f'"{version + 7}", "{version + 8}"',
        "tag beyond any version": '"99999999999999999999"',
    }
    for what, header in failing.items():
        refused = kind.write(client, {"If-Match": header})
        assert refused.status_code == 412, (kind.name, what, refused.get_json())
        body = refused.get_json()
        assert body["status"] == 412 and body["current"] is not None, (kind.name, what)
        assert refused.headers["ETag"] == etag, (kind.name, what)  # the current state's ETag
        if isinstance(body["current"], dict):  # an annotation or group: the object as it is now
            assert body["current"]["properties" if "properties" in body["current"] else "version"]
    malformed = {"unquoted": etag.strip('"'), "unterminated": etag[:-1], "star in a list": f"*, {etag}"}
    for what, header in malformed.items():
        refused = kind.write(client, {"If-Match": header})
        assert refused.status_code == 400, (kind.name, what, refused.get_json())
        assert "If-Match" in refused.get_json()["error"]
    assert _set(client)["version"] == set_version, kind.name  # nothing was written
    # a list naming the current version matches
    done = kind.write(client, {"If-Match": f'"{version + 5}", {etag}'})
    assert done.status_code in (200, 201), (kind.name, done.get_json())
    assert _set(client)["version"] > set_version


@pytest.mark.parametrize("kind", [k for k in KINDS if "DELETE" not in k.name],
                         ids=[k.name for k in KINDS if "DELETE" not in k.name])
def test_if_match_star_matches_an_existing_resource(
    make_client: Callable[..., FlaskClient], kind: Kind
) -> None:
    client = make_client()
    kind.etag(client)  # creates what the write needs
    done = kind.write(client, {"If-Match": "*"})
    assert done.status_code == 200, (kind.name, done.get_json())
    assert done.headers["ETag"]


def _reads(client: FlaskClient) -> dict[str, str]:
    s = _set(client)
    return {
        "set GeoJSON": s["urls"]["self"],
        "set viewport": s["urls"]["self"] + "?bbox=0,0,100000,100000&simplify=4",
        "set past version": s["urls"]["self"] + "?version=1",
        "set ASAP XML": s["urls"]["asap_xml"],
        "set ASAP XML past version": s["urls"]["asap_xml"] + "?version=1",
        "slide XML": f"/api/annotations-xml/{SLIDE_ID}",
        "annotation": _annotation_url(client),
        "group": _group_url(client),
        "thumbnail": f"/api/thumbnail/{SLIDE_ID}?max=64",
        "associated image": f"/api/associated/label/{SLIDE_ID}",
        "tile": f"/deepzoom/{SLIDE_ID}_files/11/1_1.jpeg",
    }


def test_if_none_match_forms_on_every_read_with_an_etag(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(SERVE_ASSOCIATED_IMAGES=True)
    for what, url in _reads(client).items():
        full = client.get(url)
        assert full.status_code == 200 and full.data, what
        etag = full.headers["ETag"]
        cache_control = full.headers["Cache-Control"]
        for form in (etag, f"W/{etag}", f'"nope", {etag}', "*", f' {etag} ,'):
            for method in (client.get, client.head):
                fresh = method(url, headers={"If-None-Match": form})
                assert fresh.status_code == 304 and fresh.data == b"", (what, form)
                assert fresh.headers["ETag"] == etag and fresh.headers["Cache-Control"] == cache_control
        for form in ('"nope"', 'W/"nope"', "garbage", etag[:-1]):  # stale, or malformed (ignored)
            again = client.get(url, headers={"If-None-Match": form})
            assert again.status_code == 200 and again.data == full.data, (what, form)


def test_a_change_makes_the_old_etag_stale_for_if_none_match(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client()
    s = _set(client)
    old = client.get(s["urls"]["self"]).headers["ETag"]
    client.post(s["urls"]["annotations"], json=_square("new"))
    for url in (s["urls"]["self"], s["urls"]["asap_xml"], f"/api/annotations-xml/{SLIDE_ID}"):
        response = client.get(url, headers={"If-None-Match": old})
        assert response.status_code == 200 and response.headers["ETag"] != old, url
    assert client.get("/api/sets/99999", headers={"If-None-Match": "*"}).status_code == 404


# --------------------------------------------------------------------------------------------------
# The first save: a slide without a set


def _put_xml(client: FlaskClient, body: bytes, if_match: str | None = None) -> Any:
    headers = {**SCRIPT, **({"If-Match": if_match} if if_match is not None else {})}
    return client.put(f"/api/annotations-xml/{SLIDE_ID}", data=body, content_type="application/xml",
                      headers=headers)


def _history(client: FlaskClient) -> list[dict[str, Any]]:
    return client.get(_set(client)["urls"]["history"]).get_json()["changes"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("if_match", ['"0"', "*", None])
def test_first_save_after_get_creates_the_set_with_its_content_in_one_change(
    make_client: Callable[..., FlaskClient], if_match: str | None
) -> None:
    client = make_client(sidecar=None)
    url = f"/api/annotations-xml/{SLIDE_ID}"
    empty = client.get(url)
    assert empty.status_code == 200 and empty.headers["ETag"] == '"0"'
    assert read_asap(empty.data).annotations == []
    assert client.get(url, headers={"If-None-Match": '"0"'}).status_code == 304
    saved = _put_xml(client, XML_A, if_match)
    assert saved.status_code == 200, saved.get_json()
    body = saved.get_json()
    assert body["set_version"] == 1 and saved.headers["ETag"] == '"1"'
    uploaded = read_asap(XML_A)
    assert body["change"]["created"] == len(uploaded.annotations) + len(uploaded.groups)
    assert body["set"]["name"] == "default" and body["warnings"] == []
    (only,) = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"]
    assert only["id"] == body["set"]["id"] and only["version"] == 1
    assert [c["version"] for c in _history(client)] == [1]  # one change: no empty set before it
    assert client.get(url).data == XML_A
    # the first save's ETag is now stale for a second first save
    again = _put_xml(client, XML_B, '"0"')
    assert again.status_code == 412 and again.get_json()["current"] == 1 and again.headers["ETag"] == '"1"'
    assert client.get(url).data == XML_A


def test_first_save_without_get_and_a_stale_first_save(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(sidecar=None)
    url = f"/api/annotations-xml/{SLIDE_ID}"
    # a tag that is not version 0 cannot create the set: nothing is created
    refused = _put_xml(client, XML_A, '"3"')
    assert refused.status_code == 412 and refused.get_json()["current"] == 0
    assert refused.headers["ETag"] == '"0"'
    assert client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"] == []
    bad = _put_xml(client, b"<ASAP_Annotations><Annotations><Annotation")
    assert bad.status_code in (400, 422) and bad.get_json()["details"]
    assert client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"] == []  # a bad body creates nothing
    saved = _put_xml(client, XML_A)
    assert saved.status_code == 200 and saved.get_json()["set_version"] == 1
    assert [c["version"] for c in _history(client)] == [1]
    replaced = _put_xml(client, XML_B, '"1"')
    assert replaced.status_code == 200 and replaced.get_json()["set_version"] == 2
    assert client.get(url).data == XML_B


@pytest.mark.parametrize("engine", ENGINES)
def test_two_first_saves_racing_on_a_real_server(tmp_path: Path, engine: str) -> None:
    """Two clients that both read the empty document (ETag "0") save at the same moment, through
    a server of two worker processes: exactly one wins; the other gets 412 with the winner's
    version, and the slide has one set whose history is that one change. Three slides, three races."""
    slides = tmp_path / "slides"
    slides.mkdir()
    slide_ids = [SLIDE_ID, "copy1.svs", "copy2.svs"]
    for slide_id in slide_ids:
        shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / slide_id)
    data = tmp_path / "data"
    data.mkdir()
    with database_setting(engine, tmp_path) as database, running_server(
        str(slides), "--workers", "2", "--threads", "4", "--database", database, data_dir=data
    ) as server:
        for slide_id in slide_ids:
            url = f"{server.url}/api/annotations-xml/{slide_id}"
            assert requests.get(url, timeout=30).headers["ETag"] == '"0"'
            barrier = threading.Barrier(2)
            results: dict[bytes, requests.Response] = {}

            def save(body: bytes, url: str = url, barrier: threading.Barrier = barrier,
                     results: dict[bytes, requests.Response] = results) -> None:
                session = requests.Session()
                barrier.wait(timeout=30)
                results[body] = session.put(url, data=body, timeout=60, headers={
                    "Content-Type": "application/xml", "If-Match": '"0"', **SCRIPT})

            threads = [threading.Thread(target=save, args=(body,)) for body in (XML_A, XML_B)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=90)
            statuses = sorted(r.status_code for r in results.values())
            assert statuses == [200, 412], {k[:40]: (r.status_code, r.text[:200]) for k, r in results.items()}
            (winner,) = [body for body, r in results.items() if r.status_code == 200]
            (loser,) = [r for r in results.values() if r.status_code == 412]
            won = results[winner].json()
            assert loser.json()["current"] == won["set_version"] == 1 and loser.headers["ETag"] == '"1"'
            assert requests.get(url, timeout=30).content == winner
            listing = requests.get(f"{server.url}/api/annotations/{slide_id}", timeout=30).json()
            assert [s["id"] for s in listing["sets"]] == [won["set"]["id"]]
            history = requests.get(server.url + won["set"]["urls"]["history"], timeout=30).json()
            assert [c["version"] for c in history["changes"]] == [1]
        assert "unhandled error" not in server.log.read_text(errors="replace")
