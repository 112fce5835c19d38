"""Who a credential is, trusted for a few seconds: the tile fast path's cache (``viewer/web/tiles.py``
through ``viewer/web/auth.py``), with no database lookup on a request thread while its user keeps
asking.

A viewer asks for hundreds of tiles a second; asking the database each time would cost more than the
tile. So an answer (the user, or no one) is trusted for ``ttl_s`` after the database gave it, and:

* **renewed before it ends, off the request threads**: an entry used during its life is looked up
  again ``renew_before_s`` before it ends by this process's renewing thread, while the requests go on
  with it. A user who pauses for a few seconds (reading the slide) still finds it when they pan again;
  one who stops for longer costs one more lookup after the last use, then the entry ends. Renewing
  only in an entry's last second, when a request came then, left most pauses ending in a miss;
  with 16 viewers replaying tiles the server with logins lost 10 % of its warm throughput to them
  (``benchmarks/tiles_auth.py``: an hour's trust measured 1.03x, the last-second renewal 0.90x);
* **looked up once per miss**: the requests that find no entry at the same moment (a worker's eight
  threads, as a view's tiles arrive together) wait for one lookup instead of each making its own.

A credential that stopped being valid (a logout in another process, a revoked token) opens tiles for
at most ``ttl_s`` after the database last said it was valid; :meth:`TrustCache.forget` ends every
entry at once (a logout or revocation in this process), lookups in flight included.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
#: The name of each process's renewing thread.
THREAD_NAME = "wsi-auth-renew"

class TrustCache(Generic[K, V]):
    """``key -> (value, until)`` (``until`` in :func:`time.monotonic` seconds), from ``lookup(key)``.

    *lookup* returns the value, or None for no one (not cached: the caller refuses, or lets another
    path answer); an exception from it counts as None and is not cached either. It is called from
    request threads (misses) and from the renewing thread, so it must not need the request.
    """

    def __init__(self, lookup: Callable[[K], V | None], ttl_s: float, renew_before_s: float,
                 max_entries: int = 10_000) -> None:
        if not 0 < renew_before_s < ttl_s:
            raise ValueError("renew_before_s must be between 0 and ttl_s")
        self.lookup, self.ttl_s, self.renew_before_s = lookup, ttl_s, renew_before_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[V, float]] = {}
        self._lock = threading.Lock()
        self._flights: dict[K, Future[tuple[V, float] | None]] = {}  # lookups in progress, awaited
        self._scheduled: set[K] = set()  # keys with a renewal to come
        self._due: list[tuple[float, int, K]] = []  # (when, order, key): the renewals, a heap
        self._order = 0
        self._wake = threading.Condition(self._lock)
        self._generation = 0  # forget() makes the answers of lookups in flight stale
        self._thread: threading.Thread | None = None

    def get(self, key: K) -> tuple[V, float] | None:
        """The trusted ``(value, until)`` for *key*, or None: no one."""
        hit = self._entries.get(key)
        if hit is not None and hit[1] > time.monotonic():
            if key not in self._scheduled:  # used during its life: renew it before it ends
                self._schedule(key, hit[1] - self.renew_before_s)
            return hit
        return self._look_up_once(key)

    def forget(self) -> None:
        """End every entry now (answers still being looked up are not kept either)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    # -- lookups ------------------------------------------------------------------------------

    def _look_up_once(self, key: K) -> tuple[V, float] | None:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:  # another request asks already: its answer is ours
                owner = False
            else:
                owner, flight = True, Future()
                self._flights[key] = flight
            generation = self._generation
        if not owner:
            return flight.result()
        answer = None
        try:
            answer = self._ask(key, generation)
        finally:
            with self._lock:
                del self._flights[key]
            flight.set_result(answer)
        return answer

    def _ask(self, key: K, generation: int) -> tuple[V, float] | None:
        try:
            value = self.lookup(key)
        except Exception:  # noqa: BLE001 - the request's own route meets it again and answers it
            value = None
        with self._lock:
            if value is None or generation != self._generation:
                self._entries.pop(key, None)
                return None if value is None else (value, time.monotonic())  # not trusted again
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            entry = self._entries[key] = (value, time.monotonic() + self.ttl_s)
        return entry

    # -- renewals -----------------------------------------------------------------------------

    def _schedule(self, key: K, when: float) -> None:
        with self._lock:
            if key in self._scheduled:  # two requests racing here
                return
            self._scheduled.add(key)
            self._order += 1
            heapq.heappush(self._due, (when, self._order, key))
            if self._thread is None or not self._thread.is_alive():  # the first; or a forked child's
                self._thread = threading.Thread(target=self._renew_forever, name=THREAD_NAME, daemon=True)
                self._thread.start()
            elif self._due[0][2] == key:  # the earliest now: the thread sleeps until a later one
                self._wake.notify()

    def _renew_forever(self) -> None:
        while True:
            with self._lock:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(None if not self._due else self._due[0][0] - time.monotonic())
                _, _, key = heapq.heappop(self._due)
                wanted = key in self._entries  # not after forget(): no one uses it now
            try:
                if wanted:
                    self._look_up_once(key)
            finally:
                with self._lock:
                    self._scheduled.discard(key)
