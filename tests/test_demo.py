"""viewer.demo: the generated CAMELYON-like demo slide and its sidecars, opened with real OpenSlide,
tifffile and the ASAP reader. One test generates the full-size demo (the only slow one); the
others use small slides from the same generator."""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image, ImageDraw

from viewer import demo
from viewer.annotations.asap import read_asap
from viewer.slides.tiffreader import COMPRESSION_JPEG, PHOTOMETRIC_YCBCR, read_tiled_directories

SMALL = (6000, 4500)  # five sections on two rows, four levels


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rgb(slide: openslide.OpenSlide, xy: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(slide.read_region(xy, level, size).convert("RGB")).astype(int)


def _inside(polygon: list[tuple[float, float]], width: int, height: int, downsample: int) -> np.ndarray:
    """Mask (height // downsample x width // downsample) of a slide-space polygon."""
    image = Image.new("L", (-(-width // downsample), -(-height // downsample)), 0)
    ImageDraw.Draw(image).polygon([(x / downsample, y / downsample) for x, y in polygon], fill=1)
    return np.asarray(image).astype(bool)


@pytest.mark.timeout(1200)  # ~20 s on 2 idle cores; much longer on a loaded machine
def test_full_size_demo(tmp_path: Path, record_property: object) -> None:
    messages: list[str] = []
    started = time.monotonic()
    directory = demo.ensure_demo(tmp_path, progress=messages.append)
    record_property("demo_generation_s", round(time.monotonic() - started, 1))  # type: ignore[operator]
    assert directory == tmp_path / "demo"
    slide_path = directory / "tumor_demo.tif"
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == [
        "tumor_demo.tif", "tumor_demo.xml", "tumor_demo_likelihood_map.tif"]
    assert any("level 0: 61440 x 40960 px" in m for m in messages)
    assert messages[-1].startswith("Demo slide ready in")

    with openslide.OpenSlide(slide_path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.dimensions == (61440, 40960)
        assert slide.dimensions[0] >= 60_000
        assert slide.level_count == 7
        assert slide.level_downsamples == tuple(float(2**k) for k in range(7))
        assert max(slide.level_dimensions[-1]) < 1024 <= max(slide.level_dimensions[-2])
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.243)
        assert float(slide.properties["openslide.mpp-y"]) == pytest.approx(0.243)
        assert slide.properties["tiff.ResolutionUnit"] == "centimeter"
        # a corner is glass, the first tumour's centre is tissue
        glass = _rgb(slide, (0, 0), 0, (256, 256))
        assert np.abs(glass - np.array(demo.BACKGROUND)).max() <= 3
        scene = demo.build_scene(61440, 40960, demo.DEMO_SEED)
        tumour = scene.tumours[0]
        tissue = _rgb(slide, (int(tumour.cx) - 256, int(tumour.cy) - 256), 0, (512, 512))
        assert tissue.std() > 20  # textured
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

    annotations = read_asap(directory / "tumor_demo.xml")
    assert {g.name for g in annotations.groups} >= {"Tumor", "Normal", "Exclusion"}
    assert {a.type for a in annotations.annotations} >= {"Polygon", "Spline", "Dot", "Measurement"}
    assert annotations == demo.demo_annotations(scene)

    with openslide.OpenSlide(directory / "tumor_demo_likelihood_map.tif") as heatmap:
        assert heatmap.dimensions == (960, 640)
        assert float(heatmap.properties["openslide.mpp-x"]) == pytest.approx(0.243 * 64)

    # A second call is instant: nothing is regenerated or rewritten
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}
    messages.clear()
    assert demo.ensure_demo(tmp_path, progress=messages.append) == directory
    assert messages == []
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


def test_interrupted_generation_leaves_no_file(tmp_path: Path) -> None:
    def interrupt(message: str) -> None:
        if message.startswith("  level 1"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.generate_slide(tmp_path / "slide.tif", *SMALL, workers=2, progress=interrupt)
    assert os.listdir(tmp_path) == []


def test_interrupted_demo_leaves_no_slide_and_resumes(tmp_path: Path) -> None:
    size = {"width": 2048, "height": 1536}  # a small demo keeps this test quick

    def interrupt(message: str) -> None:
        if message.startswith("  level 1"):  # level 0 is written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo(tmp_path, progress=interrupt, **size)
    names = sorted(os.listdir(tmp_path / "demo"))
    # the sidecars are complete files; the slide is absent, no temporary file is left
    assert [n for n in names if n != ".demo.lock"] == ["tumor_demo.xml", "tumor_demo_likelihood_map.tif"]
    read_asap(tmp_path / "demo" / "tumor_demo.xml")
    # ... and a later call completes the demo
    messages: list[str] = []
    demo.ensure_demo(tmp_path, progress=messages.append, **size)
    assert any(m.startswith("Generating the demo slide") for m in messages)
    with openslide.OpenSlide(tmp_path / "demo" / "tumor_demo.tif") as slide:
        assert slide.dimensions == (2048, 1536)


def test_likelihood_map_is_high_over_tumour_and_zero_on_glass(tmp_path: Path) -> None:
    width, height = 20_000, 15_000
    path = tmp_path / "s_likelihood_map.tif"
    demo.write_likelihood_map(path, width, height, seed=1, mpp=0.25)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint8 and page.samplesperpixel == 1
        assert page.is_tiled and page.tilewidth == 256
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        values = page.asarray()
    assert values.shape == (math.ceil(height / 64), math.ceil(width / 64))
    with openslide.OpenSlide(path) as heatmap:
        assert float(heatmap.properties["openslide.mpp-x"]) == pytest.approx(16.0)
        assert np.array_equal(np.asarray(heatmap.read_region((0, 0), 0, heatmap.dimensions))[..., 0], values)
    aset = demo.demo_annotations(demo.build_scene(width, height, 1))
    tumour_polygon = next(a for a in aset.annotations if a.group == "Tumor").coordinates
    inside = _inside(tumour_polygon, width, height, 64)
    # (the polygon's rim and any hole in the tissue under it are lower)
    assert np.median(values[inside]) > 150 and np.percentile(values[inside], 75) > 200
    scene = demo.build_scene(width, height, 1)
    glass = Image.fromarray(scene.tissue, mode="F").resize(
        (values.shape[1], values.shape[0]), Image.Resampling.BILINEAR,
        box=(1, 1, 1 + width / 64, 1 + height / 64))
    on_glass = np.asarray(glass) < -200
    assert on_glass.mean() > 0.3
    assert (values[on_glass] == 0).all()
    assert np.median(values[~inside & ~on_glass]) < 40


def test_annotations_follow_the_scene(tmp_path: Path) -> None:
    width, height = 20_000, 15_000
    scene = demo.build_scene(width, height, 2)
    path = tmp_path / "s.xml"
    demo.write_demo_annotations(path, width, height, seed=2)
    aset = read_asap(path)
    assert aset == demo.demo_annotations(scene)
    assert [(g.name, g.parent) for g in aset.groups] == [
        ("Tumor", None), ("Mitoses", "Tumor"), ("Normal", None), ("Exclusion", None)]
    for annotation in aset.annotations:
        for x, y in annotation.coordinates:
            assert 0 <= x <= width and 0 <= y <= height, annotation.name
    by_type: dict[str, int] = {}
    for annotation in aset.annotations:
        by_type[annotation.type] = by_type.get(annotation.type, 0) + 1
    assert by_type == {"Polygon": 5, "Spline": 1, "Dot": 5, "PointSet": 1, "Rectangle": 1, "Measurement": 1}
    # Normal polygons trace section outlines: their vertices sit on the tissue edge (the tissue
    # signed distance there is small compared with the section size)
    normal = [a for a in aset.annotations if a.group == "Normal" and a.type == "Polygon"]
    d = demo.FIELD_DOWNSAMPLE
    for annotation in normal:
        xs = np.array([x for x, _ in annotation.coordinates]) / d + 1
        ys = np.array([y for _, y in annotation.coordinates]) / d + 1
        distances = scene.tissue[ys.astype(int), xs.astype(int)]
        assert np.median(np.abs(distances)) < 0.05 * scene.sections[0].r
    # Mitosis dots are inside the first tumour polygon
    inside = _inside(aset.annotations[0].coordinates, width, height, 16)
    for dot in (a for a in aset.annotations if a.type == "Dot"):
        (x, y), = dot.coordinates
        assert inside[int(y / 16), int(x / 16)]
