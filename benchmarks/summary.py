"""Set summary benchmark (issue 12): the cold ``GET /api/sets/<id>/summary`` of a 10^6-vertex set.

Builds the set of ``tests/test_web_summary.py`` (5,000 polygons x 200 vertices, group ``tumor``) in
a SQLite store in a temp dir, then, *repeats* times, empties the summary cache and times

* the whole request (Flask test client: store read, measures, JSON encode), cold;
* its parts, called as the route calls them: the bounding-box index listing (``store.query``), the
  documents (``store.docs``), their decoding, the measures, and the JSON encoding;
* the same request again (cached).

Prints the median and the minimum of each, wall time and this process's CPU time (the steadier
figure on a loaded machine). Target: the cold request well under 1 s on a quiet
machine (aim <= 0.5 s).

    python benchmarks/summary.py [--repeats 7] [--polygons 5000] [--vertices 200]
"""

from __future__ import annotations

import argparse
import gc
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from viewer.annotations import summary  # noqa: E402
from viewer.annotations.model import Annotation, AnnotationSet, Group  # noqa: E402
from viewer.app import create_app  # noqa: E402

SLIDE_ID = "CMU-1-Small-Region.svs"
EVERYWHERE = (-math.inf, -math.inf, math.inf, math.inf)
#: note(step name, (wall seconds, CPU seconds))
Note = Callable[[str, tuple[float, float]], None]


def polygons(count: int, vertices: int) -> list[Annotation]:
    """*count* circles of *vertices* points on a grid, as the test builds them."""
    out = []
    for i in range(count):
        cx, cy = 100 + (i % 100) * 200, 100 + (i // 100) * 200
        ring = [
            (cx + 80 * math.cos(k * math.tau / vertices), cy + 80 * math.sin(k * math.tau / vertices))
            for k in range(vertices)
        ]
        out.append(Annotation(f"p{i}", "Polygon", "tumor", "#F4FA58", ring))
    return out


def timed(fn: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    """((wall seconds, this process's CPU seconds), fn()): on a loaded machine the CPU time is
    the steadier figure (a request is single-threaded but for GEOS, which releases the GIL)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return (time.perf_counter() - started, time.process_time() - cpu), value


def cold_request(svc: Any, client: Any, url: str, note: Note) -> None:
    """The whole request with an empty summary cache, then again (cached)."""
    svc.summary_cache._records.clear()
    svc.summary_cache._sets.clear()
    seconds, response = timed(lambda: client.get(url))
    assert response.status_code == 200, response.get_json()
    note("request, cold", seconds)
    seconds, response = timed(lambda: client.get(url))
    note("request, cached", seconds)


def parts(svc: Any, set_id: int, mpp: tuple[float, float], note: Note) -> None:
    """The steps of a cold summary, called as the route calls them."""
    from viewer.store import annotation_outlines

    store = svc.store
    seconds, (_info, _groups, listing) = timed(lambda: store.query(set_id, EVERYWHERE))
    note("  listing (store.query)", seconds)
    ids = [int(i) for i, _v in listing]
    seconds, found = timed(lambda: store.docs(set_id, ids))
    note("  documents (store.docs)", seconds)
    seconds, (heads, points, offsets) = timed(lambda: annotation_outlines([d for _v, d in found.values()]))
    note("  decode (annotation_outlines)", seconds)
    outlines = summary.Outlines(list(found), [v for v, _d in found.values()], heads, points, offsets)
    seconds, records = timed(lambda: summary.summarise(outlines, mpp))
    note("  measure (summarise)", seconds)
    body = {"set": set_id, "version": 1, "mpp": list(mpp), "annotations": records}
    seconds, _ = timed(lambda: summary.encode_body(body))
    note("  encode (encode_body)", seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--polygons", type=int, default=5000)
    parser.add_argument("--vertices", type=int, default=200)
    parser.add_argument("--request-only", action="store_true", help="only the whole request (older trees)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        slides = Path(tmp) / "slides"
        slides.mkdir()
        shutil.copy(ROOT / "tests" / "data" / "slides" / "aperio" / SLIDE_ID, slides / SLIDE_ID)
        app = create_app(
            {"SLIDE_DIR": str(slides), "DATA_DIR": f"{tmp}/data", "DATABASE": f"sqlite:///{tmp}/a.db"}
        )
        svc = app.extensions["wsi_viewer"]
        key = svc.slide_annotations.open(SLIDE_ID)
        aset = AnnotationSet(polygons(args.polygons, args.vertices), [Group("tumor")])
        set_id = svc.store.create_set(key, "big", "bench", aset).info.id
        del aset  # a server holds no million point tuples: the collector would walk them
        gc.collect()
        slide = svc.slides.info(SLIDE_ID)
        mpp = (float(slide.mpp_x), float(slide.mpp_y or slide.mpp_x))
        client = app.test_client()
        url = f"/api/sets/{set_id}/summary"
        rows: dict[str, list[tuple[float, float]]] = {}

        def note(name: str, seconds: tuple[float, float]) -> None:
            rows.setdefault(name, []).append(seconds)

        for _ in range(args.repeats):
            cold_request(svc, client, url, note)
            if not args.request_only:
                parts(svc, set_id, mpp, note)
        svc.store.close()
        svc.slides.close()
    print(f"summary of {args.polygons} x {args.vertices} vertices, {args.repeats} repeats, ms:")
    print(f"{'':32s} {'wall median':>12s} {'wall min':>9s} {'CPU median':>11s} {'CPU min':>8s}")
    for name, values in rows.items():
        wall, cpu = [v[0] * 1000 for v in values], [v[1] * 1000 for v in values]
        print(
            f"{name:32s} {statistics.median(wall):12.1f} {min(wall):9.1f} "
            f"{statistics.median(cpu):11.1f} {min(cpu):8.1f}"
        )


if __name__ == "__main__":
    main()
