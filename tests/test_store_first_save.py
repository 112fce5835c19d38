"""Preconditions in the store (issue 11 §1.1-1.2): every write's ``if_version`` takes an int, a
:class:`~viewer.preconditions.VersionMatch` (lists, ``*``, weak tags that never match) or None, checked
inside its transaction; and the first save of a slide without sets creates the set with its content
in one change when the client's precondition names version 0, exactly once when two race."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import PreconditionFailedError
from viewer.preconditions import VersionMatch
from viewer.store import AnnotationRecord, GroupRecord, Store, WriteResult, database_url


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_setting(request.param, tmp_path) as setting:
        yield database_url(setting, tmp_path)


@pytest.fixture()
def store(db: str) -> Iterator[Store]:
    s = Store(db)
    yield s
    s.close()


def dot(name: str, x: float = 1.0, group: str | None = None) -> Annotation:
    return Annotation(name, "Dot", group, coordinates=[(x, 2.0)])


def content(*names: str) -> AnnotationSet:
    return AnnotationSet([dot(n, float(i), "g") for i, n in enumerate(names)], [Group("g")])


ANY = VersionMatch(any=True)
WEAK = VersionMatch()  # what W/"3" parses to: no version can match it


# --------------------------------------------------------------------------------------------------
# First save


@pytest.mark.parametrize(
    "precondition", [0, VersionMatch.exactly(0), VersionMatch(frozenset({0, 7})), ANY, None]
)
def test_a_first_save_creates_the_set_with_its_content_in_one_change(store: Store, precondition: Any) -> None:
    slide = store.open_slide("new.svs")
    assert store.first_set_state(slide) is None  # what a GET shows as the empty set, ETag "0"
    result = store.replace_first_set(slide, content("a", "b"), "alice", if_version=precondition)
    assert result.info.version == 1 and result.info.name == "default"
    assert result.change is not None and (result.change.kind, result.change.created) == ("create", 3)
    (change,) = store.history(result.info.id)
    assert change.version == 1 and change.who == "alice"
    state = store.first_set_state(slide)
    assert state is not None and state.version == 1 and state.to_model() == content("a", "b")
    assert [s.id for s in store.list_sets(slide)] == [result.info.id]


@pytest.mark.parametrize("precondition", [1, VersionMatch.exactly(3), VersionMatch(frozenset({1, 2})), WEAK])
def test_a_first_save_naming_another_version_is_refused_and_creates_nothing(
    store: Store, precondition: Any
) -> None:
    slide = store.open_slide("new.svs")
    with pytest.raises(PreconditionFailedError) as refused:
        store.replace_first_set(slide, content("a"), "alice", if_version=precondition)
    assert refused.value.current == 0 and "no set yet" in refused.value.message
    assert store.list_sets(slide) == []


def test_first_saves_in_both_orders(store: Store) -> None:
    # GET (version 0) then a conditional PUT: created; a second client still holding "0" is refused
    # with the version the first one made; with that version it replaces the set as a new change.
    slide = store.open_slide("a.svs")
    assert store.first_set_state(slide) is None
    first = store.replace_first_set(slide, content("first"), "alice", if_version=VersionMatch.exactly(0))
    with pytest.raises(PreconditionFailedError) as stale:
        store.replace_first_set(slide, content("second"), "bob", if_version=VersionMatch.exactly(0))
    assert stale.value.current == first.info.version == 1
    second = store.replace_first_set(
        slide, content("second"), "bob", if_version=VersionMatch(frozenset({0, 1}))
    )
    assert second.info.id == first.info.id and second.info.version == 2 and second.change is not None
    assert second.change.kind == "replace" and second.change.updated == 1  # one annotation renamed
    # An unconditional first save, then the first set (not a later one) is what it replaces.
    other = store.open_slide("b.svs")
    made = store.replace_first_set(other, content("x"), "carol")
    later = store.create_set(other, "layer 2", "carol", content("y"))
    assert store.replace_first_set(other, content("z"), "carol", if_version=ANY).info.id == made.info.id
    assert store.state(later.info.id).to_model() == content("y")


def race(count: int, save: Callable[[int], WriteResult]) -> list[WriteResult | BaseException]:
    """Run *save* in *count* threads released together by a barrier; their outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[WriteResult | BaseException] = []
    lock = threading.Lock()

    def run(k: int) -> None:
        barrier.wait(10)
        try:
            outcome: WriteResult | BaseException = save(k)
        except BaseException as exc:  # noqa: BLE001 - the outcome is the test
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_two_first_saves_racing_in_threads_one_wins(store: Store) -> None:
    for attempt in range(5):  # a few rounds: each must have exactly one winner
        slide = store.open_slide(f"race-{attempt}.svs")
        outcomes = race(
            2,
            lambda k, slide=slide: store.replace_first_set(
                slide, content(f"by {k}"), f"user{k}", if_version=0
            ),
        )
        won = [o for o in outcomes if isinstance(o, WriteResult)]
        lost = [o for o in outcomes if isinstance(o, PreconditionFailedError)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert lost[0].current == won[0].info.version == 1
        (only,) = store.list_sets(slide)
        assert store.state(only.id).to_model() == content(f"by {won[0].change.who[-1]}")  # type: ignore[union-attr]
        assert len(store.history(only.id)) == 1


RACER = """
import os, sys, time
from viewer.annotations.model import Annotation, AnnotationSet
from viewer.errors import PreconditionFailedError
from viewer.store import Store
store = Store(sys.argv[1])
slide = store.open_slide("racing.svs")
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
try:
    aset = AnnotationSet([Annotation(sys.argv[3], "Dot", coordinates=[(1, 1)])])
    result = store.replace_first_set(slide, aset, sys.argv[3], if_version=0)
    print("won", result.info.version, flush=True)
except PreconditionFailedError as exc:
    print("412", exc.current, flush=True)
store.close()
"""


def test_two_first_saves_racing_in_processes_one_wins(db: str, tmp_path: Path) -> None:
    Store(db).close()  # the schema exists before the racers start
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, db, str(go), f"racer{k}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(2)
    ]
    try:
        for r in racers:
            assert r.stdout is not None and r.stdout.readline() == "ready\n"
        go.touch()
        said = sorted(r.communicate(timeout=60)[0].strip() for r in racers)
    finally:
        for r in racers:
            r.kill()
            r.wait()
    assert said == ["412 1", "won 1"], said
    store = Store(db)
    try:
        (only,) = store.list_sets(store.open_slide("racing.svs"))
        assert only.version == 1 and len(store.history(only.id)) == 1
    finally:
        store.close()


