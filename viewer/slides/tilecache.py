"""Rendered tiles on disk, shared by every worker process (and kept across restarts).

A stored JPEG tile is sent as the scanner wrote it, so reading it again is cheap. A *rendered* tile
(an edge tile cropped out of a stored one, a tile of a level the slide lacks, a PNG) costs a decode
and an encode, 5-20 ms. Each worker keeps tiles in memory, but a client's connection may reach
another worker, which would render the tile again: this cache lets every worker find what any of
them rendered.

Files are named by the tile's strong ETag (which covers the slide's path, size, mtime and the tile
options), so a changed slide never meets its old tiles. Writes are atomic (temporary file, rename)
but not fsynced: this is a cache. A checksum header makes a file damaged by a crash read as a miss,
never as a broken tile. The directory is bounded by bytes; the oldest files go first.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

_MAGIC = b"WSIT"
_DIGEST = 8
_HEADER = len(_MAGIC) + _DIGEST
#: A temporary file older than this belongs to a writer that died: the next clean-up removes it.
_STALE_TEMP_S = 60.0


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST).digest()


class DiskTileCache:
    """Encoded tiles by key (a hex ETag) in *directory*, at most about *max_bytes* in all."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._written_since_check = max_bytes  # check the directory's size on the first write
        self._trimming = False

    def _path(self, key: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("tile cache keys are lower-case hex")
        return self.directory / key[:2] / key

    def get(self, key: str) -> bytes | None:
        """The tile stored under *key*, or None (absent, or damaged: then it is removed)."""
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        data = raw[_HEADER:]
        if raw[: len(_MAGIC)] != _MAGIC or raw[len(_MAGIC) : _HEADER] != _digest(data):
            try:
                path.unlink()
            except OSError:
                pass
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store *data* under *key* (best effort: a full or read-only disk only loses the cache)."""
        path = self._path(key)
        temp = path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{key}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as f:
                f.write(_MAGIC + _digest(data) + data)
            os.replace(temp, path)
        except OSError:
            try:
                temp.unlink()
            except OSError:
                pass
            return
        with self._lock:
            self._written_since_check += len(data) + _HEADER
            due = self._written_since_check >= self.max_bytes // 8 and not self._trimming
            if due:
                self._written_since_check = 0
                self._trimming = True
        if due:
            # Listing a large cache takes a while: not on the request that happened to cross the mark.
            threading.Thread(target=self._trim_in_background, name="tile-cache-trim", daemon=True).start()

    def _trim_in_background(self) -> None:
        # Writes made while a trim runs may come after its listing: if they crossed the mark again,
        # trim once more, or the last burst of writes would leave the directory past its bound.
        again = True
        try:
            while again:
                self.trim()
                with self._lock:
                    again = self._written_since_check >= self.max_bytes // 8
                    if again:
                        self._written_since_check = 0
        finally:
            with self._lock:
                self._trimming = False

    def trim(self) -> int:
        """Remove the oldest files until the directory holds at most 80% of *max_bytes*, and any
        temporary files of writers that died; returns the bytes the directory then holds."""
        files: list[tuple[float, int, Path]] = []
        now = time.time()
        try:
            subdirs = [d for d in os.scandir(self.directory) if d.is_dir(follow_symlinks=False)]
        except OSError:
            return 0
        for subdir in subdirs:
            try:
                entries = list(os.scandir(subdir.path))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.startswith(".tmp-"):
                    if now - st.st_mtime > _STALE_TEMP_S:
                        _remove(entry.path)
                    continue
                files.append((st.st_mtime, st.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in files)
        if total > self.max_bytes:
            files.sort()
            for _, size, path in files:
                if total <= self.max_bytes * 0.8:
                    break
                if _remove(path):
                    total -= size
        return total


def _remove(path: str | os.PathLike[str]) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
