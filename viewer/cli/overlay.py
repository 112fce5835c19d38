"""``wsi-viewer overlay``: add a heatmap or label map to a slide, list a slide's overlays, remove one.

The overlays are the server's (``OVERLAY_DIR``, default ``DATA_DIR/overlays``, over the slides of
``SLIDE_DIR``): what ``add`` stores, a running server lists at once, and an upload through the API
is listed here. ``add`` copies the file into the store (the source may be deleted afterwards).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viewer.cli.common import option_name
from viewer.cli.overlay_polygons import add_polygons
from viewer.config import SETTINGS, default_data_dir, load_settings
from viewer.errors import InvalidInputError, NotFoundError, SlideNotFoundError

if TYPE_CHECKING:
    from viewer.overlays import Overlay, OverlayLibrary

#: The settings each overlay command takes as options.
_SETTINGS = ("SLIDE_DIR", "DATA_DIR", "OVERLAY_DIR", "OVERLAY_MAX_MPX")
_KINDS = ("heatmap", "labels")


def add_overlay(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "overlay",
        help="heatmaps and label maps over a slide: add, list, remove",
        description="Manage the overlays a server shows over its slides (stored in OVERLAY_DIR, "
        "default DATA_DIR/overlays). SLIDE is a slide id (its path under SLIDE_DIR, as the library "
        "lists it) or the path of a slide file under SLIDE_DIR.",
    )
    commands = parser.add_subparsers(dest="overlay_command", required=True, metavar="OVERLAY_COMMAND")
    add = commands.add_parser(
        "add", help="store FILE as an overlay of SLIDE",
        description="Read FILE (TIFF uint8/uint16/float32, single- or multi-resolution; .npy; PNG; "
        "CSV of patch scores: x,y,width,height,score in slide px, or x,y,score with --patch-size), "
        "check it fully and store a copy as an overlay of SLIDE. A malformed file stores nothing.",
    )
    add.add_argument("slide", metavar="SLIDE", help="slide id or slide file")
    add.add_argument("file", metavar="FILE", help="the overlay's source file")
    add.add_argument("--scale", type=float, metavar="S", help="level-0 slide px per grid cell "
                     "(default: from the shape ratio, e.g. 16 for a map at 1/16 of the slide)")
    add.add_argument("--name", metavar="N", help="shown name (default: the file's)")
    add.add_argument("--kind", choices=_KINDS, help="heatmap (values) or labels (class ids); default "
                     "heatmap, labels for PNG palette images")
    add.add_argument("--origin-x", type=float, default=0.0, metavar="X",
                     help="slide x of the grid's left edge (default 0)")
    add.add_argument("--origin-y", type=float, default=0.0, metavar="Y",
                     help="slide y of the grid's top edge (default 0)")
    add.add_argument("--value-min", type=float, metavar="V",
                     help="value of code 0 (default: from the data type)")
    add.add_argument("--value-max", type=float, metavar="V",
                     help="value of the top code (default: from the data type)")
    add.add_argument("--classes", metavar="NAME,...", help="label maps: class names, class 0 first")
    add.add_argument("--patch-size", type=int, metavar="PX", help="CSV x,y,score: patch side in px of "
                     "--patch-level (default 96)")
    add.add_argument("--patch-level", type=int, default=0, metavar="L", help="CSV x,y,score: the slide "
                     "level the coordinates are in (default 0)")
    add.add_argument("--json", action="store_true", help="print the descriptor as JSON")
    listing = commands.add_parser("list", help="the overlays of SLIDE (id, name, kind, range, scale)")
    listing.add_argument("slide", metavar="SLIDE", help="slide id or slide file")
    listing.add_argument("--json", action="store_true", help="print the descriptors as JSON")
    remove = commands.add_parser("remove", help="remove an uploaded overlay (not an attached "
                                 "<stem>_likelihood_map.tif: remove that file instead)")
    remove.add_argument("overlay_id", metavar="ID", help="the overlay's id (from list)")
    polygons = add_polygons(commands)  # viewer/cli/overlay_polygons.py
    for sub in (add, listing, remove, polygons):
        sub.add_argument("--config", metavar="FILE", help="TOML config file (lower-case setting names)")
        for name in _SETTINGS:
            setting = next(s for s in SETTINGS if s.name == name)
            sub.add_argument(option_name(name), dest=name, type=setting.type, metavar=name, help=setting.help)
    parser.set_defaults(handler=_overlay)


def _overlay(args: argparse.Namespace) -> int:
    library = _library(args)
    if args.overlay_command == "remove":
        library.remove(args.overlay_id)
        print(f"removed overlay {args.overlay_id}")
        return 0
    slide_id = _slide_id(library, args.slide)
    try:
        return _on_slide(args, library, slide_id)
    except SlideNotFoundError:
        raise SlideNotFoundError(f"{slide_id}: no such slide under {library.slides.root} "
                                 "(SLIDE is its path relative to SLIDE_DIR)") from None


def _on_slide(args: argparse.Namespace, library: OverlayLibrary, slide_id: str) -> int:
    if args.overlay_command == "list":
        found = library.list(slide_id)
        if args.json:
            print(json.dumps([overlay.to_json() for overlay in found], indent=1))
        elif found:
            print(overlay_table(found))
        else:
            print(f"no overlays on {slide_id}")
        return 0
    created = library.add(slide_id, _source(args.file), Path(args.file).name, _options(args))
    print(json.dumps(created.to_json(), indent=1) if args.json else overlay_table([created]))
    return 0


def _library(args: argparse.Namespace) -> OverlayLibrary:
    from viewer.services import Services

    overrides = {name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None}
    settings = load_settings(args.config, overrides=overrides)
    if not settings["DATA_DIR"]:
        settings["DATA_DIR"] = str(default_data_dir())
    return Services(settings).overlays


def _slide_id(library: OverlayLibrary, text: str) -> str:
    """*text* as a slide id: the id itself, or a slide file's path under the slide directory."""
    path = Path(text)
    if path.is_file():
        root = library.slides.root.resolve()
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            raise NotFoundError(f"{text}: not under the slide directory {root} (SLIDE_DIR)") from None
    return text


def _source(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise NotFoundError(f"{text}: no such file")
    return path


def _options(args: argparse.Namespace) -> Any:
    from viewer.overlays import AddOptions

    if args.scale is not None and not args.scale > 0:
        raise InvalidInputError(f"--scale must be above 0 (got {args.scale:g})")
    classes = None
    if args.classes is not None:
        classes = tuple(name.strip() for name in args.classes.split(","))
        if not all(classes):
            raise InvalidInputError("--classes: comma-separated class names, class 0 first, none empty")
    return AddOptions(
        name=args.name, kind=args.kind, scale=args.scale, origin_x=args.origin_x, origin_y=args.origin_y,
        value_min=args.value_min, value_max=args.value_max, classes=classes,
        patch_size=args.patch_size, patch_level=args.patch_level,
    )


def overlay_table(overlays: list[Overlay]) -> str:
    """One row per overlay: id, name (attached maps marked), kind, value range, scale."""
    rows = [("ID", "NAME", "KIND", "RANGE", "SCALE")]
    for overlay in overlays:
        name = f"{overlay.name} [attached]" if overlay.attached else overlay.name
        shown_range = f"{overlay.value_min:g}..{overlay.value_max:g}"
        rows.append((overlay.id, name, overlay.kind, shown_range, f"{overlay.scale:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
