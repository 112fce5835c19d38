"""ASAP (and Hamamatsu NDPA) sidecar files on disk: finding the one that belongs to a slide,
keeping to the allowed roots, reading it with bounds, replacing it atomically, and the record a
write-back leaves beside it until its change commits. No database here
(:mod:`viewer.store.sidecar_sync` keeps sets and files in step).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from viewer.annotations.model import AnnotationSet
from viewer.errors import AnnotationFormatError, InputTooLargeError, InvalidInputError, ViewerError

if TYPE_CHECKING:
    from viewer.annotations.ndpa import NdpaFrame

log = logging.getLogger(__name__)

#: (mtime_ns, size) of a file: how a set notices that its sidecar changed on disk.
Signature = tuple[int, int]
#: The extension of a Hamamatsu NDP.view sidecar, ``<slide>.ndpi.ndpa``.
NDPA_SUFFIX = ".ndpa"


class SidecarFiles:
    """Locating, containing and reading the ASAP XML that belongs to a slide.

    Sidecars follow the slides' containment rule: a ``<stem>.xml`` (or a folder on its way) that is
    a symlink whose target leaves the slide root, or the annotation directory (an allowed root of
    its own), is ignored, at the first import and at every later read and write-back. A set keeps
    the path as found (a link's own name, not its target's); reads and writes go to the file it
    resolves to. Errors name files relative to the slide root or the annotation directory, never by
    their absolute server path.
    """

    def __init__(
        self,
        annotation_dir: str | os.PathLike[str] | None,
        max_bytes: int | None,
        slide_root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.annotation_dir = Path(annotation_dir).absolute() if annotation_dir else None
        self.max_bytes = max_bytes
        self.slide_root = Path(slide_root).absolute() if slide_root else None
        self._real_roots = [r.resolve() for r in (self.slide_root, self.annotation_dir) if r is not None]
        # as configured and as resolved (a slide's path may come either way)
        self._display_roots = [
            (form, label)
            for root, label in ((self.slide_root, ""), (self.annotation_dir, "<ANNOTATION_DIR>/"))
            if root is not None
            for form in (root, root.resolve())
        ]

    @staticmethod
    def _derived_root(slide_key: str, slide_path: Path) -> Path:
        """The slide root implied by a slide's key (its path under the root) and its path."""
        parts = PurePosixPath(slide_key).parts
        if parts and len(slide_path.parts) > len(parts) and slide_path.parts[-len(parts) :] == parts:
            return slide_path.parents[len(parts) - 1]
        return slide_path.parent

    def _roots_for(self, fallback_root: Path) -> list[Path]:
        if self.slide_root is not None:
            return self._real_roots
        real = [fallback_root.resolve()]
        if self.annotation_dir is not None:
            real.append(self.annotation_dir.resolve())
        return real

    @staticmethod
    def _inside(path: Path, real_roots: list[Path]) -> Path | None:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if any(real == r or r in real.parents for r in real_roots) else None

    def find(self, slide_key: str, slide_path: Path | None) -> Path | None:
        """``<stem>.xml`` next to the slide, in the annotation directory (mirroring the slide's folder,
        or flat), or in ``../annotations/`` beside an ``images/`` folder (the CAMELYON layout): the
        first regular file among them whose real path stays inside an allowed root, as found."""
        if slide_path is None:
            return None
        slide_path = slide_path.absolute()
        stem = slide_path.stem if slide_path.suffix else slide_path.name
        candidates = [slide_path.with_name(stem + ".xml")]
        if self.annotation_dir is not None:
            folder = Path(slide_key).parent
            candidates += [
                self.annotation_dir / folder / (stem + ".xml"),
                self.annotation_dir / (stem + ".xml"),
            ]
        if slide_path.parent.name == "images":
            candidates.append(slide_path.parent.parent / "annotations" / (stem + ".xml"))
        roots = self._roots_for(self._derived_root(slide_key, slide_path))
        for candidate in candidates:
            if candidate.is_file():
                if self._inside(candidate, roots) is not None:
                    return candidate
                log.warning("sidecar %s leads outside the slide directory: ignored", candidate)
        return None

    def real_path(self, path: Path) -> Path | None:
        """The file a set's sidecar *path* resolves to now, if that is still inside an allowed root
        (the slide root, or without one the sidecar's own folder; the annotation directory)."""
        return self._inside(path, self._roots_for(path.parent))

    def display(self, path: Path) -> str:
        """*path* for messages: relative to the slide root or the annotation directory."""
        for root, label in self._display_roots:
            try:
                return label + path.relative_to(root).as_posix()
            except ValueError:
                continue
        return path.name

    def find_ndpa(self, slide_key: str, slide_path: Path | None) -> Path | None:
        """``<slide file name>.ndpa`` beside the slide (NDP.view's ``<slide>.ndpi.ndpa``), if it is a
        regular file whose real path stays inside an allowed root, as found."""
        if slide_path is None:
            return None
        candidate = slide_path.absolute().with_name(slide_path.name + NDPA_SUFFIX)
        if not candidate.is_file():
            return None
        roots = self._roots_for(self._derived_root(slide_key, slide_path.absolute()))
        if self._inside(candidate, roots) is None:
            log.warning("sidecar %s leads outside the slide directory: ignored", candidate)
            return None
        return candidate

    def ndpa_frame(self, sidecar: Path) -> NdpaFrame:
        """Where an NDPA sidecar's nanometres land: the frame of the slide it is named after (the
        sidecar's path as found or its real path, minus ``.ndpa``), read with OpenSlide.

        :raises InvalidInputError: the slide cannot be read or has no Hamamatsu frame.
        """
        from viewer.annotations.ndpa import NdpaFrame
        from viewer.slides import read_slide_info

        slide = sidecar.with_name(sidecar.name.removesuffix(NDPA_SUFFIX))
        try:
            info = read_slide_info(slide.name, slide, slide.stat())
        except OSError as exc:
            raise InvalidInputError(f"its slide {slide.name} cannot be read: {exc.strerror}") from None
        return NdpaFrame.from_slide(info)

    def parse(self, real: Path, data: bytes, warnings: list[str] | None = None) -> AnnotationSet:
        """An NDPA sidecar's *data* placed on its slide (:meth:`ndpa_frame`)."""
        from viewer.annotations.ndpa import read_ndpa

        return read_ndpa(data, self.ndpa_frame(real), max_bytes=self.max_bytes, warnings=warnings)

    def serialise(self, path: Path, aset: AnnotationSet) -> bytes:
        """The bytes a write-back of *aset* puts in the sidecar at *path*: NDPA for an ``.ndpa``
        (placed with its slide's frame), ASAP XML otherwise.

        :raises InvalidInputError: an NDPA sidecar whose slide has no frame any more.
        """
        if path.suffix == NDPA_SUFFIX:
            from viewer.annotations.ndpa import write_ndpa

            return write_ndpa(aset, self.ndpa_frame(path))
        from viewer.annotations.asap import write_asap

        return write_asap(aset)

    def read(
        self, real: Path, warnings: list[str] | None = None
    ) -> tuple[AnnotationSet, bytes, Signature]:
        """Parse the file at *real* (a :meth:`real_path`); returns the set, its bytes and its
        (mtime_ns, size) when read; *warnings* receives what the reader tolerated. Messages carry
        no path.

        :raises AnnotationFormatError, ValidationError, InputTooLargeError, OSError
        """
        from viewer.annotations.asap import read_asap

        # No link is followed (real has none) and a FIFO or device is refused, not waited on.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise AnnotationFormatError("not a regular file")
            if self.max_bytes is not None and st.st_size > self.max_bytes:
                raise InputTooLargeError(f"larger than {self.max_bytes} bytes")
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read() if self.max_bytes is None else handle.read(self.max_bytes + 1)
        finally:
            os.close(fd)
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise InputTooLargeError(f"larger than {self.max_bytes} bytes")
        aset = self.parse(real, data, warnings) if real.suffix == NDPA_SUFFIX else read_asap(
            data, max_bytes=self.max_bytes, warnings=warnings)
        sig = (st.st_mtime_ns, st.st_size) if st.st_size == len(data) else (0, len(data))
        return aset, data, sig


