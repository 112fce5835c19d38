"""Peer (b) of ``benchmarks/tiles.py``: large_image's TIFF tile source behind a minimal DZI route.

large-image-source-tiff sends stored JPEG tiles as they are (merged with the level's JPEG tables)
and caches tiles in memory. The Deep Zoom geometry is the source's own: tile size = its native
tile size, overlap 0, and Deep Zoom level = large_image ``z`` + offset, where the offset is the
number of Deep Zoom levels smaller than one tile. Edge tiles (padded in the file) are cropped to the
Deep Zoom level size; levels below ``z = 0`` are the ``z = 0`` tile shrunk.

Environment: ``BENCH_SLIDE_DIR`` (required), ``BENCH_QUALITY`` (80, for re-encoded tiles).
Run: ``gunicorn large_image_app:app``. Needs the ``bench`` extra (large-image-source-tiff).
"""

from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path
from typing import Any

import large_image
from flask import Flask, Response, abort
from PIL import Image

SLIDE_DIR = Path(os.environ["BENCH_SLIDE_DIR"]).resolve()
QUALITY = int(os.environ.get("BENCH_QUALITY", "80"))

app = Flask(__name__)


class _Source:
    """A large_image tile source with its Deep Zoom geometry."""

    def __init__(self, path: Path) -> None:
        self.ts: Any = large_image.open(str(path), jpegQuality=QUALITY)
        self.tile = int(self.ts.tileWidth)
        self.width, self.height = int(self.ts.sizeX), int(self.ts.sizeY)
        # Deep Zoom level sizes halve with rounding up, down to 1 x 1.
        sizes = [(self.width, self.height)]
        while sizes[-1] != (1, 1):
            w, h = sizes[-1]
            sizes.append((max(1, math.ceil(w / 2)), max(1, math.ceil(h / 2))))
        self.sizes = sizes[::-1]
        self.offset = len(self.sizes) - int(self.ts.levels)

    def dzi(self) -> str:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
                f'Format="jpeg" Overlap="0" TileSize="{self.tile}">'
                f'<Size Width="{self.width}" Height="{self.height}"/></Image>')

    def get(self, level: int, col: int, row: int) -> bytes:
        if not 0 <= level < len(self.sizes):
            abort(404)
        w, h = self.sizes[level]
        t = self.tile
        if col < 0 or row < 0 or col * t >= w or row * t >= h:
            abort(404)
        z = level - self.offset
        if z < 0:  # smaller than one tile: shrink the z = 0 tile
            zw, zh = self.sizes[self.offset]
            image = self.ts.getTile(0, 0, 0, pilImageAllowed=True)
            image = _as_image(image).crop((0, 0, zw, zh)).resize((w, h), Image.Resampling.LANCZOS)
            return _jpeg(image)
        content = (min(t, w - col * t), min(t, h - row * t))
        if content == (t, t):
            return bytes(self.ts.getTile(col, row, z))  # stored bytes, not decoded
        image = _as_image(self.ts.getTile(col, row, z, pilImageAllowed=True))
        return _jpeg(image.crop((0, 0, *content)))


def _as_image(tile: Any) -> Image.Image:
    image = tile if isinstance(tile, Image.Image) else Image.open(io.BytesIO(tile))
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "jpeg", quality=QUALITY)
    return buf.getvalue()


@functools.lru_cache(maxsize=10)
def _source(path: Path) -> _Source:
    return _Source(path)


def _lookup(slide_id: str) -> _Source:
    path = (SLIDE_DIR / slide_id).resolve()
    if SLIDE_DIR not in path.parents or not path.is_file():
        abort(404)
    try:
        return _source(path)
    except large_image.exceptions.TileSourceError:
        abort(404)


@app.get("/health")
def health() -> str:
    return "ok"


@app.get("/deepzoom/<path:slide_id>.dzi")
def dzi(slide_id: str) -> Response:
    return Response(_lookup(slide_id).dzi(), mimetype="application/xml")


@app.get("/deepzoom/<path:slide_id>_files/<int:level>/<int:col>_<int:row>.jpeg")
def tile(slide_id: str, level: int, col: int, row: int) -> Response:
    return Response(_lookup(slide_id).get(level, col, row), mimetype="image/jpeg")
