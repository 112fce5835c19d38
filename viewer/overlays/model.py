"""The overlay descriptors: what an overlay is (``Overlay``), its classes, and the options of an upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

OverlayKind = Literal["heatmap", "labels"]
Encoding = Literal["u8", "u16"]


@dataclass(frozen=True)
class OverlayClass:
    """One class of a label map: its value in the grid, its name and colour (``#rrggbb``)."""

    value: int
    name: str
    color: str

    def to_json(self) -> dict[str, Any]:
        """``{"value", "name", "color"}``."""
        return {"value": self.value, "name": self.name, "color": self.color}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OverlayClass:
        """Inverse of :meth:`to_json`."""
        return cls(int(data["value"]), str(data["name"]), str(data["color"]))


@dataclass(frozen=True)
class Overlay:
    """One overlay of a slide: a value grid laid over slide space (see ``overlays-interfaces``).

    Cell (i, j) of the ``width x height`` grid covers slide area ``[origin_x + i*scale,
    origin_x + (i+1)*scale) x [origin_y + j*scale, ...)``.
    """

    id: str
    slide_id: str
    name: str
    kind: OverlayKind
    source_format: str
    source_filename: str
    source_dtype: str
    attached: bool
    width: int
    height: int
    scale: float
    origin_x: float
    origin_y: float
    value_min: float
    value_max: float
    encoding: Encoding
    native_level: int
    classes: tuple[OverlayClass, ...] | None
    version: str
    created: str

    def to_json(self) -> dict[str, Any]:
        """The descriptor the API sends (the web layer adds ``urls``)."""
        return {
            "id": self.id,
            "slide_id": self.slide_id,
            "name": self.name,
            "kind": self.kind,
            "source": {"format": self.source_format, "filename": self.source_filename,
                       "dtype": self.source_dtype, "attached": self.attached},
            "source_format": self.source_format,
            "source_filename": self.source_filename,
            "source_dtype": self.source_dtype,
            "attached": self.attached,
            "width": self.width,
            "height": self.height,
            "scale": self.scale,
            "origin": {"x": self.origin_x, "y": self.origin_y},
            "origin_x": self.origin_x,
            "origin_y": self.origin_y,
            "value_range": {"min": self.value_min, "max": self.value_max},
            "value_min": self.value_min,
            "value_max": self.value_max,
            "encoding": self.encoding,
            "native_level": self.native_level,
            "classes": None if self.classes is None else [c.to_json() for c in self.classes],
            "version": self.version,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Overlay:
        """Inverse of :meth:`to_json` (reads the flat keys)."""
        classes = data.get("classes")
        return cls(
            id=str(data["id"]), slide_id=str(data["slide_id"]), name=str(data["name"]),
            kind=data["kind"], source_format=str(data["source_format"]),
            source_filename=str(data["source_filename"]), source_dtype=str(data["source_dtype"]),
            attached=bool(data["attached"]), width=int(data["width"]), height=int(data["height"]),
            scale=float(data["scale"]), origin_x=float(data["origin_x"]), origin_y=float(data["origin_y"]),
            value_min=float(data["value_min"]), value_max=float(data["value_max"]),
            encoding=data["encoding"], native_level=int(data["native_level"]),
            classes=None if classes is None else tuple(OverlayClass.from_json(c) for c in classes),
            version=str(data["version"]), created=str(data["created"]),
        )


@dataclass(frozen=True)
class AddOptions:
    """What an upload may state about its file (every field optional)."""

    name: str | None = None
    kind: OverlayKind | None = None  # None: heatmap (labels for PNG palette images or with classes)
    scale: float | None = None  # None: from the shape ratio
    origin_x: float = 0.0
    origin_y: float = 0.0
    value_min: float | None = None
    value_max: float | None = None
    classes: tuple[str, ...] | None = None  # label names, class 0 first
    patch_size: int | None = None  # CSV "x,y,score": patch side in px of patch_level (default 96)
    patch_level: int = 0  # CSV "x,y,score": the slide level the coordinates are in
