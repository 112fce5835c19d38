"""Geometry: ASAP's own measures against ASAP's load.txt, true geometry, splines, categories."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from tests._asap_helpers import STEMS, load_txt, real_file
from viewer.annotations import geometry as g
from viewer.annotations.asap import read_asap
from viewer.annotations.model import Annotation, AnnotationSet, Group


def _f32(value: float) -> str:
    return f"{float(np.float32(value)):.9g}"


@pytest.mark.parametrize("stem", STEMS)
def test_asap_area_clockwise_and_bbox_equal_asap(stem: str) -> None:
    aset = read_asap(real_file(stem).read_bytes())
    loaded = load_txt(stem)
    assert len(loaded.annotations) == len(aset.annotations)
    for expected, annotation in zip(loaded.annotations, aset.annotations, strict=True):
        coords = annotation.coordinates
        assert _f32(g.asap_area(coords)) == expected["area"], annotation.name
        assert str(int(g.is_clockwise(coords))) == expected["clockwise"], annotation.name
        if coords:
            box = ",".join(_f32(v) for v in g.bounding_box(coords))
            assert box == expected["bbox"], annotation.name
    for expected, group in zip(loaded.groups, aset.groups, strict=True):
        assert _f32(g.asap_group_area(aset, group.name)) == expected["area"], group.name


def test_area_units_and_measurement_length() -> None:
    square = [(0.0, 0.0), (1000.0, 0.0), (1000.0, 2000.0), (0.0, 2000.0)]
    assert g.asap_area(square) == 2_000_000.0
    assert g.area_um2(square, (0.25, 0.5)) == pytest.approx(250_000.0)
    assert g.area_mm2(square, (0.25, 0.5)) == pytest.approx(0.25)
    assert g.perimeter(square) == 6000.0
    assert g.perimeter(square, closed=False) == 4000.0
    line = [(10.0, 10.0), (40.0, 50.0)]
    assert g.measurement_length(line) == 50.0
    assert g.measurement_length_um(line, 0.5) == 25.0  # ASAP uses the x spacing only
    assert g.centroid(square) == (500.0, 1000.0)
    assert g.centroid([(2.0, 4.0)]) == (2.0, 4.0)


def test_bow_tie_and_double_loop() -> None:
    bow_tie = [(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)]
    assert g.asap_area(bow_tie) == 0.0  # ASAP: the lobes cancel
    assert g.true_area(bow_tie) == pytest.approx(50.0)  # what the mask fills
    report = g.validity(bow_tie)
    assert not report.valid and "Self-intersection" in report.reason
    assert (5.0, 5.0) in report.locations
    assert report.to_json()["locations"][0] == [5.0, 5.0]
    twice = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)] * 2
    assert g.asap_area(twice) == 200.0
    assert g.true_area(twice) == pytest.approx(100.0)
    assert g.validity([(0.0, 0.0), (3.0, 0.0), (3.0, 3.0)]).valid
    assert not g.validity([(0.0, 0.0), (1.0, 1.0)]).valid
    assert not g.validity([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]).valid


def test_validity_of_real_polygons_names_every_crossing() -> None:
    aset = read_asap(real_file("tumor_039").read_bytes())
    reports = [g.validity(a.coordinates) for a in aset.annotations]
    invalid = [r for r in reports if not r.valid]
    assert len(invalid) == 27  # as counted for the fixture (tests/data/asap/SOURCES.md)
    assert all(r.locations for r in invalid)
    for r, a in zip(reports, aset.annotations, strict=True):
        if not r.valid:
            x0, y0, x1, y1 = g.bounding_box(a.coordinates)
            assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in r.locations)
            assert g.true_area(a.coordinates) > 0


def test_longest_diameter_and_categories() -> None:
    rect = [(0.0, 0.0), (300.0, 0.0), (300.0, 400.0), (0.0, 400.0)]
    assert g.longest_diameter(rect) == 500.0
    assert g.longest_diameter(rect, (2.0, 1.0)) == pytest.approx(math.hypot(600, 400))
    circle = [(1000 + 500 * math.cos(t), 1000 + 500 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 720)]
    assert g.longest_diameter(circle) == pytest.approx(1000.0, abs=0.01)
    assert g.metastasis_category(200.0) == g.ITC
    assert g.metastasis_category(200.01) == g.MICRO
    assert g.metastasis_category(2000.0) == g.MICRO
    assert g.metastasis_category(2000.01) == g.MACRO
    with pytest.raises(ValueError):
        g.metastasis_category(float("nan"))


def test_slide_category_is_the_largest_tumour_present() -> None:
    def square(name: str, group: str | None, size: float) -> Annotation:
        return Annotation(name, "Polygon", group, coordinates=[(0, 0), (size, 0), (size, size), (0, size)])

    mpp = (0.25, 0.25)
    small = square("itc", "metastases", 500)  # diagonal 707 px = 177 µm
    micro = square("micro", "metastases", 4000)  # 1414 µm
    huge_normal = square("normal", "normal", 40000)  # not tumour
    aset = AnnotationSet([small, micro, huge_normal], [Group("metastases"), Group("normal")])
    assert g.slide_metastasis_category(aset, mpp) == g.MICRO
    assert g.slide_metastasis_category(aset, mpp, groups=["normal"]) == g.MACRO
    assert g.slide_metastasis_category(AnnotationSet([small]), mpp) == g.ITC
    assert g.slide_metastasis_category(AnnotationSet(), mpp) == g.NEGATIVE
    real = read_asap(real_file("tumor_039").read_bytes())
    assert g.slide_metastasis_category(real, (0.243, 0.243)) == g.MACRO
    measures = g.measures(micro, mpp)
    assert measures["category"] == g.MICRO and measures["area_um2"] == pytest.approx(1_000_000.0)


def test_spline_bezier_points_follow_asap_formula() -> None:
    # Evenly spaced collinear points: centripetal Catmull-Rom gives controls at 1/3 and 2/3.
    line = [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (30.0, 0.0)]
    segments = g.spline_beziers(line, closed=False)
    assert len(segments) == 3
    p1, b1, b2, p2 = segments[1]
    assert p1 == (10.0, 0.0) and p2 == (20.0, 0.0)
    assert b1[0] == pytest.approx(10 + 10 / 3, abs=1e-4) and b2[0] == pytest.approx(20 - 10 / 3, abs=1e-4)
    closed = g.spline_beziers(line, closed=True)
    assert len(closed) == 4 and closed[-1][0] == (30.0, 0.0) and closed[-1][3] == (0.0, 0.0)
    # A duplicate point gives NaN controls in ASAP; flattening drops the duplicate instead.
    assert any(
        math.isnan(v) for seg in g.spline_beziers([(0, 0), (0, 0), (5, 5)], closed=False) for v in seg[1]
    )


def test_flattened_spline_passes_through_control_points_and_is_smooth() -> None:
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
    curve = g.flatten_spline(square, threshold_px=0.25)
    assert curve[0] == curve[-1] == (0.0, 0.0)
    for point in square:
        assert point in curve
    assert len(curve) > 40
    arr = np.asarray(curve)
    # The curve bulges outside the control square (Catmull-Rom overshoots between corners) ...
    assert arr[:, 0].min() < 0 and arr[:, 1].max() > 100
    # ... and consecutive flattened points are close (Qt's flatness rule).
    assert np.hypot(*np.diff(arr, axis=0).T).max() < 30
    real = read_asap(real_file("tumor_009").read_bytes())
    curve = g.flatten_spline(real.annotations[0].coordinates)
    assert all(math.isfinite(v) for p in curve for v in p)


def test_simplify_keeps_shape_within_tolerance() -> None:
    t = np.linspace(0, 2 * math.pi, 2000, endpoint=False)
    circle = [(float(500 + 300 * math.cos(a)), float(500 + 300 * math.sin(a))) for a in t]
    simple = g.simplify(circle, 2.0)
    assert 20 < len(simple) < 200
    assert simple[0] != simple[-1]
    assert g.validity(simple).valid
    assert abs(g.true_area(simple) - g.true_area(circle)) / g.true_area(circle) < 0.01
    # every simplified vertex is an original one
    assert set(simple) <= set(circle)
    assert g.simplify(circle, 0) == circle
    line = [(0.0, 0.0), (5.0, 0.1), (10.0, 0.0)]
    assert g.simplify(line, 1.0, closed=False) == [(0.0, 0.0), (10.0, 0.0)]


def test_simplify_of_a_jagged_outline_is_douglas_peucker_within_tolerance() -> None:
    # A 30,000-vertex star with random radii (past the topology-preserving size): GEOS's
    # topology-preserving simplifier took 47 s on a 120,000-vertex one, which froze the viewer.
    rng = np.random.default_rng(7)
    angles = np.sort(rng.uniform(0, 2 * math.pi, 30_000))
    radii = rng.uniform(100, 1300, 30_000)
    star = [(float(1110 + r * math.cos(a)), float(1480 + r * math.sin(a)))
            for a, r in zip(angles, radii, strict=True)]
    for tolerance in (1.0, 8.0):
        simple = g.simplify(star, tolerance)
        assert 3 <= len(simple) < len(star) / 2
        assert set(simple) <= set(star)
        original = shapely.LineString([*star, star[0]])
        reduced = shapely.LineString([*simple, simple[0]])
        assert original.hausdorff_distance(reduced) <= tolerance + 1e-9
