"""Annotation store benchmark: imports, viewport (bbox) queries and single-annotation updates.

For each engine (SQLite in a temp dir; PostgreSQL when a URL is given or
WSI_VIEWER_TEST_DATABASE_URL is set) this script

1. imports the largest real ASAP fixture (tests/data/asap/real/tumor_039.xml) and a generated set
   of 10^6 vertices straight into the store, and times both;
2. starts ``wsi-viewer serve`` (gunicorn, real HTTP) on that database and runs client processes
   (http.client, keep-alive) doing viewport queries of the 1M-vertex set (a screen-sized view at
   full resolution, and zoomed-out views with ``simplify``) and single-annotation updates with
   If-Match, all clients in one set and each in its own;
3. runs each operation under three load shapes: one client back to back (the service time);
   ``--clients`` clients each sending a request every ``--period`` s with random phases, latency
   counted from the scheduled send time (16 users panning or editing non-stop: the targets); and
   the same clients back to back (saturation: throughput, and latency that is mostly queueing
   once the 2 cores are busy);
4. prints p50/p95 and requests/s per operation, and the p95 ratio to a baseline measured in the
   same run with the same clients: a trivial request (``GET /api/openapi.json``).

Targets (issue; 16 concurrent clients): bbox p95 < 50 ms, update p95 < 30 ms.

    python benchmarks/store.py [--clients 16] [--period 0.25] [--seconds 8] [--pg-url postgresql://...]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from viewer.annotations.asap import read_asap  # noqa: E402
from viewer.annotations.model import Annotation, AnnotationSet, Group  # noqa: E402
from viewer.store import Store, database_url  # noqa: E402

LARGEST = ROOT / "tests" / "data" / "asap" / "real" / "tumor_039.xml"
SLIDE = ROOT / "tests" / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"
EXTENT = 100_000.0  # slide space of the generated set, px (CAMELYON-sized)


def million_vertex_set(seed: int = 1, polygons: int = 4000, vertices: int = 250) -> AnnotationSet:
    """4000 blobby polygons of 250 vertices (10^6 in all) spread over a 100k x 100k slide."""
    rng = random.Random(seed)
    annotations = []
    for i in range(polygons):
        cx, cy = rng.uniform(0, EXTENT), rng.uniform(0, EXTENT)
        r = rng.uniform(50, 600)
        ring = []
        for k in range(vertices):
            t = 2 * math.pi * k / vertices
            rr = r * (1 + 0.15 * math.sin(5 * t + i) + 0.05 * rng.random())
            ring.append((cx + rr * math.cos(t), cy + rr * math.sin(t)))
        annotations.append(
            Annotation(f"blob {i}", "Polygon", "tumour" if i % 3 else "normal", "#F4FA58", ring)
        )
    return AnnotationSet(annotations, [Group("tumour", color="#ff0000"), Group("normal", color="#00ff00")])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(math.ceil(0.95 * len(ordered))) - 1)]
    return p50 * 1000, p95 * 1000


@dataclass
class Operation:
    """What one client process sends: GET a random viewport, GET a fixed path, or PUT an update."""

    label: str
    kind: str  # "get", "view" or "update"
    path: str = ""  # get: the path; view: the set's path; update: the annotation's path per client
    width: float = 0.0  # view: viewport width, slide px (height is 0.6 of it)
    tolerance: float = 0.0  # view: simplify, px
    per_client: list[str] = field(default_factory=list)  # update: the annotation path of client k


@dataclass
class Shape:
    """How the clients send: back to back (*period* 0) or one request every *period* s each."""

    label: str
    clients: int
    period: float


def _request(
    op: Operation, k: int, rng: random.Random, etag: str | None
) -> tuple[str, str, bytes | None, dict[str, str]]:
    if op.kind == "get":
        return "GET", op.path, None, {}
    if op.kind == "view":
        w, h = op.width, op.width * 0.6
        x, y = rng.uniform(0, EXTENT - w), rng.uniform(0, EXTENT - h)
        query = f"bbox={x:.0f},{y:.0f},{x + w:.0f},{y + h:.0f}&simplify={op.tolerance:g}"
        return "GET", f"{op.path}?{query}", None, {}
    x = rng.uniform(0, EXTENT - 100)
    body = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x, 10], [x + 40, 10], [x + 40, 50], [x, 50], [x, 10]]],
        },
        "properties": {
            "name": f"edited by {k}",
            "asap": {"type": "Polygon", "group": "tumour", "color": "#F4FA58"},
        },
    }
    headers = {"Content-Type": "application/geo+json", "If-Match": etag or "", "X-User": f"bench{k}"}
    return "PUT", op.per_client[k], json.dumps(body).encode(), headers


def _client(
    k: int, op: Operation, port: int, shape: Shape, start_at: float, seconds: float, out: Any
) -> None:
    """One client process: requests until *seconds* after *start_at*; sends back its latencies.

    Paced clients measure each latency from the request's scheduled time, not from when it was sent,
    so a server that falls behind shows its queue (no coordinated omission).
    """
    rng = random.Random(k * 7919 + 1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    etag = None
    if op.kind == "update":
        conn.request("GET", op.per_client[k])
        response = conn.getresponse()
        response.read()
        etag = response.headers["ETag"]
    samples: list[float] = []
    errors = 0
    next_at = start_at + (rng.uniform(0, shape.period) if shape.period else 0.0)
    end = start_at + seconds
    while True:
        if shape.period:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            scheduled, next_at = next_at, next_at + shape.period
        else:
            now = time.monotonic()
            if now < start_at:
                time.sleep(start_at - now)
            scheduled = time.monotonic()
        if scheduled >= end:
            break
        method, path, body, headers = _request(op, k, rng, etag)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        samples.append(time.monotonic() - scheduled)
        if response.status != 200:
            errors += 1
        elif op.kind == "update":
            etag = response.headers["ETag"]
    conn.close()
    out.put((samples, errors))


def run_shape(op: Operation, port: int, shape: Shape, seconds: float) -> tuple[list[float], float]:
    """Latencies (s) of every request of *shape.clients* client processes, and requests per second."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.monotonic() + 0.5  # every process forked and connected before the clock starts
    procs = [
        ctx.Process(target=_client, args=(k, op, port, shape, start_at, seconds, out))
        for k in range(shape.clients)
    ]
    for proc in procs:
        proc.start()
    samples: list[float] = []
    errors = 0
    for _ in procs:
        got, failed = out.get(timeout=seconds + 300)
        samples += got
        errors += failed
    for proc in procs:
        proc.join()
    if errors:
        raise RuntimeError(f"{op.label}: {errors} requests failed")
    return samples, len(samples) / seconds


