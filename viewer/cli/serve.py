"""``wsi-viewer serve``: every setting as an option, then gunicorn."""

from __future__ import annotations

import argparse
from typing import Any

from viewer.cli.common import option_name
from viewer.config import SETTINGS, load_settings


def add_serve(subparsers: Any) -> None:
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
                option_name(setting.name), dest=setting.name, action=argparse.BooleanOptionalAction,
                default=None, help=setting.help,
            )
        else:
            parser.add_argument(
                option_name(setting.name), dest=setting.name, type=setting.type, default=None,
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
