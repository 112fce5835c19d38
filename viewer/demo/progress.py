"""Progress of the demo's generation: what the slide writer reports (:class:`SlideProgress`), what
the whole generation is at (:class:`DemoProgress`: percent, stage, time left), its JSON file that
every server worker reads, and the console report (one bar on a terminal, else one line per step).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from viewer.atomicfile import write_atomic

#: Stages of a generation, in order.
STAGES = ("starting", "sidecars", "textures", "tiles", "done")
_STAGE_TEXT = {
    "starting": "starting",
    "sidecars": "writing the annotations and the likelihood map",
    "textures": "building the texture banks",
    "tiles": "writing the tiles",
    "done": "done",
}
# Percent of the whole generation reached when the textures and the tiles start (measured on 2
# cores: ~0.3 s of sidecars and ~5 s of texture banks before 20-100 s of tiles for the full size).
_TEXTURES_FROM = 2.0
_TILES_FROM = 15.0


@dataclass(frozen=True)
class SlideProgress:
    """Where :func:`viewer.demo.generate_slide` is. Its ``str`` is a line for a log.

    *work_fraction* is the part of the stage done: of the texture banks built, or of the tiles
    written, weighted by their cost (a tile with tissue is ~50 background tiles) so that it grows
    about evenly in time; *eta_s* is the time left for the tiles, None until there is a rate to
    go by.
    """

    stage: str  # "textures" or "tiles"
    level: int
    level_count: int
    level_size: tuple[int, int]
    level_tiles_done: int
    level_tiles: int
    tiles_done: int
    tiles_total: int
    work_fraction: float
    eta_s: float | None
    level_elapsed_s: float

    @property
    def level_done(self) -> bool:
        """Whether this level's last tile is written."""
        return self.stage == "tiles" and self.level_tiles_done == self.level_tiles

    def __str__(self) -> str:
        if self.stage == "textures":
            return "  building the texture banks"
        w, h = self.level_size
        if self.level_done:
            return (f"  level {self.level}: {w} x {h} px, {self.level_tiles} tiles "
                    f"in {self.level_elapsed_s:.1f} s")
        return (f"  level {self.level}: {w} x {h} px, {self.level_tiles_done} of {self.level_tiles} tiles"
                f" ({100 * self.work_fraction:.0f}% of the slide)")


@dataclass(frozen=True)
class DemoProgress:
    """One report of the generation, as the progress file holds it.

    *started_at* and *updated_at* are Unix times; *percent* (0-100) goes up steadily across the
    stages; *level* is the pyramid level being written (0 = full resolution), None before the tiles.
    """

    state: str  # "running", "done" or "failed"
    stage: str  # one of STAGES
    message: str
    percent: float
    eta_seconds: float | None
    level: int | None
    level_count: int
    level_tiles_done: int
    level_tiles: int
    tiles_done: int
    tiles_total: int
    width: int
    height: int
    mpp: float
    started_at: float
    updated_at: float
    error: str | None = None

    @classmethod
    def starting(cls, width: int, height: int, mpp: float, level_count: int) -> DemoProgress:
        """The report of a generation that is about to begin."""
        now = time.time()
        return cls("running", "starting", "starting", 0.0, None, None, level_count, 0, 0, 0, 0,
                   width, height, mpp, now, now)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the progress file."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoProgress:
        """The inverse of :meth:`to_json`; raises ValueError on anything else."""
        try:
            progress = cls(**data)
        except TypeError as exc:
            raise ValueError(f"not a demo progress report: {exc}") from None
        if progress.state not in ("running", "done", "failed") or progress.stage not in STAGES:
            raise ValueError(f"not a demo progress report: state {progress.state!r}, "
                             f"stage {progress.stage!r}")
        return progress


class ProgressTracker:
    """Turns the steps of :func:`viewer.demo.ensure_demo` into :class:`DemoProgress` reports for
    *report* (called for every step; throttling is the receiver's business)."""

    def __init__(self, report: Callable[[DemoProgress], None], start: DemoProgress) -> None:
        self._report = report
        self.current = start

    def _emit(self, **changes: Any) -> None:
        self.current = replace(self.current, updated_at=time.time(), **changes)
        self._report(self.current)

    def sidecars(self) -> None:
        """The annotations and the likelihood map are being written."""
        self._emit(stage="sidecars", message=_STAGE_TEXT["sidecars"], percent=0.0)

    def slide(self, event: SlideProgress) -> None:
        """An event of the slide writer."""
        if event.stage == "textures":
            percent = _TEXTURES_FROM + (_TILES_FROM - _TEXTURES_FROM) * event.work_fraction
            self._emit(stage="textures", message=_STAGE_TEXT["textures"], percent=round(percent, 1),
                       level_count=event.level_count, tiles_total=event.tiles_total)
            return
        w, h = event.level_size
        message = (f"writing level {event.level} of {event.level_count} ({w:,} × {h:,} px): "
                   f"{event.level_tiles_done:,} of {event.level_tiles:,} tiles")
        percent = _TILES_FROM + (100.0 - _TILES_FROM) * event.work_fraction
        self._emit(stage="tiles", message=message, percent=round(min(percent, 99.9), 1),
                   eta_seconds=None if event.eta_s is None else round(event.eta_s, 1),
                   level=event.level, level_count=event.level_count,
                   level_tiles_done=event.level_tiles_done, level_tiles=event.level_tiles,
                   tiles_done=event.tiles_done, tiles_total=event.tiles_total)

    def done(self) -> None:
        """Every file is written."""
        self._emit(state="done", stage="done", message=_STAGE_TEXT["done"], percent=100.0, eta_seconds=0.0)

    def failed(self, error: str) -> None:
        """The generation stopped with *error*."""
        self._emit(state="failed", message=f"failed: {error}", eta_seconds=None, error=error)


