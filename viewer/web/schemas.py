"""Request and response bodies of the HTTP API, each described once (pydantic is imported only here
and in viewer.web.overlay_schemas, the overlay API's shapes).

* **Requests** that are small JSON objects (a group, a set's name, a restore) are pydantic models
  in strict mode: :func:`validate_body` reads one and lists every problem at once.
  Annotation documents (Features, FeatureCollections, ASAP XML) are described here but read by the
  domain readers (``viewer.annotations``), which know the model's rules and report each problem
  with its location.
* **Responses** are ``TypedDict`` shapes: the routes build plain dicts, mypy checks each builder
  against its shape, and nothing is converted per request (a viewport answer of 10^5 features is
  assembled from cached JSON text, see ``viewer.annotations.display``).

:func:`json_schemas` turns any of these types into JSON Schema for the OpenAPI document
(``viewer/web/openapi.py``); the component names are the class names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from Python 3.12

from viewer.errors import InvalidInputError
from viewer.web.overlay_schemas import OverlayDescriptor

# --------------------------------------------------------------------------------------------------
# Errors


class Error(TypedDict):
    """Every error of the API, the tile routes and unknown URLs."""

    error: str
    status: int
    details: list[Any]


class PreconditionFailed(Error):
    """412: the If-Match named no current version; *current* is the object as it is now (a set's
    version number, an annotation's Feature, a group), and the response's ETag is its ETag."""

    current: Any


# --------------------------------------------------------------------------------------------------
# Request bodies (validated)


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


_User = Annotated[str | None, Field(description="Who makes the change (instead of X-User).")]


class GroupIn(_Body):
    """A group as a client sends it (a group it got back, with id and version, is fine too)."""

    name: str
    parent: Annotated[str | None, Field(description="The parent group's name; null: top level.")] = None
    color: Annotated[str, Field(description="#RRGGBB")] = "#64FE2E"
    attributes: dict[str, str] = {}
    user: _User = None


class SetCreate(_Body):
    """An empty set (``{"name"}``); a FeatureCollection body (with these members too) is an upload."""

    name: str | None = None
    user: _User = None


class SetRename(_Body):
    """A set's new name."""

    name: str
    user: _User = None


_Editors = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=200)]


class SharingRequest(_Body):
    """A set's new sharing and/or granted editors (account names; the list replaces the old one)."""

    sharing: Literal["private", "read", "edit"] | None = None
    editors: _Editors | None = None


class SharingAnswer(TypedDict):
    """A set's owner, sharing and granted editors."""

    set: int
    owner: str | None
    sharing: Literal["private", "read", "edit"]
    editors: list[str]


class RestoreRequest(_Body):
    """The version to make current again."""

    version: Annotated[int, Field(ge=0, le=2**31 - 1)]
    user: _User = None


class Upload(BaseModel):
    """A multipart upload: the ASAP XML, ImageScope XML, NDPA (``.ndpa``) or GeoJSON file (its name
    names the new set)."""

    file: bytes


# --------------------------------------------------------------------------------------------------
# Annotation documents (described; read by the domain readers)


class Feature(TypedDict):
    """A GeoJSON Feature in slide space (level-0 px): one annotation. ``properties.asap`` =
    ``{type, group, color}``; ``id`` and ``properties.version`` are set by the server;
    ``properties.name`` is the annotation's name and ``properties.metadata.ANNOTATION_DESCRIPTION``
    its free-text comment (where QuPath keeps an object's description; absent when empty). Uploads
    may be ImageScope XML or NDPA too (a region's ``Text``, a viewstate's ``details`` = the comment)."""

    type: Literal["Feature"]
    id: NotRequired[Any]
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None


class AsapGroup(TypedDict):
    """A group as ASAP stores it (the items of ``asapGroups``)."""

    name: str
    parent: str | None
    color: str
    attributes: dict[str, str]


class Group(AsapGroup):
    """One stored group with its id and its own version (null in history items)."""

    id: int
    version: int | None


class FeatureCollection(TypedDict):
    """A whole set as GeoJSON in slide space: ours (with ``groups`` / ``asapGroups``) or anyone's."""

    type: Literal["FeatureCollection"]
    features: list[Feature]
    groups: NotRequired[list[GroupIn]]
    asapGroups: NotRequired[list[AsapGroup]]


