"""The ``wsi-viewer`` console script.

Each sub-command is one ``_add_<name>(subparsers)`` function that declares its options and sets
``handler``. Domain errors (:class:`viewer.errors.ViewerError`) become one line on stderr and exit
status 2; a command that writes a file writes it atomically, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viewer import __version__
from viewer.config import SETTINGS, load_settings
from viewer.errors import (
    InvalidInputError,
    NotFoundError,
    SlideUnreadableError,
    ViewerError,
)

if TYPE_CHECKING:
    from viewer.annotations.model import AnnotationSet

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def _option_name(setting_name: str) -> str:
    return "--" + setting_name.lower().replace("_", "-")


def _add_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a slide directory (or the built-in demo) in the browser",
        description="Serve SLIDE_DIR (every slide OpenSlide opens, recursively) under gunicorn. "
        "With no SLIDE_DIR, serve a generated demo slide. Every option is also a setting "
        "(env WSI_VIEWER_<NAME>, or a TOML config file).",
    )
    parser.add_argument("slide_dir", nargs="?", metavar="SLIDE_DIR", help="directory of slides")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (lower-case setting names)")
    for setting in SETTINGS:
        if setting.name == "SLIDE_DIR":
            continue
        if setting.type is bool:
            parser.add_argument(
                _option_name(setting.name), dest=setting.name, action=argparse.BooleanOptionalAction,
                default=None, help=setting.help,
            )
        else:
            parser.add_argument(
                _option_name(setting.name), dest=setting.name, type=setting.type, default=None,
                metavar=setting.name, help=setting.help,
            )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    overrides = {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name, None) is not None}
    if args.slide_dir:
        overrides["SLIDE_DIR"] = args.slide_dir
    settings = load_settings(args.config, overrides=overrides)
    from viewer.server import run_server

    return run_server(settings, config_file=args.config)


# -- annotation commands: convert, info ------------------------------------------------------------

#: The annotation formats, by the names ``--from``/``--to`` take.
ANNOTATION_FORMATS = ("asap", "geojson", "imagescope", "ndpa")
# Output formats by extension; reading, .xml is ASAP or ImageScope by its root element.
_EXTENSIONS = {".xml": "asap", ".geojson": "geojson", ".json": "geojson", ".ndpa": "ndpa"}
_NDPA_FRAME_HELP = (
    "NDPA positions are nanometres from the slide centre, so they need the slide's frame: pass "
    "--slide SLIDE (the NDPI), or --offset-nm DX DY with --mpp X [Y] and --size W H"
)
_ROOT = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*<([A-Za-z_][\w.:-]*)", re.S)

if TYPE_CHECKING:
    from viewer.annotations.ndpa import NdpaFrame

    FrameSource = NdpaFrame | Callable[[], NdpaFrame] | None


def _annotation_format(path: str, *, reading: bool = False) -> str:
    """``asap``, ``geojson`` or ``ndpa`` from the file name's extension (``.geojson.gz`` too when
    *reading*; a read .xml may still turn out to be ImageScope, see :func:`_xml_format`)."""
    name = Path(path)
    if reading and name.suffix.lower() == ".gz":  # QuPath 0.4+ writes .geojson.gz
        name = name.with_suffix("")
    suffix = name.suffix.lower()
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise InvalidInputError(
            f"{path}: unknown annotation format {suffix or '(no extension)'!r}; use .xml (ASAP or "
            "ImageScope), .geojson, .json or .ndpa, or name the format with --from/--to"
        ) from None


def _xml_format(data: bytes) -> str:
    """``asap``, ``imagescope`` or ``ndpa`` from the root element of an XML file (ASAP and ImageScope
    share the .xml extension). Anything else is left to the ASAP reader, which says what it found."""
    head, codec = data[:65536], None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec = "utf-16"
    elif head[:1] == b"\x00":
        codec = "utf-16-be"
    elif head[1:2] == b"\x00":
        codec = "utf-16-le"
    if codec:  # a UTF-16 file: look at its text (rare enough to decode whole)
        data = data.decode(codec, errors="ignore").encode("utf-8")
        head = data[:65536]
    match = _ROOT.match(head.removeprefix(b"\xef\xbb\xbf"))
    root = match.group(1).split(b":")[-1] if match else b""
    if root == b"annotations":
        return "ndpa"
    if root == b"Annotations" and (b"<Regions" in data or b"PartOfGroup" not in data):
        return "imagescope"  # an ASAP bare <Annotations> list always has PartOfGroup
    return "asap"


def _geojson_module() -> Any:
    try:
        from viewer.annotations import geojson
    except ImportError:
        raise InvalidInputError("GeoJSON conversion is not available in this installation") from None
    return geojson


def _load_annotations(
    path: str,
    warnings: list[str],
    offset: tuple[float, float] = (0.0, 0.0),
    *,
    fmt: str | None = None,
    ndpa_frame: FrameSource = None,
) -> AnnotationSet:
    """Read an annotation file into the model, in slide space: ASAP XML, ImageScope XML, GeoJSON or
    NDPA, by *fmt* or else by extension (and, for .xml, by the root element).

    *offset* is the GeoJSON file's origin in slide space (``slide = file + offset``); *ndpa_frame*
    places an NDPA file (a callable is called only when the file is NDPA).
    """
    from viewer.annotations.asap import read_asap, read_limited

    limit = int(load_settings()["ANNOTATION_MAX_MB"]) * 1024 * 1024
    try:
        named = fmt
        fmt = fmt or _annotation_format(path, reading=True)
        data = read_limited(path, limit)
        if named is None and fmt == "asap":  # .xml: ASAP, ImageScope or NDPA, by the root element
            fmt = _xml_format(data)
        if fmt == "asap":
            return read_asap(data, max_bytes=limit, warnings=warnings)
        if fmt == "imagescope":
            from viewer.annotations.imagescope import read_imagescope

            return read_imagescope(data, max_bytes=limit, warnings=warnings)
        if fmt == "ndpa":
            from viewer.annotations.ndpa import read_ndpa

            if ndpa_frame is None:
                raise InvalidInputError(_NDPA_FRAME_HELP)
            frame = ndpa_frame() if callable(ndpa_frame) else ndpa_frame
            return read_ndpa(data, frame, max_bytes=limit, warnings=warnings)
        aset: AnnotationSet = _geojson_module().from_geojson(
            data, offset=offset, max_bytes=limit, warnings=warnings
        )
        return aset
    except ViewerError as exc:
        if not exc.message.startswith(path):
            exc.message = f"{path}: {exc.message}"
        raise


def _mpp_pair(value: float | Sequence[float] | None, option: str = "--mpp") -> tuple[float, float] | None:
    """(mpp_x, mpp_y) from ``--mpp X`` or ``--mpp X Y``; None when not given."""
    if value is None:
        return None
    values = [value] if isinstance(value, (int, float)) else list(value)
    if not 1 <= len(values) <= 2 or not all(v > 0 and v < float("inf") for v in values):
        raise InvalidInputError(f"{option} takes one or two positive numbers (x, y), got {values}")
    return (values[0], values[-1])


def _ndpa_frame(args: argparse.Namespace, slide: Any) -> NdpaFrame:
    """The NDPA frame from ``--slide`` (*slide*, its info) or from ``--offset-nm``, ``--mpp``, ``--size``."""
    from viewer.annotations.ndpa import NdpaFrame

    explicit = {"--offset-nm": args.offset_nm, "--mpp": args.mpp, "--size": args.size}
    if slide is not None:
        try:
            return NdpaFrame.from_slide(slide)
        except ViewerError as exc:
            exc.message = f"{args.slide}: {exc.message}"
            raise
    missing = [option for option, value in explicit.items() if value is None]
    if missing:
        raise InvalidInputError(f"{_NDPA_FRAME_HELP} (missing: {', '.join(missing)})")
    mpp = _mpp_pair(args.mpp)
    assert mpp is not None
    width, height = args.size
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"--size takes the level-0 width and height in px, got {width} {height}")
    return NdpaFrame(args.offset_nm[0], args.offset_nm[1], mpp[0], mpp[1], width, height)


def _print_warnings(command: str, warnings: list[str], limit: int = 10) -> None:
    for line in warnings[:limit]:
        print(f"wsi-viewer {command}: warning: {line}", file=sys.stderr)
    if len(warnings) > limit:
        print(f"wsi-viewer {command}: warning: ... and {len(warnings) - limit} more", file=sys.stderr)


def _add_frame_options(parser: Any, *, mpp: bool) -> None:
    """``--offset-nm`` and ``--size`` (and ``--mpp X [Y]`` when *mpp*): an NDPA frame without its slide."""
    parser.add_argument(
        "--offset-nm", nargs=2, type=float, metavar=("DX", "DY"),
        help="NDPA frame without a slide: the NDPI's hamamatsu.XOffsetFromSlideCentre and "
        "YOffsetFromSlideCentre (nm); needs --mpp and --size too",
    )
    if mpp:
        parser.add_argument(
            "--mpp", nargs="+", type=float, metavar=("X", "Y"),
            help="microns per level-0 pixel, x [and y]: the NDPA frame's pixel size, and ImageScope's "
            "MicronsPerPixel (default: the slide's, with --slide)",
        )
    parser.add_argument("--size", nargs=2, type=int, metavar=("W", "H"),
                        help="NDPA frame without a slide: the slide's level-0 width and height (px)")


def _add_convert(subparsers: Any) -> None:
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
    _add_frame_options(parser, mpp=True)
    parser.add_argument(
        "--qupath", action="store_true",
        help="write GeoJSON numbers and ring orientation as QuPath exports them (drops the ASAP extras "
        "that make our own GeoJSON lossless)",
    )
    parser.set_defaults(handler=_convert)


def _convert(args: argparse.Namespace) -> int:
    from viewer.annotations.asap import write_asap
    from viewer.atomicfile import write_atomic

    out_format = args.to_format or _annotation_format(args.output)
    if args.from_format is None:
        _annotation_format(args.input, reading=True)  # refuse an unknown input type before any work
    if args.slide is not None and (args.offset_nm is not None or args.size is not None):
        raise InvalidInputError("--slide gives the NDPA frame: do not also pass --offset-nm or --size")
    mpp = _mpp_pair(args.mpp)
    slide = _slide_info(args.slide) if args.slide is not None else None
    offset: tuple[float, float] = (0.0, 0.0)
    if args.offset is not None:
        offset = (args.offset[0], args.offset[1])
    elif slide is not None:
        offset = _geojson_module().qupath_offset(slide)
    frames: list[NdpaFrame] = []

    def frame() -> NdpaFrame:  # made once, and only when NDPA is read or written
        if not frames:
            frames.append(_ndpa_frame(args, slide))
        return frames[0]

    warnings: list[str] = []
    aset = _load_annotations(args.input, warnings, offset, fmt=args.from_format, ndpa_frame=frame)
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
        geojson = _geojson_module()
        data = geojson.dumps(geojson.to_geojson(aset, offset=offset, qupath=args.qupath))
    try:
        write_atomic(args.output, data)
    except OSError as exc:
        raise InvalidInputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    _print_warnings("convert", warnings)
    print(
        f"{args.output}: {_plural(len(aset.annotations), 'annotation')}, "
        f"{_plural(len(aset.groups), 'group')}, {_plural(aset.vertex_count(), 'vertex', 'vertices')}"
    )
    return 0


def _add_info(subparsers: Any) -> None:
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
    _add_frame_options(parser, mpp=False)
    parser.add_argument("--annotations", action="store_true", help="also list every annotation")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=_info)


def _slide_info(path_text: str) -> Any:
    """The :class:`viewer.slides.SlideInfo` of a slide file given on the command line."""
    from viewer.slides import read_slide_info

    path = Path(path_text)
    try:
        stat = path.stat()
    except OSError:
        raise NotFoundError(f"{path_text}: no such slide file") from None
    info = read_slide_info(path.name, path, stat)
    if info.error:
        raise SlideUnreadableError(f"{path_text}: {info.error}")
    return info


def _slide_mpp(path_text: str) -> tuple[float, float]:
    info = _slide_info(path_text)
    if not info.mpp_x or not info.mpp_y:
        raise InvalidInputError(f"{path_text}: the slide does not record microns per pixel; pass --mpp")
    return float(info.mpp_x), float(info.mpp_y)


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
        mpp = _slide_mpp(args.slide)
    aset = _load_annotations(
        args.file, warnings, fmt=args.from_format,
        ndpa_frame=lambda: _ndpa_frame(args, _slide_info(args.slide) if args.slide else None),
    )
    report = annotation_report(aset, mpp)
    _print_warnings("info", warnings)
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


def _add_mask(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mask",
        help="rasterise annotations into a label mask TIFF, exactly as ASAP's AnnotationToMask",
        description="Write OUT as a tiled, pyramidal, deflate-compressed uint8 TIFF at the size of SLIDE "
        "(or of its level N), readable by OpenSlide and tifffile. Pixels follow ASAP's AnnotationToMask "
        "rules: labels come from each annotation's direct group (or its own name in a file without "
        "groups); without --order the largest label wins, with --order later groups overwrite "
        "(label 0 included, which punches holes). OUT is written atomically.",
    )
    parser.add_argument("slide", metavar="SLIDE", help="slide file (gives the mask size and pixel size)")
    parser.add_argument("annotations", metavar="XML", help="ASAP XML (or GeoJSON in slide space) file")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.tif", help="mask file to write")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--labels", metavar="NAME=N,...", help="label per group name, 0..255")
    labels.add_argument("--preset", metavar="NAME", help="camelyon16 (_0,_1 -> 1, then _2 -> 0) or "
                        "camelyon17 (metastases -> 1, then normal -> 2)")
    parser.add_argument("--order", metavar="NAME,...", help="conversion order: groups painted in this "
                        "order, later ones overwrite (needs --labels)")
    parser.add_argument("--level", type=int, default=0, metavar="N", help="write at the slide's level N "
                        "(default 0)")
    parser.add_argument("--no-progress", action="store_true", help="do not show progress (a bar with "
                        "percent, rows and ETA on a terminal, a line per tenth otherwise)")
    parser.set_defaults(handler=_mask)


def _clock_text(seconds: float) -> str:
    """1:05, 12:00, 1:02:03 (h:mm:ss once past an hour)."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _ProgressBar:
    """Progress of a long command on *stream* (stderr). On a terminal, a bar redrawn in place with
    percent, rows and ETA (at most ten times a second, and always the last state); elsewhere (a log,
    a pipe) a plain line at every tenth of the work."""

    def __init__(self, stream: Any, unit: str = "rows", clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.unit, self.clock = stream, unit, clock
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.started = clock()
        self.last_draw = -1.0
        self.last_tenth = -1

    def _eta(self, now: float, done: int, total: int) -> str:
        elapsed = now - self.started
        if done >= total:
            return f"done in {_clock_text(elapsed)}"
        if done <= 0:
            return "ETA --:--"
        return f"ETA {_clock_text(elapsed * (total - done) / done)}"

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        fraction = min(1.0, done / total) if total > 0 else 1.0
        finished = done >= total
        text = f"{int(100 * fraction):3d}%  {done:,}/{total:,} {self.unit}  {self._eta(now, done, total)}"
        if self.tty:
            if not finished and self.last_draw >= 0 and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            filled = int(30 * fraction)
            # \r: back to the line start; ESC[K: erase what a longer previous frame left
            bar = f"[{'#' * filled}{'.' * (30 - filled)}]"
            self.stream.write(f"\r{bar} {text}\x1b[K" + ("\n" if finished else ""))
        else:
            tenth = int(10 * fraction)
            if tenth <= self.last_tenth:
                return
            self.last_tenth = tenth
            self.stream.write(text.strip() + "\n")
        self.stream.flush()


def _mask(args: argparse.Namespace) -> int:
    from viewer.annotations.masks import PRESETS, check_mask_request, parse_labels, write_mask_tiff

    labels: dict[str, int] | None = None
    order: list[str] | None = None
    if args.preset is not None:
        if args.preset not in PRESETS:
            raise InvalidInputError(f"unknown preset {args.preset!r}; choose from {', '.join(PRESETS)}")
        labels, order = dict(PRESETS[args.preset].labels), list(PRESETS[args.preset].order or [])
    elif args.labels is not None:
        labels = parse_labels(args.labels)
    if args.order is not None:
        order = [name.strip() for name in args.order.split(",") if name.strip()]
    out = Path(args.output)
    if not out.parent.is_dir():
        raise InvalidInputError(f"{args.output}: directory {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise InvalidInputError(f"{args.output}: is a directory")

    info = _slide_info(args.slide)
    if not 0 <= args.level < info.level_count:
        raise InvalidInputError(f"--level {args.level}: the slide has levels 0..{info.level_count - 1}")
    width, height = info.level_dimensions[args.level]
    downsample = info.level_downsamples[args.level]

    warnings: list[str] = []
    aset = _load_annotations(args.annotations, warnings)
    check_mask_request(aset, labels, order)
    _print_warnings("mask", warnings)
    mpp = (info.mpp_x, info.mpp_y) if info.mpp_x and info.mpp_y else None
    progress = None if args.no_progress else _ProgressBar(sys.stderr)
    try:
        write_mask_tiff(aset, out, width, height, labels, order, level_downsample=downsample,
                        progress=progress, mpp=mpp, progress_in_rows=True)
    except OSError as exc:
        raise InvalidInputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"{args.output}: {width}x{height} px mask of {len(aset.annotations)} annotations "
          f"(level {args.level}, downsample {downsample:g})")
    return 0


# -- db: the annotation database's schema ---------------------------------------------------------


def _add_db(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db",
        help="the annotation database's schema: its revision, and upgrades",
        description="Show or upgrade the schema of the annotation database (DATABASE, or SQLite in "
        "DATA_DIR). Every server start upgrades it too, keeping every row; these are for a lab's DBA.",
    )
    commands = parser.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    current = commands.add_parser("current", help="print the database's schema revision")
    upgrade = commands.add_parser("upgrade", help="upgrade to the newest revision, keeping every row")
    upgrade.add_argument("--sql", action="store_true",
                         help="print the SQL script instead of running it (Alembic's offline mode)")
    upgrade.add_argument("--from", dest="from_revision", metavar="REVISION",
                         help="with --sql: the revision the database is at ('base': empty); default: read "
                         "from the database")
    for sub in (current, upgrade):
        sub.add_argument("--config", metavar="FILE", help="TOML config file (lower-case setting names)")
        for name in ("DATABASE", "DATA_DIR"):
            setting = next(s for s in SETTINGS if s.name == name)
            sub.add_argument(_option_name(name), dest=name, metavar=name, help=setting.help)
    parser.set_defaults(handler=_db)


def _db(args: argparse.Namespace) -> int:
    from viewer import store
    from viewer.config import default_data_dir
    from viewer.errors import ConfigError

    overrides = {name: getattr(args, name) for name in ("DATABASE", "DATA_DIR") if getattr(args, name)}
    settings = load_settings(args.config, overrides=overrides)
    url = store.database_url(settings["DATABASE"], settings["DATA_DIR"] or default_data_dir())
    if getattr(args, "from_revision", None) and not args.sql:
        raise ConfigError("--from goes with --sql (a run reads the revision from the database)")
    if args.db_command == "upgrade" and args.sql:
        print(store.upgrade_script(url, args.from_revision), end="")
        return 0
    print(f"database: {store.shown_url(url)}")
    if args.db_command == "current":
        status = store.database_status(url)
        newest = store.SchemaStatus(f"{store.SCHEMA_VERSION:04d}").describe()
        print(status.describe() if status is not None else f"no database yet; the newest is {newest}")
        return 0 if status is None or status.known else EXIT_USAGE
    before, after = store.upgrade_database(url)
    if before is None or before.revision is None:
        print(f"created the schema: {after.describe()}")
    elif before == after:
        print(f"nothing to do: {after.describe()}")
    else:
        origin = f"revision {before.revision}"
        if before.legacy:
            origin = f"schema version {before.version} of the in-house runner (stamped as {origin})"
        print(f"upgraded {origin} to {after.describe()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="wsi-viewer", description="Whole-slide image viewer and annotations."
    )
    parser.add_argument("--version", action="version", version=f"wsi-viewer {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(subparsers)
    # Annotation commands (convert, info, mask) register themselves here.
    _add_convert(subparsers)
    _add_info(subparsers)
    _add_mask(subparsers)
    _add_db(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ViewerError as exc:
        print(f"wsi-viewer {args.command}: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
