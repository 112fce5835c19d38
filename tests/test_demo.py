"""viewer.demo: the generated CAMELYON-like demo slide and its sidecars, opened with real OpenSlide,
tifffile and the ASAP reader; its progress reports, progress file, console report and state as the
server sees it. One test generates the full-size demo (the only slow one); the others use small
slides from the same generator. The server side (background generation) is in test_server.py."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image, ImageDraw

from viewer import demo
from viewer.annotations.asap import read_asap
from viewer.demo.encoders import TileEncoders
from viewer.demo.ensure import LOCK_NAME, PROGRESS_NAME
from viewer.demo.progress import ProgressFile, read_progress
from viewer.demo.renderer import RendererSpec
from viewer.locks import hold_lock
from viewer.slides.tiffreader import COMPRESSION_JPEG, PHOTOMETRIC_YCBCR, read_tiled_directories

SMALL = (6000, 4500)  # five sections on two rows, four levels
README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rgb(slide: openslide.OpenSlide, xy: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(slide.read_region(xy, level, size).convert("RGB")).astype(int)


def _inside(polygon: list[tuple[float, float]], width: int, height: int, downsample: int) -> np.ndarray:
    """Mask (height // downsample x width // downsample) of a slide-space polygon."""
    image = Image.new("L", (-(-width // downsample), -(-height // downsample)), 0)
    ImageDraw.Draw(image).polygon([(x / downsample, y / downsample) for x, y in polygon], fill=1)
    return np.asarray(image).astype(bool)


def _tiles_per_level(width: int, height: int, tile: int = 512) -> list[int]:
    """Tiles of each level of a pyramid halving (rounding up) until under 1,024 px: counted here,
    not by the generator."""
    counts = []
    while True:
        counts.append(math.ceil(width / tile) * math.ceil(height / tile))
        if max(width, height) < 1024:
            return counts
        width, height = (width + 1) // 2, (height + 1) // 2


def _check_reports(reports: list[demo.DemoProgress], width: int, height: int) -> None:
    """A whole generation's reports: stages in order, percent never going back, ending at 100,
    every level finished once, in order, with its real tile count."""
    assert reports[-1].state == "done" and reports[-1].percent == 100
    stages = [r.stage for r in reports]
    order = ["sidecars", "textures", "tiles", "done"]
    assert [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]] == order
    percents = [r.percent for r in reports]
    assert percents == sorted(percents) and percents[0] < 5
    expected = _tiles_per_level(width, height)
    finished = [(r.level, r.level_tiles) for r in reports
                if r.stage == "tiles" and r.level_tiles and r.level_tiles_done == r.level_tiles]
    assert list(dict.fromkeys(finished)) == list(enumerate(expected))
    assert reports[-1].tiles_done == reports[-1].tiles_total == sum(expected)
    assert all(r.level_count == len(expected) for r in reports if r.stage in ("tiles", "done"))
    # once there is a rate, the time left shrinks towards 0
    etas = [r.eta_seconds for r in reports if r.stage == "tiles" and r.eta_seconds is not None]
    assert all(eta >= 0 for eta in etas)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[demo.DemoProgress]]:
    """A demo of SMALL size in a data directory, and every report its generation made."""
    data = tmp_path_factory.mktemp("small-demo")
    reports: list[demo.DemoProgress] = []
    demo.ensure_demo(data, progress=reports.append, width=SMALL[0], height=SMALL[1])
    return demo.demo_dir(data), reports


@pytest.mark.timeout(1200)  # ~20 s on 2 idle cores; much longer on a loaded machine
def test_full_size_demo(tmp_path: Path, record_property: object) -> None:
    reports: list[demo.DemoProgress] = []
    started = time.monotonic()
    directory = demo.ensure_demo(tmp_path, progress=reports.append)
    record_property("demo_generation_s", round(time.monotonic() - started, 1))  # type: ignore[operator]
    assert directory == tmp_path / "demo"
    slide_path = directory / "tumor_demo.tif"
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == [
        "tumor_demo.tif", "tumor_demo.xml", "tumor_demo_likelihood_map.tif"]
    _check_reports(reports, 61440, 40960)
    assert (reports[-1].width, reports[-1].height, reports[-1].mpp) == (61440, 40960, 0.243)

    with openslide.OpenSlide(slide_path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.dimensions == (61440, 40960)
        assert slide.level_count == 7
        assert slide.level_downsamples == tuple(float(2**k) for k in range(7))
        assert max(slide.level_dimensions[-1]) < 1024 <= max(slide.level_dimensions[-2])
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.243)
        assert float(slide.properties["openslide.mpp-y"]) == pytest.approx(0.243)
        assert slide.properties["tiff.ResolutionUnit"] == "centimeter"
        # a corner is glass, the middle of the first tumour annotation is textured tissue
        glass = _rgb(slide, (0, 0), 0, (256, 256))
        assert np.abs(glass - np.array(demo.BACKGROUND)).max() <= 3
        annotations = read_asap(directory / "tumor_demo.xml")
        tumour = next(a for a in annotations.annotations if a.group == "Tumor").coordinates
        cx, cy = (int(sum(v) / len(tumour)) for v in zip(*tumour, strict=True))
        tissue = _rgb(slide, (cx - 256, cy - 256), 0, (512, 512))
        assert tissue.std() > 20
        assert (tissue.mean(axis=(0, 1)) < np.array(demo.BACKGROUND) - 25).all()
    directories = read_tiled_directories(slide_path)
    assert len(directories) == 7
    for d in directories:
        assert (d.tile_width, d.tile_height) == (512, 512)
        assert d.compression == COMPRESSION_JPEG and d.photometric == PHOTOMETRIC_YCBCR
        assert d.jpeg_tables is None  # self-contained tiles, as CAMELYON's
    with tifffile.TiffFile(slide_path) as tif:
        assert tif.is_bigtiff
        assert tif.pages[0].tags["YCbCrSubSampling"].value == (2, 2)
    assert len(annotations.annotations) == 14
    for annotation in annotations.annotations:
        assert all(0 <= x <= 61440 and 0 <= y <= 40960 for x, y in annotation.coordinates)

    with openslide.OpenSlide(directory / "tumor_demo_likelihood_map.tif") as heatmap:
        assert heatmap.dimensions == (960, 640)
        assert float(heatmap.properties["openslide.mpp-x"]) == pytest.approx(0.243 * 64)

    # A second call is instant: nothing is regenerated or rewritten
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}
    reports.clear()
    assert demo.ensure_demo(tmp_path, progress=reports.append) == directory
    assert reports == []
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()} == before


