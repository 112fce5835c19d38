"""GeoJSON: every real QuPath file imports, our form round-trips, the bounds frame is explicit."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._asap_helpers import STEMS, real_file
from viewer.annotations import geojson as gj
from viewer.annotations.asap import read_asap
from viewer.annotations.geojson.writer import _signed_area2
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import AnnotationFormatError, InputTooLargeError
from viewer.slides import read_slide_info

DATA = Path(__file__).parent / "data"
QUPATH = DATA / "geojson"
QUPATH_FILES = sorted(p for p in QUPATH.iterdir() if p.suffix in (".json", ".geojson"))
SLIDES = DATA / "slides"
HALO_PAIR = (
    "2024_5_13_RDT1.30_6232_MSC Panel _x40_Scan1.unmixed.qptiff - resolution #1.geojson",
    "315_89_MSC Panel and Hormone Panel_SerialStainFuse_2024501051inc tissue.geojson",
)


def _features(path: Path) -> list[dict]:
    return list(gj.iter_features(json.loads(path.read_bytes())))


def test_all_real_files_are_here() -> None:
    assert len(QUPATH_FILES) == 12


@pytest.mark.parametrize("path", QUPATH_FILES, ids=lambda p: p.name[:40])
def test_real_qupath_file_imports_and_round_trips(path: Path) -> None:
    aset = gj.from_geojson(path.read_bytes())
    features = _features(path)
    assert len(aset.annotations) >= len(features) > 0
    aset.validate()
    # Every classification became a group with a parsed colour.
    classes = {
        f["properties"]["classification"]["name"]
        for f in features
        if (f.get("properties") or {}).get("classification")
    }
    assert classes <= {grp.name for grp in aset.groups}
    assert all(grp.color.startswith("#") and len(grp.color) == 7 for grp in aset.groups)
    # Our own form is lossless, also through bytes.
    assert gj.from_geojson(gj.dumps(gj.to_geojson(aset))) == aset
    # QuPath form: what QuPath 0.4+ accepts.
    exported = gj.to_geojson(aset, qupath=True)
    for feature in exported["features"]:
        props, geometry = feature["properties"], feature["geometry"]
        assert props["objectType"] == "annotation"
        if "classification" in props:
            color = props["classification"]["color"]
            assert len(color) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in color)
        if geometry["type"] == "Polygon" and geometry["coordinates"]:
            ring = geometry["coordinates"][0]
            assert ring[0] == ring[-1] and len(ring) >= 4
            assert _signed_area2([tuple(p) for p in ring[:-1]]) <= 0  # QuPath's shell orientation
        for value in json.dumps(geometry["coordinates"]).replace("[", " ").replace("]", " ").split(","):
            if value.strip() and "." in value:
                assert len(value.strip().split(".")[1]) <= 2
    again = gj.from_geojson(gj.dumps(exported))
    assert [a.type for a in again.annotations] == [a.type for a in aset.annotations]


def test_dialect_a_qupath_02_array_with_packed_colours() -> None:
    aset = gj.from_geojson((QUPATH / "TCGA-EJ-5519-01Z-00-DX1.json").read_bytes())
    assert {grp.name: grp.color for grp in aset.groups} == {
        "Tumor": "#c80000",
        "Other": "#ffc800",
        "Negative": "#7070e1",
    }
    # The MultiPolygon of 3 parts gives 3 annotations in the class group.
    other = [a for a in aset.annotations if a.group == "Other"]
    assert len(other) == 3 and [a.name for a in other] == [
        "Annotation 1 (1)",
        "Annotation 1 (2)",
        "Annotation 1 (3)",
    ]
    assert max(x for a in aset.annotations for x, _ in a.coordinates) > 90000


def test_dialect_b_and_c_of_the_same_data_import_equal() -> None:
    """HALO's 0.3-dialect original and QuPath 0.5's re-export are the same annotations."""
    dialect_c, dialect_b = (gj.from_geojson((QUPATH / name).read_bytes()) for name in HALO_PAIR)
    assert dialect_b == dialect_c
    assert len(dialect_b.annotations) == 338
    assert {grp.name: grp.color for grp in dialect_b.groups}["ICI"] == "#fe0b1b"
    # Closed polylines become polygons stored open (one closing point dropped), as ASAP stores rings.
    lines = [f["geometry"]["coordinates"] for f in _features(QUPATH / HALO_PAIR[1])]
    assert all(a.type == "Polygon" for a in dialect_b.annotations)
    assert [len(a.coordinates) for a in dialect_b.annotations] == [len(line) - 1 for line in lines]


def test_all_qupath_shapes_map_to_asap_types() -> None:
    aset = gj.from_geojson((QUPATH / "qp_all_shapes.geojson").read_bytes())
    types = sorted(a.type for a in aset.annotations)
    assert types == ["Dot", "Measurement", "PointSet", "Polygon", "Polygon", "Polygon", "Rectangle"]
    rect = next(a for a in aset.annotations if a.type == "Rectangle")
    (x0, y0), (x1, _), (_, y2), (x3, _) = rect.coordinates
    assert x0 < x1 and y0 < y2 and x3 == x0  # ASAP order: TL, TR, BR, BL
    assert not aset.groups


def test_polygon_holes_go_to_a_holes_group() -> None:
    aset = gj.from_geojson((QUPATH / "Example with doughnut annotation.geojson").read_bytes())
    holes = aset.group_by_name("Inverted_example (holes)")
    assert holes is not None and holes.parent == "Inverted_example"
    assert [a.name for a in aset.members("Inverted_example (holes)")] == ["Annotation 1 hole 1"]
    shell = aset.members("Inverted_example")[0]
    assert sorted(shell.coordinates) == [(0.0, 0.0), (0.0, 720.0), (960.0, 0.0), (960.0, 720.0)]
    ellipse = aset.members("Inside")[0]
    assert ellipse.type == "Polygon" and len(ellipse.coordinates) == 100


def test_asap_fixtures_round_trip_exactly_with_and_without_offset() -> None:
    for stem in STEMS:
        aset = read_asap(real_file(stem).read_bytes())
        assert gj.from_geojson(gj.to_geojson(aset)) == aset, stem
        shifted = gj.to_geojson(aset, offset=(2664.0, 2088.0))
        assert gj.from_geojson(gj.dumps(shifted), offset=(2664.0, 2088.0)) == aset, stem
        if aset.annotations and aset.annotations[0].coordinates:
            x, y = aset.annotations[0].coordinates[0]
            assert (
                gj.iter_features(shifted).__next__()["properties"]["asap"]["type"] == aset.annotations[0].type
            )
            first = shifted["features"][0]["geometry"]["coordinates"]
            while isinstance(first[0], list):
                first = first[0]
            assert first == [x - 2664.0, y - 2088.0]


def test_degenerate_and_odd_annotations_round_trip() -> None:
    aset = AnnotationSet(
        [
            Annotation("empty", "Polygon", None, coordinates=[]),
            Annotation("one", "Polygon", "g", coordinates=[(1.5, 2.5)]),
            Annotation("two", "Spline", "g", "red", [(1.0, 1.0), (2.0, 2.0)]),
            Annotation(
                "closed", "Polygon", None, coordinates=[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 0.0)]
            ),
            Annotation("loop", "Measurement", None, coordinates=[(0.0, 0.0), (4.0, 0.0), (0.0, 0.0)]),
            Annotation("dots", "Dot", None, coordinates=[(1.0, 1.0), (2.0, 2.0)]),
            Annotation("set", "PointSet", None, coordinates=[(3.0, 3.0)]),
            Annotation("odd", "None", None, "#AARRGGBB", [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]),
        ],
        [Group("g", None, "#123456", {"key": "value"}), Group("h", "g")],
    )
    assert gj.from_geojson(gj.dumps(gj.to_geojson(aset))) == aset
    feature = gj.annotation_to_feature(aset.annotations[2], aset, feature_id="x")
    assert feature["id"] == "x" and feature["properties"]["color"] == [255, 0, 0]
    assert feature["properties"]["classification"] == {"name": "g", "color": [0x12, 0x34, 0x56]}
    assert gj.feature_to_annotation(feature) == aset.annotations[2]


def test_feature_to_annotation_rejects_multi_part() -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]},
        "properties": {"classification": "Tumor: Positive"},
    }
    annotation = gj.feature_to_annotation(feature, offset=(10, 20))
    assert annotation.type == "PointSet" and annotation.group == "Tumor: Positive"
    assert annotation.coordinates == [(11.0, 22.0), (13.0, 24.0)]
    doughnut = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[2, 2], [3, 2], [3, 3], [2, 2]]],
        },
    }
    with pytest.raises(AnnotationFormatError, match="exactly one annotation"):
        gj.feature_to_annotation(doughnut)
    with pytest.raises(AnnotationFormatError):
        gj.feature_to_annotation({"type": "FeatureCollection"})


def test_classification_forms() -> None:
    def group_of(classification: object) -> Group:
        data = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [1, 1]},
            "properties": {"classification": classification},
        }
        aset = gj.from_geojson(data)
        return aset.groups[0]

    assert group_of({"name": "Tumor", "color": [200, 0, 0]}).color == "#c80000"
    assert group_of({"names": ["Tumor", "Positive"], "color": [1, 2, 3, 128]}).name == "Tumor: Positive"
    assert group_of({"name": "Tumor", "colorRGB": -3670016}).color == "#c80000"
    assert (
        group_of({"name": "Positive", "colorRGB": -1, "parentClass": {"name": "Tumor"}}).name
        == "Tumor: Positive"
    )
    assert group_of({"name": "X", "color": [-3670016]}).color == "#c80000"
    assert group_of("  Stroma :Positive ").name == "Stroma: Positive"
    assert group_of({"name": "NoColour"}).color == "#64FE2E"  # QuPath would refuse; we accept


def test_every_problem_is_listed() -> None:
    bad = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], ["a", 1], [2, 2]]]}},
            {"type": "Feature", "geometry": {"type": "Hexagon", "coordinates": []}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e400, 0]}},
            {"type": "Feature", "geometry": {"type": "LineString"}},
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [1, 2]},
                "properties": {"name": "bad\x01name"},
            },
        ],
    }
    with pytest.raises(AnnotationFormatError) as info:
        gj.from_geojson(json.dumps(bad).replace("1e+400", "Infinity"))
    details = info.value.details
    assert len(details) == 5
    assert "$.features[0].geometry.coordinates[0][1]" in details[0]
    assert "Hexagon" in details[1] and "finite" in details[2] and "coordinates" in details[3]
    assert "U+0001" in details[4]
    with pytest.raises(AnnotationFormatError, match="line 1 column"):
        gj.from_geojson(b'{"type": "FeatureCollection", "features": [}')
    with pytest.raises(InputTooLargeError):
        gj.from_geojson(b"[" + b" " * 2000 + b"]", max_bytes=1000)
    with pytest.raises(InputTooLargeError):
        gj.from_geojson(gzip.compress(b"[" + b" " * 5000 + b"]"), max_bytes=1000)


def test_bare_geometry_nested_arrays_and_gzip() -> None:
    point = {"type": "Point", "coordinates": [5, 6, 7]}
    aset = gj.from_geojson([[point], {"type": "Feature", "geometry": None, "properties": {}}])
    assert [(a.type, a.coordinates) for a in aset.annotations] == [("Dot", [(5.0, 6.0)])]
    data = gzip.compress((QUPATH / "qp_all_shapes.geojson").read_bytes())
    assert len(gj.from_geojson(data).annotations) == 7
    collection = {
        "type": "GeometryCollection",
        "geometries": [
            point,
            {"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[0, 0], [1, 0], [1, 1], [0, 0]]]},
        ],
    }
    assert [a.type for a in gj.from_geojson(collection).annotations] == ["Dot", "Measurement", "Polygon"]


@pytest.fixture(scope="module")
def mirax_info(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A real MIRAX slide with OpenSlide bounds (generated by tests/data/tools/make_bounds_slides.py)."""
    out = tmp_path_factory.mktemp("bounds")
    subprocess.run(
        [sys.executable, str(DATA / "tools" / "make_bounds_slides.py"), str(out), "--only", "mirax-2region"],
        check=True,
        capture_output=True,
    )
    path = out / "mirax-2region.mrxs"
    return read_slide_info(path.name, path, path.stat())


