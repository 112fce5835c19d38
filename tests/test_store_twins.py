"""Groups sharing a name in the store, on SQLite and PostgreSQL: as in ASAP, members and child groups
naming N belong to the **last** group named N. Whole-set writes keep every group in order and match
groups by name and occurrence (untouched twins keep their ids and versions); single-group edits
refuse what would silently move members from one group to another."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import ConflictError, ValidationError
from viewer.store import GroupRecord, SetState, Store, database_url

DATA = Path(__file__).parent / "data" / "asap"
TWINS_XML = DATA / "derived" / "tumor_111_twin_groups.xml"
PLAIN_XML = DATA / "real" / "tumor_111.xml"


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_setting(request.param, tmp_path) as setting:
        s = Store(database_url(setting, tmp_path))
        yield s
        s.close()


def twins() -> AnnotationSet:
    """tumor_111 with ``background`` under ``tissue`` and a second ``tissue`` last (see SOURCES.md)."""
    return read_asap(TWINS_XML)


def new_set(store: Store, content: AnnotationSet | None, key: str = "s.svs") -> int:
    return store.create_set(store.open_slide(key), "layer", "tester", content).info.id


def tissue_rows(state: SetState) -> list[GroupRecord]:
    return [g for g in state.groups if g.group.name == "tissue"]


def test_a_set_with_twins_is_kept_in_order_and_exports_byte_identical(store: Store) -> None:
    set_id = new_set(store, twins())
    state = store.state(set_id)
    assert [g.group.name for g in state.groups] == ["tissue", "artifact", "background", "tissue"]
    assert write_asap(state.to_model()) == TWINS_XML.read_bytes()


def test_replace_plain_to_twins_keeps_the_first_tissue_where_it_was(store: Store) -> None:
    set_id = new_set(store, read_asap(PLAIN_XML))
    before = store.state(set_id)
    (old_tissue,) = tissue_rows(before)
    store.replace(set_id, twins(), "tester", if_version=before.version)
    after = store.state(set_id)
    assert write_asap(after.to_model()) == TWINS_XML.read_bytes()
    first, last = tissue_rows(after)
    assert (first.id, first.version) == (old_tissue.id, old_tissue.version)  # untouched: same row
    assert last.id not in {g.id for g in before.groups}
    assert [g.id for g in after.groups][:2] == [g.id for g in before.groups][:2]


def test_replace_twins_to_plain_leaves_no_stale_twin(store: Store) -> None:
    set_id = new_set(store, twins())
    before = store.state(set_id)
    plain = read_asap(PLAIN_XML)
    result = store.replace(set_id, plain, "tester", if_version=before.version)
    assert result.change is not None
    after = store.state(set_id)
    assert after.to_model() == plain
    assert write_asap(after.to_model()) == PLAIN_XML.read_bytes()
    assert len(tissue_rows(after)) == 1
    # the first twin is the plain file's tissue (same occurrence): it stays; the second goes
    assert tissue_rows(after)[0].id == tissue_rows(before)[0].id
    assert tissue_rows(before)[1].id not in {g.id for g in after.groups}


def test_replace_twins_to_twins_with_one_polygon_edited_changes_only_that(store: Store) -> None:
    set_id = new_set(store, twins())
    before = store.state(set_id)
    edited = twins()
    polygon = edited.annotations[3]
    moved = [(x + 1, y) for x, y in polygon.coordinates]
    edited.annotations[3] = dataclasses.replace(polygon, coordinates=moved)
    result = store.replace(set_id, edited, "tester", if_version=before.version)
    assert result.change is not None
    assert (result.change.created, result.change.updated, result.change.deleted) == (0, 1, 0)
    after = store.state(set_id)
    assert after.to_model() == edited
    assert [(g.id, g.version) for g in after.groups] == [(g.id, g.version) for g in before.groups]
    pairs = zip(after.annotations, before.annotations, strict=True)
    changed = [a.id for a, b in pairs if a.version != b.version]
    assert changed == [before.annotations[3].id]


def test_create_group_of_an_existing_name_is_a_conflict(store: Store) -> None:
    set_id = new_set(store, twins())
    version = store.set_info(set_id).version
    with pytest.raises(ConflictError) as refused:
        store.create_group(set_id, Group("tissue"))
    assert "already has a group named 'tissue'" in refused.value.message
    with pytest.raises(ConflictError):
        store.create_group(set_id, Group("artifact"))
    assert store.set_info(set_id).version == version
    assert len(store.state(set_id).groups) == 4


def test_renaming_the_last_twin_takes_its_members_and_child_groups(store: Store) -> None:
    set_id = new_set(store, twins())
    first, last = tissue_rows(store.state(set_id))
    result = store.update_group(set_id, last.id, dataclasses.replace(last.group, name="tumour"),
                                if_version=last.version)
    assert result.change is not None
    after = store.state(set_id).to_model()
    assert [g.name for g in after.groups] == ["tissue", "artifact", "background", "tumour"]
    assert [a.group for a in after.annotations] == [
        "tumour" if a.group == "tissue" else a.group for a in twins().annotations
    ]
    assert after.group_by_name("background") is not None
    assert after.groups[2].parent == "tumour"
    assert store.group(set_id, first.id).version == first.version  # the first twin: untouched
    # the set now means in ASAP what it means here
    assert read_asap(write_asap(after)) == after


def test_renaming_an_earlier_twin_moves_nothing(store: Store) -> None:
    set_id = new_set(store, twins())
    before = store.state(set_id)
    first, last = tissue_rows(before)
    result = store.update_group(set_id, first.id, dataclasses.replace(first.group, name="spare"),
                                if_version=first.version)
    assert result.change is not None
    assert (result.change.created, result.change.updated, result.change.deleted) == (0, 1, 0)
    after = store.state(set_id)
    model = after.to_model()
    assert [g.name for g in model.groups] == ["spare", "artifact", "background", "tissue"]
    assert model.annotations == twins().annotations
    assert model.groups[2].parent == "tissue"
    assert [(a.id, a.version) for a in after.annotations] == [(a.id, a.version) for a in before.annotations]
    assert store.group(set_id, last.id).version == last.version


def test_renaming_onto_another_groups_name_is_a_conflict(store: Store) -> None:
    set_id = new_set(store, twins())
    state = store.state(set_id)
    artifact = next(g for g in state.groups if g.group.name == "artifact")
    first, _last = tissue_rows(state)
    for rec, name in ((artifact, "tissue"), (first, "artifact")):
        with pytest.raises(ConflictError):
            store.update_group(set_id, rec.id, dataclasses.replace(rec.group, name=name))
    assert store.set_info(set_id).version == state.version


def test_one_twins_parent_changes_only_to_the_others(store: Store) -> None:
    content = AnnotationSet(
        [Annotation("a", group="t", coordinates=[(0, 0), (1, 0), (1, 1)])],
        [Group("P"), Group("Q"), Group("t", parent="P"), Group("t", parent="P")],
    )
    set_id = new_set(store, content)
    state = store.state(set_id)
    t1, t2 = (g for g in state.groups if g.group.name == "t")
    with pytest.raises(ValidationError) as refused:
        store.update_group(set_id, t2.id, dataclasses.replace(t2.group, parent="Q"))
    assert "'P'" in refused.value.details[0]
    assert store.set_info(set_id).version == state.version
    # the colour of one twin is its own
    store.update_group(set_id, t1.id, dataclasses.replace(t1.group, color="#123456"))
    # a lone group's parent changes freely
    q = next(g for g in state.groups if g.group.name == "Q")
    store.update_group(set_id, q.id, dataclasses.replace(q.group, parent="P"))
    assert store.group(set_id, q.id).group.parent == "P"


def test_the_first_twin_deletes_the_last_one_not_while_it_has_members(store: Store) -> None:
    set_id = new_set(store, twins())
    first, last = tissue_rows(store.state(set_id))
    with pytest.raises(ConflictError) as refused:
        store.delete_group(set_id, last.id)
    assert "7 annotations, 1 child groups" in refused.value.message
    result = store.delete_group(set_id, first.id, if_version=first.version)
    assert result.change is not None and result.change.deleted == 1
    after = store.state(set_id).to_model()
    assert [g.name for g in after.groups] == ["artifact", "background", "tissue"]
    assert after.groups[2].color == "#ff0000"  # the one the members belong to is kept
    with pytest.raises(ConflictError):
        store.delete_group(set_id, last.id)


def test_annotation_writes_naming_a_twin_join_the_last(store: Store) -> None:
    set_id = new_set(store, twins())
    created = store.create_annotation(set_id, Annotation("new", group="tissue", coordinates=[(0, 0), (5, 5)]))
    assert created.annotation is not None
    model = store.state(set_id).to_model()
    assert model.display_color(model.annotations[-1]) == "#ff0000"  # the last tissue's colour
    first, last = tissue_rows(store.state(set_id))
    with pytest.raises(ConflictError):  # the new member counts for the last twin
        store.delete_group(set_id, last.id)


def test_restore_across_a_twin_rename_brings_back_ids_and_bindings(store: Store) -> None:
    set_id = new_set(store, twins())
    v1 = store.state(set_id)
    _first, last = tissue_rows(v1)
    store.update_group(set_id, last.id, dataclasses.replace(last.group, name="tumour"))
    diff = store.diff(set_id, v1.version)
    changed_groups = [i.id for i in diff.items if i.kind == "group"]
    assert changed_groups == sorted([last.id, v1.groups[2].id])  # the renamed twin and its child, by id
    store.restore(set_id, v1.version)
    now = store.state(set_id)
    assert now.to_model() == v1.to_model()
    assert [g.id for g in now.groups] == [g.id for g in v1.groups]
    assert [a.id for a in now.annotations] == [a.id for a in v1.annotations]
    assert write_asap(now.to_model()) == TWINS_XML.read_bytes()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_twin_sidecar_imports_and_writes_back_byte_identical(engine: str, tmp_path: Path) -> None:
    with database_setting(engine, tmp_path) as setting:
        root = tmp_path / "slides"
        root.mkdir()
        (root / "case.tif").write_bytes(b"not a slide")
        sidecar = root / "case.xml"
        sidecar.write_bytes(PLAIN_XML.read_bytes())
        store = Store(database_url(setting, tmp_path), slide_root=root, sidecar_writeback=True)
        try:
            slide = store.open_slide("case.tif", root / "case.tif", None)
            (info,) = store.list_sets(slide)
            assert info.sidecar_warnings == []  # tumor_111 as CAMELYON has it: nothing tolerated
            before = store.state(info.id)
            time.sleep(0.01)
            sidecar.write_bytes(TWINS_XML.read_bytes())  # edited in ASAP: a second tissue
            os.utime(sidecar, ns=(time.time_ns(), time.time_ns()))
            now = store.state(info.id)
            assert now.version == before.version + 1
            assert write_asap(now.to_model()) == TWINS_XML.read_bytes()
            assert tissue_rows(now)[0].id == tissue_rows(before)[0].id
            (warning,) = now.info.sidecar_warnings  # kept at the re-import, as the reader said it
            assert warning.startswith("line 367: <Group Name='tissue'> repeats the group name of line 358")
            # a change here writes the file back with both twins, in order
            artifact = next(g for g in now.groups if g.group.name == "artifact")
            store.update_group(info.id, artifact.id, dataclasses.replace(artifact.group, color="#00ff00"))
            written = read_asap(sidecar)
            assert [(g.name, g.color) for g in written.groups] == [
                ("tissue", "#64FE2E"),
                ("artifact", "#00ff00"),
                ("background", "#64FE2E"),
                ("tissue", "#ff0000"),
            ]
            assert written.annotations == twins().annotations
        finally:
            store.close()

        # a first import of a twin file
        (root / "other.tif").write_bytes(b"not a slide")
        (root / "other.xml").write_bytes(TWINS_XML.read_bytes())
        store = Store(database_url(setting, tmp_path), slide_root=root)
        try:
            (other,) = store.list_sets(store.open_slide("other.tif", root / "other.tif", None))
            assert other.sidecar_warnings == [warning]  # and at a first import
            assert write_asap(store.state(other.id).to_model()) == TWINS_XML.read_bytes()
        finally:
            store.close()