def test_generate_slide_is_deterministic_and_worker_count_independent(tmp_path: Path) -> None:
    one, two = tmp_path / "one.tif", tmp_path / "two.tif"
    demo.generate_slide(one, *SMALL, workers=1)
    demo.generate_slide(two, *SMALL, workers=2)
    assert _sha256(one) == _sha256(two)
    with openslide.OpenSlide(one) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.level_dimensions == ((6000, 4500), (3000, 2250), (1500, 1125), (750, 563))
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.243)
        # Lower levels show the same picture as level 0, reduced (not another texture or offset)
        section = demo.build_scene(*SMALL, seed=0).sections[0]
        x, y = int(section.cx) - 512, int(section.cy) - 512
        reduced = np.asarray(slide.read_region((x, y), 0, (1024, 1024)).convert("RGB")
                             .resize((256, 256), Image.Resampling.BOX)).astype(int)
        same_place = np.abs(reduced - _rgb(slide, (x, y), 2, (256, 256))).mean()
        elsewhere = np.abs(reduced - _rgb(slide, (x + 4096, y), 2, (256, 256))).mean()
        assert same_place < 8 < elsewhere


def test_other_seed_size_and_tile_size(tmp_path: Path) -> None:
    path = tmp_path / "odd.tif"
    demo.generate_slide(path, 3001, 2333, tile_size=256, mpp=0.5, seed=3, workers=1)
    with openslide.OpenSlide(path) as slide:
        assert slide.level_dimensions == ((3001, 2333), (1501, 1167), (751, 584))
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.5)
        # the right and bottom edge tiles are cut at the slide's edge and readable
        edge = _rgb(slide, (2900, 2200), 0, (101, 133))
        assert edge.shape == (133, 101, 3)
    directories = read_tiled_directories(path)
    assert [(d.tile_width, d.width) for d in directories] == [(256, 3001), (256, 1501), (256, 751)]
    with pytest.raises(ValueError, match="power of two"):
        demo.generate_slide(tmp_path / "bad.tif", 3001, 2333, tile_size=240, workers=1)
    other = tmp_path / "seed4.tif"
    demo.generate_slide(other, 3001, 2333, tile_size=256, mpp=0.5, seed=4, workers=1)
    assert _sha256(other) != _sha256(path)
    # With another thread alive the workers are spawned and each builds its renderer from a spec
    # (forking a threaded process can deadlock): the same bytes.
    spawned = tmp_path / "spawned.tif"
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        demo.generate_slide(spawned, 3001, 2333, tile_size=256, mpp=0.5, seed=3, workers=2)
    finally:
        stop.set()
        thread.join()
    assert _sha256(spawned) == _sha256(path)


