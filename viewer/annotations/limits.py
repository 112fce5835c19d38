"""Annotation input under a size limit: a path is opened without blocking on FIFOs or devices and
refused before reading when too large; bytes are taken as they are."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from viewer.config import SETTINGS
from viewer.errors import AnnotationFormatError, InputTooLargeError, NotFoundError

#: Default size limit: the ANNOTATION_MAX_MB setting's default, in bytes.
DEFAULT_MAX_BYTES = next(s.default for s in SETTINGS if s.name == "ANNOTATION_MAX_MB") * 1024 * 1024


def read_limited(source: bytes | str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of *source* (a path, or bytes given as they are), refusing more than *limit* bytes.

    :raises InputTooLargeError: over *limit* (checked before reading a file).
    :raises NotFoundError: no such file.
    :raises AnnotationFormatError: the file cannot be read.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limit:
            raise InputTooLargeError(f"annotation data is {len(data):,} bytes, over the limit of {limit:,}")
        return data
    path = Path(source)
    try:
        # O_NONBLOCK: a FIFO or device under the name must not hang the reader; only files are read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AnnotationFormatError(f"{path}: not a regular file")
        if st.st_size > limit:
            raise InputTooLargeError(
                f"{path}: {st.st_size:,} bytes, over the annotation file limit of {limit:,}"
            )
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise AnnotationFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while we read it
        raise InputTooLargeError(f"{path}: over the annotation file limit of {limit:,} bytes")
    return data
