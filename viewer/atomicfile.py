"""Atomic file replacement: readers see the old file or the new one, never a part of either.

Every writer of user data (ASAP sidecars, mask TIFFs, the demo slide, CLI outputs) goes through
:func:`atomic_write`: a temporary file in the target's directory, fsync, rename over the target,
fsync of the directory. On any exception the temporary file is removed and the target is untouched.

A process killed mid-write (SIGKILL, power cut) cannot remove its temporary file. So, where the
file system allows it (``O_TMPFILE``: ext4, XFS, Btrfs, tmpfs), the data is written to a file with
no name at all, which the kernel frees with the process; it gets a name only once written and
synced, just before the rename. Elsewhere (NFS, some FUSE mounts) the temporary file is named from
the start. Either way each writer holds an exclusive ``flock`` on its temporary file until the
rename, so the next write to the same target (:func:`remove_leftovers`), and the annotation store at
start-up for the sidecar directories it knows (:func:`remove_leftovers_in`), remove the leftovers
nobody holds any more (the kernel drops a dead process's locks) once they are a minute old.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
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


#: A temporary file younger than this is never removed as a leftover: on a file system without
#: O_TMPFILE its writer may have created it and not yet locked it (the lock follows mkstemp by
#: microseconds), and on one without locks the age is the only sign of a live writer (a writer
#: writing keeps its file's mtime fresh).
LEFTOVER_MIN_AGE_S = 60.0


def _is_temporary_of(file_name: str, target_name: str) -> bool:
    """Whether *file_name* is a temporary file of a write to *target_name* (``.<name>.<random>.tmp``)."""
    prefix = f".{target_name}."
    return file_name.startswith(prefix) and file_name.endswith(".tmp") and len(file_name) > len(prefix) + 4


def _remove_if_abandoned(candidate: Path, now: float) -> bool:
    """Remove *candidate* if it is over a minute old and no live writer holds its lock."""
    try:
        fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < LEFTOVER_MIN_AGE_S:
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while a live writer holds it
        os.unlink(candidate)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of writes to *path* that died (unlocked, older than a minute).

    :returns: the files removed.
    """
    target = Path(path)
    return remove_leftovers_in(target.parent, [target.name])


def remove_leftovers_in(directory: str | os.PathLike[str], target_names: Iterable[str]) -> list[Path]:
    """Remove the abandoned temporary files of writes to any of *target_names* in *directory*, with
    one listing of the directory (:func:`remove_leftovers` for each name, without a listing each).

    :returns: the files removed.
    """
    folder = Path(directory)
    names = set(target_names)
    removed: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            candidates = [
                folder / entry.name
                for entry in entries
                if entry.name.startswith(".") and entry.name.endswith(".tmp")
                and any(_is_temporary_of(entry.name, name) for name in names)
            ]
    except OSError:
        return removed
    now = time.time()
    for candidate in candidates:
        if _remove_if_abandoned(candidate, now):
            removed.append(candidate)
    return removed


def _lock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until the file is closed: marks it as being written
    except OSError:
        pass  # a file system without locks (some network mounts): only the age rule protects it


def _open_unnamed(directory: Path) -> int | None:
    """A new file without a name in *directory*, or None where the file system has no O_TMPFILE."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir("/proc/self/fd"):  # the name is given through /proc (linkat)
        return None
    try:
        return os.open(directory, flag | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:
        return None  # EOPNOTSUPP and friends; a real problem (EACCES) shows again in mkstemp


def _temporary_name(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"


def _name_unnamed(fd: int, target: Path, mode: int) -> tuple[Path, int | None]:
    """Give the unnamed file *fd* a temporary name beside *target*; returns the name and, when the
    kernel refused the link and the data had to be copied to a named file, that file's locked fd."""
    try:
        proc_fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        proc_fds = -1
    try:
        for _attempt in range(8 if proc_fds >= 0 else 0):
            name = _temporary_name(target)
            try:
                # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N links the fd's inode; os.link without a
                # dir_fd calls link(), which links the /proc entry itself (EXDEV).
                os.link(str(fd), name, src_dir_fd=proc_fds, follow_symlinks=True)
                return name, None
            except FileExistsError:
                continue
            except OSError:
                break
    finally:
        if proc_fds >= 0:
            os.close(proc_fds)
    copy_fd, copy_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        _lock(copy_fd)
        os.fchmod(copy_fd, mode)
        offset = 0
        while chunk := os.pread(fd, 1 << 20, offset):
            view = memoryview(chunk)
            while view:
                view = view[os.write(copy_fd, view):]
            offset += len(chunk)
        os.fsync(copy_fd)
    except BaseException:
        os.close(copy_fd)
        os.unlink(copy_name)
        raise
    return Path(copy_name), copy_fd


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], buffering: int = -1, *, sync_directory: bool = True
) -> Iterator[BinaryIO]:
    """A binary file to write; when the block ends without an exception it replaces *path*.

    The new file keeps the replaced file's permissions, or gets what ``open()`` would give
    (``mkstemp``'s 0600 would hide a sidecar or slide from the other users of a server).

    :param sync_directory: fsync the directory after the rename (False for a file whose rename a
        later write in the same directory makes durable).
    """
    target = Path(path)
    remove_leftovers(target)
    fd = _open_unnamed(target.parent)
    temp_name: Path | None = None
    copy_fd: int | None = None
    if fd is None:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        temp_name = Path(name)
    try:
        _lock(fd)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", buffering=buffering) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            if temp_name is None:
                temp_name, copy_fd = _name_unnamed(fd, target, mode)
            os.replace(temp_name, target)  # still locked: no cleanup can take the file meanwhile
    except BaseException:
        if temp_name is not None:
            try:
                os.unlink(temp_name)
            except FileNotFoundError:
                pass
        raise
    finally:
        if copy_fd is not None:
            os.close(copy_fd)
    if sync_directory:
        fsync_directory(target.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, sync_directory: bool = True) -> None:
    """Replace *path* with *data* atomically."""
    with atomic_write(path, sync_directory=sync_directory) as handle:
        handle.write(data)
