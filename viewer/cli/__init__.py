"""The ``wsi-viewer`` console script.

Each sub-command lives in its own module (``serve``, ``annotations``: convert and info, ``mask``,
``db``, ``overlay``) as one ``add_<name>(subparsers)`` function that declares its options and sets
``handler``.
Domain errors (:class:`viewer.errors.ViewerError`) become one line on stderr and exit status 2; a
command that writes a file writes it atomically, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from viewer import __version__
from viewer.cli.annotations import add_convert, add_info, annotation_report
from viewer.cli.common import EXIT_USAGE
from viewer.cli.db import add_db
from viewer.cli.mask import add_mask
from viewer.cli.overlay import add_overlay
from viewer.cli.serve import add_serve
from viewer.cli.users import add_users
from viewer.errors import ViewerError

__all__ = ["EXIT_USAGE", "annotation_report", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="wsi-viewer", description="Whole-slide image viewer and annotations."
    )
    parser.add_argument("--version", action="version", version=f"wsi-viewer {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve(subparsers)
    # Annotation commands (convert, info, mask) register themselves here.
    add_convert(subparsers)
    add_info(subparsers)
    add_mask(subparsers)
    add_db(subparsers)
    add_overlay(subparsers)
    add_users(subparsers)
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