# --------------------------------------------------------------------------------------------------
# Sets, changes, writes


class SetUrls(TypedDict):
    """Every URL of one set."""

    self: str
    asap_xml: str
    annotations: str
    groups: str
    history: str
    diff: str
    restore: str
    export: str
    summary: str
    sharing: str


class Sidecar(TypedDict):
    """The ASAP XML file beside the slide that this set follows."""

    file: Annotated[str, Field(description="its name (never its server path)")]
    error: Annotated[str | None, Field(description="why it was last not read or written")]
    warnings: Annotated[list[str], Field(
        description="what the ASAP reader tolerated in it as last imported (groups sharing a name, "
        "text inside <Coordinates>, decimal commas...), one line each; after a write-back, what "
        "still holds of the file this server wrote")]


class Set(TypedDict):
    """An annotation set (a layer of one slide) without its content."""

    id: int
    slide: str
    name: str
    version: int
    annotation_count: int
    vertex_count: int
    created_at: str
    created_by: str
    updated_at: str
    sidecar: Sidecar | None
    urls: SetUrls
    #: who owns it (None: made before accounts, or under AUTH=none), who reads and edits it
    owner: str | None
    sharing: Literal["private", "read", "edit"]
    editors: list[str]


class SetListUrls(TypedDict):
    """Where to create a set, and the first set as ASAP XML."""

    create: str
    asap_xml: str


class SetList(TypedDict):
    """The annotation sets of a slide, oldest first."""

    slide: str
    sets: list[Set]
    sidecar_error: Annotated[str | None, Field(description="why the sidecar was not imported")]
    urls: SetListUrls


class SetDocumentHead(Set):
    """A set's GeoJSON answer without its features (they follow as text); ``version`` is the
    version shown (its ETag), a past one with ``?version=``."""

    type: Literal["FeatureCollection"]
    groups: list[Group]
    asapGroups: list[AsapGroup]


class SetDocument(SetDocumentHead):
    """The set (or a part of it: ``bbox``) as a GeoJSON FeatureCollection in slide space."""

    features: list[Feature]


class ChangeUrls(TypedDict):
    """The change itself, and the set's state after it (JSON, ASAP XML)."""

    change: str
    state: str
    asap_xml: str


class AnnotationSummary(TypedDict):
    """One annotation of a set's summary: what the layers panel lists, measured by the geometry
    module as ``wsi-viewer info`` measures it (µm values null when the slide has no mpp)."""

    id: int
    version: int
    name: str
    type: str
    group: str | None
    color: str
    comment: Annotated[str | None, Field(description="the annotation's comment, if any")]
    points: int
    bbox: Annotated[list[float], Field(description="x0, y0, x1, y1 in slide px")]
    area_px2: Annotated[float | None, Field(description="ASAP's area (area types only)")]
    area_um2: float | None
    length_px: Annotated[float | None, Field(description="a Measurement's length")]
    length_um: float | None
    max_diameter_um: Annotated[float | None, Field(description="longest diameter of a tumour annotation")]
    camelyon: Annotated[Literal["itc", "micro", "macro"] | None,
                        Field(description="CAMELYON class by longest diameter: macro > 2 mm, micro > 0.2 mm")]


class SetSummary(TypedDict):
    """Every annotation of a set (at its current version), measured."""

    set: int
    version: int
    mpp: Annotated[list[float] | None, Field(description="µm per slide px (x, y), null when unknown")]
    annotations: list[AnnotationSummary]


class Change(TypedDict):
    """One entry of a set's history."""

    version: int
    at: str
    who: str
    kind: str
    message: str
    created: int
    updated: int
    deleted: int
    urls: ChangeUrls


class ChangeItem(TypedDict):
    """What one change did to one object: its Feature or Group before and after (null: absent)."""

    kind: Literal["annotation", "group"]
    id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ChangeDetail(Change):
    """One change with each object before and after it."""

    items: list[ChangeItem]


class History(TypedDict):
    """A page of a set's changes, newest first."""

    set: int
    changes: list[Change]


Diff = TypedDict("Diff", {"set": int, "from": int, "to": int, "items": list[ChangeItem]})
Diff.__doc__ = "Objects added, removed and changed between two versions."


class Write(TypedDict):
    """What every write answers: the set's version after it and the change (null: nothing changed)."""

    set_version: int
    change: Change | None
    sidecar_error: NotRequired[
        Annotated[str, Field(description="the change is kept; the XML file could not follow")]
    ]


