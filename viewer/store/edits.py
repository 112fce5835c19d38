"""Edits of one annotation or one group: what each changes, checked against the set (its groups,
its vertex limit) and against the object's own version, inside the write that holds the set's lock.

Each function runs in the body of ``Store._write_change`` and returns the change it committed
(None: nothing changed). A group's new name is carried to its annotations and child groups in the
same change (ASAP links them by name, to the last group of a shared name).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import ConflictError, InputTooLargeError, NotFoundError, ValidationError
from viewer.preconditions import VersionMatch
from viewer.store.documents import annotation_doc, annotation_from_doc, doc_name, group_doc, group_from_doc
from viewer.store.records import AnnotationRecord, ChangeInfo, GroupRecord, SetInfo
from viewer.store.schema import annotations_t, groups
from viewer.store.writes import Op, Prefetched, Writer, annotation_op, check_version

_a = annotations_t.c
_g = groups.c
_ANNOTATION = sa.select(_a.version, _a.position, _a.n_points, _a.doc).where(
    _a.id == sa.bindparam("b_id"), _a.set_id == sa.bindparam("b_set")
)
_GROUP = sa.select(_g.version, _g.position, _g.doc).where(
    _g.id == sa.bindparam("b_id"), _g.set_id == sa.bindparam("b_set")
)
_MEMBERS = sa.select(_a.id, _a.position, _a.n_points, _a.doc).where(_a.set_id == sa.bindparam("b_set"))
_TOP_ANNOTATION = sa.select(sa.func.max(_a.position)).where(_a.set_id == sa.bindparam("b_set"))
_GROUP_ROWS = (
    sa.select(_g.id, _g.position, _g.doc)
    .where(_g.set_id == sa.bindparam("b_set"))
    .order_by(_g.position, _g.id)
)
_TOP_GROUP = sa.select(sa.func.max(_g.position)).where(_g.set_id == sa.bindparam("b_set"))


def needs_groups(a: Annotation) -> bool:
    """Whether checking *a* needs the set's groups (only when it names one)."""
    return a.group is not None and isinstance(a.group, str)


def _check_annotation(
    w: Writer,
    conn: Connection,
    a: Annotation,
    info: SetInfo,
    pre: Prefetched,
    max_vertices: int,
    points_before: int = 0,
) -> None:
    # Validate against the set's groups only (the rest of the set is already valid).
    AnnotationSet(
        annotations=[a], groups=w.group_list(conn, info.id, pre) if needs_groups(a) else []
    ).validate()
    total = info.vertex_count - points_before + len(a.coordinates)
    if total > max_vertices:
        raise InputTooLargeError(f"{total} vertices is over the limit of {max_vertices} per set")


def _checked_annotation(
    conn: Connection, set_id: int, annotation_id: int, match: VersionMatch | None, pre: Prefetched
) -> Any:
    """The annotation's row, after checking that its version meets *match* (when given)."""
    row: Any = (
        pre.annotation
        if pre.annotation_read
        else (conn.execute(_ANNOTATION, {"b_id": annotation_id, "b_set": set_id}).first())
    )
    if row is None:
        raise NotFoundError("no such annotation in this set")
    if match is not None and not match.matches(row.version):
        current = AnnotationRecord(annotation_id, row.version, annotation_from_doc(row.doc))
        check_version(match, row.version, "annotation", current)
    return row


def _checked_group(conn: Connection, set_id: int, group_id: int, match: VersionMatch | None) -> Any:
    """The group's row, after checking that its version meets *match* (when given)."""
    row = conn.execute(_GROUP, {"b_id": group_id, "b_set": set_id}).first()
    if row is None:
        raise NotFoundError("no such group in this set")
    if match is not None and not match.matches(row.version):
        check_version(
            match, row.version, "group", GroupRecord(group_id, row.version, group_from_doc(row.doc))
        )
    return row


