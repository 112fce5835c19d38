"""The one least-recently-used cache of the project: thread-safe, bounded by the total weight of
its values (bytes of encoded tiles, 1 per open slide handle, ...). No dependencies.

Every in-memory cache of the server (slide handles, encoded tiles, encoded annotation features,
viewport indexes) is one of these, so bounds, eviction and locking are written and tested once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from itertools import compress
from typing import Generic, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


class LRU(Generic[_K, _V]):
    """A thread-safe LRU bounded by the total ``weigh(value)`` of its values.

    *on_evict* is called, outside the lock, with every value that leaves the cache (evicted,
    replaced, popped or cleared); a value heavier than the bound is never stored.
    """

    def __init__(self, max_weight: int, weigh: Callable[[_V], int] = lambda _v: 1,
                 on_evict: Callable[[_V], None] | None = None) -> None:
        self._max = max_weight
        self._weigh = weigh
        self._on_evict = on_evict
        self._items: OrderedDict[_K, tuple[_V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: _K) -> _V | None:
        """The value of *key* (now the most recent), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def get_many(self, keys: Iterable[_K]) -> list[_V | None]:
        """The values of *keys* in order (None where absent); hits become the most recent.

        C-level passes over the keys: a zoomed-out annotation view looks up thousands of cached
        features at once, and only the misses should cost Python-level work.
        """
        keys = list(keys)
        with self._lock:
            found = list(map(self._items.get, keys))
            deque(map(self._items.move_to_end, compress(keys, found)), maxlen=0)
        return [item[0] if item is not None else None for item in found]

    def put(self, key: _K, value: _V) -> None:
        """Store *value* under *key* (replacing any old value), evicting the oldest over the bound."""
        weight = self._weigh(value)
        if weight > self._max:
            return
        evicted = []
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
                evicted.append(old[0])
            self._items[key] = (value, weight)
            self._weight += weight
            while self._weight > self._max and self._items:
                _, (value_out, weight_out) = self._items.popitem(last=False)
                self._weight -= weight_out
                evicted.append(value_out)
        if self._on_evict:
            for value_out in evicted:
                if value_out is not value:
                    self._on_evict(value_out)

    def pop(self, key: _K) -> _V | None:
        """Remove *key*; its value, or None."""
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                return None
            self._weight -= item[1]
        if self._on_evict:
            self._on_evict(item[0])
        return item[0]

    def clear(self) -> None:
        """Remove everything."""
        with self._lock:
            items = list(self._items.values())
            self._items.clear()
            self._weight = 0
        if self._on_evict:
            for value, _ in items:
                self._on_evict(value)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    @property
    def weight(self) -> int:
        """The total weight held now."""
        return self._weight