class SetWrite(Write):
    """A write of a whole set; uploads and replaces say what their reader tolerated (none for a
    restore or an empty set)."""

    set: Set
    warnings: Annotated[list[str], Field(description="what the document's reader tolerated, as ASAP would")]


class AnnotationWrite(Write):
    """A write of one annotation."""

    annotation: Feature


class GroupWrite(Write):
    """A write of one group."""

    group: Group


class DeleteWrite(Write):
    """A deletion (the history keeps the object)."""

    deleted: int


class SetRenamed(TypedDict):
    """The renamed set."""

    set: Set


# --------------------------------------------------------------------------------------------------
# Slides


class Bounds(TypedDict):
    """The scanned region in slide space (level-0 px)."""

    x: int
    y: int
    width: int
    height: int


class SlideUrls(TypedDict):
    """Every URL of one slide; clients use these, never build URLs."""

    dzi: str
    thumbnail: str
    viewer: str
    info: str
    annotations: Annotated[str, Field(description="the slide's annotation sets (JSON)")]
    annotations_xml: Annotated[str, Field(description="GET / PUT the first set as ASAP XML")]
    overlays: Annotated[str, Field(description="GET the slide's overlays, POST (multipart) one more")]
    associated: NotRequired[dict[str, str]]


class Slide(TypedDict):
    """One slide of the library."""

    id: Annotated[str, Field(description="its path relative to the slide directory, POSIX separators")]
    name: str
    folder: str
    width: Annotated[int, Field(description="level-0 width, px")]
    height: Annotated[int, Field(description="level-0 height, px")]
    level_count: int
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    vendor: str | None
    bounds: Bounds
    associated: list[str]
    annotation_count: Annotated[int, Field(description="annotations over all the slide's sets")]
    set_count: Annotated[int, Field(description="the slide's annotation sets (layers)")]
    overlays: Annotated[list[OverlayDescriptor], Field(description="its heatmaps and label maps")]
    error: NotRequired[Annotated[str, Field(description="present when OpenSlide cannot read the file")]]
    urls: SlideUrls


class PreparationProgress(TypedDict):
    """Where the generation of a slide being prepared is (the built-in demo, see viewer.demo)."""

    stage: Annotated[Literal["starting", "sidecars", "textures", "tiles", "done"], Field(
        description="starting, sidecars (annotations and likelihood map), textures, tiles, done")]
    message: Annotated[str, Field(description="what is being done, for people")]
    percent: Annotated[float, Field(description="0-100, of the whole generation")]
    eta_seconds: Annotated[float | None, Field(description="time left, s; null until there is a rate")]
    level: Annotated[int | None, Field(description="pyramid level being written (0: full resolution)")]
    level_count: int
    tiles_done: int
    tiles_total: int
    started_at: Annotated[float | None, Field(description="Unix time")]
    updated_at: Annotated[float | None, Field(description="Unix time of this report")]


class PreparingSlideUrls(TypedDict):
    """A slide being prepared has only its viewer page (which shows the progress) yet."""

    viewer: str


class PreparingSlide(TypedDict):
    """The built-in demo slide (no SLIDE_DIR) before it is written: the facts known in advance,
    and the generator's progress; no tiles, thumbnail or info until it is an ordinary Slide."""

    id: str
    name: str
    folder: str
    width: Annotated[int, Field(description="level-0 width, px")]
    height: Annotated[int, Field(description="level-0 height, px")]
    level_count: int
    mpp_x: float | None
    mpp_y: float | None
    objective_power: None
    vendor: None
    bounds: Bounds
    associated: list[str]
    status: Annotated[Literal["preparing", "failed"], Field(
        description="preparing: being generated; failed: it stopped (see error), a restart tries again")]
    progress: PreparationProgress
    error: NotRequired[Annotated[str, Field(description="why the preparation failed")]]
    urls: PreparingSlideUrls


class SlideList(TypedDict):
    """Every slide under the slide directory (and the built-in demo while it is prepared)."""

    slides: list[Slide | PreparingSlide]


class DeepZoom(TypedDict):
    """The Deep Zoom grid of the slide's tiles."""

    tile_size: int
    overlap: int
    format: str
    width: int
    height: int
    level_count: int