def read_annotation(conn: Connection, set_id: int, annotation_id: int) -> AnnotationRecord:
    """One current annotation of the set. :raises NotFoundError:"""
    row = conn.execute(_ANNOTATION, {"b_id": annotation_id, "b_set": set_id}).first()
    if row is None:
        raise NotFoundError("no such annotation in this set")
    return AnnotationRecord(annotation_id, row.version, annotation_from_doc(row.doc))


def read_group(conn: Connection, set_id: int, group_id: int) -> GroupRecord:
    """One current group of the set. :raises NotFoundError:"""
    row = conn.execute(_GROUP, {"b_id": group_id, "b_set": set_id}).first()
    if row is None:
        raise NotFoundError("no such group in this set")
    return GroupRecord(group_id, row.version, group_from_doc(row.doc))


def _next_position(conn: Connection, statement: sa.Select[Any], set_id: int) -> int:
    top = conn.execute(statement, {"b_set": set_id}).scalar()
    return (top if top is not None else -1) + 1


# -- annotations -----------------------------------------------------------------------------------


def create_annotation(
    w: Writer, conn: Connection, info: SetInfo, pre: Prefetched, a: Annotation, who: str, max_vertices: int
) -> tuple[ChangeInfo | None, int]:
    """Append *a* to the set; the change and the new annotation's id."""
    _check_annotation(w, conn, a, info, pre, max_vertices)
    op = annotation_op(None, None, a, _next_position(conn, _TOP_ANNOTATION, info.id))
    change = w.commit(conn, info, [op], who, "create", f"created annotation {a.name!r}")
    assert op.obj_id is not None
    return change, op.obj_id


def update_annotation(
    w: Writer,
    conn: Connection,
    info: SetInfo,
    pre: Prefetched,
    annotation_id: int,
    a: Annotation,
    who: str,
    match: VersionMatch | None,
    max_vertices: int,
) -> tuple[ChangeInfo | None, int]:
    """Replace one annotation; the change (None: *a* is what is stored) and its version now."""
    row = _checked_annotation(conn, info.id, annotation_id, match, pre)
    _check_annotation(w, conn, a, info, pre, max_vertices, row.n_points)
    op = annotation_op(annotation_id, row.doc, a, row.position, row.n_points)
    if op.after == row.doc:
        return None, int(row.version)
    change = w.commit(conn, info, [op], who, "update", f"updated annotation {a.name!r}")
    return change, info.version


def delete_annotation(
    w: Writer,
    conn: Connection,
    info: SetInfo,
    pre: Prefetched,
    annotation_id: int,
    who: str,
    match: VersionMatch | None,
) -> ChangeInfo | None:
    """Delete one annotation (kept in the history)."""
    row = _checked_annotation(conn, info.id, annotation_id, match, pre)
    op = Op("a", annotation_id, row.doc, None, None, row.n_points)
    return w.commit(conn, info, [op], who, "delete", f"deleted annotation {doc_name(row.doc)!r}")


# -- groups ----------------------------------------------------------------------------------------


def _group_rows(conn: Connection, set_id: int) -> list[Any]:
    """(id, position, doc) of the set's groups, in list order."""
    return list(conn.execute(_GROUP_ROWS, {"b_set": set_id}))


def _binds(rows: list[Any], group_id: int, name: str) -> bool:
    """Whether group *group_id* (one of *rows*, named *name*) is the last group of its name: the
    one members and child groups naming it belong to (see :mod:`viewer.annotations.model`)."""
    order = [(r.position, r.id) for r in rows if doc_name(r.doc) == name]
    mine = next((r.position, r.id) for r in rows if r.id == group_id)
    return mine == max(order)


def create_group(
    w: Writer, conn: Connection, info: SetInfo, g: Group, who: str
) -> tuple[ChangeInfo | None, int]:
    """Add *g* at the end of the set's group list; the change and the new group's id.

    :raises ConflictError: the set has a group of that name (the new one, last of the name, would
        silently take over every member and child group of the old one).
    """
    existing = [group_from_doc(r.doc) for r in _group_rows(conn, info.id)]
    if any(e.name == g.name for e in existing):
        raise ConflictError(
            f"this set already has a group named {g.name!r}",
            [f"a second group named {g.name!r} would take over its annotations and child groups"],
        )
    AnnotationSet(groups=[*existing, g]).validate()
    op = Op("g", None, None, group_doc(g), _next_position(conn, _TOP_GROUP, info.id))
    change = w.commit(conn, info, [op], who, "create", f"created group {g.name!r}")
    assert op.obj_id is not None
    return change, op.obj_id


