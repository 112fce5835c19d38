"""``wsi-viewer overlay polygons ID --threshold P``: an overlay's regions of cells ≥ P as a new
annotation set of its slide, in the server's store (what ``POST /api/overlays/<id>/polygons``
does; a running server lists the set at once)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from viewer.cli.common import option_name
from viewer.config import SETTINGS, default_data_dir, load_settings

#: Settings of the store the set goes to (the overlay command adds SLIDE_DIR, DATA_DIR, OVERLAY_DIR...).
STORE_SETTINGS = ("DATABASE", "MAX_SET_VERTICES", "ANNOTATION_DIR")


def add_polygons(commands: Any) -> argparse.ArgumentParser:
    """The ``polygons`` sub-command of ``overlay`` (its caller adds the overlay settings' options)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "polygons", help="threshold an overlay into a new annotation set of its slide",
        description="Turn the regions of the overlay's cells >= THRESHOLD into polygons (holes kept, "
        "joined by zero-width cuts; simplified to --tolerance-um; regions under --min-area-um2 left "
        "out), each with its area, largest diameter, CAMELYON class and the overlay's max/mean inside "
        "in its comment, and store them as a new annotation set of the overlay's slide.",
    )
    parser.add_argument("overlay_id", metavar="ID", help="the overlay's id (from overlay list)")
    parser.add_argument("--threshold", type=float, required=True, metavar="P",
                        help="cells with a value >= P are inside (within the overlay's value range)")
    parser.add_argument("--tolerance-um", type=float, default=1.0, metavar="T",
                        help="simplification tolerance in µm (default 1; 0 keeps every contour point)")
    parser.add_argument("--min-area-um2", type=float, default=0.0, metavar="A",
                        help="leave out regions and holes smaller than A µm² (default 0)")
    parser.add_argument("--name", metavar="N", help="the set's name (default: '<overlay> >= P', made unique)")
    parser.add_argument("--user", default="", metavar="WHO", help="the author the history records")
    parser.add_argument("--json", action="store_true", help="print the new set and its regions as JSON")
    for name in STORE_SETTINGS:
        setting = next(s for s in SETTINGS if s.name == name)
        parser.add_argument(option_name(name), dest=name, type=setting.type, metavar=name, help=setting.help)
    parser.set_defaults(handler=run_polygons)
    return parser


def run_polygons(args: argparse.Namespace) -> int:
    """Make the set; print its id, name and regions."""
    from viewer.overlays.polygons import PolygonRequest, create_region_set
    from viewer.services import Services

    names = {s.name for s in SETTINGS}
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    settings = load_settings(args.config, overrides=overrides)
    if not settings["DATA_DIR"]:
        settings["DATA_DIR"] = str(default_data_dir())
    services = Services(settings)
    request = PolygonRequest(args.threshold, args.tolerance_um, args.min_area_um2)
    result, regions = create_region_set(services, args.overlay_id, request, name=args.name, who=args.user)
    info = result.info
    state = services.store.state(info.id)
    rows = [{"id": r.id, "name": r.annotation.name, "comment": r.annotation.comment}
            for r in state.annotations]
    if args.json:
        print(json.dumps({"set": {"id": info.id, "name": info.name, "slide": info.slide_key,
                                  "version": info.version}, "regions": rows}, indent=1))
        return 0
    print(f"set {info.id} {info.name!r} on {info.slide_key}: {regions} region{'s' if regions != 1 else ''}")
    for row in rows:
        print(f"  {row['name']}: {row['comment']}")
    return 0
