"""A real ``wsi-viewer serve`` process under gunicorn: listing, tiles, raw path tricks over the
socket, a corrupt slide next to good ones, settings from the environment and a config file."""

from __future__ import annotations

import http.client
import io
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from _server import running_server
from PIL import Image

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
