"""A real ``wsi-viewer serve`` process under gunicorn: listing, tiles, raw path tricks over the
socket, a corrupt slide next to good ones, settings from the environment and a config file, and
the first start without a slide directory (the demo generated in the background)."""

from __future__ import annotations

import http.client
import io
import os
import re
import shutil
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from _server import running_server
from PIL import Image
from pydantic import TypeAdapter

from viewer.web.schemas import PreparingSlide

CMU = "aperio/CMU-1-Small-Region.svs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(Path(__file__).parent / "data" / "slides", root, dirs_exist_ok=True)
    (root / "corrupt.svs").write_bytes(b"II*\0" + b"\x07" * 9000)
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(root / "aperio" / "small.svs", outside / "secret.svs")
    (root / "escape.svs").symlink_to(outside / "secret.svs")
    data = tmp_path_factory.mktemp("data")
    with running_server(str(root), "--workers", "2", data_dir=data) as running:
        yield running.url


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET *path* exactly as written (no client-side normalisation of `..` or encodings)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Accept", "application/json")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_listing_and_tiles_over_http(server: str) -> None:
    slides = {s["id"]: s for s in requests.get(server + "/api/slides", timeout=30).json()["slides"]}
    assert CMU in slides and "escape.svs" not in slides
    assert slides["corrupt.svs"]["error"]
    dzi = requests.get(server + slides[CMU]["urls"]["dzi"], timeout=30)
    assert 'TileSize="240"' in dzi.text
    tile = requests.get(server + "/deepzoom/aperio/CMU-1-Small-Region.svs_files/12/3_4.jpeg", timeout=30)
    assert tile.status_code == 200 and Image.open(io.BytesIO(tile.content)).size == (240, 240)
    again = requests.get(tile.url, headers={"If-None-Match": tile.headers["ETag"]}, timeout=30)
    assert again.status_code == 304


@pytest.mark.parametrize("path", [
    "/deepzoom/../../../../etc/passwd.dzi",
    "/api/slides/../../../../etc/passwd",
    "/api/slides/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/api/slides/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/api/slides/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/api/slides//etc/passwd",
    "/api/slides/%2Fetc%2Fpasswd",
    "/api/slides/escape.svs",
    "/deepzoom/escape.svs_files/0/0_0.jpeg",
    "/api/thumbnail/..%5c..%5cetc%5cpasswd",
])
def test_path_tricks_over_the_socket_are_json_404(server: str, path: str) -> None:
    status, body = raw_get(server, path)
    assert status == 404, body
    assert body.startswith(b"{") and b'"status":404' in body.replace(b" ", b"")
    assert b"passwd" not in body and b"/tmp" not in body


def test_corrupt_slide_fails_alone(server: str) -> None:
    bad = requests.get(server + "/deepzoom/corrupt.svs_files/0/0_0.jpeg", timeout=30)
    assert bad.status_code == 422 and bad.json()["status"] == 422
    good = requests.get(server + "/deepzoom/aperio/small.svs_files/0/0_0.jpeg", timeout=30)
    assert good.status_code == 200


def test_settings_from_environment_and_config_file(tmp_path: Path) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    shutil.copy(Path(__file__).parent / "data/slides/aperio/small.svs", root / "s.svs")
    config = tmp_path / "viewer.toml"
    config.write_text('tile_format = "png"\nserve_associated_images = true\n')
    env = {"WSI_VIEWER_TILE_SIZE": "128", "WSI_VIEWER_TILE_OVERLAP": "2"}
    with running_server(str(root), "--config", str(config), "--workers", "1", data_dir=tmp_path / "d",
                        env=env) as running:
        base = running.url
        dzi = requests.get(base + "/deepzoom/s.svs.dzi", timeout=30).text
        assert 'Format="png"' in dzi and 'TileSize="128"' in dzi and 'Overlap="2"' in dzi
        entry = requests.get(base + "/api/slides", timeout=30).json()["slides"][0]
        assert "associated" in entry["urls"]


def test_bad_settings_exit_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "viewer.cli", "serve", str(tmp_path / "missing"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "viewer.cli", "serve", str(tmp_path), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "WSI_VIEWER_PORT": "eighty"},
    )
    assert result.returncode == 2 and "WSI_VIEWER_PORT" in result.stderr


