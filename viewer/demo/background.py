"""The demo generated in the background while the server answers: the child process that
``wsi-viewer serve`` starts before gunicorn, and what any server worker reads of its state.

* :func:`start_demo_generation` (the serve command, before gunicorn): nothing when the demo is
  complete; otherwise it takes the demo's lock when it is free, writes a first progress report,
  and starts ``python -m viewer.demo`` holding that same lock (the locked descriptor is passed
  on). When another server sharing the data directory holds the lock, the child waits for it and
  then finds the demo complete (or finishes what a crashed generator left), so it is generated once.
* The child (:func:`run_generator`) writes ``demo/progress.json`` atomically as it goes, at a
  lower CPU priority than the server, and exits when its parent server is gone.
* :func:`demo_status` (every worker, every listing): ``ready`` once the slide exists;
  ``preparing`` while some process holds the lock; otherwise ``failed`` -- the generator reported
  an error, or died (the kernel released its lock) -- until a server restart generates it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from viewer.demo.ensure import (
    LOCK_NAME,
    PROGRESS_NAME,
    complete_demo,
    demo_dir,
    demo_is_complete,
    demo_slide_path,
)
from viewer.demo.progress import ConsoleProgress, DemoProgress, ProgressFile, read_progress, write_progress
from viewer.demo.scene import DEMO_HEIGHT, DEMO_MPP, DEMO_WIDTH
from viewer.locks import hold_lock, lock_is_held, try_lock
from viewer.tiffwriter import pyramid_sizes

#: Test-only: a smaller demo ("WIDTHxHEIGHT" level-0 px) so that tests of the first start are quick.
#: Read once, by :func:`start_demo_generation`, and handed to the child explicitly.
TEST_SIZE_ENV = "WSI_VIEWER_TEST_DEMO_SIZE"


@dataclass(frozen=True)
class DemoStatus:
    """What the demo is at: ``ready``, ``preparing`` or ``failed``; *progress* is the last report
    (None before the first), *error* says why a failed demo stopped."""

    state: str
    progress: DemoProgress | None
    error: str | None = None


def demo_size() -> tuple[int, int]:
    """The demo's level-0 size: the real one, unless a test asked for a small one."""
    value = os.environ.get(TEST_SIZE_ENV, "")
    if not value:
        return DEMO_WIDTH, DEMO_HEIGHT
    width, _, height = value.partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise ValueError(f"{TEST_SIZE_ENV} must be WIDTHxHEIGHT in px, not {value!r}")
    return int(width), int(height)


def start_demo_generation(data_dir: Path,
                          size: tuple[int, int] | None = None) -> subprocess.Popen[bytes] | None:
    """Start generating the demo in a child process unless it is complete; returns at once.

    *size* (level-0 px) defaults to :func:`demo_size`. The child's console report goes to this
    process's stderr.
    """
    if demo_is_complete(data_dir):
        return None
    width, height = size or demo_size()
    directory = demo_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "viewer.demo", str(data_dir),
               "--width", str(width), "--height", str(height)]
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if try_lock(fd):
            # We generate: say so before any worker can ask, then hand the held lock to the child.
            start = DemoProgress.starting(width, height, DEMO_MPP, len(pyramid_sizes(width, height)))
            write_progress(directory / PROGRESS_NAME, start)
            command += ["--lock-fd", str(fd)]
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=(fd,))
        # Another server generates: wait for it in the background (and take over if it dies).
        return subprocess.Popen(command, stdin=subprocess.DEVNULL)
    finally:
        os.close(fd)  # the child's copy keeps the lock


def run_generator(data_dir: Path, width: int, height: int, lock_fd: int | None = None) -> int:
    """The child's work: hold the lock (inherited as *lock_fd*, or waited for), write whatever is
    missing with progress to the progress file and the console; returns the exit status."""
    parent = os.getppid()
    directory = demo_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)

    def check_parent() -> None:
        if os.getppid() != parent:
            raise SystemExit(1)  # the server is gone: nobody to generate for

    console = ConsoleProgress()
    progress_file = ProgressFile(directory / PROGRESS_NAME)

    def report(progress: DemoProgress) -> None:
        check_parent()
        progress_file(progress)
        console(progress)

    try:
        os.nice(10)  # the server's requests come first
    except OSError:
        pass
    try:
        if lock_fd is not None:
            try:
                complete_demo(data_dir, report, width=width, height=height)
            finally:
                os.close(lock_fd)
        else:
            with hold_lock(directory / LOCK_NAME, wait=check_parent):
                complete_demo(data_dir, report, width=width, height=height)
    except (KeyboardInterrupt, SystemExit):
        return 1
    except Exception:  # noqa: BLE001 - reported in the progress file and on the console already
        traceback.print_exc()
        return 1
    return 0


def demo_status(data_dir: Path) -> DemoStatus:
    """The demo's state as every server worker sees it (a stat, a lock probe and a small read)."""
    directory = demo_dir(data_dir)
    if demo_slide_path(data_dir).exists():
        return DemoStatus("ready", read_progress(directory / PROGRESS_NAME))
    held = lock_is_held(directory / LOCK_NAME)
    progress = read_progress(directory / PROGRESS_NAME)
    if held:
        return DemoStatus("preparing", progress)
    if demo_slide_path(data_dir).exists():  # finished between the two looks
        return DemoStatus("ready", progress)
    if progress is not None and progress.state == "failed":
        return DemoStatus("failed", progress, progress.error)
    return DemoStatus("failed", progress, "the demo generator stopped before it finished; restart the "
                                          "server (wsi-viewer serve) to generate the demo again")
