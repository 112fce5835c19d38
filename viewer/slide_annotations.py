"""The binding of library slides to the annotation store: a slide id of the library (its path under
the slide directory) becomes the store's slide row on first use, which imports the ASAP sidecar
beside it and carries annotations along when the slide was renamed or moved (same quickhash).
No Flask here; :class:`viewer.services.Services` builds one per app.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from viewer.slides import SlideLibrary

if TYPE_CHECKING:
    from viewer.store import SetInfo, Store

log = logging.getLogger(__name__)

#: The name of the set a first save through the slide's ASAP XML address creates.
FIRST_SET_NAME = "default"


class SlideAnnotations:
    """The annotation sets of the library's slides."""

    def __init__(self, slides: SlideLibrary, store: Store) -> None:
        self.slides = slides
        self.store = store

    def open(self, slide_id: str) -> int:
        """The store's id of library slide *slide_id* (first use imports its ASAP sidecar).

        :raises SlideNotFoundError: no such slide in the library.
        """
        info = self.slides.info(slide_id)
        known = [i.id for i in self.slides.scan()]
        return self.store.open_slide(info.id, self.slides.root / info.id, info.quickhash, known_keys=known)

    def counts(self, slide_ids: Sequence[str]) -> dict[str, int]:
        """Annotations per slide over all its sets; slides never used are opened first (sidecar
        import). A slide whose opening fails is left out (logged): one broken sidecar must not
        break the listing."""
        counts = self.store.annotation_counts(slide_ids)
        missing = [s for s in slide_ids if s not in counts]
        for slide_id in missing:
            try:
                self.open(slide_id)
            except Exception:  # noqa: BLE001 - logged; the slide is listed without a count
                log.exception("could not open %s in the annotation store", slide_id)
        if missing:
            counts.update(self.store.annotation_counts(missing))
        return counts

    def set_counts(self, slide_ids: Sequence[str]) -> dict[str, int]:
        """Annotation sets per slide (call :meth:`counts` first: it opens slides never used)."""
        return self.store.set_counts(slide_ids)

    def first_set(self, slide_id: str) -> SetInfo | None:
        """The set the slide's ASAP XML address reads and writes: its first one (None: it has none)."""
        return self.store.first_set(self.open(slide_id))
