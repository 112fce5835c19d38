"""The annotation commands: ``wsi-viewer convert`` and ``wsi-viewer info``."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from viewer.cli.common import print_warnings, slide_info, slide_mpp
from viewer.cli.reading import (
    ANNOTATION_FORMATS,
    add_frame_options,
    annotation_format,
    geojson_module,
    load_annotations,
    mpp_pair,
    ndpa_frame_from_args,
)
from viewer.errors import InvalidInputError

if TYPE_CHECKING:
    import argparse

    from viewer.annotations.model import AnnotationSet
    from viewer.annotations.ndpa import NdpaFrame


def add_convert(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert annotations between ASAP XML, GeoJSON, ImageScope XML and NDPA",
        description="Convert IN to OUT. Formats come from --from/--to, or from the extension: .xml is "
        "ASAP XML (reading: ASAP or Aperio ImageScope XML, told apart by the root element; writing "
        "ImageScope needs --to imagescope), .geojson/.json GeoJSON, .ndpa Hamamatsu NDPA (which needs "
        "--slide, or --offset-nm, --mpp and --size). XML to XML rewrites the file exactly as ASAP would "
        "save it. OUT is written atomically: on any error nothing is left behind and an existing OUT is "
        "untouched.",
    )
    parser.add_argument("input", metavar="IN", help="ASAP XML, ImageScope XML, GeoJSON or NDPA file")
    parser.add_argument("output", metavar="OUT", help="file to write (.xml, .geojson, .json or .ndpa)")
    parser.add_argument("--from", dest="from_format", choices=ANNOTATION_FORMATS, help="format of IN")
    parser.add_argument("--to", dest="to_format", choices=ANNOTATION_FORMATS, help="format of OUT")
    frame = parser.add_mutually_exclusive_group()
    frame.add_argument(
        "--offset", nargs=2, type=float, metavar=("DX", "DY"),
        help="GeoJSON frame origin in slide space (level-0 px): subtracted when writing GeoJSON, "
        "added when reading it (default 0 0)",
    )
    frame.add_argument(
        "--slide", metavar="SLIDE", help="the slide: GeoJSON frame origin as QuPath takes it (its "
        "openslide.bounds-x/-y; 0 0 for slides without bounds), the NDPA frame (an NDPI's offsets, "
        "pixel size and size) and ImageScope's MicronsPerPixel",
    )
    add_frame_options(parser, mpp=True)
    parser.add_argument(
        "--qupath", action="store_true",
        help="write GeoJSON numbers and ring orientation as QuPath exports them (drops the ASAP extras "
        "that make our own GeoJSON lossless)",
    )
    parser.set_defaults(handler=_convert)


def _convert(args: argparse.Namespace) -> int:
    from viewer.annotations.asap import write_asap
    from viewer.atomicfile import write_atomic

    out_format = args.to_format or annotation_format(args.output)
    if args.from_format is None:
        annotation_format(args.input, reading=True)  # refuse an unknown input type before any work
    if args.slide is not None and (args.offset_nm is not None or args.size is not None):
        raise InvalidInputError("--slide gives the NDPA frame: do not also pass --offset-nm or --size")
    mpp = mpp_pair(args.mpp)
    slide = slide_info(args.slide) if args.slide is not None else None
    offset: tuple[float, float] = (0.0, 0.0)
    if args.offset is not None:
        offset = (args.offset[0], args.offset[1])
    elif slide is not None:
        offset = geojson_module().qupath_offset(slide)
    frames: list[NdpaFrame] = []

    def frame() -> NdpaFrame:  # made once, and only when NDPA is read or written
        if not frames:
            frames.append(ndpa_frame_from_args(args, slide))
        return frames[0]

    warnings: list[str] = []
    aset = load_annotations(args.input, warnings, offset, fmt=args.from_format, ndpa_frame=frame)
    if out_format == "asap":
        data = write_asap(aset)
    elif out_format == "imagescope":
        from viewer.annotations.imagescope import write_imagescope

        if mpp is None and slide is not None and slide.mpp_x:
            mpp = (float(slide.mpp_x), float(slide.mpp_y or slide.mpp_x))
        data = write_imagescope(aset, mpp=mpp[0] if mpp else None, warnings=warnings)
    elif out_format == "ndpa":
        from viewer.annotations.ndpa import write_ndpa

        data = write_ndpa(aset, frame(), warnings=warnings)
    else:
        aset.validate()
        geojson = geojson_module()
        data = geojson.dumps(geojson.to_geojson(aset, offset=offset, qupath=args.qupath))
    try:
        write_atomic(args.output, data)
    except OSError as exc:
        raise InvalidInputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print_warnings("convert", warnings)
    print(
        f"{args.output}: {_plural(len(aset.annotations), 'annotation')}, "
        f"{_plural(len(aset.groups), 'group')}, {_plural(aset.vertex_count(), 'vertex', 'vertices')}"
    )
    return 0


def add_info(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "info",
        help="summarise an annotation file: counts, groups, areas, CAMELYON categories",
        description="Print counts, groups, ASAP's areas and, when the pixel size is known, areas in "
        "um2/mm2 and CAMELYON metastasis categories (by longest diameter) of an ASAP XML, ImageScope "
        "XML, GeoJSON or NDPA file (NDPA needs --slide, or --offset-nm, --mpp and --size).",
    )
    parser.add_argument("file", metavar="FILE", help="ASAP XML, ImageScope XML, GeoJSON or NDPA file")
    parser.add_argument("--from", dest="from_format", choices=ANNOTATION_FORMATS, help="format of FILE")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--mpp", type=float, metavar="X", help="microns per pixel (level 0, square pixels)")
    scale.add_argument("--slide", metavar="SLIDE", help="slide file to read microns per pixel (and the "
                       "NDPA frame) from")
    add_frame_options(parser, mpp=False)
    parser.add_argument("--annotations", action="store_true", help="also list every annotation")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=_info)



def annotation_report(aset: AnnotationSet, mpp: tuple[float, float] | None) -> dict[str, Any]:
    """Counts, groups and ASAP's areas (px2; um2 and CAMELYON categories with *mpp*) as plain JSON."""
    from viewer.annotations import geometry

    um2_per_px2 = mpp[0] * mpp[1] if mpp else None
    types = Counter(a.type for a in aset.annotations)
    report: dict[str, Any] = {
        "annotations": len(aset.annotations),
        "vertices": aset.vertex_count(),
        "types": dict(sorted(types.items())),
        "mpp": list(mpp) if mpp else None,
        "groups": [],
    }

    def recursive_vertices(name: str, seen: frozenset[str]) -> int:
        total = sum(len(a.coordinates) for a in aset.members(name))
        for child in aset.children(name):
            if aset.binds(child) and child.name not in seen:
                total += recursive_vertices(child.name, seen | {child.name})
        return total

    for group in aset.groups:
        # Members and child groups belong to the last group of a name (ASAP's binding): an
        # earlier group sharing the name reports none.
        bound = aset.binds(group)
        area = geometry.asap_group_area(aset, group)
        entry = {
            "name": group.name, "parent": group.parent, "color": group.color,
            "attributes": group.attributes, "annotations": len(aset.members(group.name)) if bound else 0,
            "vertices": recursive_vertices(group.name, frozenset({group.name})) if bound else 0,
            "area_px2": area,
        }
        if um2_per_px2:
            entry["area_um2"] = area * um2_per_px2
        report["groups"].append(entry)
    ungrouped = aset.members(None)
    report["ungrouped"] = {
        "annotations": len(ungrouped),
        "area_px2": float(sum(geometry.asap_area(a.coordinates) for a in ungrouped)),
    }
    tumour = {id(a) for a in geometry.tumour_annotations(aset)} if mpp else set()
    listed = []
    for a in aset.annotations:
        item: dict[str, Any] = {
            "name": a.name, "type": a.type, "group": a.group, "color": a.color,
            "points": len(a.coordinates), "area_px2": geometry.asap_area(a.coordinates),
        }
        if a.comment:
            item["comment"] = a.comment
        if mpp:
            item["area_um2"] = item["area_px2"] * um2_per_px2
            if id(a) in tumour:
                diameter = geometry.longest_diameter(a.coordinates, mpp)
                item["longest_diameter_um"] = diameter
                item["category"] = geometry.metastasis_category(diameter)
        listed.append(item)
    report["annotation_list"] = listed
    if mpp:
        categories = Counter(item["category"] for item in listed if "category" in item)
        report["categories"] = dict(categories)
        report["slide_category"] = geometry.slide_metastasis_category(aset, mpp)
    return report


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _area_text(px2: float, um2: float | None) -> str:
    if um2 is None:
        return f"{px2:.6g} px2"
    return f"{px2:.6g} px2 = {um2:.6g} um2 = {um2 / 1e6:.4g} mm2"


