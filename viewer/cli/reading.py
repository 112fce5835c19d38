"""Reading an annotation file named on the command line: its format (by ``--from``, extension or
root element), the size limit, and the frames GeoJSON and NDPA need (offset, NDPA frame, pixel size)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viewer.annotations.formats import xml_format
from viewer.config import load_settings
from viewer.errors import InvalidInputError, ViewerError

if TYPE_CHECKING:
    from viewer.annotations.model import AnnotationSet

#: The annotation formats, by the names ``--from``/``--to`` take.
ANNOTATION_FORMATS = ("asap", "geojson", "imagescope", "ndpa")
# Output formats by extension; reading, .xml is ASAP or ImageScope by its root element.
_EXTENSIONS = {".xml": "asap", ".geojson": "geojson", ".json": "geojson", ".ndpa": "ndpa"}
_NDPA_FRAME_HELP = (
    "NDPA positions are nanometres from the slide centre, so they need the slide's frame: pass "
    "--slide SLIDE (the NDPI), or --offset-nm DX DY with --mpp X [Y] and --size W H"
)

if TYPE_CHECKING:
    from viewer.annotations.ndpa import NdpaFrame

    FrameSource = NdpaFrame | Callable[[], NdpaFrame] | None


def annotation_format(path: str, *, reading: bool = False) -> str:
    """``asap``, ``geojson`` or ``ndpa`` from the file name's extension (``.geojson.gz`` too when
    *reading*; a read .xml may still turn out to be ImageScope or NDPA by its root element, see
    :func:`viewer.annotations.formats.xml_format`, which the API uses too)."""
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


def geojson_module() -> Any:
    try:
        from viewer.annotations import geojson
    except ImportError:
        raise InvalidInputError("GeoJSON conversion is not available in this installation") from None
    return geojson


def load_annotations(
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
        fmt = fmt or annotation_format(path, reading=True)
        data = read_limited(path, limit)
        if named is None and fmt == "asap":  # .xml: ASAP, ImageScope or NDPA, by the root element
            fmt = xml_format(data)
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
        aset: AnnotationSet = geojson_module().from_geojson(
            data, offset=offset, max_bytes=limit, warnings=warnings
        )
        return aset
    except ViewerError as exc:
        if not exc.message.startswith(path):
            exc.message = f"{path}: {exc.message}"
        raise


def mpp_pair(value: float | Sequence[float] | None, option: str = "--mpp") -> tuple[float, float] | None:
    """(mpp_x, mpp_y) from ``--mpp X`` or ``--mpp X Y``; None when not given."""
    if value is None:
        return None
    values = [value] if isinstance(value, (int, float)) else list(value)
    if not 1 <= len(values) <= 2 or not all(v > 0 and v < float("inf") for v in values):
        raise InvalidInputError(f"{option} takes one or two positive numbers (x, y), got {values}")
    return (values[0], values[-1])


def ndpa_frame_from_args(args: argparse.Namespace, slide: Any) -> NdpaFrame:
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
    mpp = mpp_pair(args.mpp)
    assert mpp is not None
    width, height = args.size
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"--size takes the level-0 width and height in px, got {width} {height}")
    return NdpaFrame(args.offset_nm[0], args.offset_nm[1], mpp[0], mpp[1], width, height)


def add_frame_options(parser: Any, *, mpp: bool) -> None:
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

