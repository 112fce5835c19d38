"""The set summary's fast path (viewer.annotations.measures over one flat point array, the store's
documents decoded all at once) against the reference functions of one annotation
(viewer.annotations.geometry, viewer.store.documents): every number equal, on the real CAMELYON
and ASAP files and on generated shapes, degenerate ones included (no point, 1-2 points, collinear,
duplicate points, self-intersecting, clockwise and counter-clockwise, hulls large enough for the
antipodal search)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations import geometry, measures
from viewer.annotations.asap import read_asap
from viewer.annotations.model import Annotation
from viewer.annotations.summary import (
    PIPELINE_MIN_ANNOTATIONS,
    Outlines,
    SummaryCache,
    annotation_summaries,
    summarise,
)
from viewer.app import create_app
from viewer.store import annotation_doc, annotation_from_doc, annotation_outlines

REAL = Path(__file__).parent / "data" / "asap" / "real"
SLIDES = Path(__file__).parent / "data" / "slides" / "aperio"
#: CAMELYON16's Radboud pixel size, and an anisotropic one (x and y scaled differently)
MPPS = [(0.243, 0.243), (0.2525, 0.2437)]


def reference_record(a: Annotation, mpp: tuple[float, float] | None) -> dict[str, Any]:
    """What the summary must say of *a*, from geometry.py's functions of one annotation."""
    is_area = a.type in geometry.AREA_TYPES
    tumour = is_area and len(a.coordinates) >= 2 and a.group not in geometry.NON_TUMOUR_GROUPS
    area = geometry.asap_area(a.coordinates) if is_area else None
    length = geometry.measurement_length(a.coordinates) if a.type == "Measurement" else None
    diameter = geometry.longest_diameter(a.coordinates, mpp) if mpp and tumour else None
    return {
        "name": a.name, "type": a.type, "group": a.group, "color": a.color,
        "comment": a.comment or None, "points": len(a.coordinates),
        "bbox": list(geometry.bounding_box(a.coordinates)),
        "area_px2": area,
        # as `wsi-viewer info` scales it (geometry.area_um2 multiplies by x then y: 1 ulp apart)
        "area_um2": area * (mpp[0] * mpp[1]) if area is not None and mpp else None,
        "length_px": length,
        "length_um": (
            geometry.measurement_length_um(a.coordinates, mpp[0]) if length is not None and mpp else None
        ),
        "max_diameter_um": diameter,
        "camelyon": geometry.metastasis_category(diameter) if diameter is not None else None,
    }


def assert_same_as_reference(annotations: list[Annotation], mpp: tuple[float, float] | None) -> None:
    """The summary of *annotations*, read back from their stored documents, equals the reference."""
    heads, points, offsets = annotation_outlines([annotation_doc(a) for a in annotations])
    ids = list(range(1, len(annotations) + 1))
    from_docs = summarise(Outlines(ids, [7] * len(ids), heads, points, offsets), mpp)
    from_models = annotation_summaries([(i, 7, a) for i, a in zip(ids, annotations, strict=True)], mpp)
    assert from_docs == from_models
    for i, (a, got) in enumerate(zip(annotations, from_docs, strict=True)):
        want = {"id": i + 1, "version": 7, **reference_record(a, mpp)}
        assert got == want, (i, a.type, len(a.coordinates))


@pytest.mark.parametrize("path", sorted(REAL.glob("*.xml")), ids=lambda p: p.stem)
def test_real_files_measure_as_the_reference(path: Path) -> None:
    aset = read_asap(path.read_bytes())
    assert aset.annotations
    for mpp in [*MPPS, None]:
        assert_same_as_reference(aset.annotations, mpp)


def polygon(coords: Any, kind: str = "Polygon", group: str | None = "tumor") -> Annotation:
    return Annotation("a", kind, group, "#F4FA58", [(float(x), float(y)) for x, y in coords])


