"""/metrics of a real ``wsi-viewer serve`` with two workers: counts from requests answered by both
add up in one answer (prometheus-client's multiprocess mode), the tile fast path's tiles included;
a SIGHUP replaces the workers without dropping a request in flight, and the counts of the old
workers stay."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from tests._server import Server, running_server
from viewer.errors import ConfigError

SLIDE = "aperio/CMU-1-Small-Region.svs"
TILE_ROUTE = "/deepzoom/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.<any(jpeg, png):fmt>"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """name + labels -> value of a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        assert match is not None, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        found[(match[1], labels)] = float(match[3])
    return found


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _worker_of(response: requests.Response) -> int:
    """The pid of the worker that answered (the made request id starts with it, in hex)."""
    return int(response.headers["X-Request-Id"].split("-")[0], 16)


def _get_new_connection(url: str) -> requests.Response:
    with requests.Session() as session:  # a connection of its own: the workers take turns accepting
        return session.get(url, timeout=30)


def _spread_tiles(server: Server, count: int) -> dict[int, int]:
    """GET *count* distinct tiles, each on a new connection, until both workers answered some;
    returns tiles per worker pid."""
    per_worker: dict[int, int] = {}
    col = 0
    while sum(per_worker.values()) < count or len(per_worker) < 2:
        assert col < 400, f"one worker answered every tile: {per_worker}"
        response = _get_new_connection(f"{server.url}/deepzoom/{SLIDE}_files/11/{col % 4}_{col // 4 % 3}.jpeg"
                                       if col < 12 else f"{server.url}/deepzoom/{SLIDE}_files/9/0_0.jpeg")
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
        pid = _worker_of(response)
        per_worker[pid] = per_worker.get(pid, 0) + 1
        col += 1
    return per_worker


def _metrics(server: Server) -> dict:
    response = requests.get(server.url + "/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return _samples(response.text)


def _slow_write(server: Server, name: str) -> tuple[socket.socket, bytes]:
    """Start a POST creating a set, its body not sent yet: returns once a worker's thread is on
    it (it answered ``100 Continue``), with the socket and the body."""
    body = json.dumps({"name": name}).encode()
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST /api/annotations/{SLIDE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
            "Connection: close\r\n\r\n")
    sock.sendall(head.encode())
    interim = sock.recv(4096)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
    return sock, body


def _wait_for_new_workers(server: Server, old: set[int], timeout: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(server.workers()) - old
        if len(new) == 2:  # the old ones may still be finishing what they answer
            return new
        time.sleep(0.1)
    raise AssertionError(f"workers not replaced: {old} -> {server.workers()}")


def test_metrics_add_up_over_workers_and_survive_a_graceful_reload(tmp_path: Path, slide_dir: Path) -> None:
    args = (str(slide_dir), "--workers", "2", "--threads", "4")
    with running_server(*args, data_dir=tmp_path / "data") as server:
        metrics_dir = tmp_path / "data" / "run" / f"metrics-{socket.gethostname()}-{server.process.pid}"
        assert metrics_dir.is_dir() and list(metrics_dir.iterdir())  # the workers' files
        per_worker = _spread_tiles(server, 30)
        tiles = sum(per_worker.values())
        misses = 0
        for pid_round in range(6):  # 404s, by the Flask route
            response = _get_new_connection(f"{server.url}/deepzoom/{SLIDE}_files/11/99_{pid_round}.jpeg")
            assert response.status_code == 404
            misses += 1
        samples = _metrics(server)
        served = {source: _value(samples, "wsi_viewer_tiles_served_total", source=source)
                  for source in ("cache", "disk", "stored", "rendered")}
        assert sum(served.values()) == tiles, (served, per_worker)
        # 13 distinct tiles (12, then 9/0_0 again and again): at most 13 misses per worker
        assert tiles - 26 <= served["cache"] < tiles
        ratio = _value(samples, "wsi_viewer_tile_cache_hit_ratio")
        assert abs(ratio - served["cache"] / tiles) < 1e-9
        count_name = "wsi_viewer_request_duration_seconds_count"
        assert _value(samples, count_name, route=TILE_ROUTE, method="GET") == tiles + misses
        assert _value(samples, "wsi_viewer_request_errors_total", status="404", route=TILE_ROUTE) == misses
        assert _value(samples, "wsi_viewer_request_duration_seconds_bucket", route=TILE_ROUTE, method="GET",
                      le="+Inf") == tiles + misses

        # a store write, timed; then a reload while another is in flight
        sets_url = f"{server.url}/api/annotations/{SLIDE}"
        first = requests.post(sets_url, json={"name": "before reload"}, timeout=30)
        assert first.status_code == 201, first.text
        old_workers = set(server.workers())
        in_flight, rest = _slow_write(server, "across the reload")
        os.kill(server.process.pid, signal.SIGHUP)
        new_workers = _wait_for_new_workers(server, old_workers)
        in_flight.sendall(rest)
        answer = b""
        while chunk := in_flight.recv(65536):
            answer += chunk
        in_flight.close()
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        names = [s["name"] for s in requests.get(sets_url, timeout=30).json()["sets"]]
        assert "before reload" in names and "across the reload" in names
        deadline = time.monotonic() + 30
        while set(server.workers()) & old_workers:  # done with their requests, the old workers exit
            assert time.monotonic() < deadline, "the old workers did not exit"
            time.sleep(0.1)

        after = _metrics(server)
        answered_by = _worker_of(requests.get(server.url + "/healthz", timeout=30))
        assert answered_by in new_workers
        # the old workers' counts are still summed by a new worker
        assert sum(_value(after, "wsi_viewer_tiles_served_total", source=s)
                   for s in ("cache", "disk", "stored", "rendered")) == tiles
        assert _value(after, "wsi_viewer_store_write_duration_seconds_count") >= 2
        assert _value(after, "wsi_viewer_request_duration_seconds_count", route="/metrics", method="GET") == 1
    assert not metrics_dir.exists()  # removed when the server stopped


def test_metrics_refused_outside_metrics_allow_and_absent_when_off(make_app: object, slide_dir: Path) -> None:
    app = make_app(SLIDE_DIR=str(slide_dir), METRICS_ALLOW="10.0.0.0/8")  # type: ignore[operator]
    client = app.test_client()
    refused = client.get("/metrics")  # the test client's peer is 127.0.0.1
    assert refused.status_code == 403 and "METRICS_ALLOW" in refused.json["error"]
    allowed = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert allowed.status_code == 200 and b"wsi_viewer_tiles_served_total" in allowed.data
    off = make_app(SLIDE_DIR=str(slide_dir), METRICS=False).test_client()  # type: ignore[operator]
    assert off.get("/metrics").status_code == 404


def test_a_malformed_metrics_allow_is_a_config_error(make_app: object) -> None:
    with pytest.raises(ConfigError, match="METRICS_ALLOW: 'localhost' is not an address or CIDR"):
        make_app(METRICS_ALLOW="127.0.0.1/32,localhost")  # type: ignore[operator]
