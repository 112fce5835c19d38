"""Library scan: every file under the slide root that is a slide, with the id it is served under.

Ids are paths relative to the root with POSIX separators. A MIRAX slide (``.mrxs`` plus its data
folder) and a DICOM series (a directory of ``.dcm`` files) are each one slide; a model's result
image beside its slide (ASAP's ``<stem>_likelihood_map.tif``) is an overlay, not a slide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openslide

from viewer.slides.paths import inside_root

#: File name extensions OpenSlide may open. A DICOM series (a directory of ``.dcm`` files) and a
#: MIRAX slide (``.mrxs`` plus its data folder) are each listed once.
SLIDE_EXTENSIONS = frozenset(
    {".svs", ".tif", ".tiff", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".bif", ".svslide", ".dcm"}
)
#: ASAP's convention for a model's result image beside its slide (``<stem>_likelihood_map.tif``):
#: an overlay of that slide, not a slide of its own.
OVERLAY_SUFFIX = "_likelihood_map"


@dataclass(frozen=True)
class Entry:
    """A slide found by the scan: its id and the file OpenSlide opens for it."""

    id: str
    open_path: Path
    stat_path: Path  # the file whose size/mtime identify this version of the slide


def walk_slides(root: Path) -> Iterator[Entry]:
    """Every slide under *root* (resolved), in a stable order; links leaving the root are skipped."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        # A MIRAX slide's data folder (same stem as the .mrxs file) belongs to that slide.
        mrxs_stems = {Path(f).stem for f in filenames if f.lower().endswith(".mrxs")}
        dirnames[:] = sorted(d for d in dirnames if d not in mrxs_stems and not d.startswith("."))
        dicom: list[str] = []
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            stem, suffix = os.path.splitext(name)
            suffix = suffix.lower()
            if suffix not in SLIDE_EXTENSIONS or stem.endswith(OVERLAY_SUFFIX):
                continue
            path = here / name
            # os.walk does not follow directory links, so only a file link can leave the root
            if os.path.islink(path) and not inside_root(root, path):
                continue
            if suffix == ".dcm":
                dicom.append(name)
                continue
            rel = path.relative_to(root).as_posix()
            yield Entry(rel, path, path)
        if dicom:
            # One DICOM series per directory: its id is the directory; OpenSlide opens the
            # series from any of its files, so open the first that is a WSI instance.
            rel_dir = here.relative_to(root).as_posix()
            first = here / dicom[0]
            readable = (here / n for n in dicom if openslide.OpenSlide.detect_format(str(here / n)))
            chosen = next(readable, first)
            yield Entry(rel_dir if rel_dir != "." else dicom[0], chosen, chosen)
