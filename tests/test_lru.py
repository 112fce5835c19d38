"""viewer.lru: the one LRU of the project (slide handles, tiles, features, viewport indexes)."""

from __future__ import annotations

import threading

from viewer.lru import LRU
from viewer.preconditions import VersionMatch, as_match


def test_weight_bound_evicts_the_least_recent_and_reports_it() -> None:
    evicted: list[str] = []
    cache: LRU[str, str] = LRU(10, weigh=len, on_evict=evicted.append)
    cache.put("a", "aaaa")
    cache.put("b", "bbbb")
    assert cache.get("a") == "aaaa"  # a is now the most recent
    cache.put("c", "cccc")  # 12 > 10: b goes
    assert evicted == ["bbbb"] and "b" not in cache and len(cache) == 2 and cache.weight == 8
    cache.put("huge", "x" * 11)  # heavier than the bound: never stored
    assert "huge" not in cache and evicted == ["bbbb"]
    cache.put("a", "AA")  # replaced: the old value leaves
    assert evicted == ["bbbb", "aaaa"] and cache.weight == 6
    assert cache.pop("a") == "AA" and cache.pop("a") is None
    cache.clear()
    assert len(cache) == 0 and cache.weight == 0 and evicted[-1] == "cccc"


def test_get_many_returns_hits_in_order_and_refreshes_them() -> None:
    cache: LRU[int, str] = LRU(3)
    for key in (1, 2, 3):
        cache.put(key, str(key))
    assert cache.get_many([3, 9, 1]) == ["3", None, "1"]
    cache.put(4, "4")  # 2 was the least recent after get_many touched 3 and 1
    assert 2 not in cache and 1 in cache and 3 in cache


def test_concurrent_puts_keep_the_bound() -> None:
    cache: LRU[int, int] = LRU(100)

    def fill(offset: int) -> None:
        for i in range(2000):
            cache.put(offset + i, i)
            cache.get(offset + i // 2)

    threads = [threading.Thread(target=fill, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 100 and cache.weight == 100


def test_version_match_is_rfc9110_strong_comparison() -> None:
    assert VersionMatch.exactly(3).matches(3) and not VersionMatch.exactly(3).matches(4)
    assert VersionMatch(frozenset({3, 4})).matches(4)
    assert VersionMatch(any=True).matches(0) and not VersionMatch(any=True).matches(None)
    assert not VersionMatch().matches(3)  # a foreign or weak tag matches nothing
    assert as_match(5) == VersionMatch.exactly(5) and as_match(None) is None
    assert VersionMatch(frozenset({4, 3})).describe() == "version 3 or 4"
