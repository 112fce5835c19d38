"""viewer/web/security.py: cross-site writes, DNS rebinding, the reserved author, the headers of every
response, and conditional requests that must not hide a bad address. Through the Flask test client
(whose requests carry ``Host: localhost``), the tile fast path, and a real server process."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.test import Client

from tests._server import Server, running_server
from viewer.app import create_app
from viewer.errors import ConfigError
from viewer.web.security import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from viewer.web.tiles import serve_tiles_directly, tile_grid

ROOT = Path(__file__).parent.parent
DATA = ROOT / "tests" / "data"
SLIDE_ID = "CMU-1-Small-Region.svs"
TILE = f"/deepzoom/{SLIDE_ID}_files/11/1_1.jpeg"
FOREIGN = "https://attacker.example"
SAME = {"Origin": "http://localhost"}  # what a page of this server sends (the test client's host)
XML = (DATA / "asap" / "real" / "tumor_031.xml").read_bytes()


def _slides(root: Path) -> Path:
    slides = root / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / SLIDE_ID, slides / SLIDE_ID)
    shutil.copy(DATA / "asap" / "real" / "tumor_111.xml", slides / "CMU-1-Small-Region.xml")
    (slides / "broken.svs").write_bytes(b"II*\0" + b"\xff" * 5000)
    return slides


@pytest.fixture()
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []
    slides = _slides(tmp_path)

    def factory(**settings: Any) -> Flask:
        app = create_app({"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp_path / "data"), **settings})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        services = app.extensions["wsi_viewer"]
        for name in ("store", "slides"):
            if name in services.__dict__:
                getattr(services, name).close()


@pytest.fixture()
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


def _state(client: FlaskClient) -> list[tuple[str, int, int]]:
    """(name, version, annotation count) of every set of the slide: what an attack must not change."""
    sets = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"]
    return [(s["name"], s["version"], s["annotation_count"]) for s in sets]


def _refused(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) == {"error", "status", "details"} and body["status"] == status
    for word in words:
        assert word in body["error"], (word, body["error"])


# --------------------------------------------------------------------------------------------------
# Cross-site writes


def test_cross_site_form_posts_are_refused_and_change_nothing(client: FlaskClient) -> None:
    s = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]
    before = _state(client)
    assert before[0][2] > 0  # the sidecar's annotations: what the attack tried to erase
    restore, create = s["urls"]["restore"], f"/api/annotations/{SLIDE_ID}"
    upload = {"file": (io.BytesIO(XML), "evil.xml")}
    for origin in ({"Origin": FOREIGN}, {"Origin": "null"}, {"Origin": "http://localhost:3000"}):
        _refused(client.post(restore, data='{"version": 0}', content_type="text/plain", headers=origin),
                 403, "ALLOWED_ORIGINS")
        _refused(client.post(create, data={"file": (io.BytesIO(XML), "evil.xml")},
                             content_type="multipart/form-data", headers=origin), 403)
        # a preflighted (JSON) write is refused too, whatever CORS a proxy might add
        _refused(client.post(restore, json={"version": 0}, headers=origin), 403)
        _refused(client.delete(f"{s['urls']['annotations']}/1", headers=origin), 403)
    # no Origin at all (old browsers, privacy settings): the types a form can send are still refused
    _refused(client.post(restore, data='{"version": 0}', content_type="text/plain"), 415,
             "Content-Type: application/json")
    _refused(client.post(create, data={"name": "x"}, content_type="application/x-www-form-urlencoded"), 415)
    _refused(client.post(create, data=b'{"name": "x"}'), 415)  # fetch() of a Blob: no Content-Type
    _refused(client.post(create), 403, "X-Requested-With")  # no body (a POST that starts something)
    _refused(client.post(create, data=upload, content_type="multipart/form-data"), 403, "X-Requested-With")
    _refused(client.put(s["urls"]["asap_xml"], data=XML, content_type="application/xml"), 403,
             "X-Requested-With")
    _refused(client.put(s["urls"]["self"], data=b'{"type":"FeatureCollection","features":[]}',
                        content_type="text/plain"), 415)
    assert _state(client) == before


def test_same_origin_and_allowed_writes_go_through(make_app: Callable[..., Flask]) -> None:
    client = make_app(ALLOWED_ORIGINS="https://tools.lab.example, http://10.0.0.5:8080/").test_client()
    s = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]
    create = f"/api/annotations/{SLIDE_ID}"
    assert client.post(create, json={"name": "curl"}).status_code == 201  # JSON, no Origin (curl)
    assert client.post(create, json={"name": "page"}, headers=SAME).status_code == 201
    for name, origin in (("tool", "https://TOOLS.lab.example"), ("ip", "http://10.0.0.5:8080"),
                         ("tls", "https://localhost")):
        assert client.post(create, json={"name": name}, headers={"Origin": origin}).status_code == 201
    assert client.post(create, headers=SAME).status_code == 201  # no body: the page's fetch(url, POST)
    assert client.post(create, headers={"X-Requested-With": "curl"}).status_code == 201  # curl -X POST
    for headers, name in (({"X-Requested-With": "curl"}, "a.xml"), (SAME, "b.xml")):
        up = client.post(create, data={"file": (io.BytesIO(XML), name)}, content_type="multipart/form-data",
                         headers=headers)
        assert up.status_code == 201, up.get_json()
    put = client.put(s["urls"]["asap_xml"], data=XML, content_type="application/xml",
                     headers={"X-Requested-With": "curl"})
    assert put.status_code == 200
    assert client.get(s["urls"]["asap_xml"]).data == XML
    restored = client.post(s["urls"]["restore"], json={"version": 1}, headers=SAME)
    assert restored.status_code == 200 and restored.get_json()["change"]["kind"] == "restore"
    assert len(_state(client)) == 10
    # other sites are still refused when some are allowed
    evil = {"Origin": "https://tools.lab.example.evil"}
    _refused(client.post(create, json={"name": "x"}, headers=evil), 403)
    # a wrong method still says so (no write can happen)
    assert client.post("/api/slides", json={}).status_code == 405


def test_the_sidecar_author_is_reserved(client: FlaskClient) -> None:
    s = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]
    before = _state(client)
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]}, "properties": {}}
    for name in ("sidecar", "Sidecar", " SIDECAR "):
        _refused(client.post(s["urls"]["annotations"], json=feature, headers={"X-User": name}), 403,
                 "reserved")
        _refused(client.post(s["urls"]["annotations"], json={**feature, "user": name}), 403, "reserved")
        _refused(client.delete(f"{s['urls']['annotations']}/1", headers={"X-User": name}), 403)
        _refused(client.post(f"/api/annotations/{SLIDE_ID}", json={"name": "n", "user": name}), 403)
        _refused(client.post(s["urls"]["restore"], json={"version": 0, "user": name}), 403)
    assert _state(client) == before
    # reads record no one
    assert client.get(s["urls"]["self"], headers={"X-User": "sidecar"}).status_code == 200
    ok = client.post(s["urls"]["annotations"], json=feature, headers={"X-User": "sidecar-reviewer"})
    assert ok.status_code == 201 and ok.get_json()["change"]["who"] == "sidecar-reviewer"


# --------------------------------------------------------------------------------------------------
# Host names (DNS rebinding)


@pytest.mark.parametrize("url", ["/", f"/view/{SLIDE_ID}", "/api/slides", f"/api/annotations/{SLIDE_ID}",
                                 TILE, f"/deepzoom/{SLIDE_ID}.dzi", "/static/css/app.css", "/no/such/page"])
def test_foreign_host_names_read_nothing(make_app: Callable[..., Flask], url: str) -> None:
    app = make_app()
    serve_tiles_directly(app)
    client = Client(app)  # through the fast path, as the server runs it
    for host in ("attacker.example", "attacker.example:8000", "localhost.attacker.example", "localhost.",
                 "127.0.0.1.nip.io:8000", "[::1", "::1"):
        response = client.get(url, headers={"Host": host, "Accept": "application/json"})
        assert response.status_code == 421, (host, url)
        body = response.get_json()
        assert body["status"] == 421 and "ALLOWED_HOSTS" in body["error"]
        assert b"CMU" not in response.data and b"tumor" not in response.data.lower()
    for host in ("localhost", "localhost:8000", "LOCALHOST:1234", "127.0.0.1:5000", "[::1]:8000", "[::1]"):
        allowed = client.get(url, headers={"Host": host})
        allowed.close()  # static files are streamed
        assert allowed.status_code in (200, 404), (host, url)


def test_a_rebinding_write_is_refused_before_anything_else(client: FlaskClient) -> None:
    before = _state(client)
    create = f"/api/annotations/{SLIDE_ID}"
    response = client.post(create, json={"name": "x"},
                           headers={"Host": "attacker.example", "Origin": "http://attacker.example"})
    _refused(response, 421)
    assert _state(client) == before


def test_allowed_hosts_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(ALLOWED_HOSTS="viewer.lab.example, scanner:8443", HOST="10.1.2.3", PORT=9000)
    client = app.test_client()
    for host, status in [("viewer.lab.example", 200), ("Viewer.Lab.Example:9000", 200), ("scanner:8443", 200),
                         ("scanner", 421), ("scanner:8444", 421), ("10.1.2.3:9000", 200), ("10.1.2.3:1", 200),
                         ("localhost:9000", 200), ("10.1.2.4:9000", 421), ("lab.example", 421)]:
        assert client.get("/api/slides", headers={"Host": host}).status_code == status, host
    # a page of an allowed name writes as its own origin
    created = client.post(f"/api/annotations/{SLIDE_ID}", json={"name": "lab"},
                          headers={"Host": "viewer.lab.example", "Origin": "https://viewer.lab.example"})
    assert created.status_code == 201
    everywhere = make_app(ALLOWED_HOSTS="*", HOST="0.0.0.0").test_client()
    assert everywhere.get("/api/slides", headers={"Host": "anything.example"}).status_code == 200
    unspecific = make_app(HOST="0.0.0.0").test_client()
    assert unspecific.get("/api/slides", headers={"Host": "0.0.0.0:8000"}).status_code == 421
    ipv6 = make_app(HOST="fe80::1").test_client()
    assert ipv6.get("/api/slides", headers={"Host": "[fe80::1]:8000"}).status_code == 200


@pytest.mark.parametrize("settings", [
    {"ALLOWED_HOSTS": "http://viewer.lab"}, {"ALLOWED_HOSTS": "a b"}, {"ALLOWED_HOSTS": "viewer/x"},
    {"ALLOWED_ORIGINS": "viewer.lab"}, {"ALLOWED_ORIGINS": "https://viewer.lab/path"},
    {"ALLOWED_ORIGINS": "*"},
])
def test_malformed_host_and_origin_settings_are_config_errors(make_app: Callable[..., Flask],
                                                              settings: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        make_app(**settings)
    assert next(iter(settings)) in caught.value.message


# --------------------------------------------------------------------------------------------------
# Response headers


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    s = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]
    etag = client.get(TILE).headers["ETag"]
    responses = {
        "library": client.get("/", headers={"Accept": "text/html"}),
        "viewer": client.get(f"/view/{SLIDE_ID}", headers={"Accept": "text/html"}),
        "error page": client.get("/view/nope.svs", headers={"Accept": "text/html"}),
        "api": client.get("/api/slides"),
        "api error": client.get("/api/sets/999"),
        "tile": client.get(TILE),
        "304": client.get(TILE, headers={"If-None-Match": etag}),
        "static": client.get("/static/js/api.js"),
        "write": client.post(s["urls"]["annotations"],
                             json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}}),
        "refused": client.post(s["urls"]["restore"], data="{}", content_type="text/plain"),
    }
    for what, response in responses.items():
        response.close()  # static files are streamed
        for name, value in SECURITY_HEADERS:
            assert response.headers.get(name) == value, (what, name)
    assert responses["304"].status_code == 304
    policy = CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy


def test_cache_control_of_annotations_history_and_images(client: FlaskClient) -> None:
    s = client.get(f"/api/annotations/{SLIDE_ID}").get_json()["sets"][0]
    first = client.get(s["urls"]["self"]).get_json()["features"][0]
    etag = client.get(s["urls"]["self"]).headers["ETag"]
    for url, headers in [
        (f"/api/annotations/{SLIDE_ID}", {}), (s["urls"]["history"], {}), (s["urls"]["history"] + "/1", {}),
        (f"{s['urls']['diff']}?from=0", {}), (f"{s['urls']['annotations']}/{first['id']}", {}),
        (s["urls"]["self"], {}), (s["urls"]["asap_xml"], {}), (s["urls"]["self"], {"If-None-Match": etag}),
    ]:
        response = client.get(url, headers=headers)
        assert response.status_code in (200, 304), url
        assert response.headers["Cache-Control"] == "private, no-cache", url
    assert client.get("/api/slides").headers["Cache-Control"] == "no-cache"
    assert client.get(TILE).headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/api/thumbnail/{SLIDE_ID}").headers["Cache-Control"] == "public, max-age=3600"


def test_pages_have_no_inline_script_style_or_handlers(client: FlaskClient) -> None:
    """What the CSP would block: inline <script>, <style>, style= attributes, on*= handlers."""
    pages = [client.get(url, headers={"Accept": "text/html"}).get_data(as_text=True)
             for url in ("/", f"/view/{SLIDE_ID}", f"/compare?left={SLIDE_ID}", "/view/nope.svs", "/compare")]
    for template in sorted((ROOT / "templates").glob("*.html")):
        pages.append(template.read_text())
    for page in pages:
        assert "<script" in page or "<!doctype" in page.lower() or "{%" in page
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, tag
        assert re.search(r"<script\b[^>]*>\s*[^<\s]", page) is None  # no script body
        assert "<style" not in page
        assert re.search(r"\sstyle\s*=", page) is None
        assert re.search(r"\son[a-z]+\s*=", page) is None
        assert "javascript:" not in page


# --------------------------------------------------------------------------------------------------
# Conditional requests: the address first


def test_conditional_requests_for_bad_addresses_get_their_error(make_app: Callable[..., Flask]) -> None:
    app = make_app(SERVE_ASSOCIATED_IMAGES=True)
    client = app.test_client()
    valid_etag = client.get(TILE).headers["ETag"]
    for if_none_match in ("*", '"stale"', valid_etag):
        headers = {"If-None-Match": if_none_match}
        for url, status in [
            (f"/deepzoom/{SLIDE_ID}_files/11/99_0.jpeg", 404),
            (f"/deepzoom/{SLIDE_ID}_files/11/0_99.png", 404),
            (f"/deepzoom/{SLIDE_ID}_files/13/0_0.jpeg", 404), ("/deepzoom/nope.svs_files/0/0_0.jpeg", 404),
            ("/deepzoom/broken.svs_files/0/0_0.jpeg", 422), ("/api/thumbnail/broken.svs", 422),
            ("/api/thumbnail/nope.svs", 404), (f"/api/associated/nope/{SLIDE_ID}", 404),
            ("/api/associated/label/broken.svs", 404),
        ]:
            _refused(client.get(url, headers=headers), status)
    assert client.get(TILE, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(TILE, headers={"If-None-Match": valid_etag}).status_code == 304
    assert client.get(TILE, headers={"If-None-Match": '"stale"'}).status_code == 200
    thumb = client.get(f"/api/thumbnail/{SLIDE_ID}")
    again = client.get(f"/api/thumbnail/{SLIDE_ID}", headers={"If-None-Match": thumb.headers["ETag"]})
    assert again.status_code == 304
    closed = make_app().test_client()
    _refused(closed.get(f"/api/associated/label/{SLIDE_ID}", headers={"If-None-Match": "*"}), 403)


def test_tile_grid_is_deepzoom_generators(make_app: Callable[..., Flask]) -> None:
    """The grid the 304 path checks is the one the tile reader uses, level by level."""
    shutil.copytree(DATA / "slides", Path(make_app().config["WSI_VIEWER"]["SLIDE_DIR"]) / "fixtures")
    library = make_app().extensions["wsi_viewer"].slides
    checked = 0
    for info in library.scan():
        if info.error:
            continue
        geometry = library.geometry(info.id)
        dz = library.handle(info.id).dz
        assert geometry.level_count == dz.level_count
        for level in range(dz.level_count):
            assert tile_grid(geometry, level) == dz.level_tiles[level], (info.id, level)
        checked += 1
    assert checked >= 5


# --------------------------------------------------------------------------------------------------
# The fast tile path


def test_fast_path_sends_the_headers_and_leaves_foreign_hosts_to_flask(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    reached_flask: list[str] = []
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: reached_flask.append(request.host))
    serve_tiles_directly(app)
    client = Client(app)
    for _ in range(2):  # a miss, then a hit
        response = client.get(TILE, headers={"Host": "127.0.0.1:8000"})
        assert response.status_code == 200
        for name, value in SECURITY_HEADERS:
            assert response.headers[name] == value
    assert reached_flask == []
    assert client.get(TILE, headers={"Host": "attacker.example"}).status_code == 421
    assert reached_flask == ["attacker.example"]


# --------------------------------------------------------------------------------------------------
# Against a real server process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("security")
    (root / "data").mkdir()
    slides = _slides(root)
    with running_server(str(slides), "--workers", "1", "--threads", "4", data_dir=root / "data") as running:
        yield running


def test_real_server_refuses_cross_site_writes_and_rebinding(server: Server) -> None:
    session = requests.Session()
    listing = session.get(f"{server.url}/api/annotations/{SLIDE_ID}", timeout=30).json()
    s = listing["sets"][0]
    version, count = s["version"], s["annotation_count"]
    restore = server.url + s["urls"]["restore"]
    for headers in ({"Origin": FOREIGN, "Content-Type": "text/plain"}, {"Content-Type": "text/plain"}):
        attack = session.post(restore, data='{"version": 0}', headers=headers, timeout=30)
        assert attack.status_code == (403 if "Origin" in headers else 415)
    files = {"file": ("evil.xml", XML, "text/xml")}
    create = f"{server.url}/api/annotations/{SLIDE_ID}"
    assert session.post(create, files=files, headers={"Origin": FOREIGN}, timeout=30).status_code == 403
    assert session.post(create, files=files, timeout=30).status_code == 403
    after = session.get(f"{server.url}/api/annotations/{SLIDE_ID}", timeout=30).json()["sets"]
    assert [(x["version"], x["annotation_count"]) for x in after] == [(version, count)]
    # the page's own fetch (same Origin) works
    own = session.post(create, json={"name": "mine"}, headers={"Origin": server.url}, timeout=30)
    assert own.status_code == 201
    # DNS rebinding: every kind of URL, the fast tile path included
    for url in ("/", f"/view/{SLIDE_ID}", "/api/slides", TILE):
        rebound = session.get(server.url + url, headers={"Host": "attacker.example"}, timeout=30)
        assert rebound.status_code == 421 and rebound.json()["status"] == 421, url
    tile = session.get(server.url + TILE, timeout=30)
    assert tile.status_code == 200 and tile.headers["Content-Type"] == "image/jpeg"
    for name, value in SECURITY_HEADERS:
        assert tile.headers[name] == value
    sidecar = session.post(create, json={"name": "x"}, headers={"X-User": "sidecar"}, timeout=30)
    assert sidecar.status_code == 403


def _readme_curl_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # the block of the "Writes from other sites" paragraph (the walkthrough before it has its own test)
    section = readme.split("**Writes from other sites.**", 1)[1]
    block = next(b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "X-Requested-With" in b)
    return [line for line in block.replace("\\\n", " ").splitlines() if line.startswith("curl ")]


def test_readme_curl_examples_work(server: Server, tmp_path: Path) -> None:
    commands = _readme_curl_commands()
    assert len(commands) == 3
    (tmp_path / "reader3.xml").write_bytes(XML)
    statuses = []
    for command in commands:
        command = command.replace("http://127.0.0.1:8000", server.url).replace("tumor_demo.tif", SLIDE_ID)
        args = [*shlex.split(command), "-s", "-o", "/dev/null", "-w", "%{http_code}"]
        statuses.append(subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=30,
                                       check=True).stdout)
        if "X-Requested-With" in command:  # the same upload without the header is refused
            at = args.index("X-Requested-With: curl")
            bare = args[: at - 1] + args[at + 1 :]
            refused = subprocess.run(bare, cwd=tmp_path, capture_output=True, text=True, timeout=30,
                                     check=True)
            assert refused.stdout == "403"
    assert statuses == ["201", "201", "200"]