def first_feature_id(set_url: str, params: dict[str, Any]) -> int:
    return int(requests.get(set_url, params=params, timeout=60).json()["features"][0]["id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_engine(
    name: str, setting: str, work_dir: Path, clients: int, seconds: float, workers: int, period: float,
    only: list[str],
) -> None:
    print(f"\n== {name}")
    store = Store(database_url(setting, work_dir))
    slide = store.open_slide("CMU-1-Small-Region.svs")

    real = read_asap(LARGEST)
    t = time.perf_counter()
    store.create_set(slide, "tumor_039", "bench", real)
    print(
        f"import {LARGEST.name}: {len(real.annotations)} annotations, {real.vertex_count()} vertices, "
        f"{time.perf_counter() - t:.2f} s"
    )

    big = million_vertex_set()
    t = time.perf_counter()
    result = store.create_set(slide, "million", "bench", big)
    print(
        f"import generated set: {len(big.annotations)} annotations, {big.vertex_count()} vertices, "
        f"{time.perf_counter() - t:.2f} s"
    )
    set_id = result.info.id
    # One small set per client too: writers of different sets (layers, annotators) do not share a lock
    # on PostgreSQL; on SQLite every write takes the database lock.
    own_sets = [
        store.create_set(slide, f"annotator {k}", f"bench{k}", million_vertex_set(k, 100, 50)).info.id
        for k in range(clients)
    ]
    store.close()

    slides = work_dir / "slides"
    slides.mkdir(exist_ok=True)
    shutil.copy(SLIDE, slides / SLIDE.name)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work_dir / "server.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "viewer.cli",
            "serve",
            str(slides),
            "--port",
            str(port),
            "--data-dir",
            str(work_dir / "data"),
            "--workers",
            str(workers),
            "--threads",
            "8",
            "--database",
            setting,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/api/openapi.json", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        set_path = f"/api/sets/{set_id}"
        set_url = base + set_path
        requests.get(set_url, params={"bbox": "0,0,1,1"}, timeout=60).raise_for_status()  # warm workers
        whole = f"0,0,{EXTENT:.0f},{EXTENT:.0f}"
        cold = time.perf_counter()
        requests.get(set_url, params={"bbox": whole, "simplify": 64}, timeout=600).raise_for_status()
        cold = time.perf_counter() - cold
        print(f"first whole-slide view of the 10^6-vertex set (cold feature cache): {cold * 1000:.0f} ms")

        # Steady state: every worker encodes the set once per zoom (concurrent requests reach every
        # worker; each keeps its own feature cache). The cold figure above is what the first viewer
        # of a set pays.
        with ThreadPoolExecutor(4 * workers) as pool:
            for tolerance in (0, 8, 64):
                list(pool.map(
                    lambda _i, t=tolerance: requests.get(
                        set_url, params={"bbox": whole, "simplify": t}, timeout=600
                    ).raise_for_status(),
                    range(4 * workers),
                ))
        every = {"bbox": whole, "simplify": 1e6}
        ids = [f["id"] for f in requests.get(set_url, params=every, timeout=120).json()["features"]]
        own_paths = [
            f"/api/sets/{own}/annotations/"
            + str(first_feature_id(f"{base}/api/sets/{own}", every))
            for own in own_sets
        ]
        operations = [
            Operation("baseline GET /api/openapi.json", "get", "/api/openapi.json"),
            Operation("bbox 1920 px view, simplify 0", "view", set_path, 1920, 0),
            Operation("bbox 15k px view, simplify 8", "view", set_path, 15360, 8),
            Operation("bbox whole slide, simplify 64", "view", set_path, EXTENT * 0.99, 64),
            Operation(
                "update, all clients in one set", "update",
                per_client=[f"{set_path}/annotations/{i}" for i in ids[:clients]],
            ),
            Operation("update, each client its own set", "update", per_client=own_paths),
        ]
        operations = [op for op in operations if op.kind == "get" or any(w in op.label for w in only)]
        shapes = [
            Shape("1 client, back to back (service time)", 1, 0.0),
            Shape(f"{clients} clients, one request every {period * 1e3:.0f} ms (targets)", clients, period),
            Shape(f"{clients} clients, back to back (saturation)", clients, 0.0),
        ]
        print(f"gunicorn {workers} workers x 8 threads; client processes; {seconds:.0f} s per row")
        for shape in shapes:
            print(f"\n{shape.label}")
            print(f"{'operation':40s} {'n':>6s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p95/base':>9s}")
            base_p95 = None
            for op in operations:
                samples, rate = run_shape(op, port, shape, seconds)
                p50, p95 = percentiles(samples)
                base_p95 = base_p95 or p95
                ratio = p95 / base_p95
                print(f"{op.label:40s} {len(samples):6d} {rate:7.0f} {p50:8.1f} {p95:8.1f} {ratio:9.1f}")
        print(f"targets ({clients} clients, paced): bbox p95 < 50 ms, update p95 < 30 ms")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--period", type=float, default=0.25,
        help="seconds between two requests of one paced client (default 0.25: a user panning or "
        "editing non-stop, the viewer sending at most 4 queries a second)",
    )
    parser.add_argument(
        "--only", nargs="*", default=["bbox", "update"], help="operations whose label contains one of these"
    )
    parser.add_argument("--engines", default="sqlite,postgresql", help="comma-separated subset")
    parser.add_argument("--pg-url", default=os.environ.get("WSI_VIEWER_TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="wsi-bench-store-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_dir.mkdir()
        if "sqlite" in args.engines:
            bench_engine(
                "SQLite (WAL)",
                f"sqlite:///{sqlite_dir / 'bench.sqlite3'}",
                sqlite_dir,
                args.clients,
                args.seconds,
                args.workers,
                args.period,
                args.only,
            )
        if "postgresql" not in args.engines:
            pass
        elif args.pg_url:
            import psycopg

            schema = "bench_" + uuid.uuid4().hex[:12]
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            try:
                pg_dir = Path(tmp) / "pg"
                pg_dir.mkdir()
                sep = "&" if "?" in args.pg_url else "?"
                url = f"{args.pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
                bench_engine(
                    "PostgreSQL", url, pg_dir, args.clients, args.seconds, args.workers, args.period,
                    args.only,
                )
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
        else:
            print("\n(PostgreSQL skipped: give --pg-url or set WSI_VIEWER_TEST_DATABASE_URL)")


if __name__ == "__main__":
    main()
