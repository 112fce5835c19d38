"""The Deep Zoom level count from a slide's metadata alone equals what DeepZoomGenerator makes
(the overlay listing uses it instead of opening every slide)."""

from __future__ import annotations

from pathlib import Path

import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator

from tests._overlay_helpers import write_sparse_tiles_slide
from viewer.slides import SlideLibrary, TileOptions
from viewer.slides.deepzoom import deep_zoom_level_count

DATA = Path(__file__).parent / "data" / "slides"


def _slides(tmp_path: Path) -> list[Path]:
    found = [p for p in sorted(DATA.rglob("*")) if p.is_file() and openslide.OpenSlide.detect_format(str(p))]
    return [*found, write_sparse_tiles_slide(tmp_path / "bounds") / "sparse-tiles.tiff"]


@pytest.mark.parametrize("limit_bounds", [True, False])
def test_level_count_from_metadata_equals_the_generator(tmp_path: Path, limit_bounds: bool) -> None:
    slides = _slides(tmp_path)
    assert any("bounds" in str(p) for p in slides) and len(slides) >= 2
    for path in slides:
        with openslide.OpenSlide(str(path)) as osr:
            expected = DeepZoomGenerator(osr, limit_bounds=limit_bounds).level_count
            got = deep_zoom_level_count(osr.level_dimensions, dict(osr.properties), limit_bounds)
        assert got == expected, path


def test_library_answers_without_opening_and_agrees_once_open(tmp_path: Path) -> None:
    root = write_sparse_tiles_slide(tmp_path / "bounds")
    library = SlideLibrary(root, options=TileOptions(limit_bounds=True))
    slide_id = library.scan()[0].id
    before = library.deep_zoom_level_count(slide_id)
    assert not library._handles  # noqa: SLF001 - the point: nothing was opened
    assert before == library.geometry(slide_id).level_count == library.deep_zoom_level_count(slide_id)