# --------------------------------------------------------------------------------------------------
# Every write takes int | VersionMatch | None


def test_every_write_checks_a_version_match_in_its_transaction(store: Store) -> None:
    slide = store.open_slide("s.svs")
    set_id = store.create_set(slide, "layer", "t", content("a", "b")).info.id
    (g,) = store.state(set_id).groups
    a, b = store.state(set_id).annotations

    # The set's version: replace and restore.
    v = store.set_info(set_id).version
    with pytest.raises(PreconditionFailedError) as stale:
        store.replace(set_id, content("a", "b", "c"), if_version=VersionMatch(frozenset({v + 1, v + 2})))
    assert stale.value.current == v and f"version {v + 1} or {v + 2}" in stale.value.message
    with pytest.raises(PreconditionFailedError):
        store.restore(set_id, 0, if_version=WEAK)
    v = store.replace(
        set_id, content("a", "b", "c"), if_version=VersionMatch(frozenset({v, v + 5}))
    ).info.version
    v = store.restore(set_id, 1, if_version=ANY).info.version
    assert store.replace(set_id, content("a", "b"), if_version=v).info.version == v  # an int: as before

    # One annotation's own version: update and delete.
    with pytest.raises(PreconditionFailedError) as stale:
        store.update_annotation(set_id, a.id, dot("a2", group="g"), if_version=WEAK)
    assert isinstance(stale.value.current, AnnotationRecord) and stale.value.current.version == a.version
    match = VersionMatch(frozenset({a.version, 99}))
    updated = store.update_annotation(set_id, a.id, dot("a2", group="g"), if_version=match)
    assert updated.annotation is not None and updated.annotation.annotation.name == "a2"
    with pytest.raises(PreconditionFailedError):
        store.delete_annotation(set_id, b.id, if_version=VersionMatch.exactly(b.version + 1))
    store.delete_annotation(set_id, b.id, if_version=ANY)

    # One group's own version: update and delete.
    with pytest.raises(PreconditionFailedError) as stale:
        store.update_group(
            set_id, g.id, Group("g", color="#ff0000"), if_version=VersionMatch.exactly(g.version + 1)
        )
    assert isinstance(stale.value.current, GroupRecord) and stale.value.current.version == g.version
    renamed = store.update_group(set_id, g.id, Group("h"), if_version=ANY)
    assert renamed.group is not None and renamed.group.group.name == "h"
    assert store.state(set_id).annotations[0].annotation.group == "h"  # its member followed
    store.update_annotation(set_id, a.id, dot("a3"))  # leaves the group empty
    lone = store.create_group(set_id, Group("lone"))
    assert lone.group is not None
    with pytest.raises(PreconditionFailedError):
        store.delete_group(set_id, lone.group.id, if_version=WEAK)
    store.delete_group(set_id, lone.group.id, if_version=VersionMatch(frozenset({lone.group.version})))
    assert [x.group.name for x in store.state(set_id).groups] == ["h"]
