"""``wsi-viewer mask``: real slides, real files, exit codes and one-line errors, nothing left behind."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile

from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.masks import PRESETS, rasterize_window
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.cli import main

DATA = Path(__file__).parent / "data"
CMU = DATA / "slides" / "aperio" / "CMU-1-Small-Region.svs"  # 2220 x 2967, mpp 0.499
BOXES = DATA / "slides" / "generic-tiff" / "boxes.tiff"  # 300 x 250, 4 levels
SAMPLE_XML = DATA / "asap" / "real" / "elm-asap-pathology-format_sampleXml.xml"


def _square(name: str, group: str | None, x: float, y: float, size: float) -> Annotation:
    return Annotation(
        name, "Polygon", group, coordinates=[(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    )


@pytest.fixture()
def camelyon16_xml(tmp_path: Path) -> Path:
    aset = AnnotationSet(
        [
            _square("_0", "_0", 100, 100, 800),
            _square("_1", "_1", 1200, 300, 300),
            _square("_2", "_2", 300, 300, 200),
        ],
        [Group("_0", color="#ff0000"), Group("_1", color="#ff0000"), Group("_2", color="#00ff00")],
    )
    path = tmp_path / "tumor.xml"
    path.write_bytes(write_asap(aset))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["mask", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_preset_mask_matches_rasteriser_and_opens_everywhere(
    tmp_path: Path, camelyon16_xml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mask.tif"
    code, stdout, stderr = _run(
        capsys, str(CMU), str(camelyon16_xml), "-o", str(out), "--preset", "camelyon16"
    )
    assert code == 0, stderr
    assert "2220x2967" in stdout and "100%" in stderr  # the progress bar ran to the end
    preset = PRESETS["camelyon16"]
    expected = rasterize_window(
        read_asap(camelyon16_xml.read_bytes()), 0, 0, 2220, 2967, preset.labels, preset.order
    )
    assert expected[400, 400] == 0 and expected[200, 200] == 1  # the _2 hole
    with tifffile.TiffFile(out) as tif:
        assert np.array_equal(tif.pages[0].asarray(), expected)
        assert [p.shape for p in tif.pages] == [(2967, 2220), (1484, 1110), (742, 555), (371, 278)]
    slide = openslide.OpenSlide(out)
    try:
        assert slide.dimensions == (2220, 2967) and slide.level_count == 4
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.499)  # the slide's own
        region = np.asarray(slide.read_region((100, 100), 0, (900, 900)))[..., 0]
        assert np.array_equal(region, expected[100:1000, 100:1000])
        low = np.asarray(slide.read_region((0, 0), 2, (555, 742)))[..., 0]
        assert np.array_equal(low, expected[::4, ::4])
    finally:
        slide.close()


def test_labels_order_and_level(
    tmp_path: Path, camelyon16_xml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "level.tif"
    code, _, stderr = _run(
        capsys,
        str(BOXES),
        str(camelyon16_xml),
        "-o",
        str(out),
        "--labels",
        "_0=3,_2=7",
        "--order",
        "_2,_0",
        "--level",
        "1",
        "--no-progress",
    )
    assert code == 0 and stderr == ""
    info = openslide.OpenSlide(BOXES)
    size, downsample = info.level_dimensions[1], info.level_downsamples[1]
    info.close()
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0].asarray()
    assert page.shape == (size[1], size[0])
    expected = rasterize_window(
        read_asap(camelyon16_xml.read_bytes()),
        0,
        0,
        size[0],
        size[1],
        {"_0": 3, "_2": 7},
        ["_2", "_0"],
        downsample=downsample,
    )
    assert np.array_equal(page, expected) and set(np.unique(page)) == {0, 3}  # _0 painted over _2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "tumor"], "bad --labels: 'tumor' is not NAME=LABEL"),
        (["--labels", "_0=999"], "must be 0..255"),
        (["--preset", "camelyon18"], "unknown preset 'camelyon18'"),
        (["--labels", "metastases=1"], "no group is called 'metastases'"),
        (["--order", "_0"], "an order needs a label map"),
        (["--level", "9"], "--level 9: the slide has levels 0..0"),
    ],
)
def test_bad_options_fail_with_one_line(
    tmp_path: Path, camelyon16_xml: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "out.tif"
    code, stdout, stderr = _run(capsys, str(CMU), str(camelyon16_xml), "-o", str(out), *args)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("wsi-viewer mask: error: ") and message in stderr
    assert stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tumor.xml"]


def test_bad_files_fail_with_one_line(
    tmp_path: Path, camelyon16_xml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_slide = tmp_path / "fake.svs"
    not_a_slide.write_bytes(b"II*\x00garbage")
    broken_xml = tmp_path / "broken.xml"
    broken_xml.write_bytes(
        b"<ASAP_Annotations><Annotations><Annotation Name='a' Type='Polygon' "
        b"PartOfGroup='missing'><Coordinates><Coordinate Order='0' X='1' Y='x'/>"
    )
    out = tmp_path / "out.tif"
    cases = [
        ([str(tmp_path / "nope.svs"), str(camelyon16_xml)], "no such slide file"),
        ([str(not_a_slide), str(camelyon16_xml)], "fake.svs"),
        ([str(CMU), str(tmp_path / "nope.xml")], "nope.xml"),
        ([str(CMU), str(broken_xml)], "broken.xml"),
        ([str(CMU), str(camelyon16_xml), "-o", str(tmp_path / "no" / "dir" / "m.tif")], "does not exist"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv, message in cases:
        if "-o" not in argv:
            argv = [*argv, "-o", str(out)]
        code, stdout, stderr = _run(capsys, *argv)
        assert code == 2, (argv, stderr)
        assert stderr.count("\n") == 1 and message in stderr, stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def _console(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a child process."""
    command = [sys.executable, "-m", "viewer.cli", "mask", *argv]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_console_script_runs_and_keeps_existing_output_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "m.tif"
    ok = _console(str(CMU), str(SAMPLE_XML), "-o", str(out), "--no-progress")
    assert ok.returncode == 0, ok.stderr
    written = out.read_bytes()
    with tifffile.TiffFile(out) as tif:
        assert int(tif.pages[0].asarray().max()) == 1
    failed = _console(str(CMU), str(SAMPLE_XML), "-o", str(out), "--labels", "nothing=1")
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1
    assert "no group is called 'nothing'" in failed.stderr
    assert out.read_bytes() == written  # an existing file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def _read_all(fd: int, deadline: float) -> bytes:
    """Everything a pseudo-terminal's master side receives until the child closes it."""
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_progress_bar_is_redrawn_in_place_on_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "m.tif"
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "viewer.cli", "mask", str(CMU), str(SAMPLE_XML), "-o", str(out)]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    try:
        raw = _read_all(master, time.monotonic() + 60)
    finally:
        os.close(master)
    assert child.stdout is not None
    with child.stdout:
        assert "2220x2967" in child.stdout.read().decode()
    assert child.wait(timeout=60) == 0
    text = raw.decode().replace("\r\n", "\n")  # the terminal turns \n into \r\n
    frames = text.split("\r")[1:]
    assert len(frames) >= 2, text  # the first state and the last, at least, each over the one before
    bar = r"\[[#.]{30}\] +\d+%  [\d,]+/2,967 rows  "
    for frame in frames[:-1]:
        assert re.fullmatch(bar + r"ETA (\d+:\d\d|--:--)\x1b\[K", frame), frame
    assert re.fullmatch(r"\[#{30}\] 100%  2,967/2,967 rows  done in \d+:\d\d\x1b\[K\n", frames[-1])
    assert int(tifffile.imread(out).max()) == 1


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    result = _console(str(CMU), str(SAMPLE_XML), "-o", str(tmp_path / "m.tif"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    line_format = r"\d+%  [\d,]+/2,967 rows  (ETA \d+:\d\d|done in \d+:\d\d)"
    assert all(re.fullmatch(line_format, line) for line in lines), lines
    assert lines[-1].startswith("100%  2,967/2,967 rows  done in ")
    percents = [int(line.split("%")[0]) for line in lines]
    assert percents == sorted(set(percents)) and len(lines) <= 11  # one line per tenth at most
