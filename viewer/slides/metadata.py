"""Slide metadata: what is known about a slide without opening it again (``SlideInfo``), read from
OpenSlide once and kept in a JSON file keyed by slide id, size and mtime.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import openslide

_METADATA_CACHE_VERSION = 2


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
        info.error = describe_open_error(exc)
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
        info.error = describe_open_error(exc)
    finally:
        osr.close()
    return info


def describe_open_error(exc: BaseException) -> str:
    """What a user can act on of an OpenSlide error (never the absolute path it may carry)."""
    if isinstance(exc, openslide.OpenSlideUnsupportedFormatError):
        return "not a slide format OpenSlide can read"
    text = str(exc).strip()
    return f"cannot read slide: {text.split(': ')[-1] if text else type(exc).__name__}"


def load_metadata_file(cache_file: Path | None, root: Path) -> dict[str, SlideInfo]:
    """The slides recorded in *cache_file* for *root* ({} when absent, unreadable or another root's)."""
    if cache_file is None:
        return {}
    try:
        data = json.loads(cache_file.read_text(encoding="utf-8"))
        if data.get("version") != _METADATA_CACHE_VERSION or data.get("root") != str(root):
            return {}
        return {k: SlideInfo.from_json(v) for k, v in data["slides"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def save_metadata_file(cache_file: Path | None, root: Path, infos: dict[str, SlideInfo]) -> None:
    """Write *infos* to *cache_file* atomically (best effort: the file only saves time)."""
    if cache_file is None:
        return
    payload = {"version": _METADATA_CACHE_VERSION, "root": str(root),
               "slides": {k: v.to_json() for k, v in infos.items()}}
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        owner = f"{os.getpid()}.{threading.get_ident()}"
        tmp = cache_file.with_name(f".{cache_file.name}.{owner}")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only data dir must not break listing
