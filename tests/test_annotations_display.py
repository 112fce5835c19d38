"""viewer.annotations.display: zoom tolerances, decimation and simplification for display, and the
feature cache's claim protocol (each feature of a view encoded once, however many requests ask)."""

from __future__ import annotations

import json
import math
import threading
import time

from viewer.annotations.display import (
    FeatureCache,
    FeatureKey,
    decimate,
    display_features,
    encode_feature,
    zoom_tolerance,
)
from viewer.annotations.model import Annotation, Group


def _circle(n: int, radius: float = 1000.0) -> list[tuple[float, float]]:
    angles = [2 * math.pi * i / n for i in range(n)]
    return [(radius * math.cos(a), radius * math.sin(a)) for a in angles]


def test_tolerances_are_powers_of_two_below_the_request() -> None:
    assert [zoom_tolerance(px) for px in (0, 0.3, 0.5, 0.9, 1, 3, 4, 1000)] == [0, 0, 0.5, 0.5, 1, 2, 4, 512]


def test_decimation_keeps_points_a_step_apart_and_at_least_three() -> None:
    ring = _circle(10_000)  # neighbours ~0.63 px apart
    kept = decimate(ring, 10.0)
    assert kept[0] == ring[0] and 500 < len(kept) < 700
    assert all(math.dist(a, b) >= 10.0 for a, b in zip(kept, kept[1:], strict=False))
    tiny = [(0.0, 0.0), (0.1, 0.0), (0.2, 0.0), (0.3, 0.0)]
    assert len(decimate(tiny, 10.0)) == 3


def test_encoded_features_are_simplified_only_when_asked() -> None:
    groups = [Group("tumor", color="#FF0000")]

    def vertices(tolerance: float, kind: str = "Polygon") -> int:
        a = Annotation("ring", kind, "tumor", coordinates=_circle(5000))
        feature = json.loads(encode_feature(7, 3, a, tolerance, groups))
        assert feature["id"] == 7 and feature["properties"]["version"] == 3
        assert feature["properties"]["classification"]["name"] == "tumor"
        geometry = feature["geometry"]
        return len(geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"])

    exact = vertices(0)
    assert exact == 5001  # closed ring
    assert vertices(64) < vertices(4) < exact
    assert vertices(64, "Measurement") == 5000  # not an outline, nor points: kept as it is
    assert 100 < vertices(64, "PointSet") < 500  # points a screen pixel apart merge (decimation only)


def test_claims_make_concurrent_requests_encode_each_feature_once() -> None:
    cache = FeatureCache()
    keys: list[FeatureKey] = [(1, 2, i, 1, 0.0) for i in range(3)]
    parts, mine, theirs = cache.claim(keys)
    assert parts == [None, None, None] and mine == [0, 1, 2] and theirs == []
    again, mine2, theirs2 = cache.claim(keys)
    assert mine2 == [] and [i for i, _e in theirs2] == [0, 1, 2]
    assert not any(event.is_set() for _i, event in theirs2)
    cache.release(keys, ["a", None, "c"])  # the second one failed
    assert all(event.is_set() for _i, event in theirs2)
    assert cache.get_many(keys) == ["a", None, "c"]
    parts, mine, theirs = cache.claim(keys)
    assert parts == ["a", None, "c"] and mine == [1] and theirs == []


def test_cache_is_bounded_by_bytes() -> None:
    cache = FeatureCache(max_bytes=1000)
    keys: list[FeatureKey] = [(1, 2, i, 1, 0.0) for i in range(30)]
    _parts, mine, _theirs = cache.claim(keys)
    cache.release([keys[i] for i in mine], ["x" * 100] * len(mine))
    assert cache.texts.weight <= 1000 and len(cache.texts) == 10
    assert cache.get_many(keys[-10:]) == ["x" * 100] * 10 and cache.get_many(keys[:1]) == [None]


def test_display_features_reads_only_what_nobody_has_encoded() -> None:
    cache = FeatureCache()
    stored = {i: (1, Annotation(f"a{i}", "Polygon", coordinates=_circle(100, 10 + i))) for i in range(6)}
    fetched: list[list[int]] = []
    slow = threading.Event()

    def fetch(ids: list[int]) -> dict[int, tuple[int, Annotation]]:
        fetched.append(list(ids))
        slow.wait(5)  # the first request is still encoding while the second arrives
        return {i: (stored[i][0], Annotation(**vars(stored[i][1]))) for i in ids if i in stored}

    rows = [(i, 1, None) for i in range(6)] + [(99, 1, None)]  # 99: deleted since the index was read
    results: list[list[str]] = []
    first = threading.Thread(target=lambda: results.append(display_features(cache, 1, [], rows, 2.0, fetch)))
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=lambda: results.append(display_features(cache, 1, [], rows, 2.0, fetch)))
    second.start()
    time.sleep(0.2)
    slow.set()
    first.join(10)
    second.join(10)
    assert len(results) == 2 and results[0] == results[1] and len(results[0]) == 6
    assert fetched[0] == [0, 1, 2, 3, 4, 5, 99]
    # the second request read only the one the first could not find (it may be deleted): never the rest
    assert all(ids == [99] for ids in fetched[1:])
    assert [json.loads(t)["id"] for t in results[0]] == [0, 1, 2, 3, 4, 5]
    # another tolerance is another entry; a warm cache needs no read
    fetched.clear()
    assert display_features(cache, 1, [], rows[:6], 2.0, fetch) == results[0] and fetched == []
    assert display_features(cache, 1, [], rows[:6], 8.0, fetch) != results[0]
    assert fetched == [[0, 1, 2, 3, 4, 5]]
