"""Training masks: ASAP's AnnotationToMask reproduced pixel for pixel, and the mask TIFF.

Goldens: tests/data/asap-masks (windows written by ASAP's own AnnotationToMask, see SOURCES.md) over
the real files in tests/data/asap/real. Random shapes are checked against ``reference_window``
(tests/_mask_reference.py), the literal per-pixel transcription of ASAP's loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile

from tests._mask_reference import reference_window
from viewer.annotations.asap import read_asap
from viewer.annotations.geometry import asap_area
from viewer.annotations.masks import (
    PRESETS,
    check_mask_request,
    mask_level_sizes,
    parse_labels,
    plan_mask,
    rasterize_plan,
    rasterize_window,
    write_mask_tiff,
)
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import InvalidInputError

DATA = Path(__file__).parent / "data"
MASKS = DATA / "asap-masks"
REAL = DATA / "asap" / "real"
WINDOWS = sorted(MASKS.glob("*/mask_*.json"))


def _pgm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic, size, maxval, _ = data.split(b"\n", 3)
    assert magic == b"P5" and maxval == b"255"
    width, height = (int(v) for v in size.split())
    return np.frombuffer(data[-width * height :], np.uint8).reshape(height, width)


def _window(meta_path: Path) -> tuple[dict, AnnotationSet, np.ndarray]:
    meta = json.loads(meta_path.read_text())
    aset = read_asap((REAL / f"{meta_path.parent.name}.xml").read_bytes())
    return meta, aset, _pgm(meta_path.parent / meta["pgm"])


def test_every_oracle_window_is_present() -> None:
    assert len(WINDOWS) == 9


@pytest.mark.parametrize("meta_path", WINDOWS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_mask_window_equals_asap_pixel_for_pixel(meta_path: Path) -> None:
    meta, aset, expected = _window(meta_path)
    (x0, y0), (width, height) = meta["offset"], meta["size"]
    got = rasterize_window(
        aset, x0, y0, width, height, meta["label_map"] or None, meta["conversion_order"] or None
    )
    values, counts = np.unique(got, return_counts=True)
    assert {str(v): int(c) for v, c in zip(values, counts, strict=True)} == meta["histogram"]
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} pixels differ"


@pytest.mark.parametrize("meta_path", WINDOWS[:4], ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_reference_loop_agrees_with_oracle(meta_path: Path) -> None:
    """The literal per-pixel transcription is itself right (so it can judge random shapes)."""
    meta, aset, expected = _window(meta_path)
    (x0, y0), (width, height) = meta["offset"], meta["size"]
    plan = plan_mask(aset, meta["label_map"] or None, meta["conversion_order"] or None)
    assert np.array_equal(reference_window(plan, x0, y0, width, height), expected)


def _random_set(rng: np.random.Generator, n_shapes: int, span: float, vertices: int) -> AnnotationSet:
    groups = [Group("a"), Group("b"), Group("c")]
    annotations = []
    for index in range(n_shapes):
        cx, cy = rng.uniform(0, span, 2)
        count = int(rng.integers(3, vertices))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        if index % 3 == 0:
            rng.shuffle(angles)  # self-intersecting star
        radius = rng.uniform(span / 10, span / 2, count)
        xs, ys = cx + radius * np.cos(angles), cy + radius * np.sin(angles)
        if index % 4 == 1:
            xs, ys = np.round(xs), np.round(ys)  # integer vertices: edges through lattice points
        coords = [(float(np.float32(x)), float(np.float32(y))) for x, y in zip(xs, ys, strict=True)]
        annotations.append(Annotation(f"s{index}", "Polygon", groups[index % 3].name, coordinates=coords))
    annotations.append(
        Annotation("free", "Polygon", None, coordinates=[(1.0, 1.0), (span, 2.0), (3.0, span)])
    )
    return AnnotationSet(annotations, groups)


@pytest.mark.parametrize("seed", range(6))
def test_fast_rasteriser_equals_per_pixel_loop_on_random_shapes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    aset = _random_set(rng, 9, 120.0, 40)
    cases = [
        ({}, None),
        ({"a": 1, "b": 2, "c": 0}, None),
        ({"a": 3, "b": 1, "c": 0}, ["a", "c", "b"]),
        ({"a": 256, "b": 300, "c": -1}, None),
        ({"a": 256, "b": 300}, ["b", "a"]),
    ]
    for labels, order in cases:
        plan = plan_mask(aset, labels, order)
        expected = reference_window(plan, -5, -7, 140, 133)
        got = rasterize_plan(plan, -5, -7, 140, 133)
        assert np.array_equal(got, expected), (labels, order, int((got != expected).sum()))
        assert expected.any()


def test_int_overflow_of_is_left_matches_asap() -> None:
    """Cross products >= 2^31 become INT_MIN in ASAP (x86 float->int): emulated by default."""
    big = AnnotationSet(
        [Annotation("t", "Polygon", None, coordinates=[(0.0, 0.0), (150000.0, 40000.0), (60000.0, 90000.0)])]
    )
    asap, clean = plan_mask(big), plan_mask(big, asap_int_overflow=False)
    for x0, y0 in ((100000, 40000), (70000, 60000), (30000, 30000), (140000, 38000), (100000, 80000)):
        for plan in (asap, clean):
            assert np.array_equal(
                rasterize_plan(plan, x0, y0, 48, 40), reference_window(plan, x0, y0, 48, 40)
            )
    # Coarse view of the whole bounding box: the clean mask is the triangle (about 41% of the box);
    # ASAP's overflowing isLeft also fills stray areas outside it.
    coarse_clean = rasterize_plan(clean, 0, 0, 1500, 900, downsample=100)
    coarse_asap = rasterize_plan(asap, 0, 0, 1500, 900, downsample=100)
    assert abs(coarse_clean.mean() - asap_area(big.annotations[0].coordinates) / (150000 * 90000)) < 0.01
    assert (coarse_asap >= coarse_clean).all() and coarse_asap.mean() > coarse_clean.mean() + 0.1


def test_downsampled_window_samples_level_zero_points() -> None:
    aset = _random_set(np.random.default_rng(11), 6, 300.0, 30)
    labels = {"a": 1, "b": 2, "c": 3}
    level0 = rasterize_window(aset, 0, 0, 400, 400, labels)
    assert np.array_equal(rasterize_window(aset, 0, 0, 100, 100, labels, downsample=4.0), level0[::4, ::4])
    odd = rasterize_window(aset, 3, 5, 90, 80, labels, downsample=2.5)
    rows = np.floor((5 + np.arange(80)) * 2.5).astype(int)
    cols = np.floor((3 + np.arange(90)) * 2.5).astype(int)
    assert np.array_equal(odd, level0[np.ix_(rows, cols)])


def _square(name: str, group: str | None, x0: float, y0: float, size: float) -> Annotation:
    return Annotation(
        name,
        "Polygon",
        group,
        coordinates=[(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)],
    )


def test_strict_bounding_box_drops_integer_boundary() -> None:
    aset = AnnotationSet([_square("q", None, 2.0, 2.0, 4.0)])
    mask = rasterize_window(aset, 0, 0, 10, 10)
    assert int(mask.sum()) == 9  # ASAP: 3x3, not 4x4
    assert mask[3:6, 3:6].all()


def test_camelyon16_preset_punches_holes_and_max_fills_them() -> None:
    aset = AnnotationSet(
        [_square("_0", "_0", 10, 10, 60), _square("_1", "_1", 80, 10, 20), _square("_2", "_2", 30, 30, 10)],
        [Group("_0"), Group("_1"), Group("_2")],
    )
    preset = PRESETS["camelyon16"]
    ordered = rasterize_window(aset, 0, 0, 110, 80, preset.labels, preset.order)
    assert ordered[35, 35] == 0 and ordered[20, 20] == 1 and ordered[20, 90] == 1
    # A group in the order but not in the map gets label 0 too (ASAP's lookup), so it also cuts.
    implicit = rasterize_window(aset, 0, 0, 110, 80, {"_0": 1, "_1": 1}, ["_0", "_1", "_2"])
    assert np.array_equal(implicit, ordered)
    unordered = rasterize_window(aset, 0, 0, 110, 80, preset.labels)
    assert unordered[35, 35] == 1  # max compositing: a 0 label never clears


def test_camelyon17_preset_labels() -> None:
    aset = AnnotationSet(
        [_square("m", "metastases", 0, 0, 50), _square("n", "normal", 20, 20, 10)],
        [Group("metastases"), Group("normal")],
    )
    preset = PRESETS["camelyon17"]
    mask = rasterize_window(aset, 0, 0, 60, 60, preset.labels, preset.order)
    assert mask[10, 10] == 1 and mask[25, 25] == 2 and mask[55, 55] == 0


def test_asap_label_lookup_quirks() -> None:
    grouped = AnnotationSet(
        [_square("inner", "child", 10, 10, 20), _square("loose", None, 40, 10, 20)],
        [Group("parent"), Group("child", parent="parent")],
    )
    # Direct group only: a sub-group member gets 0 unless its own group is in the map.
    assert rasterize_window(grouped, 0, 0, 70, 40, {"parent": 5}).max() == 0
    assert rasterize_window(grouped, 0, 0, 70, 40, {"child": 5})[20, 20] == 5
    # With a map and groups, ungrouped annotations are skipped; without a map everything is 1.
    assert rasterize_window(grouped, 0, 0, 70, 40, {"child": 5})[20, 50] == 0
    assert rasterize_window(grouped, 0, 0, 70, 40)[20, 50] == 1
    # A file without groups is matched by annotation name.
    plain = AnnotationSet([_square("lesion", None, 10, 10, 20)])
    assert rasterize_window(plain, 0, 0, 40, 40, {"lesion": 7})[20, 20] == 7
    # Dots and two-point shapes give nothing.
    lines = AnnotationSet(
        [
            Annotation("d", "Dot", None, coordinates=[(5.5, 5.5)]),
            Annotation("m", "Measurement", None, coordinates=[(1.0, 1.0), (30.0, 30.0)]),
        ]
    )
    assert rasterize_window(lines, 0, 0, 40, 40).max() == 0


def test_parse_labels_and_request_checks() -> None:
    assert parse_labels("tumor=1, normal = 2,_2=0") == {"tumor": 1, "normal": 2, "_2": 0}
    assert parse_labels("a=b=3") == {"a=b": 3}
    with pytest.raises(InvalidInputError) as info:
        parse_labels("x=1,y,z=300,w=q")
    assert len(info.value.details) == 3
    # Labels are ASCII digits: "١" (Arabic-Indic one) and "²" are not numbers, whatever int() says.
    with pytest.raises(InvalidInputError) as info:
        parse_labels("tumor=\u0661,normal=\u00b2")
    assert len(info.value.details) == 2
    aset = AnnotationSet([_square("s", "tumor", 0, 0, 5)], [Group("tumor")])
    check_mask_request(aset, {"tumor": 1}, ["tumor"])
    with pytest.raises(InvalidInputError, match="no group is called 'metastases'"):
        check_mask_request(aset, {"metastases": 1}, None)
    check_mask_request(aset, {"tumor": 1}, ["tumor", "other"])  # unlabelled: label 0, as ASAP
    with pytest.raises(InvalidInputError, match="an order needs a label map"):
        check_mask_request(aset, None, ["tumor"])
    with pytest.raises(InvalidInputError) as info:
        check_mask_request(aset, {"tumor": 256, "x": -1}, None)
    assert len(info.value.details) == 2


def test_mask_level_sizes_halve_down_to_one_tile() -> None:
    assert mask_level_sizes(2000, 1100) == [(2000, 1100), (1000, 550), (500, 275)]
    assert mask_level_sizes(300, 200) == [(300, 200)]


def test_mask_tiff_opens_in_openslide_and_tifffile(tmp_path: Path) -> None:
    meta, aset, _ = _window(MASKS / "tumor_039" / "mask_56320_103808_512x512.json")
    labels, order = meta["label_map"], meta["conversion_order"]
    # A shifted copy of the window's region: a 1300 x 1100 px "slide" keeps the test fast.
    shift_x, shift_y = 56320 - 400, 103808 - 300
    for a in aset.annotations:
        a.coordinates = [(x - shift_x, y - shift_y) for x, y in a.coordinates]
    out = tmp_path / "mask.tif"
    calls: list[tuple[int, int]] = []
    write_mask_tiff(
        aset, out, 1300, 1100, labels, order, progress=lambda d, t: calls.append((d, t)), mpp=(0.25, 0.25)
    )
    assert calls[-1][0] == calls[-1][1] and len(calls) == calls[-1][1]
    level0 = rasterize_window(aset, 0, 0, 1300, 1100, labels, order)
    with tifffile.TiffFile(out) as tif:
        pages = list(tif.pages)
        assert [p.shape for p in pages] == [(1100, 1300), (550, 650), (275, 325)]
        assert all(p.is_tiled and p.dtype == np.uint8 and p.compression == 8 for p in pages)
        assert np.array_equal(pages[0].asarray(), level0)
        assert np.array_equal(pages[1].asarray(), level0[::2, ::2])
        assert np.array_equal(pages[2].asarray(), level0[::4, ::4])
    slide = openslide.OpenSlide(out)
    try:
        assert slide.level_dimensions == ((1300, 1100), (650, 550), (325, 275))
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
        region = np.asarray(slide.read_region((400, 300), 0, (512, 512)))
        assert np.array_equal(
            region[..., 0], _window(MASKS / "tumor_039" / "mask_56320_103808_512x512.json")[2]
        )
    finally:
        slide.close()


def test_mask_tiff_at_a_level_and_atomic_on_failure(tmp_path: Path) -> None:
    aset = AnnotationSet([_square("s", None, 100, 100, 500)])
    out = tmp_path / "level.tif"
    write_mask_tiff(aset, out, 300, 250, level_downsample=4.0)
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0].asarray()
    assert page.shape == (250, 300)
    assert np.array_equal(page, rasterize_window(aset, 0, 0, 300, 250, downsample=4.0))

    def explode(done: int, total: int) -> None:
        raise RuntimeError("disk on fire")

    failed = tmp_path / "failed.tif"
    with pytest.raises(RuntimeError):
        write_mask_tiff(aset, failed, 1200, 1200, progress=explode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["level.tif"]


def test_twin_groups_label_members_by_their_group_name_as_asap() -> None:
    # tumor_111 with a second group "tissue" (members belong to it, as in ASAP) and "background" moved
    # under it: AnnotationToMask looks labels up by the direct group's name, so the mask is
    # tumor_111's, pixel for pixel; the first twin has no member to paint.
    twins = read_asap(DATA / "asap" / "derived" / "tumor_111_twin_groups.xml")
    plain = read_asap(REAL / "tumor_111.xml")
    assert [g.name for g in twins.groups] == ["tissue", "artifact", "background", "tissue"]
    labels = {"tissue": 1, "artifact": 2, "background": 3}
    for order in (None, ["background", "tissue", "artifact"]):
        # a downsampled window over the whole slide: every annotation is painted
        got = rasterize_window(twins, 0, 0, 400, 900, labels, order, downsample=256)
        assert np.array_equal(got, rasterize_window(plain, 0, 0, 400, 900, labels, order, downsample=256))
        assert set(np.unique(got)) == {0, 1, 2, 3}
    only_tissue = rasterize_window(twins, 0, 0, 400, 900, {"tissue": 7}, downsample=256)
    tissue_area = sum(asap_area(a.coordinates) for a in twins.annotations if a.group == "tissue")
    assert set(np.unique(only_tissue)) == {0, 7}
    assert abs(int((only_tissue == 7).sum()) * 256**2 / tissue_area - 1) < 0.1
