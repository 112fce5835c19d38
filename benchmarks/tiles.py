"""Deep Zoom tile throughput and latency: our server against two peers, in one run.

Run: ``python benchmarks/tiles.py [--bench-dir /tmp/wsi-bench] [--clients 1,4,16] [--repeats 3]``.
Needs the ``bench`` extra (``pip install -e '.[bench]'``: large-image-source-tiff) for peer (b).

Part 1 -- a generated 100,000 x 80,000 px JPEG-tiled pyramidal TIFF (512 px tiles; generated once
into ``--bench-dir`` with :func:`viewer.demo.generate_slide`, reused afterwards), served by

* ``ours``: ``wsi-viewer serve`` (gunicorn, its gthread worker keeping busy connections on their
  thread: ``viewer/gthread_worker.py``; default tile geometry: the stored 512 px tiles, overlap 0,
  stored JPEG bytes sent as they are, tile cache per worker);
* ``deepzoom``: ``benchmarks/peers/deepzoom_example.py``, what openslide-python's deepzoom example
  server does -- ``DeepZoomGenerator.get_tile`` plus a JPEG encode per request, an LRU of open
  slides, the example's defaults (254 px tiles, overlap 1, quality 75);
* ``large_image``: ``benchmarks/peers/large_image_app.py``, large_image's TIFF tile source (stored
  JPEG tiles passed through, its in-memory tile cache) behind a minimal DZI route, native 512 px
  tiles, overlap 0.

Every server runs under gunicorn with the same worker and thread counts (``--workers``,
``--threads``). Each client is a process with one keep-alive HTTP/1.1 connection (a minimal
client, :class:`KeepAliveClient`: the clients share the cores with the servers) that replays a
viewing session the way OpenSeadragon requests tiles for a 1920 x 1080 viewport: open (the .dzi
and the home view: the whole slide), zoom in steps of 2x towards a point on tissue down to the
full-resolution level, then pan across in half-viewport steps. In each viewport state it asks for
the tiles covering the viewport that it has not fetched yet, nearest the centre first. Clients
start at different points on tissue. For each server and client count: a fresh server ("cold": a
first visit; the tile caches are empty, the OS page cache is shared and pre-warmed by reading the
slide file once), then the same session again against the same server by new client processes
("warm": a revisit with empty browser caches). Mpx/s = sum of the delivered tiles' pixel areas
(from the server's own Deep Zoom geometry, overlap included) / wall time.

Part 2 -- zoomed-out tiles of a single-level slide (CMU-1-Small-Region.svs): every tile of the
Deep Zoom levels that read at least 2x downsampled, first request of each tile through our server
(one worker, the slide opened by its .dzi first) against ``DeepZoomGenerator.get_tile`` called
directly (same tile size and overlap; no encode, no HTTP), lowest level first.

``--auth``: ours runs with ``--auth builtin``, one account logged in through the login form, its
session cookie sent with every request (tiles then pass the access decision of
``viewer/web/auth.py``). ``benchmarks/tiles_auth.py`` measures what that costs (issue 16: at most
5 % lost warm), both servers in one run, paired.

Prints a table, the ratios and PASS/FAIL per target; medians over ``--repeats`` fresh-server
repeats. The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import http.client
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
SMALL_REGION = ROOT / "tests" / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"
#: The account ``--auth`` logs in with.
BENCH_USER, BENCH_PASSWORD = "bench", "bench password"
VIEWPORT = (1920, 1080)
SERVERS = ("ours", "deepzoom", "large_image")
TARGETS = {  # the foundation issue's targets (2 cores)
    "deepzoom_ratio": 10.0,  # ours / DeepZoomGenerator baseline, Mpx/s, cold and warm
    "large_image_ratio": 1.2,  # ours / large_image, Mpx/s, warm
    "warm_p99_ms_16": 25.0,  # ours, warm, 16 clients
    "zoomed_out_p95_ms": 20.0,  # ours, CMU-1-Small-Region zoomed-out tiles, cold tile cache
}


# --------------------------------------------------------------------------------------------------
# Deep Zoom geometry and the viewing session


@dataclass(frozen=True)
class Geometry:
    """A Deep Zoom pyramid as a .dzi describes it (level ``max_level`` = full resolution)."""

    tile: int
    overlap: int
    width: int
    height: int

    @classmethod
    def from_dzi(cls, text: str) -> Geometry:
        root = ET.fromstring(text)
        size = next(el for el in root if el.tag.endswith("Size"))
        return cls(int(root.get("TileSize", 0)), int(root.get("Overlap", 0)),
                   int(size.get("Width", 0)), int(size.get("Height", 0)))

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """Level sizes, level 0 (1 x 1) first; each level halves the next one, rounding up."""
        sizes = [(self.width, self.height)]
        while sizes[-1] != (1, 1):
            w, h = sizes[-1]
            sizes.append((max(1, math.ceil(w / 2)), max(1, math.ceil(h / 2))))
        return sizes[::-1]

    @property
    def max_level(self) -> int:
        return len(self.sizes) - 1

    def tile_area(self, level: int, col: int, row: int) -> int:
        """Pixels of the tile as delivered (overlap included, cropped at the level's edges)."""
        w, h = self.sizes[level]
        t, o = self.tile, self.overlap
        x0, y0 = col * t - (o if col else 0), row * t - (o if row else 0)
        x1, y1 = min(w, (col + 1) * t + o), min(h, (row + 1) * t + o)
        return (x1 - x0) * (y1 - y0)

    def covering(self, level: int, cx: float, cy: float, scale: float) -> list[tuple[int, int]]:
        """Tiles of *level* under a viewport centred on (cx, cy) level px, *scale* screen px per level px."""
        w, h = self.sizes[level]
        half_w, half_h = VIEWPORT[0] / scale / 2, VIEWPORT[1] / scale / 2
        t = self.tile
        c0, c1 = max(0, int((cx - half_w) // t)), min(math.ceil(w / t) - 1, int((cx + half_w) // t))
        r0, r1 = max(0, int((cy - half_h) // t)), min(math.ceil(h / t) - 1, int((cy + half_h) // t))
        cells = [(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]
        # OpenSeadragon loads the tiles nearest the centre first
        cells.sort(key=lambda cr: ((cr[0] + 0.5) * t - cx) ** 2 + ((cr[1] + 0.5) * t - cy) ** 2)
        return cells


def session(geometry: Geometry, target: tuple[float, float], pan_steps: int) -> list[tuple[int, int, int]]:
    """The tile requests (level, col, row) of one viewing session, in order, each tile once.

    *target*: the point zoomed into, as fractions of the image width and height.
    """
    full_w, full_h = geometry.width, geometry.height
    top = geometry.max_level
    seen: set[tuple[int, int, int]] = set()
    out: list[tuple[int, int, int]] = []

    def view(scale: float, cx: float, cy: float) -> None:
        """*scale*: screen px per full-resolution px; (cx, cy): centre in full-resolution px."""
        # OpenSeadragon draws the level with at least one level px per screen px
        level = min(top, top - math.floor(math.log2(1 / scale) + 1e-9)) if scale < 1 else top
        down = 2 ** (top - level)
        for col, row in geometry.covering(level, cx / down, cy / down, scale * down):
            key = (level, col, row)
            if key not in seen:
                seen.add(key)
                out.append(key)

    scale = min(VIEWPORT[0] / full_w, VIEWPORT[1] / full_h)  # home: the whole image
    view(scale, full_w / 2, full_h / 2)
    tx, ty = target[0] * full_w, target[1] * full_h
    while scale < 1:
        scale = min(1.0, scale * 2)
        view(scale, tx, ty)
    step = VIEWPORT[0] / 2 * (1 if tx < full_w / 2 else -1)  # pan towards the middle of the slide
    for i in range(1, pan_steps + 1):
        view(1.0, tx + i * step, ty)
    return out


def tissue_points(slide: Path, count: int, seed: int) -> list[tuple[float, float]]:
    """*count* points on tissue (fractions of width/height), from the slide's smallest level."""
    import numpy as np
    import openslide

    with openslide.OpenSlide(str(slide)) as osr:
        level = osr.level_count - 1
        image = np.asarray(osr.read_region((0, 0), level, osr.level_dimensions[level]).convert("L"))
    ys, xs = np.nonzero(image < 200)
    if not len(xs):
        ys, xs = np.nonzero(image < 256)
    rng = random.Random(seed)
    picks = sorted(rng.sample(range(len(xs)), min(count, len(xs))))
    rng.shuffle(picks)
    h, w = image.shape
    return [(float(xs[i] + 0.5) / w, float(ys[i] + 0.5) / h) for i in picks]


# --------------------------------------------------------------------------------------------------
# Servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of *pid* and its children, from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


@dataclass
class Server:
    name: str
    url: str
    host: str
    port: int
    slide_path: str  # URL path of the slide's .dzi without the suffix, e.g. /deepzoom/x.tiff
    pid: int
    cookie: str = ""  # --auth: the session cookie every request sends ("wsi_session=...")

    def headers(self) -> dict[str, str]:
        return {"Cookie": self.cookie} if self.cookie else {}

    def cpu(self) -> float:
        return _process_tree_cpu(self.pid)


def _command(name: str, port: int, slide_dir: Path, data_dir: Path, args: argparse.Namespace,
             workers: int) -> tuple[list[str], dict[str, str], Path]:
    env = dict(os.environ, BENCH_SLIDE_DIR=str(slide_dir), PYTHONUNBUFFERED="1")
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                "--threads", str(args.threads), "--worker-class", "gthread", "--timeout", "120",
                "--chdir", str(PEERS)]
    if name == "ours":
        cmd = [sys.executable, "-m", "viewer.cli", "serve", str(slide_dir), "--port", str(port),
               "--data-dir", str(data_dir), "--workers", str(workers), "--threads", str(args.threads)]
        if args.ours_tile_size:
            cmd += ["--tile-size", str(args.ours_tile_size), "--tile-overlap", str(args.ours_overlap)]
        if args.auth:
            cmd += ["--auth", "builtin"]
        return cmd, env, ROOT
    if name == "deepzoom":
        env.update(BENCH_TILE_SIZE=str(args.baseline_tile_size), BENCH_OVERLAP=str(args.baseline_overlap))
        return gunicorn + ["deepzoom_example:app"], env, PEERS
    if name == "large_image":
        return gunicorn + ["large_image_app:app"], env, PEERS
    raise ValueError(name)


@contextmanager
def serve(name: str, slide_dir: Path, slide_id: str, args: argparse.Namespace,
          workers: int) -> Iterator[Server]:
    """A fresh server process (tree) on a free port; yields once it answers."""
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="wsi-bench-data-"))
    cmd, env, cwd = _command(name, port, slide_dir, data_dir, args, workers)
    with_auth = name == "ours" and args.auth
    if with_auth:  # one account, made before the start as a lab's admin would
        subprocess.run([sys.executable, "-m", "viewer.cli", "users", "add", BENCH_USER, "--role", "viewer",
                        "--data-dir", str(data_dir)], input=BENCH_PASSWORD + "\n", text=True, env=env,
                       cwd=ROOT, check=True, capture_output=True)
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    probe = ("/login" if with_auth else "/api/openapi.json") if name == "ours" else "/health"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", probe)
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {(data_dir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(1.0)  # let every worker finish booting
        cookie = _log_in(port) if with_auth else ""
        yield Server(name, f"http://127.0.0.1:{port}", "127.0.0.1", port, f"/deepzoom/{slide_id}", proc.pid,
                     cookie)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _log_in(port: int) -> str:
    """The session cookie of a login through the form (``--auth``): GET /login, POST it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        form = response.read().decode()
        pre = (response.getheader("Set-Cookie") or "").split(";")[0]
        found = re.search(r'name="csrf_token" value="([^"]+)"', form)
        if found is None or not pre:
            raise RuntimeError("--auth: the login form has no CSRF token or no cookie")
        fields = {"name": BENCH_USER, "password": BENCH_PASSWORD, "csrf_token": found[1]}
        body = urllib.parse.urlencode(fields)
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": pre})
        response = conn.getresponse()
        response.read()
        cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
        if response.status != 303 or not cookie:
            raise RuntimeError(f"--auth: the login answered {response.status}")
        return cookie
    finally:
        conn.close()


def fetch(server: Server, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        conn.request("GET", path, headers=server.headers())
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------
# Clients


@dataclass
class RunResult:
    wall_s: float
    tiles: int
    pixels: int
    latencies_ms: list[float]
    errors: int
    bytes: int
    server_cpu_s: float

    @property
    def mpx_s(self) -> float:
        return self.pixels / 1e6 / self.wall_s

    @property
    def tiles_s(self) -> float:
        return self.tiles / self.wall_s

    def pct(self, q: float) -> float:
        return _pct(self.latencies_ms, q)


class KeepAliveClient:
    """A minimal HTTP/1.1 GET client on one keep-alive connection.

    The clients share the 2 cores with the servers they measure, so they must cost little:
    ``http.client`` spent as much CPU per tile as our server (0.4 ms, most of it parsing headers
    with the email package), which left the servers less CPU than they would have behind remote
    browsers. This reads the status, Content-Length or chunked framing and Connection, nothing more.
    """

    def __init__(self, host: str, port: int, timeout: float = 120, cookie: str = "") -> None:
        self.address, self.timeout = (host, port), timeout
        self.host_header = f"{host}:{port}".encode()
        self.extra = f"Cookie: {cookie}\r\n".encode() if cookie else b""
        self.sock: socket.socket | None = None
        self.buf = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, bytearray()

    def get(self, path: str) -> tuple[int, bytes]:
        """Status and body; reconnects once if the server had closed the idle connection."""
        request = b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), self.host_header, self.extra)
        for attempt in range(2):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(self.address, timeout=self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                assert self.sock is not None
                self.sock.sendall(request)
                return self._response()
            except (ConnectionError, EOFError):
                self.close()
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _line(self, end: bytes = b"\r\n") -> bytes:
        while (at := self.buf.find(end)) < 0:
            self._fill()
        return self._take(at + len(end))[: -len(end)]

    def _response(self) -> tuple[int, bytes]:
        head = self._line(b"\r\n\r\n").split(b"\r\n")
        status = int(head[0].split(None, 2)[1])
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        if b"chunked" in fields.get(b"transfer-encoding", b""):
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._take(2)
            while self._line():  # trailer fields, then the empty line
                pass
            body = b"".join(parts)
        else:
            body = self._take(int(fields.get(b"content-length", b"0")))
        if fields.get(b"connection") == b"close":
            self.close()
        return status, body


def _client(index: int, host: str, port: int, paths: list[str], barrier: Any, out: Any,
            cookie: str = "") -> None:
    """One viewer: replays *paths* over one keep-alive connection; sends timings to *out*."""
    conn = KeepAliveClient(host, port, cookie=cookie)
    latencies, statuses, nbytes = [], [], 0
    barrier.wait()
    start = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        status, body = conn.get(path)
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses.append(status)
        nbytes += len(body)
    end = time.perf_counter()
    conn.close()
    out.put((index, start, end, latencies, statuses, nbytes))


def replay(server: Server, geometry: Geometry, sessions: list[list[tuple[int, int, int]]]) -> RunResult:
    """Every session at once, one client process each; wall time from the common start to the last end."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(sessions) + 1)
    out = ctx.Queue()
    procs = []
    for index, tiles in enumerate(sessions):
        paths = [f"{server.slide_path}_files/{lv}/{c}_{r}.jpeg" for lv, c, r in tiles]
        proc = ctx.Process(target=_client, args=(index, server.host, server.port, paths, barrier, out,
                                                 server.cookie))
        proc.start()
        procs.append(proc)
    cpu0 = server.cpu()
    barrier.wait()
    results = sorted(out.get(timeout=3600) for _ in procs)
    cpu1 = server.cpu()
    for proc in procs:
        proc.join()
    start = min(r[1] for r in results)
    end = max(r[2] for r in results)
    latencies: list[float] = []
    tiles = pixels = errors = nbytes = 0
    for tile_list, (_, _, _, lat, statuses, nb) in zip(sessions, results, strict=True):
        latencies += lat
        nbytes += nb
        for (level, col, row), status in zip(tile_list, statuses, strict=True):
            if status == 200:
                tiles += 1
                pixels += geometry.tile_area(level, col, row)
            else:
                errors += 1
    return RunResult(end - start, tiles, pixels, latencies, errors, nbytes, cpu1 - cpu0)


# --------------------------------------------------------------------------------------------------
# Part 1: sessions against three servers


def ensure_slide(bench_dir: Path, width: int, height: int) -> Path:
    """The generated benchmark slide, generated once into *bench_dir*/slides."""
    path = bench_dir / "slides" / f"bench-{width}x{height}.tiff"
    if not path.exists():
        from viewer.demo import generate_slide

        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (once) ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        generate_slide(path, width, height, tile_size=512, seed=0,
                       progress=lambda msg: print(msg, file=sys.stderr, flush=True))
        print(f"generated in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return path


def warm_page_cache(path: Path) -> float:
    """Read the whole file once so that no server pays the first disk read; returns seconds."""
    t0 = time.monotonic()
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass
    return time.monotonic() - t0


@dataclass
class Cell:
    server: str
    clients: int
    phase: str
    runs: list[RunResult]

    def med(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def med_pct(self, q: float) -> float:
        return statistics.median(r.pct(q) for r in self.runs)


def part1(args: argparse.Namespace) -> dict[tuple[str, int, str], Cell]:
    bench_dir = Path(args.bench_dir)
    slide = ensure_slide(bench_dir, args.width, args.height)
    print(f"# slide: {slide} ({slide.stat().st_size / 2**30:.2f} GiB); page cache warmed in "
          f"{warm_page_cache(slide):.1f} s", flush=True)
    points = tissue_points(slide, max(args.clients), args.seed)
    cells: dict[tuple[str, int, str], Cell] = {}
    for name in args.servers:
        for clients in args.clients:
            for phase in ("cold", "warm"):
                cells[(name, clients, phase)] = Cell(name, clients, phase, [])
    for repeat in range(args.repeats):
        for clients in args.clients:
            for name in args.servers:
                with serve(name, slide.parent, slide.name, args, args.workers) as server:
                    status, body = fetch(server, f"{server.slide_path}.dzi")
                    if status != 200:
                        raise RuntimeError(f"{name}: .dzi answered {status}")
                    geometry = Geometry.from_dzi(body.decode())
                    sessions = [session(geometry, points[i], args.pan_steps) for i in range(clients)]
                    for phase in ("cold", "warm"):
                        result = replay(server, geometry, sessions)
                        cells[(name, clients, phase)].runs.append(result)
                        print(f"  [{repeat + 1}/{args.repeats}] {name:<11} {clients:>2} clients {phase}: "
                              f"{result.tiles} tiles ({geometry.tile}+{geometry.overlap}) in "
                              f"{result.wall_s:.2f} s, {result.mpx_s:.0f} Mpx/s, "
                              f"p99 {result.pct(99):.1f} ms, "
                              f"server CPU {result.server_cpu_s:.1f} s, errors {result.errors}, "
                              f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return cells


# --------------------------------------------------------------------------------------------------
# Part 2: zoomed-out tiles of a single-level slide


def part2(args: argparse.Namespace) -> dict[str, float]:
    import openslide
    from openslide.deepzoom import DeepZoomGenerator

    slide_dir = Path(tempfile.mkdtemp(prefix="wsi-bench-small-"))
    shutil.copy(SMALL_REGION, slide_dir / SMALL_REGION.name)  # a symlink leaving the slide dir is a 404
    ours_p50, ours_p95, ours_max, base_p50, base_p95 = [], [], [], [], []
    try:
        for _ in range(args.repeats):
            with serve("ours", slide_dir, SMALL_REGION.name, args, workers=1) as server:
                status, body = fetch(server, f"{server.slide_path}.dzi")  # opens the slide
                if status != 200:
                    raise RuntimeError(f"ours: .dzi answered {status}")
                geometry = Geometry.from_dzi(body.decode())
                with openslide.OpenSlide(str(SMALL_REGION)) as osr:
                    dz = DeepZoomGenerator(osr, geometry.tile, geometry.overlap, limit_bounds=True)
                    l0_w = osr.level_dimensions[0][0]
                    # zoomed out: Deep Zoom levels at least 2x smaller than the slide's full resolution
                    levels = [lv for lv in range(dz.level_count) if dz.level_dimensions[lv][0] * 2 <= l0_w]
                    tiles = [(lv, c, r) for lv in levels
                             for r in range(dz.level_tiles[lv][1]) for c in range(dz.level_tiles[lv][0])]
                    conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
                    ours = []
                    for lv, c, r in tiles:
                        t0 = time.perf_counter()
                        conn.request("GET", f"{server.slide_path}_files/{lv}/{c}_{r}.jpeg",
                                     headers=server.headers())
                        response = conn.getresponse()
                        response.read()
                        ours.append((time.perf_counter() - t0) * 1000)
                        if response.status != 200:
                            raise RuntimeError(f"tile {lv}/{c}_{r}: {response.status}")
                    conn.close()
                    base = []
                    for lv, c, r in tiles:
                        t0 = time.perf_counter()
                        dz.get_tile(lv, (c, r))
                        base.append((time.perf_counter() - t0) * 1000)
            ours_p50.append(_pct(ours, 50))
            ours_p95.append(_pct(ours, 95))
            ours_max.append(max(ours))
            base_p50.append(_pct(base, 50))
            base_p95.append(_pct(base, 95))
    finally:
        shutil.rmtree(slide_dir, ignore_errors=True)
    return {"tiles": len(tiles), "levels": f"{levels[0]}-{levels[-1]}", "tile": geometry.tile,
            "overlap": geometry.overlap,
            "ours_p50": statistics.median(ours_p50), "ours_p95": statistics.median(ours_p95),
            "ours_max": statistics.median(ours_max),
            "base_p50": statistics.median(base_p50), "base_p95": statistics.median(base_p95)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------------------------------
# Report


def report(cells: dict[tuple[str, int, str], Cell], small: dict[str, Any] | None, args: argparse.Namespace,
           load_before: tuple[float, float, float]) -> int:
    load = os.getloadavg()
    print()
    print(f"# {os.cpu_count()} CPUs; load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (a shared machine: "
          "figures are medians over repeats)")
    print(f"# gunicorn, {args.workers} workers x {args.threads} threads each (peers: gthread; ours: "
          "viewer.gthread_worker); "
          f"{args.repeats} repeats; viewport {VIEWPORT[0]}x{VIEWPORT[1]}, {args.pan_steps} pan steps")
    failures = 0
    if cells:
        print()
        print(f"{'server':<12}{'clients':>8} {'phase':<5}{'tiles':>7}{'Mpx/s':>9}{'tiles/s':>9}"
              f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU s':>8}{'errors':>7}")
        for (name, clients, phase), cell in cells.items():
            if not cell.runs:
                continue
            print(f"{name:<12}{clients:>8} {phase:<5}{cell.runs[0].tiles:>7}{cell.med('mpx_s'):>9.1f}"
                  f"{cell.med('tiles_s'):>9.0f}{cell.med_pct(50):>9.1f}{cell.med_pct(95):>9.1f}"
                  f"{cell.med_pct(99):>9.1f}{cell.med('server_cpu_s'):>8.1f}"
                  f"{sum(r.errors for r in cell.runs):>7}")
            failures += sum(r.errors for r in cell.runs) > 0
        print()
        print("ratios (ours / peer, median Mpx/s):")
        for peer in ("deepzoom", "large_image"):
            if peer not in args.servers or "ours" not in args.servers:
                continue
            for clients in args.clients:
                parts = []
                for phase in ("cold", "warm"):
                    ours = cells[("ours", clients, phase)].med("mpx_s")
                    ratio = ours / cells[(peer, clients, phase)].med("mpx_s")
                    target = TARGETS["deepzoom_ratio"] if peer == "deepzoom" else (
                        TARGETS["large_image_ratio"] if phase == "warm" else None)
                    verdict = "" if target is None else (" PASS" if ratio >= target else " FAIL")
                    failures += verdict == " FAIL"
                    parts.append(f"{phase} {ratio:6.2f}x" + (f" (>= {target}x{verdict})" if target else ""))
                print(f"  vs {peer:<11} {clients:>2} clients: " + ";  ".join(parts))
        if "ours" in args.servers and 16 in args.clients:
            p99 = cells[("ours", 16, "warm")].med_pct(99)
            ok = p99 <= TARGETS["warm_p99_ms_16"]
            failures += not ok
            print(f"  ours warm p99 at 16 clients: {p99:.1f} ms (<= {TARGETS['warm_p99_ms_16']} ms "
                  f"{'PASS' if ok else 'FAIL'})")
    if small:
        ok = small["ours_p95"] <= TARGETS["zoomed_out_p95_ms"]
        failures += not ok
        print()
        print(f"zoomed-out tiles, {SMALL_REGION.name} ({small['tiles']} tiles, "
              f"Deep Zoom levels {small['levels']}, "
              f"{small['tile']}+{small['overlap']} px), first request of each tile:")
        print(f"  ours (HTTP, 1 worker): p50 {small['ours_p50']:.1f} ms, p95 {small['ours_p95']:.1f} ms, "
              f"max {small['ours_max']:.1f} ms (the first tile builds the missing levels)")
        print(f"  DeepZoomGenerator.get_tile (direct): p50 {small['base_p50']:.1f} ms, "
              f"p95 {small['base_p95']:.1f} ms")
        print(f"  ratio DeepZoomGenerator / ours: p50 {small['base_p50'] / small['ours_p50']:.1f}x, "
              f"p95 {small['base_p95'] / small['ours_p95']:.1f}x; "
              f"ours p95 <= {TARGETS['zoomed_out_p95_ms']} ms "
              f"{'PASS' if ok else 'FAIL'}")
    return 1 if failures else 0


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the generated slide, the replayed sessions and our server (:func:`serve`),
    shared with ``benchmarks/tiles_auth.py``."""
    parser.add_argument("--bench-dir", default="/tmp/wsi-bench", help="where the generated slide is kept")
    parser.add_argument("--width", type=int, default=100_000)
    parser.add_argument("--height", type=int, default=80_000)
    parser.add_argument("--pan-steps", type=int, default=20,
                        help="half-viewport pan steps at full resolution")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker, every server")
    parser.add_argument("--ours-tile-size", type=int, default=0, help="0: our default (automatic)")
    parser.add_argument("--ours-overlap", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_replay_arguments(parser)
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrent client counts")
    parser.add_argument("--repeats", type=int, default=3, help="fresh-server repeats per cell (median)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"subset of {','.join(SERVERS)}")
    parser.add_argument("--baseline-tile-size", type=int, default=254)
    parser.add_argument("--baseline-overlap", type=int, default=1)
    parser.add_argument("--skip-small", action="store_true", help="skip part 2 (CMU-1-Small-Region)")
    parser.add_argument("--only-small", action="store_true", help="only part 2")
    parser.add_argument("--auth", action="store_true", help="ours with --auth builtin: one account logged "
                        "in through the form, its session cookie sent with every request (what that costs: "
                        "benchmarks/tiles_auth.py)")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.servers = [s for s in args.servers.split(",") if s]
    if unknown := set(args.servers) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    # a plain SIGTERM still stops the servers (the context managers' finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()
    cells = {} if args.only_small else part1(args)
    small = None if args.skip_small else part2(args)
    return report(cells, small, args, load_before)


if __name__ == "__main__":
    sys.exit(main())
