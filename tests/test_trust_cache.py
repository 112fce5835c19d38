"""The tile fast path's cache of credential -> user (viewer/auth/trust_cache.py), with real threads
and short lifetimes: renewals off the request threads while the entry is used, one lookup per
miss however many requests miss together, nothing cached from a failed lookup or after forget()."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from viewer.auth.trust_cache import TrustCache

TTL = 1.0
RENEW_BEFORE = 0.5


class Directory:
    """A lookup that records which thread asked, and answers from a dict (None: no one)."""

    def __init__(self, users: dict[str, str], delay_s: float = 0.0) -> None:
        self.users, self.delay_s = users, delay_s
        self.asked: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, key: str) -> str | None:
        with self.lock:
            self.asked.append((key, threading.current_thread().name))
        time.sleep(self.delay_s)
        if self.users.get(key) == "boom":
            raise RuntimeError("the database is down")
        return self.users.get(key)

    def threads(self) -> list[str]:
        return [name for _, name in self.asked]


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert condition()


def test_an_entry_in_use_is_renewed_off_the_request_threads_and_never_missed() -> None:
    directory = Directory({"ann": "Ann"})
    cache: TrustCache[str, str] = TrustCache(directory, TTL, RENEW_BEFORE)
    first = cache.get("ann")
    assert first is not None and first[0] == "Ann" and first[1] > time.monotonic()
    assert directory.threads() == [threading.current_thread().name]
    ends = time.monotonic() + 3 * TTL
    while time.monotonic() < ends:  # a viewer asking tiles every 50 ms for three lifetimes
        found = cache.get("ann")
        assert found is not None and found[0] == "Ann"
        time.sleep(0.05)
    renewals = directory.threads()[1:]
    assert renewals and set(renewals) == {"wsi-auth-renew"}, directory.asked  # no request asked
    assert 3 <= len(renewals) <= 6, renewals  # once a lifetime (TTL - RENEW_BEFORE), not per request


def test_a_pause_shorter_than_the_lifetime_finds_the_entry_renewed() -> None:
    directory = Directory({"ann": "Ann"})
    cache: TrustCache[str, str] = TrustCache(directory, TTL, RENEW_BEFORE)
    first = cache.get("ann")
    assert first is not None
    cache.get("ann")  # used during its life
    time.sleep(TTL + 0.1)  # past the first answer's end: the renewal came meanwhile
    again = cache.get("ann")
    assert again is not None and again[1] > first[1]
    assert directory.threads()[1:] == ["wsi-auth-renew"], directory.asked


def test_an_unused_entry_is_renewed_at_most_once_more_then_ends() -> None:
    directory = Directory({"ann": "Ann"})
    cache: TrustCache[str, str] = TrustCache(directory, TTL, RENEW_BEFORE)
    cache.get("ann")
    cache.get("ann")  # schedules the one renewal
    time.sleep(3 * TTL)
    assert len(directory.asked) == 2, directory.asked  # the miss and one renewal: no more
    cache.get("ann")  # long after: the entry ended, the request asks
    assert directory.threads()[-1] == threading.current_thread().name


def test_a_renewal_drops_a_credential_that_is_no_longer_valid() -> None:
    directory = Directory({"ann": "Ann"})
    cache: TrustCache[str, str] = TrustCache(directory, TTL, RENEW_BEFORE)
    cache.get("ann")
    del directory.users["ann"]  # a logout elsewhere
    assert cache.get("ann") is not None  # trusted until the renewal says otherwise
    wait_for(lambda: len(cache) == 0, seconds=2 * TTL)
    assert cache.get("ann") is None


def test_requests_missing_together_wait_for_one_lookup() -> None:
    directory = Directory({"ann": "Ann"}, delay_s=0.2)
    cache: TrustCache[str, str] = TrustCache(directory, TTL, RENEW_BEFORE)
    start = threading.Barrier(8)
    answers: list[object] = []

    def request() -> None:
        start.wait()
        answers.append(cache.get("ann"))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(directory.asked) == 1, directory.asked
    assert len(answers) == 8 and len(set(answers)) == 1 and answers[0] is not None


def test_no_one_and_failed_lookups_are_not_cached() -> None:
    directory = Directory({"ghost": None, "down": "boom"})  # type: ignore[dict-item]
    cache: TrustCache[str, str] = TrustCache(directory, TTL, RENEW_BEFORE)
    assert cache.get("ghost") is None and cache.get("ghost") is None
    assert cache.get("down") is None and cache.get("down") is None
    assert len(directory.asked) == 4 and len(cache) == 0  # each asked again


def test_forget_ends_entries_and_the_answer_of_a_lookup_in_flight() -> None:
    directory = Directory({"ann": "Ann", "bob": "Bob"}, delay_s=0.3)
    cache: TrustCache[str, str] = TrustCache(directory, 5.0, 1.0)
    assert cache.get("ann") is not None
    in_flight = threading.Thread(target=cache.get, args=("bob",))
    in_flight.start()
    time.sleep(0.1)  # bob's lookup has begun
    cache.forget()
    in_flight.join(5)
    assert len(cache) == 0  # neither ann's entry nor bob's answer, looked up before the forget
    assert cache.get("ann") is not None and len(directory.asked) == 3


def test_the_renewal_lead_must_be_inside_the_lifetime() -> None:
    with pytest.raises(ValueError):
        TrustCache(Directory({}), 1.0, 1.0)
