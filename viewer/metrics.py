"""Prometheus metrics, correct across gunicorn workers.

Every worker counts into its own memory-mapped files (prometheus-client's multiprocess mode) in the
directory ``PROMETHEUS_MULTIPROC_DIR``, which ``wsi-viewer serve`` makes fresh at every start
(:func:`prepare_multiprocess_dir`, before anything imports prometheus-client: the mode is chosen at
its import) and gunicorn's master tidies when a worker exits (:func:`worker_exited`). Whichever
worker answers ``/metrics`` sums every worker's files, those of workers that have exited (a reload,
a crash) included, so counters never go back. Without that directory (tests building the app, the
debug server) the counts are this process's.

What is counted:

* ``wsi_viewer_tiles_served_total{source}``: every Deep Zoom tile the slide library returns, the
  tile fast path's included: ``cache`` (this worker's memory cache), ``disk`` (rendered tiles shared
  on disk), ``stored`` (a stored JPEG sent as it is), ``rendered`` (decoded and encoded now);
  ``wsi_viewer_tile_cache_hit_ratio``: memory-cache hits over all tiles, computed when scraped.
* ``wsi_viewer_request_duration_seconds{route,method}``: a histogram per route (the URL rule, e.g.
  ``/api/sets/<int:set_id>``, never the URL itself, so slide ids do not multiply series);
  ``wsi_viewer_request_errors_total{status,route}``: every answer 400 or over.
* ``wsi_viewer_store_write_duration_seconds``: each annotation-store write transaction, from its
  begin to its commit (SQLAlchemy events on connections the store marks ``wsi_write``).

Counting costs a lock and a write into a mapped page (about a microsecond); a tile served from the
memory cache costs a few hundred.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Tile sources, as the slide library reports them (``SlideLibrary.tile_observer``).
TILE_SOURCES = ("cache", "disk", "stored", "rendered")

#: Request latency buckets (s): a cached tile is well under a millisecond, a large upload seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0)
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def prepare_multiprocess_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Make a fresh directory for the workers' metric files and point ``PROMETHEUS_MULTIPROC_DIR``
    at it; returns it. Call in the master before the app (and prometheus-client) is imported.

    It is ``DATA_DIR/run/metrics-<host>-<pid>`` (a temporary directory if that cannot be made),
    removed when this process exits; left-overs of this host's masters that are gone (killed) are
    removed here. Servers may share a DATA_DIR, containers included (each is pid 1 of its own
    host name): each has its own directory.
    """
    host = socket.gethostname().replace("/", "_") or "host"
    try:
        run = Path(data_dir) / "run"
        run.mkdir(parents=True, exist_ok=True)
        for old in run.glob(f"metrics-{host}-*"):
            pid = old.name.removeprefix(f"metrics-{host}-")
            if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
                shutil.rmtree(old, ignore_errors=True)
        path = run / f"metrics-{host}-{os.getpid()}"
        path.mkdir()
    except OSError:
        path = Path(tempfile.mkdtemp(prefix="wsi-viewer-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    master = os.getpid()

    def remove() -> None:  # at the master's exit only: forked workers run atexit handlers too
        if os.getpid() == master:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_exited(pid: int) -> None:
    """gunicorn's master, after a worker exited: drop its live-only files (its counts stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class Metrics:
    """The metric objects, made once per process (:func:`metrics`), and cheap ways to count."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.tiles = Counter("wsi_viewer_tiles_served", "Deep Zoom tiles served, by where they came from",
                             ["source"])
        self.requests = Histogram("wsi_viewer_request_duration_seconds",
                                  "Time to answer a request (until its body starts), by route",
                                  ["route", "method"], buckets=REQUEST_BUCKETS)
        self.errors = Counter("wsi_viewer_request_errors", "Answers with status 400 or over, by status "
                              "and route", ["status", "route"])
        self.store_writes = Histogram("wsi_viewer_store_write_duration_seconds",
                                      "Annotation store write transactions, begin to commit",
                                      buckets=WRITE_BUCKETS)
        # Children bound once: counting a tile is then one method call.
        self._tile_counters: dict[str, Callable[[], None]] = {
            source: self.tiles.labels(source).inc for source in TILE_SOURCES
        }
        self._routes: dict[tuple[str, str], Callable[[float], None]] = {}
        self._routes_lock = threading.Lock()

    def count_tile(self, source: str) -> None:
        """One tile served from *source* (one of :data:`TILE_SOURCES`)."""
        self._tile_counters[source]()

    def observer(self, route: str, method: str) -> Callable[[float], None]:
        """The ``observe(seconds)`` of *route* and *method* (made once, then a dict lookup)."""
        found = self._routes.get((route, method))
        if found is None:
            with self._routes_lock:
                found = self._routes.setdefault((route, method), self.requests.labels(route, method).observe)
        return found

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request."""
        self.observer(route, method)(seconds)
        if status >= 400:
            self.errors.labels(str(status), route).inc()


_METRICS: Metrics | None = None
_LOCK = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics (made on first use, after the fork in a gunicorn worker)."""
    global _METRICS
    if _METRICS is None:
        with _LOCK:
            if _METRICS is None:
                _METRICS = Metrics()
                _time_store_writes(_METRICS)
    return _METRICS


def _time_store_writes(found: Metrics) -> None:
    """Time every write transaction of every engine (the store owns SQLAlchemy: it does the timing)."""
    from viewer.store.engine import time_write_transactions

    time_write_transactions(found.store_writes.observe)


class _Families:
    """A fixed list of metric families, in the shape ``generate_latest`` reads (``collect()``)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterable[Any]:
        return self.families


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (this process's without multiprocess mode),
    with the tile cache hit ratio; and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    metrics()  # the families exist (at zero) even before the first request of this worker
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        families = list(registry.collect())
    else:
        families = list(REGISTRY.collect())
    by_source = {s.labels.get("source"): s.value for f in families if f.name == "wsi_viewer_tiles_served"
                 for s in f.samples if s.name == "wsi_viewer_tiles_served_total"}
    total = sum(by_source.values())
    ratio = GaugeMetricFamily("wsi_viewer_tile_cache_hit_ratio", "Tiles served from a worker's memory "
                              "cache over all tiles served (NaN before the first tile)",
                              value=by_source.get("cache", 0.0) / total if total else math.nan)
    return generate_latest(_Families([*families, ratio])), CONTENT_TYPE_LATEST
