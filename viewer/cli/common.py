"""What every sub-command shares: exit status, option names, the slide given on the command line,
warnings on stderr."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from viewer.errors import InvalidInputError, NotFoundError, SlideUnreadableError

EXIT_USAGE = 2


def option_name(setting_name: str) -> str:
    """``--slide-dir`` for the setting ``SLIDE_DIR``."""
    return "--" + setting_name.lower().replace("_", "-")


def add_store_options(parser: Any) -> None:
    """``--config``, ``--database`` and ``--data-dir``: the options of a command that opens the store."""
    from viewer.config import SETTINGS

    parser.add_argument("--config", metavar="FILE", help="TOML config file (lower-case setting names)")
    for name in ("DATABASE", "DATA_DIR"):
        setting = next(s for s in SETTINGS if s.name == name)
        parser.add_argument(option_name(name), dest=name, metavar=name, help=setting.help)


def print_warnings(command: str, warnings: list[str], limit: int = 10) -> None:
    for line in warnings[:limit]:
        print(f"wsi-viewer {command}: warning: {line}", file=sys.stderr)
    if len(warnings) > limit:
        print(f"wsi-viewer {command}: warning: ... and {len(warnings) - limit} more", file=sys.stderr)


def slide_info(path_text: str) -> Any:
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


def slide_mpp(path_text: str) -> tuple[float, float]:
    info = slide_info(path_text)
    if not info.mpp_x or not info.mpp_y:
        raise InvalidInputError(f"{path_text}: the slide does not record microns per pixel; pass --mpp")
    return float(info.mpp_x), float(info.mpp_y)
