"""Hostile clients against a real ``wsi-viewer serve`` (viewer.gthread_worker, viewer.web.transport):
idle and half-open connections do not slow anyone else down, every connection has a header and a
body deadline, slow but progressing clients still get through, and the errors the HTTP layer
answers itself (bad request line, URI too long, header fields too large, malformed or oversized
chunked bodies) are 4xx in the API's JSON error shape. Raw sockets on loopback only."""

from __future__ import annotations

import http.client
import json
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _server import Server, running_server

SLIDE = "CMU-1-Small-Region.svs"
TILES = [f"/deepzoom/{SLIDE}_files/12/{c}_{r}.jpeg" for c in range(3) for r in range(3)]
API = ["/api/slides", f"/api/slides/{SLIDE}", "/api/openapi.json"]

#: The hostile crowd of the load test (issue: 200 idle and 50 half-open connections).
IDLE_CONNECTIONS = 200
HALF_OPEN_CONNECTIONS = 50


def _raise_own_open_file_limit(wanted: int = 4096) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else wanted, hard))


def _copy_slides(root: Path) -> Path:
    shutil.copytree(Path(__file__).parent / "data" / "slides" / "aperio", root)
    return root


def _port(server: Server) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """2 workers x 8 threads, defaults except a header deadline longer than the whole test, so the
    hostile connections stay held while the others are timed."""
    _raise_own_open_file_limit()
    root = _copy_slides(tmp_path_factory.mktemp("crowded") / "slides")
    with running_server(str(root), "--workers", "2", "--threads", "8", "--header-timeout", "60",
                        data_dir=tmp_path_factory.mktemp("crowded-data")) as server:
        yield server


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker with one thread, so anything that held a thread would stall the next client, and
    short deadlines: head 2 s, body pauses 2 s, whole body 5 s; bodies up to 1 MiB."""
    root = _copy_slides(tmp_path_factory.mktemp("strict") / "slides")
    with running_server(str(root), "--workers", "1", "--threads", "1", "--header-timeout", "2",
                        "--body-idle-timeout", "2", "--body-timeout", "5", "--max-upload-mb", "1",
                        data_dir=tmp_path_factory.mktemp("strict-data")) as server:
        yield server


def connect(server: Server, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(method: str, path: str, server: Server, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{_port(server)}", *extra, "", ""]
    return "\r\n".join(lines).encode()


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (s)."""
    start = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
    return received, time.monotonic() - start


def one_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (Content-Length framed) from *sock*; leaves the connection open."""
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def json_error(raw: bytes) -> tuple[int, dict[str, object], str]:
    """(status, JSON body, raw head) of one complete error response."""
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    text = head_bytes.decode("latin-1").lower()
    assert "content-type: application/json" in text, raw[:400]
    payload = json.loads(body)
    assert set(payload) == {"error", "status", "details"} and payload["status"] == status, payload
    return status, payload, text


def still_open(sock: socket.socket) -> bool:
    """Open with nothing to read: the server neither answered nor closed it."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


# -- many idle and half-open connections: everyone else is served as before --------------------


def _timed_requests(server: Server, clients: int, per_client: int) -> list[float]:
    """Latencies (s) of *clients* threads each sending *per_client* GETs of tiles and API URLs,
    on a kept-alive connection replaced every 4 requests (new connections take the accept path)."""
    port = _port(server)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        mine: list[float] = []
        paths = TILES + API
        try:
            for i in range(per_client):
                if conn is None or i % 4 == 0:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                path = paths[(index * 7 + i) % len(paths)]
                start = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                mine.append(time.perf_counter() - start)
                if response.status != 200 or not body:
                    failures.append(f"{path}: {response.status}")
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))
        finally:
            if conn is not None:
                conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures[:5]
    assert len(latencies) == clients * per_client
    return latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def test_idle_and_half_open_connections_do_not_slow_other_clients(crowded: Server) -> None:
    port = _port(crowded)
    _timed_requests(crowded, clients=4, per_client=40)  # warm both workers' caches and code paths
    unloaded = _timed_requests(crowded, clients=4, per_client=60)

    hostile: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):  # connect, send nothing
            hostile.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for i in range(HALF_OPEN_CONNECTIONS):  # one byte; or a request line and half a header line
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"G" if i % 2 else b"GET /api/slides HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pa")
            hostile.append(sock)
        time.sleep(0.5)  # let the workers accept all of them

        loaded = _timed_requests(crowded, clients=4, per_client=60)

        # They were really held all along: neither answered nor closed (header deadline 60 s).
        assert sum(map(still_open, hostile)) == len(hostile)
    finally:
        for sock in hostile:
            sock.close()
    # The floor: the baseline p99 on loopback is a millisecond or two, and on a 2-core machine
    # shared with other work one scheduler hiccup of a few tens of ms would fail a bare 3x. What
    # this test guards against is seconds (a thread held 5 s per idle connection, or every thread
    # stuck on a half-sent head until the client gives up), far above the floor.
    floor = 0.1
    print(f"p99 unloaded {p99(unloaded) * 1000:.1f} ms, with {len(hostile)} hostile connections "
          f"{p99(loaded) * 1000:.1f} ms")
    assert p99(loaded) <= 3 * p99(unloaded) + floor, (p99(unloaded), p99(loaded))


