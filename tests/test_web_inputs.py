"""Inputs that used to answer 500 or be misread: numbers in URLs, query strings and headers are ASCII
digits only (``"²".isdigit()`` is true, ``int("١٢")`` is 12, Werkzeug's ``int`` converter matches
``\\d``), and JSON integers beyond float range are reported where they are, like ``1e400``. Through
the Flask test client and against a real server process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from tests._server import Server, running_server
from tests._slide_helpers import cmu_with_sidecar
from viewer.annotations.geojson import from_geojson
from viewer.app import create_app
from viewer.errors import AnnotationFormatError
from viewer.web.security import ascii_float, ascii_int

DATA = Path(__file__).parent / "data"
SLIDE_ID = "CMU-1-Small-Region.svs"
SUPERSCRIPT_TWO = "%C2%B2"  # "²": isdigit() is true, int() fails
ARABIC_ONE = "%D9%A1"  # "١": int() reads it as 1
ARABIC_ONE_TWO = "%D9%A1%D9%A2"  # "١٢": int() reads it as 12
HUGE = "1" + "0" * 400  # an integer JSON reads and no float holds
ENORMOUS = "1" + "0" * 5000  # beyond Python's int() digit limit too


def _slides(root: Path) -> Path:
    return cmu_with_sidecar(root / "slides")


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[FlaskClient]:
    app = create_app({"SLIDE_DIR": str(_slides(tmp_path)), "DATA_DIR": str(tmp_path / "data")})
    yield app.test_client()
    app.extensions["wsi_viewer"].store.close()
    app.extensions["wsi_viewer"].slides.close()


def _set(client: FlaskClient) -> dict[str, Any]:
    listing = client.get(f"/api/annotations/{SLIDE_ID}").get_json()
    return listing["sets"][0]  # type: ignore[no-any-return]


def _square(x: str = "10") -> str:
    """A Feature (as JSON text, so that numbers stay as written) with the vertex (x, 10)."""
    ring = f"[[{x},10],[20,10],[20,20],[10,20],[{x},10]]"
    return ('{"type":"Feature","geometry":{"type":"Polygon","coordinates":[' + ring + ']},'
            '"properties":{"name":"sq"}}')


def test_ascii_parsers_take_ascii_digits_only() -> None:
    assert [ascii_int(t) for t in ("0", "007", "12", "9" * 18)] == [0, 7, 12, int("9" * 18)]
    for text in ("", "²", "١٢", "１２", "-1", "+1", " 1", "1 ", "1_0", "1.0", "9" * 19, "0x1"):
        assert ascii_int(text) is None, text
    parsed = [ascii_float(t) for t in ("1", "-1.5", ".5", "2e3", "1E-2", "+0.")]
    assert parsed == [1, -1.5, 0.5, 2000, 0.01, 0]
    for text in ("", "nan", "inf", "-Infinity", "1_0", "١٢", "²", "1e", "e3", "1e99999", "0x1"):
        assert ascii_float(text) is None, text


@pytest.mark.parametrize("query_for", [
    lambda s: f"{s['urls']['self']}?version={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['self']}?version={ARABIC_ONE}",
    lambda s: f"{s['urls']['asap_xml']}?version={ARABIC_ONE}",
    lambda s: f"{s['urls']['history']}?limit={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['history']}?limit={ARABIC_ONE}",
    lambda s: f"{s['urls']['history']}?before={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['diff']}?from={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['diff']}?from={ARABIC_ONE}",
    lambda s: f"{s['urls']['diff']}?from=1&to={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['export']}?format=mask&downsample={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['export']}?format=asap&version={SUPERSCRIPT_TWO}",
    lambda s: f"{s['urls']['self']}?bbox={ARABIC_ONE},0,100,100",
    lambda s: f"{s['urls']['self']}?simplify={ARABIC_ONE_TWO}",
    lambda s: f"{s['urls']['self']}?version={'9' * 5000}",
    lambda s: f"/api/thumbnail/{SLIDE_ID}?max={SUPERSCRIPT_TWO}",
    lambda s: f"/api/thumbnail/{SLIDE_ID}?max={ARABIC_ONE_TWO}",
])
def test_non_ascii_digits_in_queries_are_400(client: FlaskClient, query_for: Any) -> None:
    url = query_for(_set(client))
    response = client.get(url)
    assert response.status_code == 400, url
    body = response.get_json()
    assert set(body) == {"error", "status", "details"} and body["status"] == 400
    assert "must be" in body["error"]
    # the same request with ASCII digits is fine: it is the digits that are refused
    ascii_url = url.replace(SUPERSCRIPT_TWO, "1").replace(ARABIC_ONE_TWO, "12").replace(ARABIC_ONE, "1")
    if "9999" not in url:
        assert client.get(ascii_url).status_code == 200, ascii_url


@pytest.mark.parametrize("path", [
    "/api/sets/%D9%A1", "/api/sets/%C2%B2", "/api/sets/%D9%A1/history", "/api/sets/1/history/%D9%A1",
    "/api/sets/1/annotations/%D9%A1", "/api/sets/1/groups/%D9%A1", "/api/sets/" + "9" * 5000,
    f"/deepzoom/{SLIDE_ID}_files/{ARABIC_ONE_TWO}/0_0.jpeg",
    f"/deepzoom/{SLIDE_ID}_files/12/{ARABIC_ONE}_0.jpeg",
    f"/deepzoom/{SLIDE_ID}_files/12/0_{SUPERSCRIPT_TWO}.jpeg",
    f"/deepzoom/{SLIDE_ID}_files/{'1' * 5000}/0_0.jpeg",
])
def test_non_ascii_digits_in_paths_are_404(client: FlaskClient, path: str) -> None:
    assert client.get(f"/api/annotations/{SLIDE_ID}").status_code == 200  # set 1 exists
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.get_json()["status"] == 404
    ascii_path = path.replace(ARABIC_ONE_TWO, "12").replace(ARABIC_ONE, "1").replace(SUPERSCRIPT_TWO, "1")
    if "1111" not in ascii_path and "9999" not in ascii_path and "/groups/" not in ascii_path:
        assert client.get(ascii_path).status_code == 200, ascii_path  # the ASCII twin exists


def _if_match_attempts(client: FlaskClient, s: dict[str, Any], if_match: str) -> list[Any]:
    first = client.get(s["urls"]["self"]).get_json()["features"][0]
    return [
        client.put(s["urls"]["self"], json={"type": "FeatureCollection", "features": []},
                   headers={"If-Match": if_match}),
        client.delete(f"{s['urls']['annotations']}/{first['id']}", headers={"If-Match": if_match}),
        client.post(s["urls"]["restore"], json={"version": 0}, headers={"If-Match": if_match}),
        client.put(f"{s['urls']['annotations']}/{first['id']}", data=_square(),
                   content_type="application/json", headers={"If-Match": if_match}),
    ]


@pytest.mark.parametrize("if_match", ["²", '"1 "', "1", '"1', "W/1", "*, \"1\"", "", '"1" "2"'])
def test_malformed_if_match_is_400_and_changes_nothing(client: FlaskClient, if_match: str) -> None:
    """Not an entity-tag list (RFC 9110 §8.8.3: a quoted string without spaces, optionally W/)."""
    s = _set(client)
    version = s["version"]
    for response in _if_match_attempts(client, s, if_match):
        assert response.status_code == 400, (response.request.method, if_match)
        assert "If-Match" in response.get_json()["error"]
    assert _set(client)["version"] == version
    # the ASCII ETag of the same version is taken
    assert client.post(s["urls"]["restore"], json={"version": 0},
                       headers={"If-Match": f'"{version}"'}).status_code == 200


@pytest.mark.parametrize("if_match", ['"²"', '"١"', 'W/"١٢"', '"-1"', '"01x"', 'W/"1"'])
def test_well_formed_tags_that_are_no_version_are_412_and_change_nothing(
    client: FlaskClient, if_match: str
) -> None:
    """Any character from 0x80 up is obs-text, so these are entity tags, just not versions (and a
    weak tag never matches): a precondition that fails, with the current state."""
    s = _set(client)
    version = s["version"]
    for response in _if_match_attempts(client, s, if_match):
        assert response.status_code == 412, (response.request.method, if_match)
        assert response.get_json()["current"] is not None and response.headers["ETag"]
    assert _set(client)["version"] == version


@pytest.mark.parametrize("number", [HUGE, "-" + HUGE, ENORMOUS, "1e400"])
def test_json_numbers_beyond_float_range_are_400_with_their_location(
    client: FlaskClient, number: str
) -> None:
    s = _set(client)
    version = s["version"]
    collection = '{"type":"FeatureCollection","features":[' + _square() + "," + _square(number) + "]}"
    first_id = client.get(s["urls"]["self"]).get_json()["features"][0]["id"]
    attempts = {
        "set PUT": client.put(s["urls"]["self"], data=collection, content_type="application/json"),
        "set upload": client.post(f"/api/annotations/{SLIDE_ID}?name=big", data=collection,
                                  content_type="application/geo+json"),
        "annotation POST": client.post(s["urls"]["annotations"], data=_square(number),
                                       content_type="application/json"),
        "annotation PUT": client.put(f"{s['urls']['annotations']}/{first_id}", data=_square(number),
                                     content_type="application/json"),
    }
    for what, response in attempts.items():
        assert response.status_code == 400, (what, response.get_json())
        body = response.get_json()
        assert "coordinates must be finite numbers" in body["error"], what
        where = ("$.features[1]" if "set" in what else "$") + ".geometry.coordinates[0][0]"
        assert body["details"][0].startswith(where), (what, body["details"])
    restore = client.post(s["urls"]["restore"], data='{"version": ' + number + "}",
                          content_type="application/json")
    assert restore.status_code == 400 and "version" in restore.get_json()["error"]
    assert _set(client)["version"] == version
    assert [x["name"] for x in client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"]] == [s["name"]]


def test_geojson_reader_reports_integers_beyond_the_digit_limit() -> None:
    """The GeoJSON reader of files (CLI, sidecar-free imports) reads the text itself."""
    for number in (HUGE, ENORMOUS):
        text = '{"type":"FeatureCollection","features":[' + _square(number) + "]}"
        with pytest.raises(AnnotationFormatError) as caught:
            from_geojson(text.encode())
        assert caught.value.details[0].startswith("$.features[0].geometry.coordinates[0][0]")
    assert len(from_geojson(('{"type":"FeatureCollection","features":[' + _square() + "]}").encode())
               .annotations) == 1


# --------------------------------------------------------------------------------------------------
# The same attacks against a real server process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("inputs")
    slides = _slides(root)
    (root / "data").mkdir()
    with running_server(str(slides), "--workers", "1", "--threads", "4", data_dir=root / "data") as running:
        yield running


def test_real_server_refuses_non_ascii_numbers(server: Server) -> None:
    session = requests.Session()
    s = session.get(f"{server.url}/api/annotations/{SLIDE_ID}", timeout=30).json()["sets"][0]
    version = s["version"]
    for url, status in [
        (f"{s['urls']['self']}?version={SUPERSCRIPT_TWO}", 400),
        (f"{s['urls']['self']}?version={ARABIC_ONE}", 400),
        (f"{s['urls']['history']}?limit={SUPERSCRIPT_TWO}", 400),
        (f"/api/thumbnail/{SLIDE_ID}?max={SUPERSCRIPT_TWO}", 400),
        ("/api/sets/%D9%A3", 404),
        (f"/deepzoom/{SLIDE_ID}_files/{ARABIC_ONE_TWO}/0_0.jpeg", 404),
        (f"/deepzoom/{SLIDE_ID}_files/{'1' * 2000}/0_0.jpeg", 404),  # past the fast path's 9 digits
        (f"/deepzoom/{SLIDE_ID}_files/12/0_0.jpeg", 200),
    ]:
        response = session.get(server.url + url, timeout=30)
        assert response.status_code == status, url
        if status != 200:
            assert response.json()["status"] == status
    for method, url, body in [("PUT", s["urls"]["self"], {"type": "FeatureCollection", "features": []}),
                              ("POST", s["urls"]["restore"], {"version": 0})]:
        # "²" on the wire is two obs-text bytes: an entity tag that is no version (412), while
        # the same digit unquoted is no entity tag at all (400)
        response = session.request(method, server.url + url, json=body,
                                   headers={"If-Match": '"²"'.encode()}, timeout=30)
        assert response.status_code == 412 and response.json()["current"] == version
        response = session.request(method, server.url + url, json=body,
                                   headers={"If-Match": "²".encode()}, timeout=30)
        assert response.status_code == 400 and "If-Match" in response.json()["error"]
    put = session.put(server.url + s["urls"]["self"], headers={"Content-Type": "application/json"},
                      data='{"type":"FeatureCollection","features":[' + _square(HUGE) + "]}", timeout=30)
    assert put.status_code == 400
    assert put.json()["details"][0].startswith("$.features[0].geometry.coordinates[0][0]")
    after = session.get(server.url + s["urls"]["self"], timeout=30)
    assert after.json()["version"] == version and json.loads(after.text)["features"]
    assert "unhandled error" not in server.log.read_text(errors="replace")
