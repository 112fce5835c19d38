"""An overlay thresholded into an annotation set: the regions of :mod:`viewer.overlays.contours`,
each measured (area, largest diameter, CAMELYON class as ``wsi-viewer info`` computes them, and the
overlay's max/mean inside from :mod:`viewer.overlays.statistics`). No Flask, no store: the caller
stores the set (the web route and the CLI create it on the slide).

Our annotation model (ASAP's) has no per-annotation attributes, so each region's measures are its
``comment`` (free text, kept through ASAP XML's Comment attribute and GeoJSON), taken when the set
is made; its name is ``region <n>`` (largest first). The regions are the members of one group
named after the overlay and the threshold, whose attributes record how they were made
(``overlay``, ``threshold``, ``tolerance_um``, ``min_area_um2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from viewer.annotations import measures
from viewer.annotations.geometry import metastasis_category
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import InputTooLargeError, ValidationError
from viewer.overlays.contours import Polygons, threshold_polygons
from viewer.overlays.pyramid import ValueField
from viewer.overlays.statistics import annotation_statistics

if TYPE_CHECKING:
    from viewer.services import Services
    from viewer.store import WriteResult
    from viewer.store.sharing import Sharing

#: Most regions one polygons request may make (more: 413 with the count).
MAX_REGIONS = 20_000
#: Most cells contoured at once: a larger map is contoured on its first pyramid level within this
#: (each level halves both sides: cells twice as large; a region's window is a float64 array).
MAX_CONTOUR_CELLS = 1 << 26
#: Colour of the regions' group (drawn over a heatmap's warm colours).
REGION_COLOR = "#00E5FF"


@dataclass(frozen=True)
class PolygonRequest:
    """What to threshold: cells ≥ *threshold* inside; simplification tolerance (µm); smallest
    region or hole kept (µm²)."""

    threshold: float
    tolerance_um: float = 1.0
    min_area_um2: float = 0.0


def default_name(field: ValueField, threshold: float) -> str:
    """The set's (and its group's) name when none is given: ``<overlay name> >= <threshold>``."""
    return f"{field.overlay.name} >= {threshold:g}"[:200]


def check_request(field: ValueField, request: PolygonRequest, mpp: tuple[float, float] | None) -> None:
    """Every problem of *request* for this overlay at once.

    :raises ValidationError: (422) a threshold outside the overlay's value range, a negative or
        non-finite tolerance or area, a slide without µm per pixel.
    """
    o = field.overlay
    problems = []
    p = request.threshold
    if not math.isfinite(p):
        problems.append(f"threshold: must be a finite number, got {p!r}")
    elif not o.value_min <= p <= o.value_max:
        problems.append(
            f"threshold: {p:g} is outside the overlay's value range [{o.value_min:g}, {o.value_max:g}]"
        )
    for name in ("tolerance_um", "min_area_um2"):
        value = getattr(request, name)
        if not (math.isfinite(value) and value >= 0):
            problems.append(f"{name}: must be a finite number >= 0, got {value!r}")
    if mpp is None:
        problems.append("the slide has no µm per pixel (openslide.mpp-x/-y): the tolerance, the minimum "
                        "area and the measures need it")
    if problems:
        raise ValidationError(f"cannot make polygons: {problems[0]}", problems)


def region_polygons(
    field: ValueField,
    request: PolygonRequest,
    mpp: tuple[float, float],
    *,
    max_regions: int = MAX_REGIONS,
    max_vertices: int | None = None,
    max_cells: int = MAX_CONTOUR_CELLS,
) -> Polygons:
    """The regions of the overlay's grid at the request's threshold (slide space): the full grid,
    or for a grid of more than *max_cells* cells its first pyramid level within that
    (:func:`contour_level`).

    :raises InputTooLargeError: (413) more than *max_regions* regions, or more than *max_vertices*
        vertices in all, with the counts.
    """
    o = field.overlay
    level = contour_level(field, max_cells)
    polys = threshold_polygons(
        field.level(level),
        request.threshold,
        scale=o.scale * 2**level,
        origin=(o.origin_x, o.origin_y),
        tolerance_px=request.tolerance_um / max(mpp),
        min_area_px2=request.min_area_um2 / (mpp[0] * mpp[1]),
        max_regions=max_regions,
    )
    vertices = len(polys.points)
    if max_vertices is not None and vertices > max_vertices:
        raise InputTooLargeError(
            f"{len(polys):,} regions with {vertices:,} vertices, over the limit of {max_vertices:,} per "
            "set: raise the threshold, tolerance_um or min_area_um2",
            [f"regions: {len(polys)}", f"vertices: {vertices}", f"limit: {max_vertices}"],
        )
    return polys


def contour_level(field: ValueField, max_cells: int = MAX_CONTOUR_CELLS) -> int:
    """The pyramid level polygons are made on: 0, or the first with at most *max_cells* cells."""
    level = 0
    while level + 1 < field.levels and field.level(level).size > max_cells:
        level += 1
    return level


def region_set(
    field: ValueField, request: PolygonRequest, mpp: tuple[float, float], polys: Polygons, group: str
) -> AnnotationSet:
    """The regions as an annotation set: one Polygon each in group *group*, measured."""
    o = field.overlay
    areas = measures.asap_areas(polys.points, polys.offsets) * (mpp[0] * mpp[1])
    diameters = measures.longest_diameters(polys.points, polys.offsets, mpp)
    annotations = [
        Annotation(f"region {k + 1}", "Polygon", group, REGION_COLOR,
                   [(float(x), float(y)) for x, y in polys.ring(k).tolist()])
        for k in range(len(polys))
    ]
    stats = annotation_statistics(field.level(0), annotations, scale=o.scale, origin=(o.origin_x, o.origin_y))
    for annotation, area, diameter, holes, cells in zip(
        annotations, areas.tolist(), diameters.tolist(), polys.holes.tolist(), stats, strict=True
    ):
        inside = (
            f"max {cells.max:.4g}, mean {cells.mean:.4g} over {cells.cells:,} cells"
            if cells is not None and cells.cells else "no cell centre inside"
        )
        hole_text = f", {holes} hole{'s' if holes != 1 else ''}" if holes else ""
        annotation.comment = (
            f"{metastasis_category(diameter)}: area {area:,.0f} µm²{hole_text}, largest diameter "
            f"{diameter:,.1f} µm; {o.name} {inside} (at threshold {request.threshold:g})"
        )
    attributes = {
        "overlay": o.id,
        "threshold": f"{request.threshold:.17g}",
        "tolerance_um": f"{request.tolerance_um:g}",
        "min_area_um2": f"{request.min_area_um2:g}",
    }
    return AnnotationSet(annotations, [Group(group, None, REGION_COLOR, attributes)])


def unique_name(taken: set[str], wanted: str, limit: int = 200) -> str:
    """*wanted*, or ``wanted (2)``, ``(3)``... the first not in *taken* (a set name the slide lacks),
    shortened to fit *limit* characters with its suffix."""
    if wanted not in taken:
        return wanted
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = wanted[: limit - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def create_region_set(
    services: Services, overlay_id: str, request: PolygonRequest, *, name: str | None = None, who: str = "",
    owner: int | None = None, sharing: Sharing = "edit",
) -> tuple[WriteResult, int]:
    """Threshold overlay *overlay_id* and store its regions as a new set of its slide, by *who*;
    owned by *owner* (shared *sharing*, see ``Store.create_set``); the set is called *name* (default
    :func:`default_name`), made unique on the slide (`` (2)``...: the browser's button sends the
    same name for the same threshold each time). Returns the write
    and the number of regions.

    :raises ValidationError: (422) see :func:`check_request`.
    :raises InputTooLargeError: (413) too many regions or vertices.
    """
    field = services.overlays.field(overlay_id)
    slide_id = field.overlay.slide_id
    info = services.slides.info(slide_id)
    mpp = (info.mpp_x, info.mpp_y) if info.mpp_x and info.mpp_y else None
    check_request(field, request, mpp)
    assert mpp is not None  # check_request refused the request otherwise
    store = services.store
    polys = region_polygons(field, request, mpp, max_vertices=store.max_vertices)
    slide = services.slide_annotations.open(slide_id)
    group = default_name(field, request.threshold)
    name = unique_name({s.name for s in store.list_sets(slide)}, (name or "").strip() or group)
    content = region_set(field, request, mpp, polys, group)
    message = f"{len(polys)} regions of {field.overlay.name} at threshold {request.threshold:g}"
    made = store.create_set(slide, name, who, content, message=message, owner=owner, sharing=sharing)
    return made, len(polys)
