"""The long-lived objects one app (one worker process) shares between requests. No Flask here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from viewer.slides import DiskTileCache, SlideLibrary, TileOptions

if TYPE_CHECKING:
    from viewer.annotations.display import FeatureCache
    from viewer.annotations.summary import SummaryCache
    from viewer.overlays import OverlayLibrary
    from viewer.slide_annotations import SlideAnnotations
    from viewer.store import Store


_T = TypeVar("_T")


class _service(Generic[_T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """Like ``functools.cached_property``, but built once even when threads ask at the same time
    (gunicorn's threaded workers would otherwise open two slide libraries or two stores)."""

    def __init__(self, build: Callable[[Any], _T]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    def __get__(self, owner: Any, cls: type | None = None) -> _T:
        if owner is None:
            return self  # type: ignore[return-value]
        cache = owner.__dict__
        if self._name not in cache:
            with owner._build_lock:  # noqa: SLF001
                if self._name not in cache:
                    cache[self._name] = self._build(owner)
        value: _T = cache[self._name]
        return value


class Services:
    """Built from the settings; each service is created on first use, never at import or start-up."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self.data_dir = Path(self.settings["DATA_DIR"])
        self._build_lock = threading.RLock()  # re-entrant: the slide library needs slide_root

    @_service
    def slide_root(self) -> Path:
        """SLIDE_DIR, or the demo directory in the data dir (see ``viewer.demo``)."""
        if self.settings["SLIDE_DIR"]:
            return Path(self.settings["SLIDE_DIR"])
        from viewer.demo import demo_dir

        return demo_dir(self.data_dir)

    @_service
    def tile_options(self) -> TileOptions:
        """Tile settings as the slide library takes them."""
        s = self.settings
        return TileOptions(
            tile_size=s["TILE_SIZE"], overlap=s["TILE_OVERLAP"], format=s["TILE_FORMAT"],
            quality=s["TILE_QUALITY"], limit_bounds=s["LIMIT_BOUNDS"],
            color_management=s["COLOR_MANAGEMENT"], derived_level_max_mpx=s["DERIVED_LEVEL_MAX_MPX"],
        )

    @_service
    def slides(self) -> SlideLibrary:
        """The slide library (scans lazily on first use)."""
        s = self.settings
        return SlideLibrary(
            self.slide_root,
            cache_file=self.data_dir / "cache" / "slide-metadata.json",
            options=self.tile_options,
            handle_cache_size=s["SLIDE_CACHE_SIZE"],
            tile_cache_bytes=s["TILE_CACHE_MB"] << 20,
            rendered_tiles=(
                DiskTileCache(self.data_dir / "cache" / "tiles", s["RENDERED_TILE_CACHE_MB"] << 20)
                if s["RENDERED_TILE_CACHE_MB"] > 0
                else None
            ),
        )

    @_service
    def store(self) -> Store:
        """The annotation store (DATABASE, or SQLite in the data dir); opened, and migrated, on first use."""
        from viewer.store import Store, database_url

        s = self.settings
        annotation_dir = Path(s["ANNOTATION_DIR"]) if s["ANNOTATION_DIR"] else None
        if annotation_dir is not None and not annotation_dir.is_absolute():
            annotation_dir = self.slide_root / annotation_dir
        return Store(
            database_url(s["DATABASE"], self.data_dir),
            annotation_dir=annotation_dir,
            slide_root=self.slide_root,  # sidecars leaving it (and ANNOTATION_DIR) are ignored
            sidecar_import=s["SIDECAR_IMPORT"],
            sidecar_writeback=s["SIDECAR_WRITEBACK"],
            max_vertices=s["MAX_SET_VERTICES"],
            max_sidecar_bytes=s["ANNOTATION_MAX_MB"] << 20,
            idempotency_retention_s=s["IDEMPOTENCY_RETENTION_S"],
        )

    @_service
    def slide_annotations(self) -> SlideAnnotations:
        """The binding of library slides to their annotation sets (opens the store on first use)."""
        from viewer.slide_annotations import SlideAnnotations

        return SlideAnnotations(self.slides, self.store)

    @_service
    def feature_cache(self) -> FeatureCache:
        """Encoded annotation features of viewport queries, by zoom (see ``viewer.annotations.display``)."""
        from viewer.annotations.display import FeatureCache

        return FeatureCache()

    @_service
    def display_tiles(self) -> DiskTileCache:
        """Display tiles' joined features on disk, shared by the workers (``viewer.annotations.display``)."""
        from viewer.annotations.display import DISPLAY_DISK_CACHE_BYTES

        return DiskTileCache(self.data_dir / "cache" / "display", DISPLAY_DISK_CACHE_BYTES)

    @_service
    def summary_cache(self) -> SummaryCache:
        """Set summaries for the layers panel, by set version (see ``viewer.annotations.summary``)."""
        from viewer.annotations.summary import SummaryCache

        return SummaryCache()

    @_service
    def overlays(self) -> OverlayLibrary:
        """Overlays of the slides: uploads in OVERLAY_DIR, attached likelihood maps (``viewer.overlays``)."""
        from viewer.overlays import OverlayLibrary

        s = self.settings
        root = Path(s["OVERLAY_DIR"]) if s["OVERLAY_DIR"] else self.data_dir / "overlays"
        return OverlayLibrary(
            root, self.data_dir / "cache" / "overlays", self.slides,
            # value tiles: a quarter of the slide tiles' budget (a smooth field encodes small)
            max_mpx=s["OVERLAY_MAX_MPX"], tile_cache_bytes=(s["TILE_CACHE_MB"] << 20) // 4,
        )
