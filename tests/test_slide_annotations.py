"""viewer.slide_annotations: library slides bound to the annotation store without Flask — first use
imports the sidecar, counts cover slides never opened, a broken sidecar or an unreadable slide
does not break the counts of the others."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap
from viewer.errors import SlideNotFoundError
from viewer.services import Services

DATA = Path(__file__).parent / "data"
REAL = DATA / "asap" / "real"
SLIDE = DATA / "slides" / "aperio" / "CMU-1-Small-Region.svs"


@pytest.fixture(params=ENGINES)
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    slides = tmp_path / "slides"
    (slides / "sub").mkdir(parents=True)
    shutil.copy(SLIDE, slides / "a.svs")
    shutil.copy(REAL / "tumor_111.xml", slides / "a.xml")
    shutil.copy(SLIDE, slides / "sub" / "b.svs")
    shutil.copy(SLIDE, slides / "c.svs")
    (slides / "c.xml").write_bytes(b"<ASAP_Annotations><Annotations><Annotation")  # broken sidecar
    (slides / "broken.svs").write_bytes(b"II*\0" + b"\xff" * 5000)
    with database_setting(request.param, tmp_path) as database:
        from viewer.config import load_settings

        found = Services(load_settings(None, overrides={
            "SLIDE_DIR": str(slides), "DATA_DIR": str(tmp_path / "data"), "DATABASE": database}))
        yield found
        found.store.close()
        found.slides.close()


def test_counts_open_slides_on_first_use_and_import_their_sidecars(services: Services) -> None:
    binding = services.slide_annotations
    assert "flask" not in type(binding).__module__
    ids = [info.id for info in services.slides.scan()]
    assert set(ids) >= {"a.svs", "sub/b.svs", "c.svs"}
    counts = binding.counts(ids)
    assert counts["a.svs"] == len(read_asap(REAL / "tumor_111.xml").annotations)
    assert counts["sub/b.svs"] == 0 and counts["c.svs"] == 0  # a broken sidecar: no set, a count
    slide = binding.open("c.svs")
    assert services.store.list_sets(slide) == [] and "c.xml" in (services.store.slide_error(slide) or "")
    first = binding.first_set("a.svs")
    assert first is not None and first.created_by == "sidecar" and first.version == 1
    assert binding.first_set("sub/b.svs") is None
    assert binding.open("a.svs") == binding.open("a.svs")  # the second use imports nothing
    assert len(services.store.list_sets(binding.open("a.svs"))) == 1
    with pytest.raises(SlideNotFoundError):
        binding.open("../a.svs")