# -- the progress file ------------------------------------------------------------------------------


def write_progress(path: Path, progress: DemoProgress) -> None:
    """Replace the progress file atomically: readers see the previous report or this one."""
    write_atomic(path, json.dumps(progress.to_json()).encode("utf-8"), sync_directory=False)


def read_progress(path: Path) -> DemoProgress | None:
    """The report in the progress file, or None when there is none (or it is not one)."""
    try:
        data = json.loads(path.read_bytes())
        return DemoProgress.from_json(data) if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


class ProgressFile:
    """A report receiver that writes the progress file, at most every *interval_s* seconds while
    nothing but counts change (a new stage, level or state is written at once)."""

    def __init__(self, path: Path, interval_s: float = 0.5) -> None:
        self.path = path
        self._interval_s = interval_s
        self._written: DemoProgress | None = None
        self._written_at = -math.inf

    def __call__(self, progress: DemoProgress) -> None:
        last = self._written
        changed = last is None or (last.state, last.stage, last.level) != (progress.state, progress.stage,
                                                                            progress.level)
        if changed or time.monotonic() - self._written_at >= self._interval_s:
            write_progress(self.path, progress)
            self._written, self._written_at = progress, time.monotonic()


# -- the console ------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class ConsoleProgress:
    """A report receiver for a console: on a terminal one bar, redrawn in place; otherwise (a log)
    one line for each finished step -- the sidecars, the texture banks, every pyramid level."""

    _BAR = 28

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._began = time.monotonic()
        self._step_began = self._began
        self._stage: str | None = None
        self._levels_reported: set[int] = set()
        self._drawn_at = -math.inf

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    def __call__(self, progress: DemoProgress) -> None:
        now = time.monotonic()
        if self._stage is None:
            self._line(f"wsi-viewer: generating the demo slide ({progress.width} x {progress.height} px), "
                       "once; the server answers meanwhile")
        if self._tty:
            self._draw(progress, now)
        else:
            self._log(progress, now)
        self._stage = progress.stage
        if progress.state == "done":
            self._line(f"wsi-viewer: demo slide ready in {now - self._began:.1f} s")
        elif progress.state == "failed":
            self._line(f"wsi-viewer: the demo slide could not be generated: {progress.error}")

    def _log(self, progress: DemoProgress, now: float) -> None:
        if self._stage in ("sidecars", "textures") and progress.stage != self._stage:
            what = "annotations and likelihood map" if self._stage == "sidecars" else "texture banks"
            self._line(f"  {what}: {now - self._step_began:.1f} s")
            self._step_began = now
        level = progress.level
        if (progress.stage == "tiles" and level is not None and level not in self._levels_reported
                and progress.level_tiles_done == progress.level_tiles):
            self._levels_reported.add(level)
            tiles = "1 tile" if progress.level_tiles == 1 else f"{progress.level_tiles:,} tiles"
            self._line(f"  level {level} of {progress.level_count}: {tiles} "
                       f"in {now - self._step_began:.1f} s ({progress.percent:.0f}%)")
            self._step_began = now

    def _draw(self, progress: DemoProgress, now: float) -> None:
        final = progress.state != "running"
        if not final and now - self._drawn_at < 0.2:
            return
        self._drawn_at = now
        filled = round(self._BAR * progress.percent / 100)
        left = "" if progress.eta_seconds is None or final else f" · {_duration(progress.eta_seconds)} left"
        bar = "#" * filled + "." * (self._BAR - filled)
        text = f"  [{bar}] {progress.percent:5.1f}%{left} · {progress.message}"  # time left before it is cut
        width = _terminal_width(self._stream)
        self._stream.write("\r\x1b[K" + text[: width - 1] + ("\n" if final else ""))
        self._stream.flush()


def _terminal_width(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 100
    return columns if columns > 0 else 100  # a pseudo-terminal without a size says 0