def test_interrupted_generation_leaves_no_file(tmp_path: Path) -> None:
    def interrupt(event: demo.SlideProgress) -> None:
        if event.level_done and event.level == 0:  # level 0 is written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.generate_slide(tmp_path / "slide.tif", *SMALL, workers=2, progress=interrupt)
    assert os.listdir(tmp_path) == []


def test_interrupted_demo_leaves_no_slide_and_resumes(tmp_path: Path) -> None:
    size = {"width": 2048, "height": 1536}  # a small demo keeps this test quick

    def interrupt(report: demo.DemoProgress) -> None:
        if report.stage == "tiles" and report.level == 0 and report.level_tiles_done == report.level_tiles:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo(tmp_path, progress=interrupt, **size)
    names = sorted(os.listdir(tmp_path / "demo"))
    # the sidecars are complete files; the slide is absent, no temporary file is left
    assert [n for n in names if n != ".demo.lock"] == ["tumor_demo.xml", "tumor_demo_likelihood_map.tif"]
    read_asap(tmp_path / "demo" / "tumor_demo.xml")
    # ... and a later call completes the demo, writing only the slide
    reports: list[demo.DemoProgress] = []
    demo.ensure_demo(tmp_path, progress=reports.append, **size)
    assert reports[-1].state == "done" and any(r.stage == "tiles" for r in reports)
    with openslide.OpenSlide(tmp_path / "demo" / "tumor_demo.tif") as slide:
        assert slide.dimensions == (2048, 1536)


def test_a_failed_generation_is_reported_and_raised(tmp_path: Path) -> None:
    reports: list[demo.DemoProgress] = []
    with pytest.raises(ZeroDivisionError):  # a scene of no size
        demo.ensure_demo(tmp_path, progress=reports.append, width=0, height=0)
    assert [r.state for r in reports] == ["running", "failed"]
    assert reports[-1].error == "ZeroDivisionError: division by zero"
    assert reports[-1].message == "failed: ZeroDivisionError: division by zero"
    assert sorted(os.listdir(tmp_path / "demo")) == [".demo.lock"]


# -- the sidecars against the slide --------------------------------------------------------------


