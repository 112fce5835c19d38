"""Load test (issue 16): simulated users against gunicorn with logins on, loopback only, bounded.

Run: ``python benchmarks/load.py [--users 50] [--seconds 60] [--workers 2] [--threads 8]``.

A real ``wsi-viewer serve --auth builtin`` on the test slides (``tests/data/slides``), with one
viewer account and one annotator account per annotating user, made beforehand with
``wsi-viewer users add`` (as a lab's admin would). Each simulated user logs in through the login
form (its own session cookie and CSRF token, as a browser has), then for ``--seconds``:

* every user views: picks a slide and a Deep Zoom level at random and fetches the tiles of a
  1280 x 800 screen there (as OpenSeadragon asks for them), then "looks" for 0.2-0.6 s;
* ``--annotators`` of them (10 % by default) also annotate: each made a set of its own at the
  start, and between views adds a polygon (POST) or moves its last one (PUT with If-Match), the
  JSON API the editor uses, with the CSRF header.

Printed: requests and errors by kind (anything but 200/201/304 is an error), tile latency p50,
p95, p99, save latency p50, p95, p99, throughput, each gunicorn worker's resident memory at the
start, its maximum and at the end (sampled every second), and the load average; then PASS/FAIL:
zero errors, and memory bounded (no worker above ``--max-rss-mb``, none growing by more than
``--max-growth-mb`` over the second half of the run). The client runs in this process (one
thread per user) on the same 2 cores as the server: the figures are the pair's.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tiles import _pct  # noqa: E402  (benchmarks/, this script's directory)

from tests._server import Server, running_server  # noqa: E402

SLIDES = ROOT / "tests" / "data" / "slides" / "aperio"
PASSWORD = "load test pw!"
SCREEN = (1280, 800)


@dataclass
class Tally:
    """What every user did, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tile_ms: list[float] = field(default_factory=list)
    save_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    why: list[str] = field(default_factory=list)  # the first errors' answers

    def add(self, kind: str, ms: float, status: int, why: str = "") -> None:
        with self.lock:
            if status not in (200, 201, 304) and why and len(self.why) < 5:
                self.why.append(f"{kind} {status}: {why[:200]}")
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if status not in (200, 201, 304):
                key = f"{kind} {status}"
                self.errors[key] = self.errors.get(key, 0) + 1
                return
            if kind == "tile":
                self.tile_ms.append(ms)
            elif kind.startswith("save"):
                self.save_ms.append(ms)


def pct(values: list[float], q: float) -> float:
    return _pct(values, q) if values else float("nan")


def add_user(data_dir: Path, name: str, role: str) -> None:
    subprocess.run([sys.executable, "-m", "viewer.cli", "users", "add", name, "--role", role,
                    "--data-dir", str(data_dir)], input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True, cwd=ROOT)


def log_in(base: str, name: str) -> tuple[requests.Session, str]:
    """A session logged in through the form, and its CSRF token (from a viewer page's config)."""
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=60).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if found is None:
        raise RuntimeError("the login form has no CSRF token")
    answer = session.post(f"{base}/login", data={"name": name, "password": PASSWORD, "csrf_token": found[1]},
                          allow_redirects=False, timeout=60)
    if answer.status_code != 303:
        raise RuntimeError(f"login of {name}: {answer.status_code} {answer.text[:200]}")
    page = session.get(f"{base}/", timeout=60).text  # its logout form holds the session's token
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no CSRF token in the library page")
    return session, token[1]


