"""``wsi-viewer mask``: a label-mask TIFF of a slide's annotations, with its progress bar."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from viewer.cli.common import print_warnings, slide_info
from viewer.cli.reading import load_annotations
from viewer.errors import InvalidInputError, ViewerError

if TYPE_CHECKING:
    from viewer.annotations.ndpa import NdpaFrame


def add_mask(subparsers: Any) -> None:
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
    parser.add_argument("annotations", metavar="XML", help="annotation file: ASAP or ImageScope XML, "
                        "GeoJSON in slide space, or NDPA (placed on SLIDE, its NDPI)")
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


def _ndpa_frame(slide: str, info: Any) -> NdpaFrame:
    """Where an NDPA file's nanometres land on SLIDE (which must be its NDPI)."""
    from viewer.annotations.ndpa import NdpaFrame

    try:
        return NdpaFrame.from_slide(info)
    except ViewerError as exc:
        exc.message = f"{slide}: {exc.message}"
        raise


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

    info = slide_info(args.slide)
    if not 0 <= args.level < info.level_count:
        raise InvalidInputError(f"--level {args.level}: the slide has levels 0..{info.level_count - 1}")
    width, height = info.level_dimensions[args.level]
    downsample = info.level_downsamples[args.level]

    warnings: list[str] = []
    aset = load_annotations(args.annotations, warnings, ndpa_frame=lambda: _ndpa_frame(args.slide, info))
    check_mask_request(aset, labels, order)
    print_warnings("mask", warnings)
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
