"""Response and form shapes of the overlay API (heatmaps and label maps over a slide), as
``viewer.web.schemas`` describes the rest: ``TypedDict`` shapes turned into JSON Schema for the
OpenAPI document by :func:`viewer.web.schemas.json_schemas` (the component names are the class
names). The heatmap -> polygons request, a pydantic body, stays with the other bodies there."""

from __future__ import annotations

from typing import Annotated, Literal, Required

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12


class OverlayUpload(TypedDict, total=False):
    """A multipart overlay upload: the file (TIFF, .npy, PNG, or CSV of patch scores; its extension
    names the format) and optional fields, each a plain form field."""

    file: Required[bytes]
    name: Annotated[str, Field(description="shown name (default: the file's)")]
    kind: Annotated[Literal["heatmap", "labels"], Field(
        description="heatmap (values; the default) or labels (class ids; the default of PNG palette images)")]
    scale: Annotated[float, Field(gt=0, description=(
        "level-0 slide px per grid cell; default from the shape ratio (the integer or power-of-two "
        "downsample whose ceil or floor of the slide size gives the grid's size)"))]
    origin_x: Annotated[float, Field(description="slide x of the grid's left edge (default 0)")]
    origin_y: Annotated[float, Field(description="slide y of the grid's top edge (default 0)")]
    value_min: Annotated[float, Field(description="value of code 0 (default: from the data type)")]
    value_max: Annotated[float, Field(description="value of the top code (default: from the data type)")]
    classes: Annotated[str, Field(description="labels: comma-separated class names, class 0 first")]
    patch_size: Annotated[int, Field(ge=1, le=1 << 20, description=(
        "CSV x,y,score: patch side in px of patch_level (default 96)"))]
    patch_level: Annotated[int, Field(ge=0, le=64, description="CSV x,y,score: the slide level of x, y")]


class OverlayPoint(TypedDict):
    """A point in slide space (level-0 px)."""

    x: float
    y: float


class OverlayRange(TypedDict):
    """The value of code 0 (min) and of the top code (max) of the value tiles."""

    min: float
    max: float


class OverlaySource(TypedDict):
    """Where the overlay came from."""

    format: Annotated[str, Field(description="tiff, npy, png or csv")]
    filename: str
    dtype: Annotated[str, Field(description="the source's data type: uint8, uint16, float32, ...")]
    attached: Annotated[bool, Field(description=(
        "ASAP's <stem>_likelihood_map.tif beside the slide (shown automatically, not removable here)"))]


class OverlayClassInfo(TypedDict):
    """One class of a label map."""

    value: int
    name: str
    color: Annotated[str, Field(description="#rrggbb")]


class OverlayUrls(TypedDict):
    """Every URL of one overlay."""

    self: Annotated[str, Field(description="GET the descriptor, DELETE the overlay")]
    tiles: Annotated[str, Field(description=(
        "value tile template: replace {level}, {col}, {row} (the slide's Deep Zoom grid)"))]
    value: Annotated[str, Field(description="GET ?x=&y= (slide px): the stored value there")]
    polygons: Annotated[str, Field(description="POST: threshold into a new annotation set")]
    statistics: Annotated[str, Field(description="GET ?set=: max/mean value inside each annotation")]


class OverlayDescriptor(TypedDict):
    """An overlay: a value grid over the slide (cell (i, j) covers slide px [origin.x + i*scale,
    origin.x + (i+1)*scale) x [origin.y + j*scale, ...)), served as value tiles on the slide's Deep
    Zoom grid. u8 tiles are PNG LA (value = min + L/255 (max - min)), u16 tiles PNG RGBA (code =
    R*256 + G, value = min + code/65535 (max - min)); alpha 0 is nodata."""

    id: str
    slide_id: str
    name: str
    kind: Literal["heatmap", "labels"]
    source: OverlaySource
    width: Annotated[int, Field(description="grid columns")]
    height: Annotated[int, Field(description="grid rows")]
    scale: Annotated[float, Field(description="level-0 slide px per grid cell")]
    origin: OverlayPoint
    value_range: OverlayRange
    encoding: Literal["u8", "u16"]
    native_level: Annotated[int, Field(description=(
        "deepest Deep Zoom level worth fetching (finer levels repeat grid cells)"))]
    classes: list[OverlayClassInfo] | None
    version: Annotated[str, Field(description="changes whenever the content does")]
    created: Annotated[str, Field(description="ISO 8601 UTC")]
    source_format: str
    source_filename: str
    source_dtype: str
    attached: bool
    origin_x: float
    origin_y: float
    value_min: float
    value_max: float
    urls: OverlayUrls


class OverlayList(TypedDict):
    """The overlays of a slide: the attached likelihood map first, then uploads by creation."""

    overlays: list[OverlayDescriptor]


class OverlayValue(TypedDict):
    """The stored value at a slide position (null: outside the grid, or nodata)."""

    x: float
    y: float
    value: float | None


class CellStatisticsInfo(TypedDict):
    """The overlay's cells whose centre lies inside one closed annotation (nodata not counted)."""

    max: float | None
    mean: float | None
    cells: int


class OverlayStatistics(TypedDict):
    """Per closed annotation of a set (by annotation id): the overlay's values inside it."""

    overlay: str
    set: int
    set_version: int
    annotations: dict[str, CellStatisticsInfo]
