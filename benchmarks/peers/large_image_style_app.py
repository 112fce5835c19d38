"""Peer of ``benchmarks/overlays.py``: large_image rendering a float32 map with a palette style per
tile, as HistomicsUI shows a heatmap (the server colours each tile; a slider move is a new style,
so new tile URLs and every visible tile rendered again).

Routes (``BENCH_MAP_DIR`` holds the maps; a name is a file in it):

* ``/meta/<name>``: the tile source's metadata (opens the source; the start-up probe);
* ``/tiles/<name>/<z>/<x>/<y>.png?style=<JSON>``: ``getTile(x, y, z)`` of the source opened
  with that style, ``encoding="PNG"`` and ``edge="crop"`` (edge tiles cropped to the image, as
  HistomicsUI asks with ``edge=crop``). large_image caches opened sources (per path and style)
  and the tiles they rendered in memory, so a second request of a tile with the same style is a
  cache hit, as on a Girder server.

Run: ``gunicorn large_image_style_app:app``. Needs the ``bench`` extra (large-image-source-tiff,
which reads tiled float32 TIFFs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import large_image
from flask import Flask, Response, abort, jsonify, request

MAP_DIR = Path(os.environ["BENCH_MAP_DIR"]).resolve()

app = Flask(__name__)


def _source(name: str, style: str | None) -> Any:
    path = (MAP_DIR / name).resolve()
    if path.parent != MAP_DIR or not path.is_file():
        abort(404)
    kwargs: dict[str, Any] = {"edge": "crop", "encoding": "PNG"}
    if style:
        kwargs["style"] = json.loads(style)
    try:
        return large_image.open(str(path), **kwargs)
    except large_image.exceptions.TileSourceError:
        abort(404)


@app.get("/meta/<name>")
def meta(name: str) -> Response:
    return jsonify(_source(name, None).getMetadata())


@app.get("/tiles/<name>/<int:z>/<int:x>/<int:y>.png")
def tile(name: str, z: int, x: int, y: int) -> Response:
    source = _source(name, request.args.get("style"))
    try:
        body = source.getTile(x, y, z)
    except large_image.exceptions.TileSourceXYZRangeError:
        abort(404)
    return Response(body, mimetype="image/png")
