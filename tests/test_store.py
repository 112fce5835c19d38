"""The annotation store on SQLite and PostgreSQL: round trips, versions, history, viewport queries,
migrations and ASAP sidecars (import, re-import on change, atomic write-back)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests._store_helpers import ENGINES, PG_ENV, database_setting
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import (
    ConflictError,
    InputTooLargeError,
    NotFoundError,
    PreconditionFailedError,
    ValidationError,
)
from viewer.store import (
    SCHEMA_VERSION,
    Store,
    StoreUnavailableError,
    annotation_doc,
    annotation_from_doc,
    database_url,
    group_doc,
)
from viewer.store.engine import time_write_transactions

REAL = Path(__file__).parent / "data" / "asap" / "real"


@pytest.fixture(params=ENGINES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A DATABASE URL (SQLAlchemy form) on each engine, private to the test."""
    with database_setting(request.param, tmp_path) as setting:
        yield database_url(setting, tmp_path)


@pytest.fixture()
def store(db: str) -> Iterator[Store]:
    s = Store(db)
    yield s
    s.close()


def square(x: float, y: float, size: float = 10, name: str = "sq", group: str | None = None) -> Annotation:
    return Annotation(
        name, "Polygon", group, "#F4FA58", [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    )


def new_set(store: Store, content: AnnotationSet | None = None, key: str = "s.svs") -> int:
    return store.create_set(store.open_slide(key), "layer", "tester", content).info.id


def test_real_file_round_trips_byte_exact_through_the_store(store: Store) -> None:
    data = (REAL / "tumor_039.xml").read_bytes()
    set_id = new_set(store, read_asap(data))
    state = store.state(set_id)
    assert write_asap(state.to_model()) == data
    info = store.set_info(set_id)
    assert info.annotation_count == len(read_asap(data).annotations)
    assert info.vertex_count == read_asap(data).vertex_count()


def test_edits_of_different_annotations_never_conflict_but_a_stale_one_does(store: Store) -> None:
    set_id = new_set(store, AnnotationSet([square(0, 0, name="a"), square(50, 0, name="b")]))
    a, b = store.state(set_id).annotations
    r1 = store.update_annotation(set_id, a.id, square(1, 1, name="a2"), "alice", if_version=a.version)
    r2 = store.update_annotation(set_id, b.id, square(51, 1, name="b2"), "bob", if_version=b.version)
    assert r1.change is not None and r2.change is not None
    assert r2.info.version == r1.info.version + 1
    with pytest.raises(PreconditionFailedError) as stale:
        store.update_annotation(set_id, a.id, square(2, 2, name="a3"), "carol", if_version=a.version)
    assert stale.value.current.annotation.name == "a2"
    assert stale.value.current.version == r1.annotation.version
    names = [r.annotation.name for r in store.state(set_id).annotations]
    assert names == ["a2", "b2"]
    with pytest.raises(PreconditionFailedError):
        store.replace(set_id, AnnotationSet(), "dave", if_version=r1.info.version)


def test_history_replay_diff_and_restore(store: Store) -> None:
    set_id = new_set(store, AnnotationSet([square(0, 0, name="a")], [Group("g")]))
    v1 = store.set_info(set_id).version
    created = store.create_annotation(set_id, square(20, 20, name="b", group="g"), "bob")
    assert created.annotation is not None
    b_id = created.annotation.id
    store.delete_annotation(set_id, store.state(set_id).annotations[0].id, "carol")
    after_delete = store.set_info(set_id).version
    assert [r.annotation.name for r in store.state(set_id).annotations] == ["b"]

    history = store.history(set_id)
    assert [c.kind for c in history] == ["delete", "create", "create"]
    assert [c.who for c in history] == ["carol", "bob", "tester"]
    assert store.state(set_id, v1).to_model() == AnnotationSet([square(0, 0, name="a")], [Group("g")])

    diff = store.diff(set_id, v1, after_delete)
    kinds = {(i.kind, i.before is None, i.after is None) for i in diff.items}
    assert kinds == {("annotation", True, False), ("annotation", False, True)}

    old_a_id = store.state(set_id, v1).annotations[0].id
    restored = store.restore(set_id, v1, "dave")
    assert restored.change is not None and restored.change.kind == "restore"
    now = store.state(set_id)
    assert now.to_model() == store.state(set_id, v1).to_model()
    assert [r.id for r in now.annotations] == [old_a_id]  # the deleted annotation is back under its id
    assert len(store.history(set_id)) == 4  # restore appended, nothing rewritten
    change, items = store.change(set_id, restored.info.version)
    assert {(i.id, i.before is None) for i in items} == {(old_a_id, True), (b_id, False)}
    with pytest.raises(NotFoundError):
        store.state(set_id, 999)


def test_viewport_query_returns_exactly_what_meets_the_box(store: Store) -> None:
    # Each version is answered by the database first, then from the in-memory index built on the
    # second query of that version; both must give exactly what a brute-force check gives, in set
    # order, with current versions, also right after an edit (a new version).
    shapes = [
        square(x * 100, y * 100, 30 + (x * y) % 50, name=f"{x},{y}") for x in range(30) for y in range(30)
    ]
    set_id = new_set(store, AnnotationSet(shapes))
    boxes = [
        (0, 0, 10, 10), (95, 95, 105, 105), (1234.5, 567, 2000, 1400), (-50, -50, -1, -1), (0, 0, 1e6, 1e6)
    ]

    def check_all_boxes() -> None:
        for box in boxes:
            x0, y0, x1, y1 = box
            expected = [
                a.name
                for a in shapes
                if min(p[0] for p in a.coordinates) <= x1
                and max(p[0] for p in a.coordinates) >= x0
                and min(p[1] for p in a.coordinates) <= y1
                and max(p[1] for p in a.coordinates) >= y0
            ]
            _info, _groups, rows = store.query(set_id, box)
            docs = store.docs(set_id, [i for i, _v in rows])
            assert [annotation_from_doc(docs[i][1]).name for i, _v in rows] == expected, box
            assert all(docs[i][0] == v for i, v in rows)

    check_all_boxes()
    cached = store._viewport.cache.get(set_id)
    assert cached is not None and cached[1] is not None  # the later queries of this version used the index
    moved = store.state(set_id).annotations[0]
    shapes[0] = square(1500, 900, 40, name=moved.annotation.name)
    store.update_annotation(set_id, moved.id, shapes[0])
    check_all_boxes()
    cached = store._viewport.cache.get(set_id)
    assert cached is not None and cached[0] == store.set_info(set_id).version


def test_viewport_query_is_an_index_range_scan_on_sqlite(tmp_path: Path) -> None:
    s = Store(database_url("", tmp_path))
    set_id = new_set(s, AnnotationSet([square(i, i) for i in range(50)]))
    s.close()
    con = sqlite3.connect(tmp_path / "annotations.sqlite3")
    plan = " ".join(
        row[-1]
        for row in con.execute(
            "EXPLAIN QUERY PLAN SELECT id, version FROM annotations "
            "WHERE set_id = ? AND min_x <= ? "
            "AND max_x >= ? AND min_y <= ? AND max_y >= ? ORDER BY position, id",
            (set_id, 10, 0, 10, 0),
        )
    )
    con.close()
    assert "USING COVERING INDEX ix_annotations_viewport" in plan and "SCAN annotations" not in plan


def test_sqlite_writers_queue_across_processes(tmp_path: Path) -> None:
    # Another worker process holding the writers' lock makes a write here wait (no polling sleeps,
    # no error), and the write goes through as soon as that process lets go.
    s = Store(database_url("", tmp_path))
    set_id = new_set(s)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "sys.stdin.readline()\n",
         str(tmp_path / "annotations.sqlite3.writers")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done: list[int] = []
        writer = threading.Thread(
            target=lambda: done.append(s.create_annotation(set_id, square(0, 0)).info.version)
        )
        writer.start()
        writer.join(1.0)
        assert writer.is_alive() and done == []  # queued behind the other process
        assert s.state(set_id).version == 1  # readers are not held up
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        writer.join(30)
        assert done == [2]
    finally:
        holder.kill()
        holder.wait(30)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
        s.close()


def test_group_rename_follows_members_and_nonempty_group_cannot_go(store: Store) -> None:
    set_id = new_set(
        store, AnnotationSet([square(0, 0, group="tumour")], [Group("tumour"), Group("sub", "tumour")])
    )
    state = store.state(set_id)
    tumour = state.groups[0]
    result = store.update_group(
        set_id, tumour.id, Group("metastases", color="#ff0000"), "eve", if_version=tumour.version
    )
    assert result.change is not None and result.change.updated == 3
    model = store.state(set_id).to_model()
    assert model.annotations[0].group == "metastases"
    assert model.groups[1].parent == "metastases"
    with pytest.raises(ConflictError):
        store.delete_group(set_id, tumour.id)
    with pytest.raises(PreconditionFailedError) as stale:
        store.update_group(set_id, tumour.id, Group("x"), if_version=tumour.version)
    assert stale.value.current.group.name == "metastases"


def test_invalid_content_lists_every_problem_and_limits_hold(db: str) -> None:
    store = Store(db, max_vertices=100)
    try:
        set_id = new_set(store)
        bad = AnnotationSet(
            [
                Annotation("a", "Blob", "nope", coordinates=[(0, 0)]),
                Annotation("b\x01", "Polygon", None, coordinates=[(float("nan"), 0)]),
            ]
        )
        with pytest.raises(ValidationError) as exc:
            store.replace(set_id, bad)
        assert len(exc.value.details) >= 4
        with pytest.raises(ValidationError):
            store.create_annotation(set_id, square(0, 0, group="missing"))
        with pytest.raises(InputTooLargeError):
            store.replace(set_id, AnnotationSet([square(i, 0) for i in range(30)]))
        assert store.set_info(set_id).version == 1  # nothing of the refused writes was kept
    finally:
        store.close()


def test_upgrade_from_schema_1_keeps_every_row(db: str) -> None:
    old = Store(db, target_version=1)
    assert old.schema_version == 1
    set_id = new_set(old, AnnotationSet([square(0, 0)], [Group("g")]))
    rec = old.state(set_id).annotations[0]
    old.update_annotation(set_id, rec.id, square(5, 5), "alice")
    before = old.state(set_id).to_model()
    old.close()

    new = Store(db)
    try:
        assert new.schema_version == SCHEMA_VERSION > 1
        assert new.state(set_id).to_model() == before
        assert [c.who for c in new.history(set_id)] == ["alice", "tester"]
        new.update_annotation(set_id, rec.id, square(6, 6), "bob")
        assert len(new.history(set_id)) == 3
    finally:
        new.close()


def test_renamed_slide_keeps_its_annotations_by_quickhash(store: Store) -> None:
    slide = store.open_slide("old/name.svs", None, "qh-1")
    store.create_set(slide, "mine", "x", AnnotationSet([square(0, 0)]))
    moved = store.open_slide("new/place.svs", None, "qh-1", known_keys=["new/place.svs"])
    assert moved == slide
    assert store.annotation_counts(["new/place.svs"]) == {"new/place.svs": 1}
    copy = store.open_slide("copy.svs", None, "qh-1", known_keys=["new/place.svs", "copy.svs"])
    assert copy != slide  # the original is still there: a copy starts empty


def test_concurrent_writers_in_threads_lose_nothing(store: Store) -> None:
    set_id = new_set(store, AnnotationSet([square(i * 20, 0, name=f"a{i}") for i in range(8)]))
    ids = [r.id for r in store.state(set_id).annotations]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for n in range(5):
                store.update_annotation(set_id, ids[k], square(k * 20, n, name=f"a{k}-{n}"), f"user{k}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.set_info(set_id).version == 1 + 8 * 5
    assert [r.annotation.name for r in store.state(set_id).annotations] == [f"a{k}-4" for k in range(8)]


@contextmanager
def other_writer(db: str) -> Iterator[Callable[[str, tuple[object, ...]], None]]:
    """A raw connection holding the write lock of the database's first set until the block ends, then
    committing: another process's writer, seen by the store only through the database."""
    if db.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(db[len("sqlite:///") :], isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        run = conn.execute
    else:
        conn = psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"))
        conn.execute("SELECT id FROM annotation_sets FOR UPDATE")

        def run(sql: str, params: tuple[object, ...]) -> None:
            conn.execute(sql.replace("?", "%s"), params)

    try:
        yield run
        conn.execute("COMMIT") if db.startswith("sqlite") else conn.commit()
    finally:
        conn.close()


def wait_until_blocked(db: str, thread: threading.Thread) -> None:
    """Return once *thread*'s write waits for the lock (on PostgreSQL, seen in pg_stat_activity)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert thread.is_alive(), "the write did not wait for the lock"
        if db.startswith("sqlite"):
            time.sleep(0.5)  # SQLite shows no waiters: give the write time to reach BEGIN IMMEDIATE
            return
        with psycopg.connect(db.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            waiting = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ("%in_snapshot%",),
            ).fetchone()
        if waiting and waiting[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the write never waited for the lock")


def test_a_write_that_waited_for_the_lock_sees_what_the_last_writer_committed(store: Store, db: str) -> None:
    # One statement locks the set and reads the annotation and groups; on PostgreSQL, rows read
    # besides the locked one come from before the wait. A stale read would let both writers win.
    content = AnnotationSet(
        [square(0, 0, name="a", group="tumour"), square(50, 0, name="b", group="tumour")], [Group("tumour")]
    )
    set_id = new_set(store, content)
    (a, b), (tumour,) = store.state(set_id).annotations, store.state(set_id).groups
    outcome: list[BaseException | object] = []

    def write(**kw: Any) -> threading.Thread:
        def run() -> None:
            try:
                outcome.append(store.update_annotation(set_id, who="late", **kw))
            except BaseException as exc:  # noqa: BLE001 - checked by the test
                outcome.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with other_writer(db) as run:
        run(
            "UPDATE annotations SET version = version + 1, doc = ? WHERE id = ?",
            (annotation_doc(square(5, 5, name="by other", group="tumour")), a.id),
        )
        run("UPDATE annotation_sets SET version = version + 1 WHERE id = ?", (set_id,))
        late = write(annotation_id=a.id, a=square(9, 9, name="late", group="tumour"), if_version=a.version)
        wait_until_blocked(db, late)
    late.join(60)
    assert isinstance(outcome[-1], PreconditionFailedError), outcome
    assert outcome[-1].current.annotation.name == "by other"

    with other_writer(db) as run:  # a rename of the group the late write names
        run(
            "UPDATE annotation_groups SET version = version + 1, doc = ? WHERE id = ?",
            (group_doc(Group("tumor")), tumour.id),
        )
        run("UPDATE annotation_sets SET version = version + 1 WHERE id = ?", (set_id,))
        late = write(annotation_id=b.id, a=square(9, 9, name="late", group="tumour"))
        wait_until_blocked(db, late)
    late.join(60)
    assert isinstance(outcome[-1], ValidationError), outcome
    assert "group 'tumour' does not exist" in str(outcome[-1].details)


@pytest.mark.parametrize("timed", [False, True], ids=["plain", "write-timing"])
@pytest.mark.parametrize("engine", [e for e in ENGINES if e == "postgresql"])  # SQLite has no server
def test_connections_the_server_dropped_are_replaced(engine: str, tmp_path: Path, timed: bool) -> None:
    # timed: the metrics' store write timing (global engine event listeners, as /metrics installs
    # them) must not turn the clear error into SQLAlchemy's PendingRollbackError
    observed: list[float] = []
    if timed:
        time_write_transactions(observed.append)
    app_name = "wsi_drop_" + uuid.uuid4().hex[:8]
    with database_setting(engine, tmp_path) as setting:
        store = Store(database_url(f"{setting}&application_name={app_name}", tmp_path), ping_idle_after=2.0)
        set_id = new_set(store, AnnotationSet([square(0, 0)]))

        def drop_connections() -> None:  # what a server restart does to the store's pool
            with psycopg.connect(os.environ[PG_ENV], autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (app_name,),
                ).fetchone()
            assert row is not None and row[0] >= 1

        try:
            drop_connections()
            time.sleep(2.2)  # idle for longer than ping_idle_after: checked, found dropped, replaced
            assert store.set_info(set_id).version == 1
            # Used moments ago, so not checked: this request fails with a clear error, and SQLAlchemy
            # replaces the whole pool, so the next one works.
            drop_connections()
            with pytest.raises(StoreUnavailableError):
                store.set_info(set_id)
            assert store.update_annotation(set_id, store.state(set_id).annotations[0].id, square(1, 1)).change
        finally:
            store.close()


# --------------------------------------------------------------------------------------------------
# Sidecars


def make_sidecar_store(db: str, writeback: bool, **kw: object) -> Store:
    return Store(db, sidecar_writeback=writeback, **kw)  # type: ignore[arg-type]


def slide_with_sidecar(tmp_path: Path, name: str = "tumor_111.xml", stem: str = "case") -> tuple[Path, Path]:
    slides = tmp_path / "slides"
    slides.mkdir()
    slide = slides / f"{stem}.tif"
    slide.write_bytes(b"not really a slide")
    xml = slides / f"{stem}.xml"
    xml.write_bytes((REAL / name).read_bytes())
    return slide, xml


def unwritable_sidecar(tmp_path: Path) -> tuple[Path, Path]:
    """A slide whose sidecar cannot be replaced: a read-only directory, or (root ignores modes) a
    name so long that no temporary file can be created beside it (ENAMETOOLONG)."""
    if os.geteuid() == 0:
        return slide_with_sidecar(tmp_path, stem="s" * 246)
    slide, xml = slide_with_sidecar(tmp_path)
    xml.parent.chmod(0o555)
    return slide, xml


def test_sidecar_is_imported_on_first_use_and_again_when_it_changes(db: str, tmp_path: Path) -> None:
    slide, xml = slide_with_sidecar(tmp_path)
    store = make_sidecar_store(db, writeback=False)
    try:
        sid = store.open_slide("case.tif", slide, None)
        (info,) = store.list_sets(sid)
        assert info.name == "case.xml" and info.sidecar_path == str(xml.resolve())
        assert store.state(info.id).to_model() == read_asap(xml)
        assert store.history(info.id)[0].kind == "import"
        assert store.open_slide("case.tif", slide, None) == sid  # second use: no second import
        assert len(store.list_sets(sid)) == 1

        edited = read_asap(xml)
        edited.annotations = edited.annotations[:2]
        xml.write_bytes(write_asap(edited))
        os.utime(xml, ns=(1, 1))  # a different signature even on coarse clocks
        assert store.state(info.id).to_model() == edited
        assert store.history(info.id)[0].kind == "sidecar-import"
        assert store.history(info.id)[0].who == "sidecar"
    finally:
        store.close()


def test_sidecar_in_camelyon_annotations_folder(db: str, tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    slide = tmp_path / "images" / "tumor_031.tif"
    slide.write_bytes(b"x")
    (tmp_path / "annotations" / "tumor_031.xml").write_bytes((REAL / "tumor_031.xml").read_bytes())
    store = Store(db)
    try:
        sid = store.open_slide("images/tumor_031.tif", slide, None)
        (info,) = store.list_sets(sid)
        assert info.annotation_count == len(read_asap(REAL / "tumor_031.xml").annotations)
    finally:
        store.close()


def test_writeback_is_byte_exact_and_a_disk_edit_is_imported_not_overwritten(db: str, tmp_path: Path) -> None:
    slide, xml = slide_with_sidecar(tmp_path)
    store = make_sidecar_store(db, writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide("case.tif", slide, None))
        first = store.state(info.id).annotations[0]
        moved = Annotation(
            first.annotation.name,
            first.annotation.type,
            first.annotation.group,
            first.annotation.color,
            [(x + 1, y) for x, y in first.annotation.coordinates],
        )
        result = store.update_annotation(info.id, first.id, moved, "web")
        assert result.sidecar_error is None
        assert xml.read_bytes() == write_asap(store.state(info.id).to_model())

        # Desktop ASAP saves a change meanwhile; our next write must keep it, then write both.
        desktop = read_asap(xml)
        desktop.annotations[-1].name = "edited in ASAP"
        xml.write_bytes(write_asap(desktop))
        os.utime(xml, ns=(2, 2))
        store.create_annotation(info.id, square(0, 0, name="from the browser"), "web")
        final = read_asap(xml)
        assert final.annotations[-2].name == "edited in ASAP"
        assert final.annotations[-1].name == "from the browser"
        kinds = [c.kind for c in store.history(info.id)]
        assert kinds[:3] == ["create", "sidecar-import", "update"]
        assert not list(xml.parent.glob(".*.tmp"))
    finally:
        store.close()


def test_unwritable_sidecar_reports_and_keeps_the_change(db: str, tmp_path: Path) -> None:
    slide, xml = unwritable_sidecar(tmp_path)
    store = make_sidecar_store(db, writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide(slide.name, slide, None))
        original = xml.read_bytes()
        result = store.create_annotation(info.id, square(0, 0, name="kept"), "web")
        assert result.change is not None
        assert result.sidecar_error and "could not write" in result.sidecar_error
        assert store.state(info.id).annotations[-1].annotation.name == "kept"
        assert store.set_info(info.id).sidecar_error == result.sidecar_error
        assert xml.read_bytes() == original
    finally:
        xml.parent.chmod(0o755)
        store.close()


def test_malformed_sidecar_edit_is_never_overwritten(db: str, tmp_path: Path) -> None:
    slide, xml = slide_with_sidecar(tmp_path)
    store = make_sidecar_store(db, writeback=True)
    try:
        (info,) = store.list_sets(store.open_slide("case.tif", slide, None))
        xml.write_bytes(b"<ASAP_Annotations><Annotations><Annotation Name=")
        os.utime(xml, ns=(3, 3))
        result = store.create_annotation(info.id, square(0, 0), "web")
        assert result.change is not None and result.sidecar_error
        assert xml.read_bytes() == b"<ASAP_Annotations><Annotations><Annotation Name="
    finally:
        store.close()


def test_comments_are_kept_through_writes_history_and_restore(store: Store) -> None:
    commented = Annotation("c", "Dot", None, "#F4FA58", [(5.0, 5.0)], comment="check\nmargin")
    set_id = new_set(store, AnnotationSet([commented, square(0, 0)]))
    first = store.state(set_id).annotations[0]
    assert first.annotation.comment == "check\nmargin"
    edited = Annotation("c", "Dot", None, "#F4FA58", [(5.0, 5.0)], comment="margin clear")
    v_edit = store.update_annotation(set_id, first.id, edited, "bob").info.version
    items = store.change(set_id, v_edit)[1]
    assert [(i.before.comment, i.after.comment) for i in items] == [("check\nmargin", "margin clear")]
    store.restore(set_id, v_edit - 1, "bob")
    assert store.state(set_id).annotations[0].annotation.comment == "check\nmargin"
    # An annotation without a comment is stored exactly as before comments existed.
    assert "comment" not in annotation_doc(square(0, 0))
    assert annotation_from_doc(annotation_doc(commented)) == commented
