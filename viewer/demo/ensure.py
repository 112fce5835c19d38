"""The demo's files in the data directory and making them exist, once: ``<data dir>/demo/`` holds
the slide and its two sidecars, a lock file that one generator holds while it writes, and the
progress file of the generation.

Every file appears atomically (temporary file, rename), the sidecars first and the slide last, so
a demo whose slide exists is complete enough to serve, and an interrupted generation leaves
nothing that looks complete: the next one writes what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from viewer.demo.progress import DemoProgress, ProgressTracker
from viewer.demo.scene import DEMO_HEIGHT, DEMO_MPP, DEMO_SEED, DEMO_STEM, DEMO_TILE_SIZE, DEMO_WIDTH
from viewer.demo.sidecars import write_demo_annotations, write_likelihood_map
from viewer.demo.slide import generate_slide
from viewer.locks import hold_lock
from viewer.tiffwriter import pyramid_sizes

#: Name of the lock file (in the demo directory) that a generator holds while it writes.
LOCK_NAME = ".demo.lock"
#: Name of the progress file (in the demo directory) the generator keeps up to date.
PROGRESS_NAME = "progress.json"

ProgressCallback = Callable[[DemoProgress], None]


def demo_dir(data_dir: Path) -> Path:
    """The slide directory of the demo."""
    return data_dir / "demo"


def demo_slide_path(data_dir: Path) -> Path:
    """The demo slide file (its sidecars share the stem)."""
    return demo_dir(data_dir) / f"{DEMO_STEM}.tif"


def _files(directory: Path) -> tuple[Path, Path, Path]:
    """(slide, annotations, likelihood map) of the demo in *directory*."""
    return (directory / f"{DEMO_STEM}.tif", directory / f"{DEMO_STEM}.xml",
            directory / f"{DEMO_STEM}_likelihood_map.tif")


def demo_is_complete(data_dir: Path) -> bool:
    """Whether the slide and both sidecars exist."""
    return all(path.exists() for path in _files(demo_dir(data_dir)))


def ensure_demo(data_dir: Path, progress: ProgressCallback | None = None, *, width: int = DEMO_WIDTH,
                height: int = DEMO_HEIGHT, seed: int = DEMO_SEED) -> Path:
    """Generate the demo slide and its sidecars once; return the demo slide directory.

    Instant when they exist. A missing sidecar is rewritten without regenerating the slide.
    Concurrent callers wait for the first one (the lock file). *progress* gets a
    :class:`DemoProgress` for every step. *width*, *height* (level-0 px) and *seed* exist for
    tests; the server uses the defaults.
    """
    directory = demo_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    if demo_is_complete(data_dir):
        return directory
    with hold_lock(directory / LOCK_NAME):
        complete_demo(data_dir, progress, width=width, height=height, seed=seed)
    return directory


def complete_demo(data_dir: Path, progress: ProgressCallback | None = None, *, width: int = DEMO_WIDTH,
                  height: int = DEMO_HEIGHT, seed: int = DEMO_SEED) -> None:
    """Write whichever demo files are missing. The caller holds the lock (:func:`hold_lock`).

    A failure is reported to *progress* (state ``failed``) and raised.
    """
    directory = demo_dir(data_dir)
    slide, xml, heatmap = _files(directory)
    if slide.exists() and xml.exists() and heatmap.exists():
        return
    start = DemoProgress.starting(width, height, DEMO_MPP, len(pyramid_sizes(width, height)))
    tracker = ProgressTracker(progress or (lambda _report: None), start)
    try:
        # Sidecars first (cheap); the slide last, so its presence means the demo is complete.
        tracker.sidecars()
        if not xml.exists():
            write_demo_annotations(xml, width, height, seed=seed)
        if not heatmap.exists():
            write_likelihood_map(heatmap, width, height, seed=seed, mpp=DEMO_MPP)
        if not slide.exists():
            generate_slide(slide, width, height, tile_size=DEMO_TILE_SIZE, mpp=DEMO_MPP, seed=seed,
                           progress=tracker.slide)
    except Exception as exc:
        tracker.failed(f"{type(exc).__name__}: {exc}")
        raise
    tracker.done()