@dataclass
class Pyramid:
    """A slide's Deep Zoom geometry and tile URL prefix."""

    files: str
    fmt: str
    width: int
    height: int
    tile: int

    def levels(self) -> int:
        return (max(self.width, self.height) - 1).bit_length() + 1  # ceil(log2(side)) + 1

    def screen(self, rng: random.Random) -> list[str]:
        """The tile paths of a 1280 x 800 screen at a random level and place."""
        top = self.levels() - 1
        level = rng.randint(max(0, top - 6), top)
        scale = 2 ** (top - level)
        w, h = -(-self.width // scale), -(-self.height // scale)
        cols, rows = -(-w // self.tile), -(-h // self.tile)
        across, down = min(cols, -(-SCREEN[0] // self.tile) + 1), min(rows, -(-SCREEN[1] // self.tile) + 1)
        c0, r0 = rng.randint(0, cols - across), rng.randint(0, rows - down)
        return [f"{self.files}/{level}/{c}_{r}.{self.fmt}"
                for r in range(r0, r0 + down) for c in range(c0, c0 + across)]


def pyramid(session: requests.Session, base: str, slide: dict[str, Any]) -> Pyramid:
    dzi = session.get(base + slide["urls"]["dzi"], timeout=60)
    dzi.raise_for_status()
    root = ET.fromstring(dzi.text)
    size = next(e for e in root if e.tag.endswith("Size"))
    files = base + slide["urls"]["dzi"].removesuffix(".dzi") + "_files"
    width, height = int(size.get("Width", "0")), int(size.get("Height", "0"))
    return Pyramid(files, root.get("Format", "jpeg"), width, height, int(root.get("TileSize", "254")))


def polygon(rng: random.Random, p: Pyramid, dx: int = 0) -> dict[str, Any]:
    x, y = rng.randint(0, max(1, p.width - 400)), rng.randint(0, max(1, p.height - 400))
    ring = [[x + dx, y], [x + dx + 300, y + 20], [x + dx + 280, y + 310], [x + dx + 10, y + 290], [x + dx, y]]
    return {"type": "Feature", "properties": {"name": "load", "asap": {"type": "Polygon"}},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def user(base: str, name: str, annotates: bool, slides: list[dict[str, Any]], until: float, tally: Tally,
         seed: int) -> None:
    rng = random.Random(seed)
    session, csrf = log_in(base, name)
    pyramids = [pyramid(session, base, s) for s in slides]
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    target = None  # (slide index, set annotations URL, last annotation URL, its ETag)
    if annotates:
        i = rng.randrange(len(slides))
        made = session.post(base + slides[i]["urls"]["annotations"], json={"name": f"{name} load"},
                            headers=headers, timeout=60)
        tally.add("set", 0.0, made.status_code)
        if made.status_code == 201:
            target = (i, base + made.json()["set"]["urls"]["annotations"], None, None)
    while time.monotonic() < until:
        k = rng.randrange(len(pyramids))
        for path in pyramids[k].screen(rng):
            t0 = time.perf_counter()
            try:
                status = session.get(path, timeout=60).status_code
            except requests.RequestException:
                status = 0
            tally.add("tile", (time.perf_counter() - t0) * 1000, status)
        if target is not None:
            i, coll, last, etag = target
            t0 = time.perf_counter()
            try:
                if last is None or rng.random() < 0.5:
                    answer = session.post(coll, json=polygon(rng, pyramids[i]), headers=headers, timeout=60)
                    kind = "save (POST)"
                else:
                    answer = session.put(last, json=polygon(rng, pyramids[i], dx=5),
                                         headers={**headers, "If-Match": etag}, timeout=60)
                    kind = "save (PUT)"
                status = answer.status_code
                if status in (200, 201):  # a POST's Location is the new annotation; its ETag, its version
                    url = answer.headers.get("Location")
                    where = (url if url.startswith("http") else base + url) if url else last
                    target = (i, coll, where, answer.headers.get("ETag", etag))
            except requests.RequestException:
                status, kind = 0, "save"
            tally.add(kind, (time.perf_counter() - t0) * 1000, status, answer.text if status else "")
        time.sleep(rng.uniform(0.2, 0.6))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--annotators", type=int, default=None, help="default: 10 %% of the users")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-rss-mb", type=float, default=1024.0)
    parser.add_argument("--max-growth-mb", type=float, default=64.0)
    args = parser.parse_args()
    annotators = args.annotators if args.annotators is not None else max(1, args.users // 10)
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="wsi-load-"))
    data_dir = scratch / "data"  # the server's log goes beside it
    data_dir.mkdir()
    try:
        add_user(data_dir, "viewer", "viewer")
        for i in range(annotators):
            add_user(data_dir, f"annotator{i}", "annotator")
        serve = (str(SLIDES), "--auth", "builtin", "--workers", str(args.workers),
                 "--threads", str(args.threads))
        with running_server(*serve, data_dir=data_dir, probe="/login") as server:
            return run(server, args, annotators, load_before)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(server: Server, args: argparse.Namespace, annotators: int,
        load_before: tuple[float, float, float]) -> int:
    base = server.url
    admin, _ = log_in(base, "viewer")
    slides = admin.get(f"{base}/api/slides", timeout=60).json()["slides"]
    slides = [s for s in slides if s.get("urls", {}).get("dzi")]
    tally = Tally()
    until = time.monotonic() + args.seconds
    threads = [threading.Thread(target=user, args=(base, f"annotator{i}" if i < annotators else "viewer",
                                                   i < annotators, slides, until, tally, i), daemon=True)
               for i in range(args.users)]
    started = time.monotonic()
    for t in threads:
        t.start()
    samples: dict[int, list[tuple[float, float]]] = {}
    while any(t.is_alive() for t in threads):
        now = time.monotonic() - started
        for pid in server.workers():
            samples.setdefault(pid, []).append((now, rss_mb(pid)))
        time.sleep(1.0)
    wall = time.monotonic() - started
    report(tally, samples, wall, args, annotators, load_before, len(slides))
    memory_ok = all(max(m for _, m in s) <= args.max_rss_mb for s in samples.values())
    growth = {pid: growth_mb(s, wall) for pid, s in samples.items()}
    growth_ok = all(g <= args.max_growth_mb for g in growth.values())
    checks = [
        (not tally.errors, f"zero errors ({sum(tally.errors.values())})"),
        (memory_ok, f"every worker's RSS <= {args.max_rss_mb:.0f} MB"),
        (growth_ok, f"no worker grew more than {args.max_growth_mb:.0f} MB over the run's second half "
                    f"({', '.join(f'{g:+.0f}' for g in growth.values())} MB)"),
    ]
    print("\ntargets (issue 16)")
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for ok, _ in checks) else 1


def growth_mb(series: list[tuple[float, float]], wall: float) -> float:
    """RSS at the end minus RSS at the run's middle (a leak grows; a warm cache fills early)."""
    half = [m for t, m in series if t >= wall / 2]
    return (half[-1] - half[0]) if len(half) > 1 else 0.0


def report(tally: Tally, samples: dict[int, list[tuple[float, float]]], wall: float, args: argparse.Namespace,
           annotators: int, load_before: tuple[float, float, float], slides: int) -> None:
    total = sum(tally.counts.values())
    print(f"# {args.users} users ({annotators} also annotating) for {args.seconds:.0f} s against "
          f"gunicorn {args.workers} workers x {args.threads} threads, --auth builtin, {slides} slides; "
          f"{os.cpu_count()} CPUs; load average before {load_before}, after {os.getloadavg()}")
    print(f"requests {total} in {wall:.1f} s ({total / wall:.0f}/s): "
          + ", ".join(f"{k} {v}" for k, v in sorted(tally.counts.items())))
    print("errors: " + (", ".join(f"{k}: {v}" for k, v in sorted(tally.errors.items())) or "none"))
    for line in tally.why:
        print(f"  {line}")
    for name, values in (("tile", tally.tile_ms), ("save", tally.save_ms)):
        print(f"{name} latency ms: p50 {pct(values, 50):.1f}, p95 {pct(values, 95):.1f}, "
              f"p99 {pct(values, 99):.1f}, max {max(values, default=float('nan')):.1f} ({len(values)})")
    for pid, series in sorted(samples.items()):
        values = [m for _, m in series]
        print(f"worker {pid}: RSS start {values[0]:.0f} MB, max {max(values):.0f} MB, "
              f"end {values[-1]:.0f} MB, median {statistics.median(values):.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
