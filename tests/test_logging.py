"""LOG_FORMAT=json on a real server: one JSON object per log line, gunicorn's own included; a line
per request with its route, status and request id; X-Request-Id taken from the client when well
formed, else made, and echoed in every answer (the tile fast path's too)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from tests._server import running_server

SLIDE = "aperio/CMU-1-Small-Region.svs"
TILE_ROUTE = "/deepzoom/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<any(jpeg, png):fmt>"


def _json_lines(log: Path, wanted: int, timeout: float = 20) -> list[dict]:
    """The log's JSON lines once at least *wanted* request lines are there."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        requests_logged = sum(1 for e in lines if e.get("logger") == "viewer.access")
        if requests_logged >= wanted or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_json_logs_carry_the_request_id(tmp_path: Path, slide_dir: Path) -> None:
    with running_server(str(slide_dir), "--workers", "1", "--log-format", "json",
                        data_dir=tmp_path / "data") as server:
        tile_url = f"{server.url}/deepzoom/{SLIDE}_files/11/1_1.jpeg"
        given = requests.get(tile_url, headers={"X-Request-Id": "lb-7f3a.42:9"}, timeout=30)
        assert given.status_code == 200 and given.headers["X-Request-Id"] == "lb-7f3a.42:9"
        for bad in ("two words", "x" * 129, "é"):
            header = {"X-Request-Id": bad.encode().decode("latin-1")}
            made = requests.get(server.url + "/api/slides", headers=header, timeout=30)
            assert made.status_code == 200
            assert made.headers["X-Request-Id"] != bad and made.headers["X-Request-Id"]
        missing = requests.get(f"{server.url}/api/sets/999999", timeout=30)
        assert missing.status_code == 404
        made_id = missing.headers["X-Request-Id"]
        other = requests.get(f"{server.url}/api/sets/999999", timeout=30).headers["X-Request-Id"]
        assert other != made_id  # one id per request
        lines = _json_lines(server.log, 7)
        text = server.log.read_text()
    # every line is one JSON object (the start's notices too: viewer.logs.notice)
    others = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert all(line.startswith("wsi-viewer: serving on http://") for line in others), others
    assert len(lines) == len([line for line in text.splitlines() if line.startswith("{")])
    for entry in lines:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in lines)
    access = [e for e in lines if e["logger"] == "viewer.access"]
    by_id = {e.get("request_id"): e for e in access}
    tile = by_id["lb-7f3a.42:9"]
    assert tile["route"] == TILE_ROUTE and tile["status"] == 200 and tile["method"] == "GET"
    assert tile["path"] == f"/deepzoom/{SLIDE}_files/11/1_1.jpeg" and tile["duration_ms"] >= 0
    assert by_id[made_id]["status"] == 404 and by_id[made_id]["route"] == "/api/sets/<int:set_id>"
    assert by_id[other]["status"] == 404
    assert len(access) == 7  # with running_server's probe of /api/openapi.json
    assert len(by_id) == 7
