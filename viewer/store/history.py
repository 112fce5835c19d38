"""A set's history: its changes newest first, one change with what it did to each object, any
earlier state as the replay of the changes up to it, the diff of two versions, and the ops of a
restore (a new change: history is never rewritten).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.annotations.model import Annotation, Group
from viewer.errors import NotFoundError
from viewer.store.documents import annotation_from_doc, bbox, group_from_doc, points_of
from viewer.store.records import (
    AnnotationRecord,
    ChangeInfo,
    ChangeItem,
    Diff,
    GroupRecord,
    SetInfo,
    SetState,
)
from viewer.store.schema import change_items, changes
from viewer.store.writes import Op

#: (kind, id) -> (position, version, doc) of every object alive at one version.
Replay = dict[tuple[str, int], tuple[int, int, str]]

_c = changes.c
_i = change_items.c
_REPLAY = (
    sa.select(_i.obj_kind, _i.obj_id, _i.position, _i.after, _c.version)
    .select_from(change_items.join(changes, _i.change_id == _c.id))
    .where(_c.set_id == sa.bindparam("b_set"), _c.version <= sa.bindparam("b_version"))
    .order_by(_c.version, _i.id)
)
_CHANGE = sa.select(
    _c.id, _c.version, _c.at, _c.who, _c.kind, _c.message, _c.n_created, _c.n_updated, _c.n_deleted
).where(_c.set_id == sa.bindparam("b_set"), _c.version == sa.bindparam("b_version"))
_ITEMS = (
    sa.select(_i.obj_kind, _i.obj_id, _i.before, _i.after)
    .where(_i.change_id == sa.bindparam("b_change"))
    .order_by(_i.id)
)


def check_version_exists(info: SetInfo, version: int) -> None:
    """:raises NotFoundError: the set never had *version*."""
    if not 0 <= version <= info.version:
        raise NotFoundError(f"version {version} does not exist (the set is at version {info.version})")


def replay(conn: Connection, set_id: int, version: int) -> Replay:
    """Every object alive at *version*, from the changes up to it."""
    alive: Replay = {}
    for kind, obj_id, position, after, v in conn.execute(_REPLAY, {"b_set": set_id, "b_version": version}):
        if after is None:
            alive.pop((kind, obj_id), None)
        else:
            alive[(kind, obj_id)] = (position, v, after)
    return alive


def state_from_replay(info: SetInfo, version: int, objects: Replay) -> SetState:
    """The set's content at *version* from its :func:`replay`, in list order."""
    ordered = sorted(objects.items(), key=lambda kv: (kv[1][0], kv[0][1]))
    return SetState(
        info,
        version,
        [GroupRecord(i, v, group_from_doc(d)) for (k, i), (_p, v, d) in ordered if k == "g"],
        [AnnotationRecord(i, v, annotation_from_doc(d)) for (k, i), (_p, v, d) in ordered if k == "a"],
    )


def changes_of(conn: Connection, set_id: int, limit: int, before: int | None) -> list[ChangeInfo]:
    """The set's changes, newest first, at most *limit* (1..1000), below version *before*."""
    q = (
        sa.select(_c.version, _c.at, _c.who, _c.kind, _c.message, _c.n_created, _c.n_updated, _c.n_deleted)
        .where(_c.set_id == set_id)
        .order_by(_c.version.desc())
        .limit(max(1, min(limit, 1000)))
    )
    if before is not None:
        q = q.where(_c.version < before)
    return [ChangeInfo(*row) for row in conn.execute(q)]


def change_of(conn: Connection, set_id: int, version: int) -> tuple[ChangeInfo, list[ChangeItem]]:
    """One change with what it did to each object. :raises NotFoundError:"""
    row = conn.execute(_CHANGE, {"b_set": set_id, "b_version": version}).first()
    if row is None:
        raise NotFoundError(f"version {version} does not exist")
    items = conn.execute(_ITEMS, {"b_change": row.id})
    return ChangeInfo(*row[1:]), [item(k, i, b, a) for k, i, b, a in items]


def item(kind: str, obj_id: int, before: str | None, after: str | None) -> ChangeItem:
    """A change item from its stored documents."""
    load: Callable[[str], Annotation | Group] = annotation_from_doc if kind == "a" else group_from_doc
    return ChangeItem(
        "annotation" if kind == "a" else "group",
        obj_id,
        load(before) if before is not None else None,
        load(after) if after is not None else None,
    )


def _keys(old: Replay, new: Replay) -> list[tuple[str, int]]:
    return sorted(set(old) | set(new), key=lambda k: (k[0] != "g", k[1]))  # groups first, then by id


def diff(old: Replay, new: Replay, from_version: int, to_version: int) -> Diff:
    """What differs between two replays: objects added, removed, changed or moved."""
    result = Diff(from_version, to_version)
    for key in _keys(old, new):
        before = old[key][2] if key in old else None
        after = new[key][2] if key in new else None
        moved = key in old and key in new and old[key][0] != new[key][0]
        if before != after or moved:
            result.items.append(item(key[0], key[1], before, after))
    return result


def restore_ops(now: Replay, target: Replay) -> list[Op]:
    """The ops that bring the objects of *now* to *target* (ids kept: deleted objects come back
    under their old ids)."""
    ops: list[Op] = []
    for key in _keys(now, target):
        kind, obj_id = key
        before = now[key][2] if key in now else None
        after = target[key][2] if key in target else None
        position = target[key][0] if key in target else None
        if before == after and (key not in now or now[key][0] == position):
            continue
        op = Op(kind, obj_id, before, after, position, points_of(before) if kind == "a" else 0)
        if kind == "a" and after is not None:
            a = annotation_from_doc(after)
            op.points_after, op.bbox = len(a.coordinates), bbox(a)
        ops.append(op)
    return ops