def test_qupath_offset_of_a_bounds_slide_both_ways(mirax_info: object, tmp_path: Path) -> None:
    offset = gj.qupath_offset(mirax_info)
    assert offset == (2664.0, 2088.0)
    # A QuPath file on that slide: (0, 0) is the bounds' corner, i.e. slide (2664, 2088).
    qupath_file = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [64, 0], [64, 64], [0, 64], [0, 0]]]},
        "properties": {"objectType": "annotation"},
    }
    aset = gj.from_geojson(qupath_file, offset=offset)
    assert aset.annotations[0].coordinates == [
        (2664.0, 2088.0),
        (2728.0, 2088.0),
        (2728.0, 2152.0),
        (2664.0, 2152.0),
    ]
    back = gj.to_geojson(aset, offset=offset, qupath=True)
    assert set(map(tuple, back["features"][0]["geometry"]["coordinates"][0])) == set(
        map(tuple, qupath_file["geometry"]["coordinates"][0])
    )
    # Without the offset nothing moves: the frame is never applied silently.
    assert gj.from_geojson(qupath_file).annotations[0].coordinates[0] == (0.0, 0.0)


def test_qupath_offset_is_zero_without_bounds() -> None:
    path = SLIDES / "aperio" / "CMU-1-Small-Region.svs"
    assert gj.qupath_offset(read_slide_info(path.name, path, path.stat())) == (0.0, 0.0)

    class Info:
        width, height = 1000, 800
        properties = {
            "openslide.bounds-x": "10",
            "openslide.bounds-y": "20",
            "openslide.bounds-width": "1000",
            "openslide.bounds-height": "700",
        }

    assert gj.qupath_offset(Info()) == (0.0, 0.0)  # QuPath crops only when both sides differ
    Info.properties = dict(Info.properties, **{"openslide.bounds-width": "900"})
    assert gj.qupath_offset(Info()) == (10.0, 20.0)