def ellipse(
    n: int, a: float, b: float, turn: float, centre: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """*n* random points of an ellipse (semi-axes *a*, *b*) turned by *turn*, in angle order."""
    t = np.sort(rng.random(n)) * math.tau
    x, y = a * np.cos(t), b * np.sin(t)
    c, s = math.cos(turn), math.sin(turn)
    out: np.ndarray = np.c_[centre[0] + x * c - y * s, centre[1] + x * s + y * c]
    return out


def test_degenerate_and_generated_shapes_measure_as_the_reference() -> None:
    rng = np.random.default_rng(12)
    star = [(5000 + (300 if k % 2 else 40) * math.cos(k * math.tau / 1000),
             7000 + (300 if k % 2 else 40) * math.sin(k * math.tau / 1000)) for k in range(1000)]
    shapes = [
        polygon([]),
        polygon([(3.5, 4.25)]),
        polygon([(1, 1), (1, 1)]),  # two equal points: a hull that is a point
        polygon([(0, 0), (300, 400)]),
        polygon([(0, 0), (10, 10), (20, 20), (5, 5)]),  # collinear, out of order
        polygon([(t * 7.25 + 3, t * -2.5 + 1) for t in rng.random(500)]),  # 500 collinear points
        polygon([(0, 0), (10, 0), (10, 0), (10, 10), (0, 10), (0, 0), (0, 0)]),  # duplicates
        polygon([(0, 0), (10, 10), (10, 0), (0, 10)]),  # a bow-tie: ASAP's area 0
        polygon([(0, 0), (10, 0), (10, 10), (0, 10)][::-1]),  # clockwise on screen
        polygon(star, "Spline"),
        polygon(np.round(rng.random((300, 2)) * 8)),  # a grid: many duplicates and collinear runs
        polygon(ellipse(5000, 900, 40, 0.7, (40_000, 60_000), rng)),  # hull of thousands of vertices
        polygon(ellipse(150, 80, 80, 0, (120.5, 99.25), rng)[::-1]),  # antipodal search, clockwise
        polygon(np.round(ellipse(2000, 500, 300, 2.0, (1e5, 1e5), rng))),  # rounded: collinear runs
        polygon(rng.random((400, 2)) * 1e5),
        polygon([(0, 0), (10, 0), (10, 10), (0, 10)], "Rectangle"),
        polygon([(0, 0), (10, 0)], "Measurement", None),
        polygon([(5, 5)], "Measurement", None),
        polygon([(0, 0), (10, 0), (10, 10)], "Dot", None),
        polygon([(0, 0), (10, 0), (10, 10)], "PointSet", "tumor"),
        polygon([(0, 0), (100, 0), (100, 100)], "Polygon", "_2"),  # not tumour (CAMELYON16 normal)
        polygon([(0, 0), (100, 0), (100, 100)], "Polygon", None),  # ungrouped area: tumour
        Annotation(
            "ünï \"quoted\" \\ name", "Polygon", "tumor", "#000000", [(1.0, 2.0), (3.0, 1e-7), (2.5e16, 4.0)],
            comment="a comment, with \"coordinates\":[[1,2]] in it",
        ),
    ]
    for mpp in [*MPPS, None]:
        assert_same_as_reference(shapes, mpp)
        assert_same_as_reference(shapes[::-1], mpp)


def test_every_hull_size_and_orientation_gives_the_reference_diameter() -> None:
    """Regular and random convex polygons of 3 to 300 vertices, both orientations, at offsets far
    from the origin: each path (every pair up to 64 hull vertices, antipodal pairs above)."""
    rng = np.random.default_rng(3)
    shapes = []
    for n in range(3, 300, 3):
        ring = ellipse(n, 10 + rng.random() * 500, 10 + rng.random() * 500, rng.random() * 3, (9e4, 3e4), rng)
        shapes.append(ring if n % 2 else ring[::-1])
        regular = [(70.0 * math.cos(k * math.tau / n), 70.0 * math.sin(k * math.tau / n)) for k in range(n)]
        shapes.append(np.array(regular) + 1234.5)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in shapes])])
    for mpp in MPPS:
        got = measures.longest_diameters(np.concatenate(shapes), offsets, mpp)
        assert got.tolist() == [geometry.longest_diameter(s, mpp) for s in shapes]


coordinate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
small = st.integers(min_value=-20, max_value=20).map(float)  # duplicates and collinear points likely


point = st.tuples(st.one_of(coordinate, small), st.one_of(coordinate, small))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(point, max_size=80), max_size=8))
def test_random_point_lists_measure_as_the_reference(rings: list[list[tuple[float, float]]]) -> None:
    assert_same_as_reference([polygon(r) for r in rings], MPPS[1])


def test_documents_decode_as_one_at_a_time() -> None:
    annotations = [
        Annotation("p", "Polygon", "tumor", "#F4FA58", [(1.0, 2.5), (-3.0, 1e-300), (1e308, 0.1 + 0.2)]),
        Annotation("", "Dot", None, "#000000", [], comment="ünïcode ✓"),
        Annotation("m", "Measurement", None, "#FFFFFF", [(0.0, 0.0), (3.0, 4.0)]),
    ]
    docs = [annotation_doc(a) for a in annotations]
    # another writer's spacing, and strings that look like the coordinates
    docs.append('{"name": "x\\"coordinates\\":[[9,9]]", "type": "Polygon", "group": "],[", '
                '"color": "#000000", "coordinates": [[1.5, 2], [3, 4.25]], "comment": "]] [["}')
    docs.append('{"name":"n","type":"Dot","group":null,"color":"#000000","coordinates":[[7.0,8.0]]}')
    heads, points, offsets = annotation_outlines(docs)
    assert offsets.tolist() == [0, 3, 3, 5, 7, 8] and points.dtype == np.float64 and points.shape == (8, 2)
    for k, doc in enumerate(docs):
        a = annotation_from_doc(doc)
        fields = {"name": a.name, "type": a.type, "group": a.group, "color": a.color, "comment": a.comment}
        assert heads[k] == fields
        assert [tuple(p) for p in points[offsets[k] : offsets[k + 1]].tolist()] == a.coordinates
    assert annotation_outlines([])[0] == [] and annotation_outlines([])[2].tolist() == [0]


