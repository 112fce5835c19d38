"""Atomic file replacement: readers see the old file or the new one, never a part of either.

Every writer of user data (ASAP sidecars, mask TIFFs, the demo slide, CLI outputs) goes through
:func:`atomic_write`: a temporary file in the target's directory, fsync, rename over the target,
fsync of the directory. On any exception the temporary file is removed and the target is untouched.

A process killed mid-write (SIGKILL, power cut) cannot remove its temporary file. Each writer holds
an exclusive ``flock`` on its temporary file while writing, so the next write to the same target
removes the leftovers nobody holds any more (the kernel drops a dead process's locks).
"""

from __future__ import annotations

import fcntl
import glob
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in *directory* durable (a no-op where directories cannot be opened or synced)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


#: A temporary file younger than this is never removed as a leftover: its writer may have created it
#: and not yet locked it (the lock follows mkstemp by microseconds).
LEFTOVER_MIN_AGE_S = 60.0


def remove_leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of writes to *path* that died (unlocked, older than a minute).

    :returns: the files removed.
    """
    target = Path(path)
    removed: list[Path] = []
    try:
        candidates = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for candidate in candidates:
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if now - os.fstat(fd).st_mtime < LEFTOVER_MIN_AGE_S:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while a live writer holds it
            os.unlink(candidate)
            removed.append(candidate)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


@contextmanager
def atomic_write(path: str | os.PathLike[str], buffering: int = -1) -> Iterator[BinaryIO]:
    """A binary file to write; when the block ends without an exception it replaces *path*.

    The new file keeps the replaced file's permissions, or gets what ``open()`` would give
    (``mkstemp``'s 0600 would hide a sidecar or slide from the other users of a server).
    """
    target = Path(path)
    remove_leftovers(target)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed: marks it as being written
        except OSError:
            pass  # a file system without locks (some network mounts): only the age rule protects it
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", buffering=buffering) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_directory(target.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace *path* with *data* atomically."""
    with atomic_write(path) as handle:
        handle.write(data)