def test_clients_that_keep_their_end_open_after_close_do_not_freeze_the_poller(crowded: Server) -> None:
    # A response with "Connection: close" is followed by a lingering close (wait for the client's
    # FIN, up to 2 s): done in the poller, not by blocking the worker's main thread 2 s per client.
    lingering = []
    try:
        for _ in range(20):
            sock = connect(crowded)
            sock.sendall(b"GET /api/openapi.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            lingering.append(sock)
        time.sleep(0.3)
        start = time.monotonic()
        for path in API * 4:
            conn = http.client.HTTPConnection("127.0.0.1", _port(crowded), timeout=15)
            conn.request("GET", path)
            assert conn.getresponse().status == 200
            conn.close()
        elapsed = time.monotonic() - start
        for sock in lingering:  # each was answered in full, then closed by the server
            received, _ = read_until_closed(sock, 10)
            assert received.startswith(b"HTTP/1.0 200") or received.startswith(b"HTTP/1.1 200"), received[:80]
    finally:
        for sock in lingering:
            sock.close()
    assert elapsed < 2.0, elapsed


def test_workers_may_open_enough_files(crowded: Server) -> None:
    for pid in crowded.workers():
        line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines()
                    if x.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        assert soft == hard or int(soft) >= 4096, line


def test_the_open_file_limit_is_raised_to_the_hard_limit() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from viewer.server import raise_open_file_limit\n"
        "print(raise_open_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    returned, soft, hard = (int(x) for x in out.stdout.split())
    assert returned == soft and (soft == hard or hard == resource.RLIM_INFINITY and soft >= 4096), out.stdout


def test_a_worker_freezes_its_startup_heap_out_of_the_collector(tmp_path: Path) -> None:
    # A full collection walks every tracked object with the GIL held: ~100,000 in a worker (36-74 ms
    # with all its threads stopped) unless the startup heap is frozen first (viewer/server.py).
    slides = Path(__file__).parent / "data" / "slides"
    code = (
        "import gc, json, sys\n"
        "from viewer.config import load_settings\n"
        "from viewer.server import load_worker_app\n"
        "paths = {'SLIDE_DIR': sys.argv[1], 'DATA_DIR': sys.argv[2]}\n"
        "settings = load_settings(None, environ={}, overrides=paths)\n"
        "app = load_worker_app(settings)\n"
        "frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())\n"
        "status = app.test_client().get('/api/slides').status_code\n"
        "gc.unfreeze()\n"
        "print(json.dumps([frozen, tracked, len(gc.get_objects()), status]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(slides), str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=120, check=True)
    frozen, tracked, unfrozen, status = json.loads(out.stdout)
    assert status == 200, out.stderr
    assert frozen > 30_000, frozen  # the modules, the app, its routes and tables
    assert tracked * 10 < frozen and unfrozen > frozen, (frozen, tracked, unfrozen)


# -- deadlines ---------------------------------------------------------------------------------


def test_half_open_connections_get_408_at_the_header_deadline(strict: Server) -> None:
    port = _port(strict)
    one_byte = connect(strict)
    one_byte.sendall(b"G")
    half_line = connect(strict)
    half_line.sendall(f"GET /api/slides HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAcc".encode())
    silent = connect(strict)
    opened = time.monotonic()
    try:
        # Meanwhile the only thread serves others at once.
        other = connect(strict)
        other.sendall(head("GET", "/api/openapi.json", strict))
        assert one_response(other)[0] == 200
        other.close()
        time.sleep(max(0.0, 1.2 - (time.monotonic() - opened)))
        assert still_open(one_byte) and still_open(half_line) and still_open(silent)  # 2 s not over
        for sock in (one_byte, half_line):
            received, _ = read_until_closed(sock, 10)
            closed = time.monotonic() - opened
            status, payload, _ = json_error(received)
            assert status == 408 and "2 s" in str(payload["details"])
            assert 1.5 < closed < 4.5, closed
        received, _ = read_until_closed(silent, 10)  # sent nothing: closed without an answer
        assert received == b"" and time.monotonic() - opened < 4.5
    finally:
        for sock in (one_byte, half_line, silent):
            sock.close()


def test_a_head_trickled_past_the_deadline_is_408_and_one_in_time_is_served(strict: Server) -> None:
    request = head("GET", "/api/openapi.json", strict)
    slow = connect(strict)
    start = time.monotonic()
    try:
        for i in range(0, len(request), 4):  # every piece well within any per-read timeout
            try:
                slow.sendall(request[i:i + 4])
            except OSError:
                break
            time.sleep(0.25)
            if time.monotonic() - start > 3.5:
                break
        received, _ = read_until_closed(slow, 10)
        status, _, _ = json_error(received)
        assert status == 408 and time.monotonic() - start < 4.5  # the deadline is for the whole head
    finally:
        slow.close()
    in_time = connect(strict)
    try:
        for piece in (request[:10], request[10:30], request[30:]):
            in_time.sendall(piece)
            time.sleep(0.4)
        assert one_response(in_time)[0] == 200
    finally:
        in_time.close()


def test_an_idle_kept_alive_connection_is_closed_after_keepalive(strict: Server) -> None:
    sock = connect(strict)
    try:
        sock.sendall(head("GET", "/api/openapi.json", strict))
        status, headers, _ = one_response(sock)
        assert status == 200 and headers.get("connection") == "keep-alive"
        answered = time.monotonic()
        received, _ = read_until_closed(sock, 10)
        assert received == b"" and 1.0 < time.monotonic() - answered < 4.0  # gunicorn keepalive: 2 s
    finally:
        sock.close()


def test_the_next_request_wait_never_holds_the_thread_on_a_half_sent_head(strict: Server) -> None:
    # The thread that answered a request waits 2 ms for the connection's next one. A connection
    # whose next head is only half there (read ahead in the same packet, or arriving within the
    # 2 ms) goes back to the poller: the one thread serves another client at once.
    first = head("GET", "/api/openapi.json", strict)
    for ahead in (True, False):
        sock = connect(strict)
        try:
            if ahead:
                sock.sendall(first + b"GET /api/sli")
                assert one_response(sock)[0] == 200
            else:
                sock.sendall(first)
                assert one_response(sock)[0] == 200
                sock.sendall(b"GET /api/sli")
            other = connect(strict, timeout=5)
            start = time.monotonic()
            other.sendall(head("GET", "/api/openapi.json", strict))
            assert one_response(other)[0] == 200 and time.monotonic() - start < 1.0
            other.close()
            sock.sendall(f"des HTTP/1.1\r\nHost: 127.0.0.1:{_port(strict)}\r\n\r\n".encode())
            status, _, body = one_response(sock)  # the rest of the head completes the request
            assert status == 200 and json.loads(body)["slides"]
        finally:
            sock.close()


def test_a_body_sent_in_pieces_within_the_deadlines_succeeds(strict: Server) -> None:
    body = json.dumps({"name": "sent slowly"}).encode()
    sock = connect(strict)
    try:
        sock.sendall(head("POST", f"/api/annotations/{SLIDE}", strict, "Content-Type: application/json",
                          f"Content-Length: {len(body)}"))
        for i in range(0, len(body), 8):  # 1.5 s in all, pauses of 0.5 s: within 2 s and 5 s
            time.sleep(0.5)
            sock.sendall(body[i:i + 8])
        status, _, answer = one_response(sock)
        assert status == 201, answer
        assert json.loads(answer)["set"]["name"] == "sent slowly"
    finally:
        sock.close()


def test_a_stalled_body_is_408_after_the_idle_timeout(strict: Server) -> None:
    sock = connect(strict)
    start = time.monotonic()
    try:
        sock.sendall(head("POST", f"/api/annotations/{SLIDE}", strict, "Content-Type: application/json",
                          "Content-Length: 100") + b'{"name": ')
        received, _ = read_until_closed(sock, 10)
        status, _, text = json_error(received)
        assert status == 408 and "connection: close" in text
        assert 1.5 < time.monotonic() - start < 4.5
    finally:
        sock.close()


def test_a_body_trickled_past_the_body_deadline_is_408(strict: Server) -> None:
    sock = connect(strict)
    start = time.monotonic()
    answered: list[bytes] = []
    try:
        sock.sendall(head("POST", f"/api/annotations/{SLIDE}", strict, "Content-Type: application/json",
                          "Content-Length: 100") + b'{"name": "')
        sock.settimeout(1.0)
        while time.monotonic() - start < 8:  # a byte a second: every pause within 2 s
            try:
                sock.sendall(b"a")
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            answered.append(data)
        status, _, _ = json_error(b"".join(answered))
        assert status == 408 and 4.5 < time.monotonic() - start < 7.5  # BODY_TIMEOUT = 5 s
    finally:
        sock.close()


# -- errors of the HTTP layer are JSON ---------------------------------------------------------


@pytest.mark.parametrize(("request_bytes", "expected"), [
    (b"zz\r\n\r\n", 400),
    (b"GET /api/slides HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"GET /api/slides HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
    (b"GET /" + b"a" * 70000, 414),  # no end of line at all
    (b"GET /api/slides HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /api/slides HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Many: a\r\n" * 150 + b"\r\n", 431),
    (b"GET /api/slides HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Huge: " + b"a" * 4000 + b"\r\n" * 1 + (
        b"X-More: " + b"b" * 4000 + b"\r\n") * 17 + b"\r\n", 431),  # over the poller's 64 KiB
    (b"GET /api/slides HTTP/1.1\nHost: 127.0.0.1\n\n", 400),  # bare LF
    (b"GET /api/slides HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
], ids=["garbage", "four-parts", "version", "uri-too-long", "line-without-end", "field-too-large",
        "too-many-fields", "head-over-64k", "bare-lf", "unchunked-transfer-coding"])
def test_errors_of_the_http_layer_are_json(strict: Server, request_bytes: bytes, expected: int) -> None:
    sock = connect(strict)
    try:
        try:
            sock.sendall(request_bytes)
        except OSError:
            pass  # the server may answer and close before reading it all
        received, _ = read_until_closed(sock, 10)
        status, payload, text = json_error(received)
        assert status == expected, payload
        assert "connection: close" in text and "<html" not in received.decode("latin-1").lower()
    finally:
        sock.close()


def _chunked(body: bytes, piece: int = 65536) -> bytes:
    out = [b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece]) for i in range(0, len(body), piece)]
    return b"".join(out) + b"0\r\n\r\n"


def test_a_malformed_chunked_body_is_400(strict: Server) -> None:
    for bad in (b"zz\r\n", b"5\r\nabcdeXX", b"3;\x01\r\nabc\r\n0\r\n\r\n"):
        sock = connect(strict)
        try:
            sock.sendall(head("POST", f"/api/annotations/{SLIDE}", strict, "Content-Type: application/json",
                              "Transfer-Encoding: chunked") + bad)
            received, _ = read_until_closed(sock, 10)
            status, payload, text = json_error(received)
            assert status == 400 and "connection: close" in text, payload
            assert "chunk" in str(payload["error"]).lower(), payload
        finally:
            sock.close()


def test_a_chunked_body_over_max_upload_is_413_and_one_under_it_is_read(strict: Server) -> None:
    # MAX_UPLOAD_MB = 1: 1 MiB and 8 KiB of GeoJSON-ish bytes, chunked (no Content-Length).
    document = b'{"type": "FeatureCollection", "features": [], "pad": "' + b"x" * ((1 << 20) + 8192) + b'"}'
    sock = connect(strict)
    try:
        sock.sendall(head("POST", f"/api/annotations/{SLIDE}?name=big", strict,
                          "Content-Type: application/json", "Transfer-Encoding: chunked"))
        try:
            sock.sendall(_chunked(document))
        except OSError:
            pass
        received, _ = read_until_closed(sock, 15)
        status, payload, text = json_error(received)
        assert status == 413 and "connection: close" in text, payload
    finally:
        sock.close()
    small = json.dumps({"name": "chunked"}).encode()
    sock = connect(strict)
    try:
        sock.sendall(head("POST", f"/api/annotations/{SLIDE}", strict, "Content-Type: application/json",
                          "Transfer-Encoding: chunked") + _chunked(small, piece=5))
        status, _, answer = one_response(sock)
        assert status == 201 and json.loads(answer)["set"]["name"] == "chunked", answer
    finally:
        sock.close()
