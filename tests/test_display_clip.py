"""Display tiles of big outlines (``clip=1``): an outline of more than CLIP_MIN_VERTICES vertices is
cut to the tile's box with its vertices inside unchanged, and carries the whole annotation's
measures; small shapes and outlines the box holds whole are sent as they are."""

from __future__ import annotations

import json
import math

from viewer.annotations.display import CLIP_MIN_VERTICES, FeatureCache, display_features, encode_feature
from viewer.annotations.geometry import asap_area
from viewer.annotations.model import Annotation


def _star(n: int) -> list[tuple[float, float]]:
    return [(1000 + (300 + 200 * (i % 2)) * math.cos(2 * math.pi * i / n),
             1000 + (300 + 200 * (i % 2)) * math.sin(2 * math.pi * i / n)) for i in range(n)]


def test_big_outline_is_cut_to_the_box_with_its_whole_measures() -> None:
    star = _star(1000)
    box = (900.0, 900.0, 1100.0, 1600.0)
    text = encode_feature(1, 3, Annotation(name="s", coordinates=list(star)), 0.0, [], box)
    assert text is not None
    found = json.loads(text)
    ring = found["geometry"]["coordinates"][0]
    assert found["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]
    assert all(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in ring)
    inside = [list(p) for p in star if box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]]
    assert inside and all(p in ring for p in inside)  # exact: vertices inside are kept as they are
    assert len(ring) < len(star) / 2
    whole = found["properties"]["whole"]
    xs, ys = [p[0] for p in star], [p[1] for p in star]
    assert whole == {"bbox": [min(xs), min(ys), max(xs), max(ys)], "area": asap_area(star), "points": 1000}


def test_small_shapes_and_outlines_inside_the_box_are_whole() -> None:
    small = _star(CLIP_MIN_VERTICES)
    box = (900.0, 900.0, 1100.0, 1100.0)
    text = encode_feature(1, 1, Annotation(name="s", coordinates=list(small)), 0.0, [], box)
    assert text is not None and "whole" not in json.loads(text)["properties"]
    assert len(json.loads(text)["geometry"]["coordinates"][0]) == CLIP_MIN_VERTICES + 1
    text = encode_feature(1, 1, Annotation(name="s", coordinates=_star(1000)), 0.0, [], (0, 0, 2000, 2000))
    assert text is not None and "whole" not in json.loads(text)["properties"]


def test_a_box_meeting_only_the_bounding_box_leaves_the_feature_out() -> None:
    rows = [(7, 1, Annotation(name="s", coordinates=_star(1000)))]
    corner = (400.0, 400.0, 500.0, 500.0)  # inside the star's bbox, outside the star
    cache = FeatureCache()
    for _ in range(2):  # the second answer comes from the cache
        assert display_features(cache, 1, [], rows, 0.0, lambda ids: {}, corner) == []
    assert display_features(cache, 1, [], rows, 0.0, lambda ids: {}, (900.0, 900.0, 1100.0, 1100.0))
