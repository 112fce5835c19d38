"""The brush fixtures (``tests/data/brush/*.json``, shapely's answers the JS brush is tested against)
are what their generator writes today: regenerated in a temporary folder, byte for byte equal."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
GENERATOR = ROOT / "data" / "tools" / "make_brush_fixtures.py"
COMMITTED = ROOT / "data" / "brush"


def test_brush_fixtures_are_reproducible(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_brush_fixtures", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.write(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in COMMITTED.glob("*.json"))
    for path in written:
        assert path.read_bytes() == (COMMITTED / path.name).read_bytes(), path.name


@pytest.mark.parametrize("name", ["crossing", "inside", "outside", "self-intersecting"])
def test_brush_fixtures_hold_the_cases_the_brief_names(name: str) -> None:
    fixture = json.loads((COMMITTED / f"{name}.json").read_text())
    add, cut = fixture["add"], fixture["cut"]
    expected = {
        "crossing": cut["pieces"] == 2,  # the cut splits the polygon
        "inside": cut["holes"] == 1 and add["area"] == fixture["polygon"]["area"],
        "outside": add["pieces"] == 2 and cut["area"] == fixture["polygon"]["area"],
        "self-intersecting": add["holes"] >= 1,
    }
    assert expected[name], fixture