def _info(args: argparse.Namespace) -> int:
    warnings: list[str] = []
    mpp: tuple[float, float] | None = None
    if args.mpp is not None:
        if not (args.mpp > 0 and args.mpp < float("inf")):
            raise InvalidInputError(f"--mpp must be a positive number, got {args.mpp}")
        mpp = (args.mpp, args.mpp)
    elif args.slide:
        mpp = slide_mpp(args.slide)
    aset = load_annotations(
        args.file, warnings, fmt=args.from_format,
        ndpa_frame=lambda: ndpa_frame_from_args(args, slide_info(args.slide) if args.slide else None),
    )
    report = annotation_report(aset, mpp)
    print_warnings("info", warnings)
    if args.json:
        report["file"] = args.file
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    types = ", ".join(f"{name} {count}" for name, count in report["types"].items()) or "none"
    print(f"{args.file}: {_plural(report['annotations'], 'annotation')} ({types}), "
          f"{_plural(report['vertices'], 'vertex', 'vertices')}, {_plural(len(report['groups']), 'group')}")
    if mpp:
        print(f"pixel size: {mpp[0]:.6g} x {mpp[1]:.6g} um/px")
    for g in report["groups"]:
        parent = "top level" if g["parent"] is None else f"in {g['parent']!r}"
        attributes = f", attributes {g['attributes']}" if g["attributes"] else ""
        print(f"group {g['name']!r} ({g['color']}, {parent}{attributes}): "
              f"{_plural(g['annotations'], 'annotation')}, {_plural(g['vertices'], 'vertex', 'vertices')}, "
              f"area {_area_text(g['area_px2'], g.get('area_um2'))}")
    u = report["ungrouped"]
    print(f"ungrouped: {_plural(u['annotations'], 'annotation')}, area "
          f"{_area_text(u['area_px2'], u['area_px2'] * mpp[0] * mpp[1] if mpp else None)}")
    if mpp:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report["categories"].items()))
        counts = counts or "no tumour annotations"
        print(f"CAMELYON categories by longest diameter: {counts}; slide: {report['slide_category']}")
    if args.annotations:
        for i, a in enumerate(report["annotation_list"]):
            extra = ""
            if "category" in a:
                extra = f", longest diameter {a['longest_diameter_um']:.6g} um ({a['category']})"
            group = "ungrouped" if a["group"] is None else f"group {a['group']!r}"
            if "comment" in a:
                extra += f", comment {a['comment']!r}"
            print(f"  [{i}] {a['name']!r} {a['type']} ({group}, {a['color']}): "
                  f"{_plural(a['points'], 'point')}, "
                  f"area {_area_text(a['area_px2'], a.get('area_um2'))}{extra}")
    return 0

