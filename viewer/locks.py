"""Advisory locks between processes: ``flock`` on a lock file. The kernel drops a lock when its
holder dies, so a free lock on a job's or the demo generator's lock file means nobody is at work.

One place for what the job queue and the demo generator both do: hold a lock for a block, try it
without waiting, and look whether someone holds it without disturbing them.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def hold_lock(path: Path, *, wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the exclusive lock on *path* (created if missing) for the block.

    Without *wait*, block until it is free; with it, try every half second and call *wait*
    between attempts (it may raise to give up).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if wait is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            while not try_lock(fd):
                wait()
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def try_lock(fd: int) -> bool:
    """Take the exclusive lock of *fd* if nobody holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def lock_is_held(path: Path) -> bool:
    """Whether some process holds the lock on *path* now.

    Looks with a shared non-blocking attempt, released at once, so lookers never disturb each
    other. A missing or unreadable file is not held; a file system that refuses the attempt for
    another reason counts as held, so that a caller never takes a live holder for a dead one.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:  # BlockingIOError: held
        return True
    finally:
        os.close(fd)  # releases the shared lock taken to look
