"""The slide library: every slide under a root, looked up by id, with its open handles and encoded
tiles kept in LRUs (``viewer.lru``) shared by a worker's threads. The one object the web layer calls.

A tile request costs, on a hit, the id check, two dict lookups, one hash for the ETag and one LRU
lookup; nothing here adds a layer to that path.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import openslide

from viewer.errors import (
    AssociatedImageNotFoundError,
    ForbiddenError,
    InvalidInputError,
    SlideNotFoundError,
    SlideUnreadableError,
)
from viewer.lru import LRU
from viewer.slides.deepzoom import DeepZoomGeometry, deep_zoom_level_count
from viewer.slides.handle import SlideHandle
from viewer.slides.images import associated_png, thumbnail_jpeg
from viewer.slides.metadata import (
    SlideInfo,
    describe_open_error,
    load_metadata_file,
    read_slide_info,
    save_metadata_file,
)
from viewer.slides.options import MEDIA_TYPES, Tile, TileFormat, TileOptions
from viewer.slides.paths import inside_root, plausible_id
from viewer.slides.scan import Entry, walk_slides
from viewer.slides.tilecache import DiskTileCache

_RESCAN_INTERVAL_S = 2.0


class SlideLibrary:
    """Every slide OpenSlide opens under *root*, recursively, with cached metadata.

    Ids are paths relative to *root* with POSIX separators. A lookup only ever returns a path that
    the scan found under *root* (symlinks leaving the root are never followed), so every path
    trick in an id is simply an unknown id.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        cache_file: str | os.PathLike[str] | None = None,
        options: TileOptions | None = None,
        handle_cache_size: int = 32,
        tile_cache_bytes: int = 256 << 20,
        rendered_tiles: DiskTileCache | None = None,
    ) -> None:
        """:param rendered_tiles: where rendered tiles are shared with the other workers (None: not)."""
        self.root = Path(root).resolve()
        self.options = options or TileOptions()
        self._cache_file = Path(cache_file) if cache_file else None
        self._entries: dict[str, Entry] = {}
        self._infos: dict[str, SlideInfo] = {}
        self._scanned_at = -math.inf
        self._scan_lock = threading.Lock()
        self._handles: LRU[tuple[str, int, int], SlideHandle] = LRU(
            max(1, handle_cache_size), on_evict=lambda h: h.close()
        )
        self._tiles: LRU[str, Tile] = LRU(max(0, tile_cache_bytes), weigh=lambda t: len(t.data) + 200)
        self._rendered = rendered_tiles
        self._open_lock = threading.Lock()
        self._disk_cache = load_metadata_file(self._cache_file, self.root)
        #: Called with where each tile :meth:`tile` returns came from: "cache" (memory), "disk"
        #: (rendered tiles on disk), "stored" (a stored JPEG as it is) or "rendered" (viewer.metrics).
        self.tile_observer: Callable[[str], None] | None = None

    # -- scanning ----------------------------------------------------------------------------------

    def scan(self, force: bool = False) -> list[SlideInfo]:
        """Rescan the root (at most every two seconds unless *force*) and return every slide."""
        with self._scan_lock:
            if not force and time.monotonic() - self._scanned_at < _RESCAN_INTERVAL_S:
                return [self._infos[k] for k in self._entries]
            entries: dict[str, Entry] = {}
            infos: dict[str, SlideInfo] = {}
            dirty = False
            for entry in walk_slides(self.root):
                try:
                    stat = entry.stat_path.stat()
                except OSError:
                    continue
                cached = self._disk_cache.get(entry.id)
                if cached is not None and cached.size == stat.st_size and cached.mtime_ns == stat.st_mtime_ns:
                    info = cached
                else:
                    info = read_slide_info(entry.id, entry.open_path, stat)
                    self._disk_cache[entry.id] = info
                    dirty = True
                entries[entry.id] = entry
                infos[entry.id] = info
            if set(self._disk_cache) - set(entries):
                for gone in set(self._disk_cache) - set(entries):
                    del self._disk_cache[gone]
                dirty = True
            self._entries, self._infos = entries, infos
            self._scanned_at = time.monotonic()
            if dirty:
                save_metadata_file(self._cache_file, self.root, self._disk_cache)
            return [infos[k] for k in entries]

    # -- lookups -----------------------------------------------------------------------------------

    def _entry(self, slide_id: str) -> Entry:
        if not plausible_id(slide_id):
            raise SlideNotFoundError("no such slide")
        entry = self._entries.get(slide_id)
        if entry is None:
            self.scan()
            entry = self._entries.get(slide_id)
        if entry is None:
            raise SlideNotFoundError("no such slide")
        return entry

    def info(self, slide_id: str) -> SlideInfo:
        """Metadata of one slide.

        :raises SlideNotFoundError: for an unknown id or any id that does not name a slide.
        """
        entry = self._entry(slide_id)
        return self._infos[entry.id]

    # -- open handles --------------------------------------------------------------------------------

    def handle(self, slide_id: str) -> SlideHandle:
        """The open slide for *slide_id* (from the LRU, reopened when the file changed).

        :raises SlideNotFoundError: unknown id. :raises SlideUnreadableError: OpenSlide cannot read it.
        """
        entry = self._entry(slide_id)
        info = self._infos[entry.id]
        if info.error:
            raise SlideUnreadableError(f"slide {slide_id!r}: {info.error}")
        key = (entry.id, info.size, info.mtime_ns)
        handle = self._handles.get(key)
        if handle is not None:
            return handle
        with self._open_lock:
            handle = self._handles.get(key)
            if handle is None:
                if not inside_root(self.root, entry.open_path):
                    raise SlideNotFoundError("no such slide")
                try:
                    handle = SlideHandle(entry.open_path, info, self.options)
                except (openslide.OpenSlideError, OSError, ValueError) as exc:
                    raise SlideUnreadableError(f"slide {slide_id!r}: {describe_open_error(exc)}") from None
                self._handles.put(key, handle)
        return handle

    def _drop(self, slide_id: str) -> None:
        info = self._infos.get(slide_id)
        if info is not None:
            self._handles.pop((slide_id, info.size, info.mtime_ns))

    def _unreadable(self, slide_id: str, exc: BaseException) -> SlideUnreadableError:
        """Forget the open slide (it may be truncated or replaced) and describe the failure."""
        self._drop(slide_id)
        return SlideUnreadableError(f"slide {slide_id!r}: {describe_open_error(exc)}")

    # -- tiles and images ----------------------------------------------------------------------------

    def deep_zoom_level_count(self, slide_id: str) -> int:
        """The slide's Deep Zoom level count, from the open slide if it is open, else from its
        metadata without opening it (listings of many slides)."""
        info = self.info(slide_id)
        handle = self._handles.get((info.id, info.size, info.mtime_ns))
        if handle is not None:
            return handle.geometry.level_count
        if info.error or not info.level_dimensions:
            return self.geometry(slide_id).level_count  # raises what opening it raises
        return deep_zoom_level_count(info.level_dimensions, info.properties, self.options.limit_bounds)

    def geometry(self, slide_id: str) -> DeepZoomGeometry:
        """The Deep Zoom pyramid of a slide (what its ``.dzi`` says)."""
        return self.handle(slide_id).geometry

    def tile_etag(self, slide_id: str, level: int, col: int, row: int, fmt: str) -> str:
        """The strong ETag of a tile, computed without reading it (for conditional requests)."""
        info = self.info(slide_id)
        options = self.options.fingerprint()
        raw = f"{slide_id}\0{info.size}\0{info.mtime_ns}\0{options}\0{level}/{col}_{row}.{fmt}"
        return '"' + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest() + '"'

    def cached_tile(self, etag: str) -> Tile | None:
        """The tile with this :meth:`tile_etag` if it is in the tile cache, else None (never reads)."""
        found: Tile | None = self._tiles.get(etag)
        return found

    def tile(self, slide_id: str, level: int, col: int, row: int, fmt: TileFormat, *,
             etag: str | None = None) -> Tile:
        """One Deep Zoom tile, encoded. *etag*: the tile's :meth:`tile_etag`, when the caller has it.

        :raises TileNotFoundError: level/col/row outside the grid.
        :raises SlideUnreadableError: the slide cannot be read (its handle is dropped).
        """
        if etag is None:
            etag = self.tile_etag(slide_id, level, col, row, fmt)
        cached = self._tiles.get(etag)
        observer = self.tile_observer
        if cached is not None:
            if observer is not None:
                observer("cache")
            return cached
        key = etag.strip('"')
        data = self._rendered.get(key) if self._rendered is not None else None
        source = "disk"
        if data is None:
            handle = self.handle(slide_id)
            try:
                data, stored = handle.tile(level, col, row, fmt)
            except openslide.OpenSlideError as exc:
                raise self._unreadable(slide_id, exc) from None
            if not stored and self._rendered is not None:
                self._rendered.put(key, data)
            source = "stored" if stored else "rendered"
        tile = Tile(data, MEDIA_TYPES[fmt], etag)
        self._tiles.put(etag, tile)
        if observer is not None:
            observer(source)
        return tile

    def thumbnail(self, slide_id: str, max_px: int) -> Tile:
        """A JPEG thumbnail of the image space (the bounds region with limit_bounds), at most *max_px*."""
        if max_px < 1:
            raise InvalidInputError("thumbnail size must be a positive number of pixels")
        etag = self.tile_etag(slide_id, -1, max_px, 0, "thumbnail")
        cached = self._tiles.get(etag)
        if cached is not None:
            return cached
        handle = self.handle(slide_id)
        try:
            data = thumbnail_jpeg(handle, max_px)
        except openslide.OpenSlideError as exc:
            raise self._unreadable(slide_id, exc) from None
        tile = Tile(data, "image/jpeg", etag)
        self._tiles.put(etag, tile)
        return tile

    def associated_image(self, slide_id: str, name: str, enabled: bool) -> Tile:
        """An associated image (label, macro, ...) as PNG.

        :raises ForbiddenError: when serving associated images is disabled (they can show patient data).
        """
        if not enabled:
            raise ForbiddenError("associated images are disabled on this server (SERVE_ASSOCIATED_IMAGES)")
        info = self.info(slide_id)
        if name not in info.associated:
            raise AssociatedImageNotFoundError(f"slide has no associated image {name!r}")
        handle = self.handle(slide_id)
        etag = self.tile_etag(slide_id, -2, 0, 0, "associated/" + name)
        cached = self._tiles.get(etag)
        if cached is not None:
            return cached
        try:
            data = associated_png(handle.osr, name)
        except (openslide.OpenSlideError, KeyError):
            self._drop(slide_id)
            raise SlideUnreadableError(f"slide {slide_id!r}: cannot read associated image {name!r}") from None
        tile = Tile(data, "image/png", etag)
        self._tiles.put(etag, tile)
        return tile

    def close(self) -> None:
        """Close every open slide and forget cached tiles."""
        self._handles.clear()
        self._tiles.clear()