def test_annotations_say_what_the_readme_promises_and_lie_on_the_slide(
        small_demo: tuple[Path, list[demo.DemoProgress]]) -> None:
    directory, _reports = small_demo
    width, height = SMALL
    aset = read_asap(directory / "tumor_demo.xml")
    promise = re.search(r"`tumor_demo\.xml`: (\d+) annotations in the groups (\w+) "
                        r"\(with its subgroup (\w+)\), (\w+) and (\w+)", " ".join(README.split()))
    assert promise, "the README describes the demo annotations"
    count, tumour_group, subgroup, normal_group, exclusion_group = promise.groups()
    assert len(aset.annotations) == int(count) == 14
    assert {(g.name, g.parent) for g in aset.groups} == {
        (tumour_group, None), (subgroup, tumour_group), (normal_group, None), (exclusion_group, None)}
    by_group: dict[str | None, list[str]] = {}
    for annotation in aset.annotations:
        by_group.setdefault(annotation.group, []).append(annotation.type)
    assert {g: sorted(t) for g, t in by_group.items()} == {
        "Tumor": ["Polygon", "Polygon"], "Mitoses": ["Dot"] * 5, "Exclusion": ["Polygon"],
        "Normal": ["PointSet", "Polygon", "Polygon", "Spline"], None: ["Measurement", "Rectangle"]}
    for annotation in aset.annotations:
        for x, y in annotation.coordinates:
            assert 0 <= x <= width and 0 <= y <= height, annotation.name

    # Tissue as the slide's own pixels show it (level 2, 4 level-0 px a pixel): not glass.
    d = 4
    with openslide.OpenSlide(directory / "tumor_demo.tif") as slide:
        assert slide.level_downsamples[2] == d
        pixels = np.asarray(slide.read_region((0, 0), 2, slide.level_dimensions[2]).convert("RGB"))
    pixels = pixels.astype(int)
    tissue = np.abs(pixels - np.array(demo.BACKGROUND)).max(axis=2) > 12
    assert 0.1 < tissue.mean() < 0.7
    # Every polygon that outlines tissue (tumours, sections, the fold) covers tissue; the sections'
    # outlines hold most of the slide's tissue between them and the glass outside them is glass.
    for annotation in aset.annotations:
        if annotation.type != "Polygon":
            continue
        inside = _inside(annotation.coordinates, width, height, d)[: tissue.shape[0], : tissue.shape[1]]
        assert tissue[inside].mean() > 0.8, (annotation.name, annotation.group, tissue[inside].mean())
    # Mitoses are on tissue, inside the first tumour outline
    tumour_outline = next(a for a in aset.annotations if a.group == "Tumor").coordinates
    first_tumour = _inside(tumour_outline, width, height, d)
    for dot in (a for a in aset.annotations if a.type == "Dot"):
        (x, y), = dot.coordinates
        assert first_tumour[int(y / d), int(x / d)] and tissue[int(y / d), int(x / d)], dot.name


def test_likelihood_map_is_high_inside_tumour_annotations_and_low_outside(
        small_demo: tuple[Path, list[demo.DemoProgress]]) -> None:
    directory, _reports = small_demo
    width, height = SMALL
    with tifffile.TiffFile(directory / "tumor_demo_likelihood_map.tif") as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint8 and page.samplesperpixel == 1
        assert page.is_tiled and page.tilewidth == 256
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        values = page.asarray()
    assert values.shape == (math.ceil(height / 64), math.ceil(width / 64))
    with openslide.OpenSlide(directory / "tumor_demo_likelihood_map.tif") as heatmap:
        assert float(heatmap.properties["openslide.mpp-x"]) == pytest.approx(0.243 * 64)
        assert np.array_equal(np.asarray(heatmap.read_region((0, 0), 0, heatmap.dimensions))[..., 0], values)
    aset = read_asap(directory / "tumor_demo.xml")
    tumour = np.zeros(values.shape, bool)
    for annotation in (a for a in aset.annotations if a.group == "Tumor"):
        tumour |= _inside(annotation.coordinates, width, height, 64)
    # glass: heatmap pixels whose whole 64 px block, and the blocks around it, show no tissue
    with openslide.OpenSlide(directory / "tumor_demo.tif") as slide:
        thumb = np.asarray(slide.read_region((0, 0), 3, slide.level_dimensions[3]).convert("RGB")).astype(int)
    tissue = np.abs(thumb - np.array(demo.BACKGROUND)).max(axis=2) > 12  # 8 level-0 px a pixel
    h8, w8 = values.shape[0] * 8, values.shape[1] * 8
    padded = np.zeros((h8, w8), bool)
    padded[: tissue.shape[0], : tissue.shape[1]] = tissue
    any_tissue = padded.reshape(values.shape[0], 8, values.shape[1], 8).any(axis=(1, 3))
    near_tissue = np.zeros_like(any_tissue)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near_tissue |= np.roll(np.roll(any_tissue, dy, axis=0), dx, axis=1)
    glass = ~near_tissue
    assert glass.mean() > 0.3 and (values[glass] == 0).all()
    # sampled: inside the tumour outlines far above the rest of the tissue (this slide's tumours
    # are small, so their rims weigh: the absolute values are checked on a larger slide below)
    assert np.median(values[tumour]) > max(90, 2.5 * np.median(values[~tumour & any_tissue]))


