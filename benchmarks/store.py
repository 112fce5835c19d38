"""Annotation store benchmark: imports, viewport (bbox) queries and single-annotation updates.

For each engine (SQLite in a temp dir; PostgreSQL when a URL is given or
WSI_VIEWER_TEST_DATABASE_URL is set) this script

1. imports the largest real ASAP fixture (tests/data/asap/real/tumor_039.xml) and a generated set
   of 10^6 vertices straight into the store, and times both;
2. starts ``wsi-viewer serve`` (gunicorn, real HTTP) on that database and runs 16 concurrent
   clients doing (a) viewport queries of the 1M-vertex set (a screen-sized view at full resolution,
   and zoomed-out views with ``simplify``) and (b) single-annotation updates with If-Match;
3. prints p50/p95 per operation, and the ratio to a baseline measured in the same run with the same
   clients: a trivial request (``GET /api/openapi.json``), i.e. the cost of HTTP + gunicorn alone.

Targets (issue): bbox p95 < 50 ms, update p95 < 30 ms.

    python benchmarks/store.py [--clients 16] [--seconds 10] [--pg-url postgresql://...]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
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


def run_clients(clients: int, seconds: float, work: Callable[[int, requests.Session], float]) -> list[float]:
    """*clients* threads calling work(k, session) -> latency (s) until *seconds* pass."""
    samples: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def loop(k: int) -> None:
        session = requests.Session()
        barrier.wait()
        while time.monotonic() < stop:
            latency = work(k, session)
            with lock:
                samples.append(latency)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples


def timed(call: Callable[[], requests.Response], ok: tuple[int, ...] = (200,)) -> float:
    start = time.perf_counter()
    r = call()
    elapsed = time.perf_counter() - start
    if r.status_code not in ok:
        raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_engine(name: str, setting: str, work_dir: Path, clients: int, seconds: float, workers: int) -> None:
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
        set_url = f"{base}/api/sets/{set_id}"
        features = requests.get(set_url, params={"bbox": "0,0,1,1"}, timeout=60)  # warm the workers
        features.raise_for_status()

        rng = random.Random(7)
        baseline = run_clients(
            clients, seconds, lambda k, s: timed(lambda: s.get(base + "/api/openapi.json"))
        )

        def view(width: float, tolerance: float) -> Callable[[int, requests.Session], float]:
            def work(_k: int, s: requests.Session) -> float:
                x, y = rng.uniform(0, EXTENT - width), rng.uniform(0, EXTENT - width * 0.6)
                box = f"{x:.0f},{y:.0f},{x + width:.0f},{y + width * 0.6:.0f}"
                return timed(lambda: s.get(set_url, params={"bbox": box, "simplify": tolerance}))

            return work

        rows = [("baseline GET /api/openapi.json", baseline)]
        # A 1920x1080 screen: full resolution (1 px = 1 slide px), and zoomed out 8x and 64x.
        rows.append(("bbox 1920 px view, simplify 0", run_clients(clients, seconds, view(1920, 0))))
        rows.append(("bbox 15k px view, simplify 8", run_clients(clients, seconds, view(15360, 8))))
        whole = f"0,0,{EXTENT:.0f},{EXTENT:.0f}"
        cold = timed(lambda: requests.get(set_url, params={"bbox": whole, "simplify": 64}, timeout=600))
        rows.append(("first whole-slide view (cold cache)", [cold]))
        rows.append(("bbox whole slide, simplify 64", run_clients(clients, seconds, view(EXTENT * 0.99, 64))))

        ids = [
            f["id"]
            for f in requests.get(
                set_url, params={"bbox": f"0,0,{EXTENT},{EXTENT}", "simplify": 1e6}, timeout=120
            ).json()["features"]
        ][:clients]
        etags: dict[str, str] = {}

        own_ids = [
            requests.get(
                f"{base}/api/sets/{own}", params={"bbox": "0,0,1e6,1e6", "simplify": 1e6}, timeout=60
            ).json()["features"][0]["id"]
            for own in own_sets
        ]
        same_set = True

        def update(k: int, s: requests.Session) -> float:
            url = (
                f"{set_url}/annotations/{ids[k]}"
                if same_set
                else f"{base}/api/sets/{own_sets[k]}/annotations/{own_ids[k]}"
            )
            if url not in etags:
                etags[url] = s.get(url).headers["ETag"]
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
            start = time.perf_counter()
            r = s.put(url, json=body, headers={"If-Match": etags[url], "X-User": f"bench{k}"})
            elapsed = time.perf_counter() - start
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
            etags[url] = r.headers["ETag"]
            return elapsed

        rows.append(("update, all clients in one set", run_clients(clients, seconds, update)))
        same_set = False
        rows.append(("update, each client its own set", run_clients(clients, seconds, update)))

        base_p50, base_p95 = percentiles(baseline)
        print(f"{clients} concurrent clients, {seconds:.0f} s each, gunicorn {workers} workers x 8 threads")
        print(f"{'operation':40s} {'n':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'p50/base':>9s} {'p95/base':>9s}")
        for label, samples in rows:
            p50, p95 = percentiles(samples)
            print(
                f"{label:40s} {len(samples):6d} {p50:8.1f} {p95:8.1f} "
                f"{p50 / base_p50:9.1f} {p95 / base_p95:9.1f}"
            )
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
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-url", default=os.environ.get("WSI_VIEWER_TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="wsi-bench-store-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_dir.mkdir()
        bench_engine(
            "SQLite (WAL)",
            f"sqlite:///{sqlite_dir / 'bench.sqlite3'}",
            sqlite_dir,
            args.clients,
            args.seconds,
            args.workers,
        )
        if args.pg_url:
            import psycopg

            schema = "bench_" + uuid.uuid4().hex[:12]
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            try:
                pg_dir = Path(tmp) / "pg"
                pg_dir.mkdir()
                sep = "&" if "?" in args.pg_url else "?"
                url = f"{args.pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
                bench_engine("PostgreSQL", url, pg_dir, args.clients, args.seconds, args.workers)
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
        else:
            print("\n(PostgreSQL skipped: give --pg-url or set WSI_VIEWER_TEST_DATABASE_URL)")


if __name__ == "__main__":
    main()
