"""Slides: the library under a root directory, safe id→path lookups, open handles and Deep Zoom tiles.

The only module that imports ``openslide``. Coordinate spaces (see ARCHITECTURE.md):

* **slide space** (``l0_``): level-0 pixels of the whole slide, as ASAP XML and the API use them;
* **image space**: what OpenSeadragon sees, the deepest Deep Zoom level. With ``limit_bounds`` it is
  slide space shifted by ``(bounds_x, bounds_y)``: ``slide = image + offset``;
* ``z_``: pixels of one Deep Zoom level; ``t_``: tile columns/rows; ``l_``: pixels of one slide level.

Tiles equal ``openslide.deepzoom.DeepZoomGenerator(slide, tile_size, overlap, limit_bounds)``
output for the same address. Three paths produce them, fastest first:

1. *stored*: the Deep Zoom tile is exactly one stored JPEG tile of a tiled TIFF/SVS level, so its
   bytes (merged with the level's JPEG tables) are sent without decoding;
2. *derived*: the slide lacks low-resolution levels (e.g. a single-level SVS), so each zoomed-out
   Deep Zoom level is built once, in memory, and tiles are cut from it;
3. *generator*: ``DeepZoomGenerator.get_tile``, then sRGB conversion and encoding.

Encoded tiles are kept in a byte-bounded LRU; open slides in a count-bounded LRU. Both are
thread-safe (gunicorn's threaded workers share them).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image, ImageCms

from viewer.errors import (
    AssociatedImageNotFoundError,
    ForbiddenError,
    InvalidInputError,
    SlideNotFoundError,
    SlideUnreadableError,
    TileNotFoundError,
)
from viewer.lru import LRU
from viewer.tiffreader import (
    COMPRESSION_JPEG,
    PHOTOMETRIC_RGB,
    PHOTOMETRIC_YCBCR,
    TiffFormatError,
    TiledDirectory,
    assemble_jpeg,
    read_tiled_directories,
)
from viewer.tilecache import DiskTileCache

TileFormat = Literal["jpeg", "png"]

#: File name extensions OpenSlide may open. A DICOM series (a directory of ``.dcm`` files) and a
#: MIRAX slide (``.mrxs`` plus its data folder) are each listed once.
SLIDE_EXTENSIONS = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".bif", ".svslide", ".dcm"}
)
#: ASAP's convention for a model's result image beside its slide (``<stem>_likelihood_map.tif``):
#: an overlay of that slide, not a slide of its own.
OVERLAY_SUFFIX = "_likelihood_map"
_STORED_TILE_VENDORS = frozenset({"aperio", "generic-tiff"})
_DEFAULT_TILE_SIZE = 254
_DEFAULT_OVERLAP = 1
_RESCAN_INTERVAL_S = 2.0
_METADATA_CACHE_VERSION = 2
_SRGB_PROFILE = ImageCms.createProfile("sRGB")


# --------------------------------------------------------------------------------------------------
# Options and metadata


@dataclass(frozen=True)
class TileOptions:
    """How Deep Zoom tiles are cut and encoded (from the TILE_*, LIMIT_BOUNDS, ... settings)."""

    tile_size: int = 0  # 0: the slide's stored JPEG tile size when it has one, else 254
    overlap: int = -1  # -1: 0 with the stored tile size, else 1
    format: TileFormat = "jpeg"
    quality: int = 80
    limit_bounds: bool = True
    color_management: bool = True
    derived_level_max_mpx: int = 16

    def fingerprint(self) -> str:
        """A short string that changes whenever the tiles these options produce would change."""
        return _options_fingerprint(self)


@functools.lru_cache(maxsize=16)
def _options_fingerprint(options: TileOptions) -> str:
    # every tile request's ETag includes it: hash the options once, not per request
    return hashlib.sha1(repr(asdict(options)).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Bounds:
    """The scanned region of a slide in slide space (level-0 px)."""

    x: int
    y: int
    width: int
    height: int


@dataclass
class SlideInfo:
    """Everything known about one slide without opening it again (cached by path, size, mtime).

    ``error`` is set, and the image fields are empty, for a file OpenSlide cannot open.
    """

    id: str
    name: str
    folder: str
    size: int
    mtime_ns: int
    width: int = 0
    height: int = 0
    level_count: int = 0
    level_dimensions: list[list[int]] = field(default_factory=list)
    level_downsamples: list[float] = field(default_factory=list)
    mpp_x: float | None = None
    mpp_y: float | None = None
    objective_power: float | None = None
    vendor: str | None = None
    bounds: Bounds | None = None
    quickhash: str | None = None
    associated: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form (bounds as a dict)."""
        data = asdict(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SlideInfo:
        """Inverse of :meth:`to_json`."""
        data = dict(data)
        if data.get("bounds") is not None:
            data["bounds"] = Bounds(**data["bounds"])
        return cls(**data)


@dataclass(frozen=True)
class DeepZoomGeometry:
    """The Deep Zoom pyramid a client sees for one slide."""

    tile_size: int
    overlap: int
    format: TileFormat
    width: int  # image space size = the deepest Deep Zoom level
    height: int
    level_count: int
    offset_x: int  # slide = image + offset (the bounds offset when limit_bounds is on)
    offset_y: int

    def dzi_xml(self) -> str:
        """The ``.dzi`` descriptor OpenSeadragon reads."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
            f'Format="{self.format}" Overlap="{self.overlap}" TileSize="{self.tile_size}">'
            f'<Size Width="{self.width}" Height="{self.height}"/></Image>\n'
        )


@dataclass(frozen=True)
class Tile:
    """An encoded tile, with the media type and the strong validator to send with it."""

    data: bytes
    media_type: str
    etag: str


# --------------------------------------------------------------------------------------------------
# Library: scan, lookup, metadata cache


@dataclass(frozen=True)
class _Entry:
    """A slide found by the scan: its id and the file OpenSlide opens for it."""

    id: str
    open_path: Path
    stat_path: Path  # the file whose size/mtime identify this version of the slide


def _float_property(props: Any, name: str) -> float | None:
    try:
        value = float(props[name])
    except (KeyError, ValueError, TypeError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def read_slide_info(slide_id: str, path: Path, stat: os.stat_result) -> SlideInfo:
    """Open *path* with OpenSlide and collect its metadata; errors become ``info.error``."""
    rel = PurePosixPath(slide_id)
    info = SlideInfo(
        id=slide_id, name=rel.name, folder=str(rel.parent) if str(rel.parent) != "." else "",
        size=stat.st_size, mtime_ns=stat.st_mtime_ns,
    )
    try:
        osr = openslide.OpenSlide(str(path))
    except (openslide.OpenSlideError, OSError, ValueError) as exc:
        info.error = _describe_open_error(exc)
        return info
    try:
        props = osr.properties
        info.width, info.height = osr.dimensions
        info.level_count = osr.level_count
        info.level_dimensions = [list(d) for d in osr.level_dimensions]
        info.level_downsamples = [float(d) for d in osr.level_downsamples]
        info.mpp_x = _float_property(props, openslide.PROPERTY_NAME_MPP_X)
        info.mpp_y = _float_property(props, openslide.PROPERTY_NAME_MPP_Y)
        info.objective_power = _float_property(props, openslide.PROPERTY_NAME_OBJECTIVE_POWER)
        info.vendor = props.get(openslide.PROPERTY_NAME_VENDOR)
        info.quickhash = props.get(openslide.PROPERTY_NAME_QUICKHASH1)
        info.associated = sorted(osr.associated_images.keys())
        info.properties = {k: str(v) for k, v in props.items()}
        bx = props.get(openslide.PROPERTY_NAME_BOUNDS_X)
        if bx is not None:
            info.bounds = Bounds(
                int(bx), int(props.get(openslide.PROPERTY_NAME_BOUNDS_Y, 0)),
                int(props.get(openslide.PROPERTY_NAME_BOUNDS_WIDTH, info.width)),
                int(props.get(openslide.PROPERTY_NAME_BOUNDS_HEIGHT, info.height)),
            )
    except (openslide.OpenSlideError, ValueError) as exc:
        info.error = _describe_open_error(exc)
    finally:
        osr.close()
    return info


def _describe_open_error(exc: BaseException) -> str:
    if isinstance(exc, openslide.OpenSlideUnsupportedFormatError):
        return "not a slide format OpenSlide can read"
    text = str(exc).strip()
    # OpenSlide messages can carry the absolute path; keep only what the user can act on.
    return f"cannot read slide: {text.split(': ')[-1] if text else type(exc).__name__}"


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
        self._entries: dict[str, _Entry] = {}
        self._infos: dict[str, SlideInfo] = {}
        self._scanned_at = -math.inf
        self._scan_lock = threading.Lock()
        self._handles: LRU[tuple[str, int, int], SlideHandle] = LRU(
            max(1, handle_cache_size), on_evict=lambda h: h.close()
        )
        self._tiles: LRU[str, Tile] = LRU(max(0, tile_cache_bytes), weigh=lambda t: len(t.data) + 200)
        self._rendered = rendered_tiles
        self._open_lock = threading.Lock()
        self._disk_cache = self._load_disk_cache()

    # -- scanning ----------------------------------------------------------------------------------

    def _walk(self) -> Iterator[_Entry]:
        root = self.root
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            # A MIRAX slide's data folder (same stem as the .mrxs file) belongs to that slide.
            mrxs_stems = {Path(f).stem for f in filenames if f.lower().endswith(".mrxs")}
            dirnames[:] = sorted(d for d in dirnames if d not in mrxs_stems and not d.startswith("."))
            dicom: list[str] = []
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                stem, suffix = os.path.splitext(name)
                suffix = suffix.lower()
                if suffix not in SLIDE_EXTENSIONS or stem.endswith(OVERLAY_SUFFIX):
                    continue
                path = here / name
                # os.walk does not follow directory links, so only a file link can leave the root
                if os.path.islink(path) and not self._inside_root(path):
                    continue
                if suffix == ".dcm":
                    dicom.append(name)
                    continue
                rel = path.relative_to(root).as_posix()
                yield _Entry(rel, path, path)
            if dicom:
                # One DICOM series per directory: its id is the directory; OpenSlide opens the
                # series from any of its files, so open the first that is a WSI instance.
                rel_dir = here.relative_to(root).as_posix()
                first = here / dicom[0]
                readable = (here / n for n in dicom if openslide.OpenSlide.detect_format(str(here / n)))
                chosen = next(readable, first)
                yield _Entry(rel_dir if rel_dir != "." else dicom[0], chosen, chosen)

    def _inside_root(self, path: Path) -> bool:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        return real == self.root or self.root in real.parents

    def scan(self, force: bool = False) -> list[SlideInfo]:
        """Rescan the root (at most every two seconds unless *force*) and return every slide."""
        with self._scan_lock:
            if not force and time.monotonic() - self._scanned_at < _RESCAN_INTERVAL_S:
                return [self._infos[k] for k in self._entries]
            entries: dict[str, _Entry] = {}
            infos: dict[str, SlideInfo] = {}
            dirty = False
            for entry in self._walk():
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
                self._save_disk_cache()
            return [infos[k] for k in entries]

    def _load_disk_cache(self) -> dict[str, SlideInfo]:
        if self._cache_file is None:
            return {}
        try:
            data = json.loads(self._cache_file.read_text(encoding="utf-8"))
            if data.get("version") != _METADATA_CACHE_VERSION or data.get("root") != str(self.root):
                return {}
            return {k: SlideInfo.from_json(v) for k, v in data["slides"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _save_disk_cache(self) -> None:
        if self._cache_file is None:
            return
        payload = {"version": _METADATA_CACHE_VERSION, "root": str(self.root),
                   "slides": {k: v.to_json() for k, v in self._disk_cache.items()}}
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            owner = f"{os.getpid()}.{threading.get_ident()}"
            tmp = self._cache_file.with_name(f".{self._cache_file.name}.{owner}")
            tmp.write_text(json.dumps(payload), encoding="utf-8")
            os.replace(tmp, self._cache_file)
        except OSError:
            pass  # the cache only saves time; a read-only data dir must not break listing

    # -- lookups -----------------------------------------------------------------------------------

    def _entry(self, slide_id: str) -> _Entry:
        if not _plausible_id(slide_id):
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
                if not self._inside_root(entry.open_path):
                    raise SlideNotFoundError("no such slide")
                try:
                    handle = SlideHandle(entry.open_path, info, self.options)
                except (openslide.OpenSlideError, OSError, ValueError) as exc:
                    raise SlideUnreadableError(f"slide {slide_id!r}: {_describe_open_error(exc)}") from None
                self._handles.put(key, handle)
        return handle

    def _drop(self, slide_id: str) -> None:
        info = self._infos.get(slide_id)
        if info is not None:
            self._handles.pop((slide_id, info.size, info.mtime_ns))

    # -- tiles and images ----------------------------------------------------------------------------

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
        if cached is not None:
            return cached
        key = etag.strip('"')
        data = self._rendered.get(key) if self._rendered is not None else None
        if data is None:
            handle = self.handle(slide_id)
            try:
                data, stored = handle.tile(level, col, row, fmt)
            except openslide.OpenSlideError as exc:
                self._drop(slide_id)
                raise SlideUnreadableError(f"slide {slide_id!r}: {_describe_open_error(exc)}") from None
            if not stored and self._rendered is not None:
                self._rendered.put(key, data)
        tile = Tile(data, _MEDIA_TYPES[fmt], etag)
        self._tiles.put(etag, tile)
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
            data = handle.thumbnail(max_px)
        except openslide.OpenSlideError as exc:
            self._drop(slide_id)
            raise SlideUnreadableError(f"slide {slide_id!r}: {_describe_open_error(exc)}") from None
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
            image = handle.osr.associated_images[name]
        except (openslide.OpenSlideError, KeyError):
            self._drop(slide_id)
            raise SlideUnreadableError(f"slide {slide_id!r}: cannot read associated image {name!r}") from None
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "PNG")
        tile = Tile(buf.getvalue(), "image/png", etag)
        self._tiles.put(etag, tile)
        return tile

    def close(self) -> None:
        """Close every open slide and forget cached tiles."""
        self._handles.clear()
        self._tiles.clear()


_MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}


def _plausible_id(slide_id: str) -> bool:
    if not slide_id or "\0" in slide_id or "\\" in slide_id or slide_id.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in slide_id.split("/"))


# --------------------------------------------------------------------------------------------------
# One open slide


def _to_srgb(image: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    converted = ImageCms.applyTransform(image, transform)
    assert converted is not None  # None only when converting in place
    return converted


def _thumbnail_size(src: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The size ``PIL.Image.thumbnail(box)`` gives an image of size *src* (aspect preserved)."""
    width, height = src
    x, y = box
    if x >= width and y >= height:
        return src
    aspect = width / height

    def round_aspect(number: float, key: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if x / y >= aspect:
        x = round_aspect(y * aspect, key=lambda n: abs(aspect - n / y))
    else:
        y = round_aspect(x / aspect, key=lambda n: 0 if n == 0 else abs(aspect - x / n))
    return x, y


class SlideHandle:
    """An open slide with its Deep Zoom generator, stored-tile index and derived levels."""

    def __init__(self, path: Path, info: SlideInfo, options: TileOptions) -> None:
        self.path = path
        self.info = info
        self.osr = openslide.OpenSlide(str(path))
        self._options = options
        self._transform = self._color_transform()
        stored = self._stored_directories()
        tile_size, overlap = options.tile_size, options.overlap
        stored_size = next(iter({d.tile_width for d in stored.values()} or [0])) if stored else 0
        if tile_size <= 0:
            tile_size = stored_size if stored_size and len({d.tile_width for d in stored.values()}) == 1 \
                else _DEFAULT_TILE_SIZE
        if overlap < 0:
            overlap = 0 if tile_size == stored_size else _DEFAULT_OVERLAP
        self.dz = DeepZoomGenerator(self.osr, tile_size=tile_size, overlap=overlap,
                                    limit_bounds=options.limit_bounds)
        offset = self._l0_offset()
        width, height = self.dz.level_dimensions[-1]
        self.geometry = DeepZoomGeometry(tile_size, overlap, options.format, width, height,
                                         self.dz.level_count, offset[0], offset[1])
        self._stored_by_dz_level = self._map_stored_levels(stored) if overlap == 0 else {}
        self._derived_plan = self._plan_derived_levels()
        self._sources: dict[tuple[int, int], Image.Image] = {}
        self._level_images: dict[int, Image.Image] = {}
        self._derived_lock = threading.Lock()

    def close(self) -> None:
        """Release the OpenSlide handle."""
        self.osr.close()

    @property
    def stored_tile_levels(self) -> frozenset[int]:
        """Deep Zoom levels whose interior tiles are sent as stored JPEG bytes, without decoding."""
        return frozenset(self._stored_by_dz_level)

    @property
    def derived_levels(self) -> frozenset[int]:
        """Deep Zoom levels served from a cached source level (the slide lacks them, or they are small)."""
        return frozenset(self._derived_plan)

    # -- setup ---------------------------------------------------------------------------------------

    def _l0_offset(self) -> tuple[int, int]:
        if not self._options.limit_bounds:
            return (0, 0)
        props = self.osr.properties
        return (int(props.get(openslide.PROPERTY_NAME_BOUNDS_X, 0)),
                int(props.get(openslide.PROPERTY_NAME_BOUNDS_Y, 0)))

    def _color_transform(self) -> Any:
        if not self._options.color_management:
            return None
        profile = self.osr.color_profile
        if profile is None:
            return None
        try:
            intent = ImageCms.getDefaultIntent(profile)
            return ImageCms.buildTransform(profile, _SRGB_PROFILE, "RGB", "RGB", ImageCms.Intent(intent))
        except (ImageCms.PyCMSError, OSError):
            return None  # an unusable profile: show the pixels as they are

    def _stored_directories(self) -> dict[int, TiledDirectory]:
        """Slide level → its TIFF directory, when every stored tile can be sent as a JPEG file."""
        if self.info.vendor not in _STORED_TILE_VENDORS or self._transform is not None:
            return {}
        try:
            directories = read_tiled_directories(self.path)
        except (TiffFormatError, OSError):
            return {}
        result: dict[int, TiledDirectory] = {}
        for level, (width, height) in enumerate(self.osr.level_dimensions):
            for directory in directories:
                if (directory.width, directory.height) != (width, height):
                    continue
                if (directory.compression == COMPRESSION_JPEG and directory.samples_per_pixel == 3
                        and directory.planar_config == 1
                        and directory.photometric in (PHOTOMETRIC_RGB, PHOTOMETRIC_YCBCR)
                        and directory.tile_width == directory.tile_height):
                    result[level] = directory
                break
        return result

    def _map_stored_levels(self, stored: dict[int, TiledDirectory]) -> dict[int, TiledDirectory]:
        """Deep Zoom level → stored directory, where DZ tiles are exactly the stored tiles.

        A stored level of the same size as a Deep Zoom level has the same pixel grid. OpenSlide
        averages the x and y downsamples of a level whose size was rounded up (100,000 / 1,563 and
        80,000 / 1,250 give 63.99, not 64), so DeepZoomGenerator would re-read such a level at a
        1.0002 scale -- a decode, a sub-pixel blur and a re-encode per tile; the stored tile is the
        pixels themselves.
        """
        dz = self.dz
        if self.geometry.offset_x or self.geometry.offset_y:
            return {}
        by_size = {(d.width, d.height): d for d in stored.values() if d.tile_width == self.geometry.tile_size}
        result = {}
        for dz_level in range(dz.level_count):
            width, height = dz.level_dimensions[dz_level]
            directory = by_size.get((width, height))
            if directory is not None:
                result[dz_level] = directory
        return result

    def _plan_derived_levels(self) -> dict[int, tuple[int, int]]:
        """Deep Zoom level → (slide level, reduction) for levels that read 4x or more pixels per tile.

        Such a level is served from its slide level kept decoded in memory (reduced by a power of two
        when the level is over the DERIVED_LEVEL_MAX_MPX budget), so each tile is a crop plus the
        generator's own resampling instead of a fresh read of a large region.
        """
        dz = self.dz
        budget = self._options.derived_level_max_mpx * 1_000_000
        plan: dict[int, tuple[int, int]] = {}
        for dz_level in range(dz.level_count):
            l_z = dz._l_z_downsamples[dz_level]  # noqa: SLF001
            if l_z < 2:
                continue
            slide_level = dz._slide_from_dz_level[dz_level]  # noqa: SLF001
            l_width, l_height = dz._l_dimensions[slide_level]  # noqa: SLF001
            reduction = 1
            while math.ceil(l_width / reduction) * math.ceil(l_height / reduction) > budget:
                reduction *= 2
            # a reduced source must still hold at least the tile's own resolution
            if reduction == 1 or reduction <= l_z:
                plan[dz_level] = (slide_level, reduction)
        return plan

    # -- tiles ---------------------------------------------------------------------------------------

    def tile(self, level: int, col: int, row: int, fmt: TileFormat) -> tuple[bytes, bool]:
        """The encoded Deep Zoom tile (level, col, row), and whether it is a stored JPEG sent as it is
        (cheap to read again) rather than rendered (decoded and encoded)."""
        dz = self.dz
        if not 0 <= level < dz.level_count:
            raise TileNotFoundError(f"no level {level}: this slide has levels 0-{dz.level_count - 1}")
        cols, rows = dz.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileNotFoundError(f"no tile {col}_{row} at level {level}: the grid is {cols}x{rows}")
        if fmt == "jpeg":
            data = self._stored_tile(level, col, row)
            if isinstance(data, bytes):
                return data, True
            if data is not None:
                return self._encode(data, fmt), False
        if level in self._derived_plan:
            image = self._derived_tile(level, col, row)
        else:
            image = dz.get_tile(level, (col, row))
        return self._encode(image, fmt), False

    def _stored_tile(self, level: int, col: int, row: int) -> bytes | Image.Image | None:
        """The stored JPEG of a tile of a stored level, or for an edge tile its decoded, cropped pixels."""
        directory = self._stored_by_dz_level.get(level)
        if directory is None:
            return None
        size = self.geometry.tile_size
        z_width, z_height = self.dz.level_dimensions[level]
        offset, count = directory.tile_extent(col, row)
        if count <= 0 or count > 64 << 20:
            return None
        with open(self.path, "rb") as f:
            raw = os.pread(f.fileno(), count, offset)
        if len(raw) != count:
            raise openslide.OpenSlideError("truncated tile data")
        data = assemble_jpeg(directory, raw)
        content = (min(size, z_width - col * size), min(size, z_height - row * size))
        if data is None or content == (size, size):
            return data
        # Edge tiles are padded in the file but cropped in Deep Zoom: decode (libjpeg-turbo, as
        # OpenSlide does) and crop, rather than a region read through OpenSlide.
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB").crop((0, 0, *content))
        except (OSError, ValueError):
            return None

    def _derived_tile(self, level: int, col: int, row: int) -> Image.Image:
        """The generator's tile, replayed on the cached source level instead of a slide read.

        Levels at least 2x smaller than their source are built whole, once, with the generator's own
        resampling, and their tiles are crops: a zoomed-out tile then costs a crop and an encode
        instead of a resampling of its whole source region (the full slide for the smallest levels).
        """
        slide_level, reduction = self._derived_plan[level]
        (l0_location, _, l_size), z_size = self.dz._get_tile_info(level, (col, row))  # noqa: SLF001
        whole = self._level_image(level)
        if whole is not None and self.dz.level_tiles[level] == (1, 1):
            return whole
        if whole is not None:
            size, overlap = self.geometry.tile_size, self.geometry.overlap
            left, top = col * size - (overlap if col else 0), row * size - (overlap if row else 0)
            tile = whole.crop((left, top, left + z_size[0], top + z_size[1]))
            out_size = _thumbnail_size(l_size, z_size)  # the generator keeps the region's aspect ratio
            return tile if out_size == z_size else tile.resize(out_size, Image.Resampling.LANCZOS)
        source = self._source_level(slide_level, reduction)
        l_downsample = self.osr.level_downsamples[slide_level]
        offset = self._l0_offset()
        # read_region(l0_location, slide_level, l_size), in source pixels; OpenSlide places a level
        # with a non-integer downsample at a fractional offset, with bilinear filtering.
        l_left = (l0_location[0] - offset[0]) / l_downsample
        l_top = (l0_location[1] - offset[1]) / l_downsample
        if reduction == 1:
            if l_left.is_integer() and l_top.is_integer():
                tile = source.crop((int(l_left), int(l_top), int(l_left) + l_size[0], int(l_top) + l_size[1]))
            else:
                tile = source.transform(l_size, Image.Transform.AFFINE, (1, 0, l_left, 0, 1, l_top),
                                        Image.Resampling.BILINEAR, fillcolor=self._background())
            tile.thumbnail(z_size, Image.Resampling.LANCZOS)  # exactly what the generator does
            return tile
        box = (l_left / reduction, l_top / reduction,
               (l_left + l_size[0]) / reduction, (l_top + l_size[1]) / reduction)
        out_size = _thumbnail_size(l_size, z_size)
        return source.resize(out_size, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)

    def _whole_level_scale(self, level: int) -> float | None:
        """Source px per *level* px when the level is built whole (derived, 2x+ smaller than its source)."""
        slide_level, reduction = self._derived_plan[level]
        l_z = self.dz._l_z_downsamples[level]  # noqa: SLF001 - slide-level px per level px
        # Only whole-pixel mappings: with a fractional downsample the generator's tiles each start at
        # their own sub-pixel offset, which one resampling of the whole level would not reproduce.
        if l_z / reduction < 2 or not float(l_z).is_integer() \
                or not float(self.osr.level_downsamples[slide_level]).is_integer():
            return None
        return l_z / reduction

    def _level_image(self, level: int) -> Image.Image | None:
        """The whole Deep Zoom *level*, when :meth:`_whole_level_scale` allows it.

        The first request builds every such level of the same source at once, so that only one tile
        ever waits: the source is box-halved step by step and each level is resampled from the
        halving just above it (what Image.thumbnail's reducing_gap does, without a pass over the
        whole source per level).
        """
        image = self._level_images.get(level)
        if image is not None or self._whole_level_scale(level) is None:
            return image
        key = self._derived_plan[level]
        source = self._source_level(*key)
        with self._derived_lock:
            if level not in self._level_images:
                levels = {lv: self._whole_level_scale(lv) for lv, planned in self._derived_plan.items()
                          if planned == key}
                halvings = {1: source}
                for lv, scale in sorted(levels.items(), key=lambda item: item[1] or 0):
                    if scale is None or lv in self._level_images:
                        continue
                    factor = 1
                    while factor * 4 <= scale:  # leave a factor of 2 to 4 to Lanczos
                        if factor * 2 not in halvings:
                            halvings[factor * 2] = halvings[factor].reduce(2)
                        factor *= 2
                    self._level_images[lv] = self._build_level(lv, source, scale, halvings[factor], factor)
            return self._level_images[level]

    def _build_level(self, level: int, source: Image.Image, scale: float, halved: Image.Image,
                     factor: int) -> Image.Image:
        """Deep Zoom *level* resampled from *source* (*scale* source px per level px) as the generator would.

        The generator maps every tile's region at *scale*, except the last column and row of tiles,
        which it stretches over what is left of the source; so the level is built in up to four
        pieces, each with its own mapping, and each with Image.thumbnail's resampling (a box
        reduction, then Lanczos). The interior piece starts from *halved* (*source* box-reduced by
        *factor*), the same box reduction done once; the edge pieces, with their uneven stretch and
        the source's partial last pixels, start from *source* itself.
        """
        width, height = self.dz.level_dimensions[level]
        cols, rows = self.dz.level_tiles[level]
        if (cols, rows) == (1, 1):
            # one tile: the generator shrinks the whole source into it, keeping the aspect ratio
            (_, _, l_size), z_size = self.dz._get_tile_info(level, (0, 0))  # noqa: SLF001
            box: tuple[float, float, float, float] = (
                0, 0, min(source.width, width * scale), min(source.height, height * scale)
            )
            return source.resize(_thumbnail_size(l_size, z_size), Image.Resampling.LANCZOS, box=box,
                                 reducing_gap=2.0)
        size, overlap = self.geometry.tile_size, self.geometry.overlap
        x_split = max(0, (cols - 1) * size - overlap)
        y_split = max(0, (rows - 1) * size - overlap)
        image = Image.new("RGB", (width, height))
        for x0, x1 in ((0, x_split), (x_split, width)):
            for y0, y1 in ((0, y_split), (y_split, height)):
                if x1 <= x0 or y1 <= y0:
                    continue
                if x1 == x_split and y1 == y_split:
                    base, base_scale = halved, scale / factor
                else:
                    base, base_scale = source, scale
                box = (x0 * base_scale, y0 * base_scale,
                       min(base.width, x1 * base_scale), min(base.height, y1 * base_scale))
                piece = base.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)
                image.paste(piece, (x0, y0))
        return image

    def _source_level(self, slide_level: int, reduction: int) -> Image.Image:
        key = (slide_level, reduction)
        image = self._sources.get(key)
        if image is None:
            with self._derived_lock:
                image = self._sources.get(key)
                if image is None:
                    image = self._read_level(slide_level, reduction)
                    self._sources[key] = image
        return image

    def _read_level(self, slide_level: int, reduction: int) -> Image.Image:
        """The bounds area of a slide level on the background colour, box-reduced by *reduction*.

        Read in strips of at most ~16 Mpx so that memory stays bounded for large levels.
        """
        dz = self.dz
        l_width, l_height = dz._l_dimensions[slide_level]  # noqa: SLF001
        l_downsample = self.osr.level_downsamples[slide_level]
        offset = self._l0_offset()
        background = self._background()
        out = Image.new("RGB", (math.ceil(l_width / reduction), math.ceil(l_height / reduction)), background)
        strip = max(reduction, (16_000_000 // max(1, l_width)) // reduction * reduction)
        for l_top in range(0, l_height, strip):
            rows = min(strip, l_height - l_top)
            region = self.osr.read_region(
                (offset[0], offset[1] + int(l_top * l_downsample)), slide_level, (l_width, rows)
            )
            flat = Image.new("RGB", (math.ceil(l_width / reduction) * reduction,
                                     math.ceil(rows / reduction) * reduction), background)
            flat.paste(region, (0, 0), mask=region)
            out.paste(flat.reduce(reduction) if reduction > 1 else flat, (0, l_top // reduction))
        return out

    def _background(self) -> str:
        return "#" + self.osr.properties.get(openslide.PROPERTY_NAME_BACKGROUND_COLOR, "ffffff")

    def _encode(self, image: Image.Image, fmt: TileFormat) -> bytes:
        if self._transform is not None:
            image = _to_srgb(image, self._transform)
        buf = io.BytesIO()
        if fmt == "png":
            image.save(buf, "PNG", compress_level=1)
        else:
            image.save(buf, "JPEG", quality=self._options.quality)
        return buf.getvalue()

    def thumbnail(self, max_px: int) -> bytes:
        """A JPEG of the image space (bounds region with limit_bounds), fitting *max_px* square."""
        dz = self.dz
        # The coarsest Deep Zoom level at least max_px on its long side (or the deepest level),
        # read like one big tile of that level, then shrunk.
        level = next((lv for lv in range(dz.level_count) if max(dz.level_dimensions[lv]) >= max_px),
                     dz.level_count - 1)
        z_width, z_height = dz.level_dimensions[level]
        downsample = 2 ** (dz.level_count - 1 - level)
        slide_level = self.osr.get_best_level_for_downsample(downsample)
        l_downsample = self.osr.level_downsamples[slide_level]
        l_width, l_height = dz._l_dimensions[slide_level]  # noqa: SLF001
        l_size = (min(l_width, math.ceil(z_width * downsample / l_downsample)),
                  min(l_height, math.ceil(z_height * downsample / l_downsample)))
        planned = self._derived_plan.get(level)
        if planned is not None and planned[0] == slide_level:
            reduction = planned[1]
            source = self._source_level(slide_level, reduction)
            image = source.crop((0, 0, math.ceil(l_size[0] / reduction), math.ceil(l_size[1] / reduction)))
        else:
            region = self.osr.read_region(self._l0_offset(), slide_level, l_size)
            image = Image.new("RGB", region.size, self._background())
            image.paste(region, mask=region)
        image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
        if self._transform is not None:
            image = _to_srgb(image, self._transform)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85)
        return buf.getvalue()