def test_sums_add_left_to_right_as_asap_does() -> None:
    """Where the order of a double sum shows (numpy's sum and reduceat add pairwise), each
    annotation's terms are added first to last, as ASAP's loop and geometry's reference add."""
    big = 2.0**53  # big + 1 rounds back to big
    terms = [big] + [1.0] * 18 + [-big] + [1.0, 2.0**-60, 3.0, 1e300, -1e300, 0.5]
    offsets = np.array([0, 20, 20, 21, 26])

    def sequential(values: list[float]) -> float:
        total = 0.0
        for v in values:
            total += v
        return total

    want = [sequential(terms[a:b]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert want[0] != float(np.sum(terms[:20]))  # the order shows here
    assert measures.sequential_sums(np.array(terms), offsets).tolist() == want


def test_many_points_measured_by_two_threads_as_the_reference() -> None:
    """Over measures._PARALLEL_MIN_POINTS points the second half is measured by a worker thread:
    the halves join in order (clouds with small hulls and ellipses with big ones in both)."""
    rng = np.random.default_rng(8)
    shapes = [
        rng.random((200, 2)) * 300 + k * 10 if k % 5 else ellipse(300, 90, 40, k, (k * 10.0, 5.0), rng)
        for k in range(600)
    ]
    shapes[300] = shapes[300][:1]  # one point: measured 0, not sent to either half
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in shapes])])
    assert offsets[-1] > measures._PARALLEL_MIN_POINTS
    got = measures.longest_diameters(np.concatenate(shapes), offsets, MPPS[1])
    assert got.tolist() == [geometry.longest_diameter(s, MPPS[1]) for s in shapes]


def test_a_large_set_read_in_two_halves_gives_the_reference_records() -> None:
    """SummaryCache.encode reads and measures many missing records in two halves (the first's
    diameters by the worker thread while the second's documents are decoded): the answer is the
    reference's, in set order, and a second encode of another version reuses every record."""
    rng = np.random.default_rng(21)
    annotations = []
    for k in range(PIPELINE_MIN_ANNOTATIONS + 201):
        if k % 7 == 3:
            annotations.append(polygon([(k, 0), (k + 3, 4)], "Measurement", None))
        elif k % 5:
            annotations.append(polygon(rng.random((int(rng.integers(1, 60)), 2)) * 500 + k))
        else:
            ring = ellipse(90, 40, 25, k, (k * 3.0, 50.0), rng)
            annotations.append(polygon(ring, group="_2" if k % 2 else "x"))
    docs = {i + 1: annotation_doc(a) for i, a in enumerate(annotations)}
    reads: list[int] = []

    def fetch(ids: list[int]) -> Outlines:
        reads.append(len(ids))
        heads, points, offsets = annotation_outlines([docs[i] for i in ids])
        return Outlines(ids, [3] * len(ids), heads, points, offsets)

    cache = SummaryCache()
    listing = [(i, 3) for i in docs]
    body = orjson.loads(cache.encode((1, 9, 1, MPPS[0]), {"set": 9}, listing, fetch))
    assert reads == [len(docs) // 2, len(docs) - len(docs) // 2]
    want = [{"id": i + 1, "version": 3, **reference_record(a, MPPS[0])} for i, a in enumerate(annotations)]
    assert body == {"set": 9, "annotations": want}
    again = orjson.loads(cache.encode((1, 9, 2, MPPS[0]), {"set": 9}, listing, fetch))
    assert again["annotations"] == want and len(reads) == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_the_route_reads_documents_of_either_engine_as_the_reference(engine: str, tmp_path: Path) -> None:
    """GET set.urls.summary on SQLite and PostgreSQL: the store's documents decoded at once give
    the reference's records of the sidecar's annotations (the slide's pixel size)."""
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(SLIDES / "CMU-1-Small-Region.svs", slides / "CMU-1-Small-Region.svs")
    shutil.copy(REAL / "tumor_111.xml", slides / "CMU-1-Small-Region.xml")
    with database_setting(engine, tmp_path) as database:
        settings = {"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp_path / "data"), "DATABASE": database}
        app = create_app(settings)
        services = app.extensions["wsi_viewer"]
        try:
            client = app.test_client()
            (slide,) = client.get("/api/slides").get_json()["slides"]
            (listed,) = client.get(slide["urls"]["annotations"]).get_json()["sets"]
            body = client.get(listed["urls"]["summary"]).get_json()
            mpp = (float(body["mpp"][0]), float(body["mpp"][1]))
            annotations = read_asap((REAL / "tumor_111.xml").read_bytes()).annotations
            want = [reference_record(a, mpp) for a in annotations]
            got = [{k: v for k, v in r.items() if k not in ("id", "version")} for r in body["annotations"]]
            assert got == want and any(r["camelyon"] for r in got)
        finally:
            services.store.close()
            services.slides.close()
