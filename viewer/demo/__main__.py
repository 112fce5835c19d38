"""``python -m viewer.demo DATA_DIR --width W --height H [--lock-fd N]``: the background generator
that ``wsi-viewer serve`` starts (see :mod:`viewer.demo.background`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from viewer.demo.background import run_generator


def main(argv: list[str] | None = None) -> int:
    """Generate the demo into DATA_DIR/demo; exit status 0 when it is complete."""
    parser = argparse.ArgumentParser(prog="python -m viewer.demo", description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--width", type=int, required=True, help="level-0 width, px")
    parser.add_argument("--height", type=int, required=True, help="level-0 height, px")
    parser.add_argument("--lock-fd", type=int, default=None,
                        help="descriptor of the demo lock, already held (passed on by the server)")
    args = parser.parse_args(argv)
    return run_generator(args.data_dir, args.width, args.height, args.lock_fd)


if __name__ == "__main__":
    sys.exit(main())