def test_likelihood_map_values_inside_and_outside_the_annotations(tmp_path: Path) -> None:
    width, height = 20_000, 15_000  # sidecars only: no slide needed
    demo.write_demo_annotations(tmp_path / "s.xml", width, height, seed=1)
    demo.write_likelihood_map(tmp_path / "s_likelihood_map.tif", width, height, seed=1, mpp=0.25)
    aset = read_asap(tmp_path / "s.xml")
    values = tifffile.imread(tmp_path / "s_likelihood_map.tif", key=0)
    assert values.shape == (math.ceil(height / 64), math.ceil(width / 64))

    def mask(group: str) -> np.ndarray:
        inside = np.zeros(values.shape, bool)
        for annotation in (a for a in aset.annotations if a.group == group and a.type == "Polygon"):
            inside |= _inside(annotation.coordinates, width, height, 64)
        return inside

    tumour, normal = mask("Tumor"), mask("Normal")
    assert tumour.sum() > 500 and normal.sum() > 5000 and not (tumour & normal).any()
    # (the rim of a tumour outline and any hole in the tissue under it are lower)
    assert np.median(values[tumour]) > 150 and np.percentile(values[tumour], 75) > 200
    # tumour-free sections: low, with a few false-positive patches
    assert np.median(values[normal]) < 40 and np.percentile(values[normal], 90) < 120
    # the slide's margins are glass
    margin = 4  # heatmap px = 256 level-0 px
    frame = np.ones(values.shape, bool)
    frame[margin:-margin, margin:-margin] = False
    assert (values[frame] == 0).all()


def test_generation_reports_and_the_console(small_demo: tuple[Path, list[demo.DemoProgress]]) -> None:
    _directory, reports = small_demo
    _check_reports(reports, *SMALL)
    levels = _tiles_per_level(*SMALL)
    # On a log: one line per step, each level once, in order, with its tiles.
    log = io.StringIO()
    console = demo.ConsoleProgress(log, tty=False)
    for report in reports:
        console(report)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("wsi-viewer: generating the demo slide (6000 x 4500 px)")
    assert re.fullmatch(r"  annotations and likelihood map: \d+\.\d s", lines[1])
    assert re.fullmatch(r"  texture banks: \d+\.\d s", lines[2])
    level_lines = lines[3:-1]
    assert [re.match(r"  level (\d+) of (\d+): ([\d,]+) tiles? in", line).groups()  # type: ignore[union-attr]
            for line in level_lines] == [(str(k), str(len(levels)), f"{n:,}") for k, n in enumerate(levels)]
    assert re.fullmatch(r"wsi-viewer: demo slide ready in \d+\.\d s", lines[-1])
    # On a terminal: one bar, redrawn in place, ending at 100 % on its own line.
    terminal = io.StringIO()
    bar = demo.ConsoleProgress(terminal, tty=True)
    for report in reports:
        bar(report)
    head, drawn, ready, rest = terminal.getvalue().split("\n")
    assert head.startswith("wsi-viewer: generating") and ready.startswith("wsi-viewer: demo slide ready")
    assert rest == ""  # three lines: no line per level
    frames = drawn.split("\r\x1b[K")
    assert frames[0] == "" and len(frames) >= 3
    assert "100.0%" in frames[-1] and "[" + "#" * 28 + "]" in frames[-1]