def signature(path: Path) -> Signature | None:
    """The file's (mtime_ns, size), or None when it cannot be seen."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def write_sidecar(path: Path, data: bytes) -> Signature:
    """Replace *path* by *data* atomically (:mod:`viewer.atomicfile`: temp file in the same
    directory, fsync, rename, fsync of the directory; the file keeps its permissions), so readers
    see the old file or the new one, complete, whatever happens to this process. Returns the new
    file's (mtime_ns, size)."""
    from viewer.atomicfile import write_atomic

    write_atomic(path, data)
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def reason(exc: BaseException) -> str:
    """Why a sidecar could not be read or written, without the absolute path an OSError carries."""
    if isinstance(exc, ViewerError):
        return exc.message
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


#: Beside a sidecar while its write-back is not committed: who wrote it and what it should become.
PENDING_SUFFIX = ".pending-change.json"


def pending_path(real: Path) -> Path:
    """Where the record of an uncommitted write-back of *real* is kept."""
    return real.with_name(f".{real.name}{PENDING_SUFFIX}")


def unlink_quietly(path: Path) -> None:
    """Remove *path* if it is there."""
    try:
        path.unlink()
    except OSError:
        pass


#: Test hook (tests/test_store_reliability.py), read once at import: the first sidecar write-back
#: of a server creates this file after its rename and then waits, before the commit, to be killed.
PAUSE_AFTER_SIDECAR_RENAME = os.environ.get("WSI_VIEWER_TEST_PAUSE_AFTER_SIDECAR_RENAME")


def pause_for_test(marker: str) -> None:
    """The pause of :data:`PAUSE_AFTER_SIDECAR_RENAME` (once per test run)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return  # one pause per test run: the worker that replaces the killed one writes normally
    time.sleep(600)