def test_one_connection_serves_request_after_request(server: str) -> None:
    # The worker keeps a busy connection on its thread (viewer.gthread_worker): a run of requests,
    # pipelined ones included, is answered in order on the one connection.
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.connect()
    sock = conn.sock
    tiles = [f"/deepzoom/{CMU}_files/12/{c}_{r}.jpeg" for c in range(4) for r in range(4)]
    bodies = []
    for path in tiles * 3:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Connection", "").lower() != "close"
        bodies.append(response.read())
    assert conn.sock is sock and bodies[: len(tiles)] == bodies[len(tiles) : 2 * len(tiles)]
    # Two requests in one write: the second is already read when the first is answered.
    pipelined = b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % p.encode() for p in tiles[:2])
    sock.sendall(pipelined)

    class SharedReader(io.BufferedReader):  # one buffer for both responses, which each close it
        def close(self) -> None:
            pass

    class Socket:
        reader = SharedReader(socket.SocketIO(sock, "rb"))

        def makefile(self, *_args: object) -> SharedReader:
            return self.reader

    for expected in bodies[:2]:
        response = http.client.HTTPResponse(Socket())  # type: ignore[arg-type]
        response.begin()
        assert response.status == 200 and response.read() == expected
    conn.close()


def test_an_idle_kept_alive_connection_does_not_hold_the_only_thread(tmp_path: Path) -> None:
    root = tmp_path / "slides"
    shutil.copytree(Path(__file__).parent / "data" / "slides" / "aperio", root)
    with running_server(str(root), "--workers", "1", "--threads", "1", data_dir=tmp_path / "d") as running:
        parts = urlsplit(running.url)
        idle = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        idle.request("GET", "/api/slides")
        assert idle.getresponse().read()  # answered, and left open (keep-alive), sending nothing
        other = requests.Session()
        start = time.monotonic()
        for _ in range(20):
            assert other.get(running.url + "/api/openapi.json", timeout=30).status_code == 200
        # Held, the thread would answer the other client only after gunicorn's keep-alive timeout
        # (2 s) closed the idle connection.
        assert time.monotonic() - start < 1.5
        idle.request("GET", "/api/slides")  # still open and served
        assert idle.getresponse().status == 200
        idle.close()


# -- the first start: the demo generated in the background -------------------------------------------

DEMO_ID = "tumor_demo.tif"
#: A small demo keeps these tests quick (its texture banks still take ~5 s, ~15 s on a busy machine).
DEMO_ENV = {"WSI_VIEWER_TEST_DEMO_SIZE": "4096x3072"}