# -- the progress file and the state the server reads --------------------------------------------


def test_progress_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    assert read_progress(path) is None
    report = demo.DemoProgress.starting(2048, 1536, 0.243, 3)
    writer = ProgressFile(path, interval_s=60)
    writer(report)
    assert read_progress(path) == report and json.loads(path.read_text())["stage"] == "starting"
    later = demo.DemoProgress(**{**report.to_json(), "percent": 1.0})
    writer(later)  # only a count changed, within the interval: not written
    assert read_progress(path) == report
    moved = demo.DemoProgress(**{**report.to_json(), "stage": "sidecars"})
    writer(moved)  # a new stage is written at once
    assert read_progress(path) == moved
    wrong_state = json.dumps({**report.to_json(), "state": "x"}).encode()
    for garbage in (b"", b"{", b"[]", b'{"state": "running"}', wrong_state):
        path.write_bytes(garbage)
        assert read_progress(path) is None, garbage


def test_status_follows_the_lock_the_report_and_the_slide(tmp_path: Path) -> None:
    directory = demo.demo_dir(tmp_path)
    directory.mkdir()
    status = demo.demo_status(tmp_path)
    assert status.state == "failed" and status.progress is None and "restart" in (status.error or "")
    report = demo.DemoProgress.starting(2048, 1536, 0.243, 3)
    (directory / PROGRESS_NAME).write_text(json.dumps(report.to_json()))
    with hold_lock(directory / LOCK_NAME):  # a generator at work (another open file description)
        status = demo.demo_status(tmp_path)
        assert status.state == "preparing" and status.progress == report
    # the generator died without a word: its lock is gone, its last report says "running"
    status = demo.demo_status(tmp_path)
    assert status.state == "failed" and "stopped before it finished" in (status.error or "")
    failed = demo.DemoProgress(**{**report.to_json(), "state": "failed", "error": "disk full"})
    (directory / PROGRESS_NAME).write_text(json.dumps(failed.to_json()))
    assert demo.demo_status(tmp_path) == demo.DemoStatus("failed", failed, "disk full")
    demo.demo_slide_path(tmp_path).write_bytes(b"")  # the slide appears last: the demo is ready
    assert demo.demo_status(tmp_path).state == "ready"


# -- the encoder processes -------------------------------------------------------------------------


def test_encoders_report_a_failure_and_a_death_instead_of_hanging() -> None:
    spec = RendererSpec(2048, 1536, 0, 512)
    renderer = spec.build(with_banks=False)  # no texture banks: rendering a tile fails
    with TileEncoders(spec, 1, renderer) as encoders:
        ticket = encoders.submit(0, [(0, 0)])
        with pytest.raises(RuntimeError, match="a tile encoder failed: IndexError"):
            encoders.result(ticket)
    with TileEncoders(spec, 2, renderer) as encoders:
        for child in encoders._processes:  # noqa: SLF001 - the test kills them
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        ticket = encoders.submit(0, [(0, 0)])
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="died"):
            encoders.result(ticket)
        assert time.monotonic() - started < 5


def test_encoders_exit_when_their_parent_dies(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "from viewer.demo.encoders import TileEncoders\n"
        "from viewer.demo.renderer import RendererSpec\n"
        "spec = RendererSpec(2048, 1536, 0, 512)\n"
        "encoders = TileEncoders(spec, 2, spec.build(with_banks=False))\n"
        "print(' '.join(str(p.pid) for p in encoders._processes), flush=True)\n"
        "os._exit(0)\n"  # no clean-up: as if killed
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            check=True)
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.1)
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]]
    assert alive == []