def update_group(
    w: Writer, conn: Connection, info: SetInfo, group_id: int, g: Group, who: str, match: VersionMatch | None
) -> ChangeInfo | None:
    """Replace one group. A new name follows to the members and child groups of the old one in the
    same change when this group is the one they belong to (the last of its name); renaming an
    earlier group of a shared name moves nothing.

    :raises ConflictError: the new name is another group's.
    :raises ValidationError: a parent that the other groups of the shared name do not have (ASAP
        gives every group of a name one parent), or a set that would break the model's rules.
    """
    row = _checked_group(conn, info.id, group_id, match)
    old = group_from_doc(row.doc)
    rows = _group_rows(conn, info.id)
    renamed = g.name != old.name
    others = [r for r in rows if r.id != group_id]
    if renamed and any(doc_name(r.doc) == g.name for r in others):
        raise ConflictError(
            f"this set already has a group named {g.name!r}",
            [f"a second group named {g.name!r} would take over its annotations and child groups"],
        )
    if not renamed and g.parent != old.parent:
        twins = [group_from_doc(r.doc) for r in others if doc_name(r.doc) == old.name]
        differ = [t.parent for t in twins if t.parent != g.parent]
        if differ:
            raise ValidationError(
                f"group {old.name!r} shares its name with {len(twins)} other groups: its parent "
                f"can change only to one they all have",
                [f"other groups named {old.name!r} have parent {differ[0]!r}, not {g.parent!r}; ASAP "
                 "gives every group of one name the same parent"],
            )
    follows = renamed and _binds(rows, group_id, old.name)
    ops = []
    new_groups = []
    for other in rows:
        if other.id == group_id:
            new_groups.append(g)
            continue
        og = group_from_doc(other.doc)
        if follows and og.parent == old.name:
            og.parent = g.name
            ops.append(Op("g", other.id, other.doc, group_doc(og), other.position))
        new_groups.append(og)
    AnnotationSet(groups=new_groups).validate()
    doc = group_doc(g)
    if doc != row.doc:
        ops.insert(0, Op("g", group_id, row.doc, doc, row.position))
    if follows:
        for m in conn.execute(_MEMBERS, {"b_set": info.id}):
            a = annotation_from_doc(m.doc)
            if a.group == old.name:
                a.group = g.name
                ops.append(annotation_op(m.id, m.doc, a, m.position, m.n_points))
    return w.commit(conn, info, ops, who, "update", f"updated group {g.name!r}")


def delete_group(
    w: Writer, conn: Connection, info: SetInfo, group_id: int, who: str, match: VersionMatch | None
) -> ChangeInfo | None:
    """Delete a group that holds nothing: an earlier group of a shared name always (members and
    child groups belong to the last one), else one without annotations and child groups.

    :raises ConflictError: it still has annotations or child groups."""
    row = _checked_group(conn, info.id, group_id, match)
    name = doc_name(row.doc)
    rows = _group_rows(conn, info.id)
    if _binds(rows, group_id, name):
        members = sum(
            1
            for (d,) in conn.execute(sa.select(_a.doc).where(_a.set_id == info.id))
            if json.loads(d)["group"] == name
        )
        children = sum(1 for r in rows if r.id != group_id and group_from_doc(r.doc).parent == name)
        if members or children:
            raise ConflictError(
                f"group {name!r} is not empty: {members} annotations, {children} child groups",
                [f"move or delete the {members} annotations and {children} child groups first"],
            )
    op = Op("g", group_id, row.doc, None, None)
    return w.commit(conn, info, [op], who, "delete", f"deleted group {name!r}")


def stored_annotation(a: Annotation) -> Annotation:
    """*a* as a read returns it (through its stored document)."""
    return annotation_from_doc(annotation_doc(a))
