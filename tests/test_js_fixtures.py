"""The browser's geometry tests compare against fixtures the Python geometry module writes
(``tests/make_js_fixtures.py``); this checks the committed file is what the module gives today,
so the two implementations cannot drift apart unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import make_js_fixtures


def test_committed_js_fixtures_are_current() -> None:
    committed = make_js_fixtures.OUT.read_text()
    assert committed == make_js_fixtures.render(), "run: python tests/make_js_fixtures.py"
    doc = json.loads(committed)
    assert len(doc["splines"]) >= 15 and any(c["source"].startswith("tumor_") for c in doc["splines"])
    assert any(c["inside"] for h in doc["hits"] for c in h["probes"])


def test_check_mode_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "geometry.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(make_js_fixtures, "OUT", stale)
    assert make_js_fixtures.main(["--check"]) == 1
    assert make_js_fixtures.main([]) == 0
    assert make_js_fixtures.main(["--check"]) == 0
