"""CORS: off by default; with CORS_ORIGINS, preflights from those origins are answered and their
requests (the tile fast path's too) carry Access-Control-Allow-Origin, nobody else's do."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests._server import running_server
from viewer.errors import ConfigError
from viewer.web.security import SECURITY_HEADERS

SLIDE = "aperio/CMU-1-Small-Region.svs"
DASH = "https://dash.example.org"
EDITOR = "https://editor.example.org"  # also in ALLOWED_ORIGINS: may write
EVIL = "https://evil.example"


def _preflight(url: str, origin: str, method: str = "GET") -> requests.Response:
    return requests.options(url, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                          "Access-Control-Request-Headers": "content-type"}, timeout=30)


def test_cors_is_off_by_default(make_app: object, slide_dir: Path) -> None:
    client = make_app(SLIDE_DIR=str(slide_dir)).test_client()  # type: ignore[operator]
    asking = {"Origin": DASH, "Access-Control-Request-Method": "GET"}
    preflight = client.options("/api/slides", headers=asking)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    read = client.get("/api/slides", headers={"Origin": DASH})
    assert read.status_code == 200 and "Access-Control-Allow-Origin" not in read.headers


def test_cors_origins_only(tmp_path: Path, slide_dir: Path) -> None:
    args = (str(slide_dir), "--workers", "1", "--cors-origins", f"{DASH}, {EDITOR}/",
            "--allowed-origins", EDITOR)
    with running_server(*args, data_dir=tmp_path / "data") as server:
        slides = server.url + "/api/slides"
        tile = f"{server.url}/deepzoom/{SLIDE}_files/11/0_0.jpeg"

        answered = _preflight(slides, DASH)
        assert answered.status_code == 204
        assert answered.headers["Access-Control-Allow-Origin"] == DASH
        assert answered.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
        assert "content-type" in answered.headers["Access-Control-Allow-Headers"].lower()
        assert "Origin" in answered.headers["Vary"]
        writer = _preflight(f"{server.url}/api/annotations/{SLIDE}", EDITOR, "POST")
        assert writer.status_code == 204 and writer.headers["Access-Control-Allow-Origin"] == EDITOR
        assert "POST" in writer.headers["Access-Control-Allow-Methods"]
        refused = _preflight(slides, EVIL)
        assert "Access-Control-Allow-Origin" not in refused.headers
        assert "Access-Control-Allow-Methods" not in refused.headers

        for url in (slides, tile):  # Flask's answer and the tile fast path's
            mine = requests.get(url, headers={"Origin": DASH}, timeout=30)
            assert mine.status_code == 200
            assert mine.headers["Access-Control-Allow-Origin"] == DASH, url
            assert "X-Request-Id" in mine.headers["Access-Control-Expose-Headers"]
            assert "Access-Control-Allow-Credentials" not in mine.headers
            for name, value in SECURITY_HEADERS:  # CSP (frame-ancestors), nosniff, Referrer-Policy
                assert mine.headers[name] == value, (url, name)
            for origin in (EVIL, None):
                headers = {"Origin": origin} if origin else {}
                other = requests.get(url, headers=headers, timeout=30)
                assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
        # the write check is unchanged: a CORS origin outside ALLOWED_ORIGINS may not write
        write = requests.post(f"{server.url}/api/annotations/{SLIDE}", json={"name": "x"},
                              headers={"Origin": DASH}, timeout=30)
        assert write.status_code == 403
        assert write.headers["Access-Control-Allow-Origin"] == DASH  # so the page can read why


def test_a_malformed_cors_origin_is_a_config_error(make_app: object) -> None:
    with pytest.raises(ConfigError, match="'dash.example.org' is not an origin"):
        make_app(CORS_ORIGINS="https://ok.example, dash.example.org")  # type: ignore[operator]