def _demo_entry(base: str) -> tuple[dict, float]:
    """The demo's listing entry and how long the listing took, s."""
    started = time.monotonic()
    response = requests.get(base + "/api/slides", timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    (entry,) = [s for s in response.json()["slides"] if s["id"] == DEMO_ID]
    return entry, elapsed


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is *pid*."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append((int(entry.name), cmdline))
    return found


def _module_imports(module: str, seen: set[str] | None = None) -> set[str]:
    """Every browser module *module* imports, directly or not."""
    seen = set() if seen is None else seen
    source = (Path(__file__).parent.parent / "static" / "js" / module).read_text()
    for name in re.findall(r'from "\./([\w-]+\.js)"', source):
        if name not in seen:
            seen.add(name)
            _module_imports(name, seen)
    return seen


def _wait_ready(base: str, timeout: float = 240) -> tuple[dict, list[dict]]:
    """Poll the listing until the demo is an ordinary slide; returns it and every entry seen before."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry, _ = _demo_entry(base)
        if "status" not in entry:
            return entry, seen
        assert entry["status"] == "preparing", entry
        seen.append(entry)
        time.sleep(0.2)
    raise TimeoutError(f"the demo was not ready in {timeout} s; last: {seen[-1] if seen else None}")


@pytest.mark.timeout(300)
def test_first_start_answers_at_once_while_the_demo_is_generated(tmp_path: Path) -> None:
    home = tmp_path / "home"  # gunicorn's control socket would go to ~/.gunicorn/
    home.mkdir()
    env = {**DEMO_ENV, "HOME": str(home), "XDG_RUNTIME_DIR": ""}
    data = tmp_path / "data"
    launched = time.monotonic()
    with running_server("--workers", "2", data_dir=data, env=env) as running:
        base = running.url
        first_answer_s = time.monotonic() - launched
        entry, listing_s = _demo_entry(base)
        page = requests.get(base + "/", timeout=30)
        assert page.status_code == 200 and "data-library" in page.text
        # answered while the demo is generated, each request within a second
        assert entry["status"] == "preparing" and listing_s < 1, (entry, listing_s)
        assert page.elapsed.total_seconds() < 1
        assert first_answer_s < 15, first_answer_s  # the interpreter and gunicorn start, no generation
        assert entry["progress"]["percent"] < 100
        assert (entry["width"], entry["height"], entry["level_count"]) == (4096, 3072, 4)
        assert set(entry["urls"]) == {"viewer"}  # nothing to fetch but the page
        # nothing half-written is served meanwhile; the viewer page shows the progress
        assert requests.get(base + f"/deepzoom/{DEMO_ID}.dzi", timeout=30).status_code == 404
        assert requests.get(base + f"/api/slides/{DEMO_ID}", timeout=30).status_code == 404
        viewer = requests.get(base + entry["urls"]["viewer"], headers={"Accept": "text/html"}, timeout=30)
        assert viewer.status_code == 200 and "data-preparing-page" in viewer.text
        assert "data-viewer-app" not in viewer.text
        preloaded = set(re.findall(r'rel="modulepreload" href="/static/js/([\w-]+\.js)"', viewer.text))
        assert preloaded == _module_imports("library-preparing.js")
        # the entry is what the OpenAPI document says a slide being prepared is
        TypeAdapter(PreparingSlide).validate_python(entry, strict=True)

        slide, seen = _wait_ready(base)
        percents = [e["progress"]["percent"] for e in [entry, *seen]]
        assert percents == sorted(percents) and percents[-1] > percents[0]
        stages = list(dict.fromkeys(e["progress"]["stage"] for e in [entry, *seen]))
        assert stages == [s for s in ("starting", "sidecars", "textures", "tiles") if s in stages]
        assert "textures" in stages
        # ready: an ordinary slide, with its annotations, tiles and viewer
        assert slide["vendor"] == "generic-tiff" and (slide["width"], slide["height"]) == (4096, 3072)
        assert slide["annotation_count"] == 14
        assert requests.get(base + slide["urls"]["dzi"], timeout=30).status_code == 200
        tile = requests.get(base + f"/deepzoom/{DEMO_ID}_files/12/3_2.jpeg", timeout=30)
        assert tile.status_code == 200 and Image.open(io.BytesIO(tile.content)).size == (512, 512)
        viewer = requests.get(base + slide["urls"]["viewer"], headers={"Accept": "text/html"}, timeout=30)
        assert "data-viewer-app" in viewer.text and "data-preparing-page" not in viewer.text
        progress = (data / "demo" / "progress.json").read_text()
        assert '"state": "done"' in progress
    log = running.log.read_text()
    assert log.count("wsi-viewer: generating the demo slide (4096 x 3072 px)") == 1
    assert re.search(r"^  level 0 of 4: 48 tiles in \d+\.\d s", log, re.M)
    assert list(home.iterdir()) == []  # nothing written to the home directory (no ~/.gunicorn/)


@pytest.mark.timeout(300)
def test_a_killed_generator_serves_nothing_and_two_restarted_servers_generate_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server("--workers", "1", data_dir=data, env=DEMO_ENV) as running:
        ((generator, command),) = [c for c in _children(running.process.pid) if "viewer.demo" in c[1]]
        assert "--lock-fd" in command  # the server took the lock and handed it on
        deadline = time.monotonic() + 120
        while _demo_entry(running.url)[0]["progress"]["stage"] in ("starting", "sidecars"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(generator, signal.SIGKILL)  # a crash, mid-way
        deadline = time.monotonic() + 20  # its encoders notice within a second and release the lock
        while (entry := _demo_entry(running.url)[0])["status"] == "preparing":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert entry["status"] == "failed" and "restart" in entry["error"]
        assert not (data / "demo" / DEMO_ID).exists()
        hidden = [p.name for p in (data / "demo").iterdir() if p.name.startswith(".")]
        assert hidden == [".demo.lock"]  # no temporary file of the slide
        assert requests.get(running.url + f"/deepzoom/{DEMO_ID}.dzi", timeout=30).status_code == 404
        library = requests.get(running.url + "/", timeout=30)
        assert library.status_code == 200
    # Two servers on the same data directory: one generates, the other waits, both serve the slide.
    with running_server("--workers", "1", data_dir=data, env=DEMO_ENV) as one, \
            running_server("--workers", "1", data_dir=data, env=DEMO_ENV) as two:
        for server in (one, two):
            entry, listing_s = _demo_entry(server.url)
            assert entry["status"] == "preparing" and listing_s < 1
        first, _ = _wait_ready(one.url)
        second, _ = _wait_ready(two.url)
        assert first["annotation_count"] == second["annotation_count"] == 14
        for server in (one, two):
            assert requests.get(server.url + first["urls"]["dzi"], timeout=30).status_code == 200
        made = (data / "demo" / DEMO_ID).stat()
    logs = [server.log.read_text() for server in (one, two)]
    assert sum(log.count("wsi-viewer: generating the demo slide") for log in logs) == 1, logs
    assert sum(log.count("wsi-viewer: demo slide ready") for log in logs) == 1
    stat = (data / "demo" / DEMO_ID).stat()
    assert (stat.st_ino, stat.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
