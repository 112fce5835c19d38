"""The ``wsi-viewer`` console script.

Each sub-command is one ``_add_<name>(subparsers)`` function that declares its options and sets
``handler``. Domain errors (:class:`viewer.errors.ViewerError`) become one line on stderr and exit
status 2; a command that writes a file writes it atomically, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from viewer import __version__
from viewer.config import SETTINGS, load_settings
from viewer.errors import ViewerError

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="wsi-viewer", description="Whole-slide image viewer and annotations.")
    parser.add_argument("--version", action="version", version=f"wsi-viewer {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(subparsers)
    # Annotation commands (convert, info, mask) register themselves here.
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