class ImageToSlide(TypedDict):
    """slide = image + offset: OpenSeadragon image px to level-0 slide px."""

    offset_x: int
    offset_y: int
    scale: float


class SlideDetail(Slide):
    """One slide with every OpenSlide property and its Deep Zoom geometry."""

    level_dimensions: list[list[int]]
    level_downsamples: list[float]
    quickhash: str | None
    properties: dict[str, str]
    deepzoom: NotRequired[DeepZoom]
    image_to_slide: NotRequired[ImageToSlide]


# --------------------------------------------------------------------------------------------------
# Jobs


class JobUrls(TypedDict):
    """Poll, download, cancel."""

    self: str
    result: str
    cancel: str


class Job(TypedDict):
    """A long piece of work (a mask export) and its progress; more members describe what it makes."""

    id: str
    kind: Literal["mask"]
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    percent: Annotated[float, Field(ge=0, le=100)]
    rows_done: Annotated[int, Field(description="level-0 rows of the mask written")]
    rows_total: Annotated[int, Field(description="level-0 rows of the mask")]
    eta_seconds: Annotated[float | None, Field(description="at the rate so far")]
    queue_position: Annotated[int | None, Field(description="1: next to start (queued jobs only)")]
    error: Annotated[str | None, Field(description="why it failed or was cancelled")]
    created_at: str
    started_at: str | None
    finished_at: str | None
    expires_at: Annotated[str | None, Field(description="when the job and its result are deleted")]
    filename: Annotated[str, Field(description="the result's download name")]
    urls: JobUrls


# --------------------------------------------------------------------------------------------------
# Reading bodies, writing schemas


def validate_body(model: type[_Body], body: Any, what: str,
                  error: type[InvalidInputError] = InvalidInputError) -> Any:
    """*body* (parsed JSON) read as *model*; every problem at once in ``details``.

    :raises InvalidInputError: (or *error*, a subclass) naming each member that is wrong.
    """
    try:
        return model.model_validate(body)
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = [_problem(what, e["loc"], e["msg"]) for e in errors]
        raise error(f"invalid {what}: {problems[0]}", problems) from None


def _problem(what: str, location: tuple[int | str, ...], message: str) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
    return f"{what}{where}: {message}"


class _OpenApiSchema(GenerateJsonSchema):
    """JSON Schema as the OpenAPI document shows it: no generated title on every property."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schemas(
    types: Iterable[Any], ref_template: str = "#/components/schemas/{model}"
) -> tuple[list[JsonSchemaValue], dict[str, JsonSchemaValue]]:
    """The JSON Schema of each of *types* (a ``$ref`` for models and TypedDicts) and the
    definitions they refer to, named by class."""
    found = list(types)
    # Request models as they are read (defaults optional), everything else as it is written.
    modes: list[JsonSchemaMode] = [
        "validation" if isinstance(t, type) and issubclass(t, BaseModel) else "serialization" for t in found
    ]
    inputs = [(index, modes[index], TypeAdapter(t).core_schema) for index, t in enumerate(found)]
    refs, definitions = _OpenApiSchema(ref_template=ref_template).generate_definitions(inputs)
    named = {str(name): schema for name, schema in definitions.items()}
    return [refs[(index, modes[index])] for index in range(len(found))], named


# --------------------------------------------------------------------------------------------------
# Heatmap -> polygons (the overlays' own shapes: viewer/web/overlay_schemas.py)


class PolygonsRequest(_Body):
    """Threshold an overlay into a new annotation set of the slide (one polygon per region of cells
    >= threshold, holes joined by zero-width cuts)."""

    threshold: Annotated[float, Field(allow_inf_nan=False, description=(
        "cells with a value >= this are inside; must lie within the overlay's value range"))]
    tolerance_um: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, description=(
        "simplification tolerance in µm (0: every contour point)"))] = 1.0
    min_area_um2: Annotated[float, Field(ge=0, allow_inf_nan=False, description=(
        "regions and holes smaller than this (µm²) are left out"))] = 0.0
    name: Annotated[str | None, Field(
        description="the new set's name (default: '<overlay name> >= <threshold>')")] = None
    user: _User = None


class PolygonsWrite(Write):
    """The annotation set made from an overlay's regions."""

    set: Set
    regions: Annotated[int, Field(description="polygons in the new set")]
