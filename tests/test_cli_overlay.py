"""``wsi-viewer overlay add/list/remove``: the real console script over a real slide directory and
data directory, the same store the server serves; one-line errors, exit status 2, nothing stored on
failure."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from viewer.app import create_app
from viewer.cli import main

DATA = Path(__file__).parent / "data"
CMU = "CMU-1-Small-Region.svs"  # 2220 x 2967 px: at 1/16 a 139 x 186 grid
#: The console script's entry (``wsi-viewer`` = ``viewer.cli:main``), run as the other CLI tests run
#: it: tests/test_dockerfile.py's ``pip install --prefix`` uninstalls the venv's ``wsi-viewer`` file.
SCRIPT = [sys.executable, "-m", "viewer.cli"]


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / CMU)
    tifffile.imwrite(slides / "CMU-1-Small-Region_likelihood_map.tif", np.full((186, 139), 200, np.uint8))
    return slides, tmp_path / "data"


def _heat(path: Path, width: int = 139, height: int = 186) -> Path:
    j, i = np.mgrid[0:height, 0:width]
    tifffile.imwrite(path, ((i + 7 * j) % 256).astype(np.uint8))
    return path


def _script(dirs: tuple[Path, Path], *argv: str) -> subprocess.CompletedProcess[str]:
    slides, data = dirs
    command = [*SCRIPT, "overlay", *argv, "--slide-dir", str(slides), "--data-dir", str(data)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _rows(table: str) -> list[list[str]]:
    """The table's rows split on its column gaps (two spaces or more)."""
    return [re.split(r" {2,}", line) for line in table.splitlines()]


def test_add_list_remove_through_the_console_script(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    slides, data = dirs
    source = _heat(tmp_path / "heat.tif")
    added = _script(dirs, "add", CMU, str(source), "--name", "Model A")
    assert added.returncode == 0 and added.stderr == "", added.stderr
    header, row = _rows(added.stdout)
    assert header == ["ID", "NAME", "KIND", "RANGE", "SCALE"]
    overlay_id = row[0]
    assert row[1:] == ["Model A", "heatmap", "0..255", "16"]
    # SLIDE may be the slide file's path; --scale, --kind and a range are taken as given
    placed = _script(dirs, "add", str(slides / CMU), str(source), "--scale", "8", "--value-min", "0",
                     "--value-max", "1", "--json")
    assert placed.returncode == 0, placed.stderr
    described = json.loads(placed.stdout)
    assert described["scale"] == 8 and described["value_range"] == {"min": 0, "max": 1}

    listed = _script(dirs, "list", CMU)
    assert listed.returncode == 0, listed.stderr
    rows = _rows(listed.stdout)[1:]
    assert [r[1] for r in rows] == ["CMU-1-Small-Region_likelihood_map.tif [attached]", "Model A", "heat.tif"]
    assert [r[0] for r in rows][1:] == [overlay_id, described["id"]]

    # the store is the server's: the API lists the same overlays, and serves the copy made at add
    source.unlink()
    app = create_app({"SLIDE_DIR": str(slides), "DATA_DIR": str(data)})
    client = app.test_client()
    served = client.get(f"/api/slides/{CMU}/overlays").get_json()["overlays"]
    assert [o["id"] for o in served] == [r[0] for r in rows]
    value = client.get(f"{served[1]['urls']['value']}?x=100&y=100").get_json()["value"]
    assert value == (6 + 7 * 6) % 256
    app.extensions["wsi_viewer"].slides.close()

    removed = _script(dirs, "remove", overlay_id)
    assert removed.returncode == 0 and removed.stdout == f"removed overlay {overlay_id}\n"
    refused = _script(dirs, "remove", rows[0][0])  # the attached map: its file is the truth
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("wsi-viewer overlay: error: ")
    assert "likelihood_map" in refused.stderr
    assert sorted(p.name for p in (data / "overlays").iterdir()) == [described["id"]]


@pytest.mark.parametrize(("argv", "needle"), [
    (["add", CMU, "{small}"], "downsample"),
    (["add", CMU, "{missing}"], "no such file"),
    (["add", CMU, "{heat}", "--scale", "0"], "--scale"),
    (["add", CMU, "{heat}", "--classes", "a,,b"], "--classes"),
    (["add", "nope.svs", "{heat}"], "nope.svs"),
    (["list", "nope.svs"], "nope.svs"),
    (["remove", "0123456789ab"], "no such overlay"),
])
def test_errors_are_one_line_exit_2_and_store_nothing(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    slides, data = dirs
    files = {"small": str(_heat(tmp_path / "small.tif", 100, 100)), "heat": str(_heat(tmp_path / "heat.tif")),
             "missing": str(tmp_path / "missing.tif")}
    status = main(["overlay", *[a.format(**files) for a in argv], "--slide-dir", str(slides),
                   "--data-dir", str(data)])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("wsi-viewer overlay: error: ") and needle in err, err
    overlays = data / "overlays"
    assert not overlays.exists() or list(overlays.iterdir()) == []


def test_list_of_a_slide_without_overlays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(DATA / "slides" / "aperio" / CMU, slides / CMU)
    argv = ["overlay", "list", CMU, "--slide-dir", str(slides), "--data-dir", str(tmp_path / "data")]
    assert main(argv) == 0
    assert capsys.readouterr().out == f"no overlays on {CMU}\n"
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
