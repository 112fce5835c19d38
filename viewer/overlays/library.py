"""The overlay library: uploads in OVERLAY_DIR, the attached ``<stem>_likelihood_map.tif`` beside a
slide, their value fields and encoded value tiles (an LRU shared by a worker's threads).

Storage: an upload is ``<root>/<id>/overlay.json`` + ``level-<k>.npy``, built in a hidden temporary
directory and renamed into place, so a failed upload leaves nothing and a reader never sees half an
overlay. An attached map is converted on first use into ``<cache_root>/<id>-<version>/`` (version
from the TIFF's size and mtime_ns) the same way; two workers converting at once both end with a
valid directory (the second rename loses and its copy is dropped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from viewer.errors import ForbiddenError, OverlayFormatError, OverlayNotFoundError, ViewerError
from viewer.lru import LRU
from viewer.overlays.build import build_overlay, finish_values, read_source
from viewer.overlays.model import AddOptions, Overlay
from viewer.overlays.pyramid import ValueField, write_pyramid
from viewer.overlays.sources import check_size, fit_scale, read_tiff, read_tiff_header
from viewer.overlays.tiles import encode_png, native_level, sample_tile
from viewer.slides import OVERLAY_SUFFIX, SlideLibrary
from viewer.slides.paths import inside_root

log = logging.getLogger(__name__)

_META = "overlay.json"
_ATTACHED_PREFIX = "lm-"
_ATTACHED_EXTENSIONS = (".tif", ".tiff")
_INDEX_TTL_S = 2.0
#: Staging copies older than this are a killed process's leftovers (a conversion takes seconds).
_LEFTOVER_AGE_S = 3600.0


def attached_id(slide_id: str) -> str:
    """The id of a slide's attached likelihood map: ``lm-`` + 10 hex of sha1(slide id)."""
    return _ATTACHED_PREFIX + hashlib.sha1(slide_id.encode()).hexdigest()[:10]


def _plausible_overlay_id(overlay_id: str) -> bool:
    return 0 < len(overlay_id) <= 64 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in overlay_id)


def _iso(ts: float | None = None) -> str:
    when = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")  # orders uploads


def _publish(staging: Path, final: Path) -> None:
    """Rename *staging* to *final*; if another process got there first, keep theirs."""
    try:
        os.rename(staging, final)
    except OSError:
        if not (final / _META).exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)


def sweep_leftovers(directory: Path, max_age_s: float = _LEFTOVER_AGE_S) -> list[str]:
    """Remove what a process killed mid-way left in *directory*: hidden staging copies (``.*.tmp``)
    and removed overlays (``.*.removed-*``) older than *max_age_s*; their names."""
    removed: list[str] = []
    cutoff = time.time() - max_age_s
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if name.startswith(".") and (name.endswith(".tmp") or ".removed-" in name):
            try:
                st = entry.lstat()
                if st.st_mtime < cutoff:
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(entry, ignore_errors=True)
                    else:  # a large TIFF's decoding file (.decode-*.tmp)
                        entry.unlink()
                    removed.append(name)
            except OSError:
                continue
    return removed


def _write_meta(directory: Path, overlay: Overlay) -> None:
    (directory / _META).write_text(json.dumps(overlay.to_json(), indent=1), encoding="utf-8")


