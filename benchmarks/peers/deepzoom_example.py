"""Peer (a) of ``benchmarks/tiles.py``: the plain OpenSlide Deep Zoom server.

What openslide-python's deepzoom example server does, reduced to the tile path: an LRU of open
slides (each an ``OpenSlide`` with its ``DeepZoomGenerator``) and, per request,
``DeepZoomGenerator.get_tile`` plus a JPEG encode. No tile cache, no stored-tile passthrough.

Environment: ``BENCH_SLIDE_DIR`` (required), ``BENCH_TILE_SIZE`` (254), ``BENCH_OVERLAP`` (1),
``BENCH_QUALITY`` (75) -- the example's defaults. Run: ``gunicorn deepzoom_example:app``.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from pathlib import Path

import openslide
from flask import Flask, Response, abort
from openslide.deepzoom import DeepZoomGenerator

SLIDE_DIR = Path(os.environ["BENCH_SLIDE_DIR"]).resolve()
TILE_SIZE = int(os.environ.get("BENCH_TILE_SIZE", "254"))
OVERLAP = int(os.environ.get("BENCH_OVERLAP", "1"))
QUALITY = int(os.environ.get("BENCH_QUALITY", "75"))
OPEN_SLIDES = 10

app = Flask(__name__)
_lock = threading.Lock()
_generators: OrderedDict[Path, DeepZoomGenerator] = OrderedDict()


def _generator(slide_id: str) -> DeepZoomGenerator:
    path = (SLIDE_DIR / slide_id).resolve()
    if SLIDE_DIR not in path.parents or not path.is_file():
        abort(404)
    with _lock:
        found = _generators.get(path)
        if found is not None:
            _generators.move_to_end(path)
            return found
    try:
        generator = DeepZoomGenerator(openslide.OpenSlide(str(path)), TILE_SIZE, OVERLAP, limit_bounds=True)
    except openslide.OpenSlideError:
        abort(404)
    with _lock:
        _generators[path] = generator
        while len(_generators) > OPEN_SLIDES:
            _generators.popitem(last=False)
    return generator


@app.get("/health")
def health() -> str:
    return "ok"


@app.get("/deepzoom/<path:slide_id>.dzi")
def dzi(slide_id: str) -> Response:
    return Response(_generator(slide_id).get_dzi("jpeg"), mimetype="application/xml")


@app.get("/deepzoom/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.jpeg")
def tile(slide_id: str, level: int, col: int, row: int) -> Response:
    generator = _generator(slide_id)
    try:
        image = generator.get_tile(level, (col, row))
    except ValueError:
        abort(404)
    buf = io.BytesIO()
    image.save(buf, "jpeg", quality=QUALITY)
    return Response(buf.getvalue(), mimetype="image/jpeg")
