"""``wsi-viewer overlay polygons``: an overlay added with ``overlay add`` thresholded into a set of
the server's store (the disk and the ring of the HTTP test), and its errors (exit status 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.test_web_overlay_polygons import CMU, DATA, known_map
from viewer.cli import main
from viewer.config import load_settings
from viewer.services import Services


def test_overlay_polygons_makes_a_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / CMU)
    np.save(tmp_path / "known.npy", known_map(139, 186))
    where = ["--slide-dir", str(slides), "--data-dir", str(tmp_path / "data")]
    known = str(tmp_path / "known.npy")
    assert main(["overlay", "add", CMU, known, "--name", "known", "--json", *where]) == 0
    overlay_id = json.loads(capsys.readouterr().out)["id"]

    assert main(["overlay", "polygons", overlay_id, "--threshold", "0.5", "--user", "cli", *where]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"set 1 'known >= 0.5' on {CMU}: 2 regions\n")
    assert "  region 1: micro: area" in out and "1 hole" in out

    assert main(["overlay", "polygons", overlay_id, "--threshold", "0.5", "--min-area-um2", "1e5",
                 "--name", "big ones", "--json", *where]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["set"]["name"] == "big ones" and [r["name"] for r in made["regions"]] == ["region 1"]

    store = Services(load_settings(None, overrides={"SLIDE_DIR": str(slides),
                                                    "DATA_DIR": str(tmp_path / "data")})).store
    first = store.state(1)
    assert [r.annotation.name for r in first.annotations] == ["region 1", "region 2"]
    [change] = store.history(1)
    assert change.who == "cli" and change.message == "2 regions of known at threshold 0.5"
    assert first.groups[0].group.attributes["overlay"] == overlay_id

    assert main(["overlay", "polygons", overlay_id, "--threshold", "2", *where]) == 2
    err = capsys.readouterr().err
    assert "threshold: 2 is outside the overlay's value range [0, 1]" in err
    assert main(["overlay", "polygons", "0123456789ab", "--threshold", "0.5", *where]) == 2
    assert "overlay" in capsys.readouterr().err