def _read_meta(directory: Path) -> Overlay | None:
    try:
        return Overlay.from_json(json.loads((directory / _META).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class OverlayLibrary:
    """Every overlay of every slide of *slides*: uploads under *root*, attached maps converted
    into *cache_root*."""

    def __init__(self, root: Path, cache_root: Path, slides: SlideLibrary, *, max_mpx: int,
                 tile_cache_bytes: int) -> None:
        self.root = Path(root)
        self.cache_root = Path(cache_root)
        self.slides = slides
        self.max_mpx = max_mpx
        self._tiles: LRU[str, bytes] = LRU(max(0, tile_cache_bytes), weigh=lambda b: len(b) + 100)
        self._fields: LRU[tuple[str, str], ValueField] = LRU(64)
        self._uploads: dict[str, tuple[Overlay, Path]] = {}
        self._attached_slides: dict[str, str] = {}  # attached overlay id -> slide id
        # attached overlay id -> ((TIFF path, size, mtime_ns), descriptor before placing)
        self._attached_memo: dict[str, tuple[tuple[str, int, int], Overlay]] = {}
        self._convert_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index: tuple[int, float, dict[str, list[Overlay]]] | None = None  # (root mtime, when, uploads)

    # -- attached likelihood maps -------------------------------------------------------------------

    def _attached_path(self, slide_id: str) -> Path | None:
        info = self.slides.info(slide_id)
        slide_path = self.slides.root / info.id
        stem = slide_path.name.rsplit(".", 1)[0] if "." in slide_path.name else slide_path.name
        for ext in _ATTACHED_EXTENSIONS:
            candidate = slide_path.parent / f"{stem}{OVERLAY_SUFFIX}{ext}"
            try:
                found = candidate.is_file()
            except OSError:  # a name the file system cannot hold (a 246-character stem + suffix): none
                continue
            if found and inside_root(self.slides.root, candidate):
                return candidate
        return None

    def _attached(self, slide_id: str) -> tuple[Overlay, Path] | None:
        """The attached map's descriptor (from its header, or its converted copy) and its TIFF."""
        path = self._attached_path(slide_id)
        if path is None:
            return None
        overlay_id = attached_id(slide_id)
        self._attached_slides[overlay_id] = slide_id
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        memo = self._attached_memo.get(overlay_id)
        if memo is not None and memo[0] == key:  # a tile request's path: no file read
            return self._placed(memo[1]), path
        version = hashlib.sha1(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
        converted = _read_meta(self.cache_root / f"{overlay_id}-{version}")
        if converted is not None:
            self._attached_memo[overlay_id] = (key, converted)
            return self._placed(converted), path
        what = path.name
        try:
            header = read_tiff_header(path, what)
            check_size(header.width, header.height, self.max_mpx, what)
            if header.dtype == "float32":  # the range needs the data: convert now
                converted = self._convert_attached(slide_id, overlay_id, version, path)
                self._attached_memo[overlay_id] = (key, converted)
                return self._placed(converted), path
            info = self.slides.info(slide_id)
            scale = fit_scale(info.width, info.height, header.width, header.height, what)
        except ViewerError as exc:
            log.warning("attached overlay %s of slide %r ignored: %s", path, slide_id, exc.message)
            return None
        top = 255.0 if header.dtype == "uint8" else 65535.0
        overlay = Overlay(
            id=overlay_id, slide_id=slide_id, name=path.name, kind="heatmap", source_format="tiff",
            source_filename=path.name, source_dtype=header.dtype, attached=True, width=header.width,
            height=header.height, scale=scale, origin_x=0.0, origin_y=0.0, value_min=0.0, value_max=top,
            encoding="u8" if header.dtype == "uint8" else "u16", native_level=0, classes=None,
            version=version, created=_iso(st.st_mtime),
        )
        self._attached_memo[overlay_id] = (key, overlay)
        return self._placed(overlay), path

    def _convert_attached(self, slide_id: str, overlay_id: str, version: str, path: Path) -> Overlay:
        """Convert the attached TIFF into its cache directory (once; other versions are dropped)."""
        final = self.cache_root / f"{overlay_id}-{version}"
        with self._convert_lock:
            found = _read_meta(final)
            if found is not None:
                return found
            self.cache_root.mkdir(parents=True, exist_ok=True)
            sweep_leftovers(self.cache_root)
            staging = self.cache_root / f".{overlay_id}-{version}.{secrets.token_hex(4)}.tmp"
            staging.mkdir()
            try:
                grid = read_tiff(path, path.name, self.max_mpx, self.cache_root)
                info = self.slides.info(slide_id)
                overlay = build_overlay(
                    grid, info, AddOptions(name=path.name), overlay_id=overlay_id, filename=path.name,
                    attached=True, version=version, created=_iso(path.stat().st_mtime))
                write_pyramid(staging, *finish_values(grid, overlay), overlay.kind)
                _write_meta(staging, overlay)
                _publish(staging, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            for old in self.cache_root.glob(f"{overlay_id}-*"):
                if old != final:
                    shutil.rmtree(old, ignore_errors=True)
            return overlay

    def _placed(self, overlay: Overlay) -> Overlay:
        """*overlay* with its native level on its slide's Deep Zoom grid (from the slide's metadata:
        a listing of many slides opens none of them)."""
        level = native_level(self.slides.deep_zoom_level_count(overlay.slide_id), overlay.scale)
        return overlay if level == overlay.native_level else dataclasses.replace(overlay, native_level=level)

    # -- uploads ------------------------------------------------------------------------------------

    def _upload(self, overlay_id: str) -> tuple[Overlay, Path] | None:
        directory = self.root / overlay_id
        cached = self._uploads.get(overlay_id)
        if cached is not None:
            if directory.is_dir():
                return cached
            self._uploads.pop(overlay_id, None)
            return None
        overlay = _read_meta(directory)
        if overlay is None or overlay.attached:
            return None
        self._uploads[overlay_id] = (overlay, directory)
        return overlay, directory

    def _uploads_of(self, slide_id: str) -> list[Overlay]:
        """The slide's uploads by creation, from an index of the root rebuilt when the root's mtime
        changes (an upload or removal by any worker renames an entry in it) or every 2 seconds."""
        try:
            mtime = self.root.stat().st_mtime_ns
        except OSError:
            return []
        now = time.monotonic()
        with self._index_lock:
            state = self._index
            if state is None or state[0] != mtime or now - state[1] > _INDEX_TTL_S:
                try:
                    names = sorted(p.name for p in self.root.iterdir() if not p.name.startswith("."))
                except OSError:
                    names = []
                by_slide: dict[str, list[Overlay]] = {}
                for found in map(self._upload, names):
                    if found is not None:
                        by_slide.setdefault(found[0].slide_id, []).append(found[0])
                for overlays in by_slide.values():
                    overlays.sort(key=lambda o: (o.created, o.id))
                state = self._index = (mtime, now, by_slide)
        return list(state[2].get(slide_id, ()))

    # -- the API ------------------------------------------------------------------------------------

    def list(self, slide_id: str) -> list[Overlay]:
        """Every overlay of a slide: the attached map first, then uploads by creation.

        :raises SlideNotFoundError: unknown slide.
        """
        self.slides.info(slide_id)
        attached = self._attached(slide_id)
        uploads = [self._placed(o) for o in self._uploads_of(slide_id)]
        return ([attached[0]] if attached else []) + uploads

    def _locate(self, overlay_id: str) -> tuple[Overlay, Path]:
        """The descriptor and where the overlay lives (upload dir, or the attached TIFF)."""
        if not _plausible_overlay_id(overlay_id):
            raise OverlayNotFoundError("no such overlay")
        if overlay_id.startswith(_ATTACHED_PREFIX):
            slide_id = self._attached_slides.get(overlay_id)
            if slide_id is None:
                for info in self.slides.scan():
                    if attached_id(info.id) == overlay_id:
                        slide_id = info.id
                        break
            found = self._attached(slide_id) if slide_id is not None else None
        else:
            found = self._upload(overlay_id)
        if found is None:
            raise OverlayNotFoundError("no such overlay")
        return found

    def get(self, overlay_id: str) -> Overlay:
        """One overlay's descriptor. :raises OverlayNotFoundError: unknown id."""
        overlay, _ = self._locate(overlay_id)
        if overlay.attached:
            return overlay
        return self._placed(overlay)

    def add(self, slide_id: str, source: Path, filename: str, options: AddOptions) -> Overlay:
        """Read, check and store *source* (a file the caller owns) as a new overlay of the slide.

        :raises SlideNotFoundError: unknown slide. :raises OverlayFormatError: a source that cannot
            be used (the message says why and where). :raises InputTooLargeError: over OVERLAY_MAX_MPX.
        """
        info = self.slides.info(slide_id)
        grid = read_source(Path(source), filename, options, info, self.max_mpx, self.root)
        overlay_id = secrets.token_hex(6)
        overlay = build_overlay(grid, info, options, overlay_id=overlay_id, filename=filename,
                                attached=False, version=secrets.token_hex(6), created=_iso())
        overlay = self._placed(overlay)
        self.root.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(self.root)
        staging = self.root / f".{overlay_id}.tmp"
        staging.mkdir()
        try:
            write_pyramid(staging, *finish_values(grid, overlay), overlay.kind)
            _write_meta(staging, overlay)
            os.rename(staging, self.root / overlay_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._index = None
        return overlay

    def remove(self, overlay_id: str) -> None:
        """Delete an upload. :raises ForbiddenError: an attached map (remove its file instead)."""
        overlay, directory = self._locate(overlay_id)
        if overlay.attached:
            raise ForbiddenError("an attached likelihood map cannot be removed through the API; "
                                 f"remove or rename {overlay.source_filename} beside the slide")
        trash = self.root / f".{overlay_id}.removed-{secrets.token_hex(4)}"
        try:
            os.rename(directory, trash)
        except FileNotFoundError:
            raise OverlayNotFoundError("no such overlay") from None
        self._uploads.pop(overlay_id, None)
        self._index = None
        shutil.rmtree(trash, ignore_errors=True)

    def field(self, overlay_id: str) -> ValueField:
        """The overlay's values (memory-mapped pyramid); converts an attached map on first use."""
        overlay, where = self._locate(overlay_id)
        key = (overlay.id, overlay.version)
        found = self._fields.get(key)
        if found is not None:
            return found
        if overlay.attached:
            self._convert_attached(overlay.slide_id, overlay.id, overlay.version, where)
            directory = self.cache_root / f"{overlay.id}-{overlay.version}"
        else:
            directory = where
        found = ValueField(overlay, directory)
        self._fields.put(key, found)
        return found

    def value_at(self, overlay_id: str, x: float, y: float) -> float | None:
        """The stored value at slide point (x, y); None outside the grid or on nodata."""
        return self.field(overlay_id).value_at(x, y)

    def tile_etag(self, overlay_id: str, level: int, col: int, row: int) -> str:
        """The strong ETag of a value tile (overlay id, version, address), without rendering it."""
        overlay, _ = self._locate(overlay_id)
        return f'"{overlay.id}-{overlay.version}-{level}-{col}-{row}"'

    def tile(self, overlay_id: str, level: int, col: int, row: int) -> bytes:
        """A value tile as PNG (see ``viewer.overlays.tiles``).

        :raises TileNotFoundError: outside the slide's Deep Zoom grid.
        """
        etag = self.tile_etag(overlay_id, level, col, row)
        cached = self._tiles.get(etag)
        if cached is not None:
            return cached
        field = self.field(overlay_id)
        geometry = self.slides.geometry(field.overlay.slide_id)
        values, valid = sample_tile(field, geometry, level, col, row)
        data = encode_png(field.overlay, values, valid)
        self._tiles.put(etag, data)
        return data


__all__ = ["OverlayFormatError", "OverlayLibrary", "attached_id"]