def test_colour_parsing_follows_qcolor() -> None:
    assert gj.parse_color("#F4FA58") == (0xF4, 0xFA, 0x58)
    assert gj.parse_color("#abc") == (0xAA, 0xBB, 0xCC)
    assert gj.parse_color("#80ff0000") == (255, 0, 0)
    assert gj.parse_color("#fff000000") == (255, 0, 0)
    assert gj.parse_color("#ffff00000000") == (255, 0, 0)
    assert gj.parse_color("Red") == (255, 0, 0)
    assert gj.parse_color("#12345") is None and gj.parse_color("nonsense") is None
    assert gj.class_color("g", "nonsense") == gj.class_color("g", "nonsense")
    assert len(gj.class_color("g", "nonsense")) == 3


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=8)
    | st.sampled_from(["Feature", "FeatureCollection", "Polygon", "Point", "LineString", "MultiPolygon",
                       "GeometryCollection", "type", "geometry", "coordinates", "features", "properties"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "geometry", "coordinates", "features", "properties",
                                       "classification", "name", "color", "asap", "geometries",
                                       "objectType"]),
                      children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(document=_json)
def test_any_json_reads_or_fails_cleanly(document: object) -> None:
    """Hostile or nonsensical JSON never escapes as anything but AnnotationFormatError."""
    try:
        gj.from_geojson(document if isinstance(document, (dict, list)) else json.dumps(document))
    except AnnotationFormatError:
        pass
