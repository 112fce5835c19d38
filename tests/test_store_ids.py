"""Annotation and set ids are never handed out twice (issue 12, revision 0008): a database at 0007
upgrades keeping every row, relation, index and foreign key (SQLite rebuilds two tables, PostgreSQL
changes nothing), and on both engines the id of a deleted annotation or set never comes back, not
even for the next one made after the newest was deleted, nor after a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests._store_fixtures import schema_of
from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.auth import Accounts
from viewer.errors import NotFoundError
from viewer.store import Store, WriteResult, database_url
from viewer.store.idempotency import Answer, Idempotent

#: The tables compared row by row across the upgrade: the two rebuilt and those that name their ids.
TABLES = (
    "slides", "annotation_sets", "annotation_groups", "annotations", "users", "changes", "change_items",
    "set_editors", "idempotency_keys",
)
AUTOINCREMENT = "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
KEYS = {"idempotency_keys": "key", "set_editors": "set_id, user_id"}


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_setting(request.param, tmp_path) as setting:
        yield database_url(setting, tmp_path)


def dot(name: str, x: float = 1.0) -> Annotation:
    return Annotation(name, "Dot", coordinates=[(x, 2.0)])


def square(name: str, size: float) -> Annotation:
    return Annotation(name, "Polygon", "g", "#F4FA58", [(0, 0), (size, 0), (size, size), (0, size)])


def rows(store: Store) -> dict[str, list[list[Any]]]:
    """Every row of every table that holds or names a set or an annotation, in key order."""
    out = {}
    with store.engine.connect() as conn:
        for table in TABLES:
            key = KEYS.get(table, "id")
            out[table] = [list(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {key}"))]
    return out


def fill(store: Store) -> tuple[int, int, int]:
    """Two sets with groups, annotations, edits, deletes, an owner, an editor and an idempotent
    write; returns (first set, second set, the id of the first set's newest annotation, deleted)."""
    accounts = Accounts(store)
    ana = accounts.add("ana", "annotator", "pw-a")
    accounts.add("ben", "annotator", "pw-b")
    assert ana.id is not None
    slide = store.open_slide("s.svs")
    content = AnnotationSet([square("a", 10), square("b", 20)], [Group("g")])
    first = store.create_set(slide, "one", "ana", content)
    second = store.create_set(store.open_slide("t.svs"), "two", "ben", AnnotationSet([dot("x")])).info.id
    one = first.info.id
    store.claim_set(one, ana.id, "read")
    store.share_set(one, "private", ["ben"], who="ana")
    a, _b = store.state(one).annotations
    store.update_annotation(one, a.id, square("a moved", 11), "ana")
    key = Idempotent("k1", one, "f1", lambda r: Answer(201, f'{{"v": {r.info.version}}}'))
    with store.idempotent(key):
        newest = store.create_annotation(one, square("c", 30), "ana")
    assert newest.annotation is not None and key.answer is not None
    store.delete_annotation(one, newest.annotation.id, "ana")  # the newest: its id is max + 1 again
    store.create_group(second, Group("later"), "ben")
    return one, second, newest.annotation.id


def sqlite_file(url: str) -> str:
    return url.removeprefix("sqlite:///")


def sqlite_structure(path: str) -> dict[str, Any]:
    """Per table: its columns, indexes (with their columns) and foreign keys, as SQLite lists them."""
    with sqlite3.connect(path) as con:
        listed = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        names = [r[0] for r in listed]
        out = {}
        for t in names:
            indexes = sorted(
                (name, unique, origin, [c[2] for c in con.execute(f"PRAGMA index_info('{name}')")])
                for _seq, name, unique, origin, _partial in con.execute(f"PRAGMA index_list('{t}')")
            )
            out[t] = {
                "columns": con.execute(f"PRAGMA table_info('{t}')").fetchall(),
                "indexes": indexes,
                "foreign_keys": sorted(r[2:] for r in con.execute(f"PRAGMA foreign_key_list('{t}')")),
            }
        return out


def table_sql(path: str) -> dict[str, str]:
    with sqlite3.connect(path) as con:
        listed = con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        return {name: " ".join(sql.split()) for name, sql in listed}


def test_a_database_at_0007_upgrades_keeping_every_row_relation_and_index(url: str) -> None:
    old = Store(url, target_version=7)
    try:
        one, second, deleted = fill(old)
        before_rows, before_schema = rows(old), schema_of(old.engine)
        before_states = {s: [old.state(s, v).to_model() for v in range(old.set_info(s).version + 1)]
                         for s in (one, second)}
        before_history = {s: old.history(s) for s in (one, second)}
        before_access = old.set_access(one)
        is_sqlite = old.engine.dialect.name == "sqlite"
    finally:
        old.close()
    assert max(r[0] for r in before_rows["annotations"]) < deleted  # the deleted one was the newest
    if is_sqlite:
        path = sqlite_file(url)
        structure, sql = sqlite_structure(path), table_sql(path)
        assert "sqlite_sequence" not in structure
    store = Store(url)
    try:
        assert store.schema_version == 8
        assert rows(store) == before_rows  # every row, every column, the same ids
        assert schema_of(store.engine) == before_schema  # columns, keys, indexes, foreign keys
        assert {s: [store.state(s, v).to_model() for v in range(store.set_info(s).version + 1)]
                for s in (one, second)} == before_states
        assert {s: store.history(s) for s in (one, second)} == before_history
        assert store.set_access(one) == before_access  # owner, sharing, the editor
        if is_sqlite:
            with sqlite3.connect(path) as con:
                assert con.execute("PRAGMA foreign_key_check").fetchall() == []
                assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                sequence = dict(con.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
            # above the deleted annotation the history knows, not just the rows left
            assert sequence == {"annotations": deleted, "annotation_sets": second}
            after = sqlite_structure(path)
            sequence_columns = after.pop("sqlite_sequence")["columns"]
            assert sequence_columns == [(0, "name", "", 0, None, 0), (1, "seq", "", 0, None, 0)]
            assert after == structure
            now = table_sql(path)
            for table in ("annotations", "annotation_sets"):  # the id's declaration, nothing else
                was = sql.pop(table).replace("( id INTEGER NOT NULL,", f"( id {AUTOINCREMENT},")
                assert now.pop(table) == was.replace(", PRIMARY KEY (id),", ",")
            assert now == {**sql, "sqlite_sequence": "CREATE TABLE sqlite_sequence(name,seq)"}
        made = store.create_annotation(one, dot("after"), "ana")
        assert made.annotation is not None and made.annotation.id > deleted
        with pytest.raises(NotFoundError):
            store.annotation(one, deleted)
    finally:
        store.close()


def test_a_deleted_annotations_id_is_never_handed_out_again(url: str) -> None:
    store = Store(url)
    try:
        set_id = store.create_set(store.open_slide("s.svs"), "s", "ann", AnnotationSet([dot("a")])).info.id
        v1 = store.set_info(set_id).version
        b = store.create_annotation(set_id, dot("b", 2), "ann").annotation
        assert b is not None
        store.delete_annotation(set_id, b.id, "ann")  # the newest
        c = store.create_annotation(set_id, dot("c", 3), "ann").annotation
        assert c is not None and c.id > b.id
        with pytest.raises(NotFoundError):  # a client still holding b's id reaches nothing
            store.delete_annotation(set_id, b.id, "late client")
        assert [r.annotation.name for r in store.state(set_id).annotations] == ["a", "c"]
        # the history tells b and c apart: b added then removed, c added
        diff = store.diff(set_id, v1)
        assert {(i.id, i.before is None, i.after is None) for i in diff.items} == {(c.id, True, False)}
        assert [(i.id, i.after is None) for i in store.change(set_id, v1 + 2)[1]] == [(b.id, True)]
        # the restore of the version with b brings b back under its id, and c goes
        store.restore(set_id, v1 + 1, "ann")
        assert [(r.id, r.annotation.name) for r in store.state(set_id).annotations][1:] == [(b.id, "b")]
        store.delete_annotation(set_id, b.id, "ann")
    finally:
        store.close()
    again = Store(url)  # the next id survives a restart (sqlite_sequence, the PostgreSQL sequence)
    try:
        d = again.create_annotation(set_id, dot("d", 4), "ann").annotation
        assert d is not None and d.id > c.id
    finally:
        again.close()


def delete_set_rows(store: Store, set_id: int) -> None:
    """What a set's removal takes away (the store has no such write yet: an admin with SQL)."""
    with store.engine.begin() as conn:
        changes = f"SELECT id FROM changes WHERE set_id = {set_id}"
        conn.execute(sa.text(f"DELETE FROM change_items WHERE change_id IN ({changes})"))
        for table in ("changes", "annotations", "annotation_groups", "set_editors", "idempotency_keys"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE set_id = {set_id}"))
        conn.execute(sa.text(f"DELETE FROM annotation_sets WHERE id = {set_id}"))


def test_a_deleted_sets_id_is_never_handed_out_again(url: str) -> None:
    store = Store(url)
    try:
        slide = store.open_slide("s.svs")
        store.create_set(slide, "kept", "ann", AnnotationSet([dot("a")]))
        gone: WriteResult = store.create_set(slide, "gone", "ann", AnnotationSet([dot("lesion")]))
        delete_set_rows(store, gone.info.id)  # the newest set
        made = store.create_set(slide, "new", "ann", AnnotationSet([dot("region")]))
        assert made.info.id > gone.info.id
        assert [s.name for s in store.list_sets(slide)] == ["kept", "new"]
        with pytest.raises(NotFoundError):
            store.set_info(gone.info.id)
    finally:
        store.close()
