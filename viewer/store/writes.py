"""Writing one change: the set's row locked and read, the precondition checked, a ``changes`` row
with one ``change_items`` row per object touched (its JSON before and after), and the live tables
brought to the new version, all in the caller's write transaction.

A set's ``version`` grows by one with every change; single annotations and groups carry the set
version that last changed them, so two people editing different annotations of one set never
conflict. Writers of one set queue on its row lock (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite
the write transaction itself is the lock). Every statement of the hot paths is built once, at
import or on first use: building one per call cost more than running it.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import ConflictError, NotFoundError, PreconditionFailedError
from viewer.preconditions import VersionMatch
from viewer.store import known_slides
from viewer.store.documents import BBox, annotation_doc, bbox, group_doc, group_from_dict, group_from_doc
from viewer.store.names import now
from viewer.store.records import ChangeInfo, SetInfo
from viewer.store.schema import annotations_t, change_items, changes, groups, sets, slides, users


@dataclass
class Op:
    """One object change inside a change: create (obj_id None or a re-used id), update or delete."""

    kind: str  # "a" | "g"
    obj_id: int | None
    before: str | None
    after: str | None
    position: int | None
    points_before: int = 0
    points_after: int = 0
    bbox: BBox = (None, None, None, None)


def annotation_op(
    obj_id: int | None, before: str | None, a: Annotation | None, position: int | None, points_before: int = 0
) -> Op:
    """The op that makes annotation *obj_id* (None: a new one) *a* (None: deleted)."""
    if a is None:
        return Op("a", obj_id, before, None, None, points_before, 0)
    return Op("a", obj_id, before, annotation_doc(a), position, points_before, len(a.coordinates), bbox(a))


class AnnotationRow(NamedTuple):
    """An annotation's row as a write reads it."""

    version: int
    position: int
    n_points: int
    doc: str


@dataclass
class Prefetched:
    """What a write's lock statement read besides the set (see :func:`locked_read`)."""

    annotation_read: bool = False  # the annotation was asked for: *annotation* None means it is absent
    annotation: AnnotationRow | None = None
    groups: list[Group] | None = None  # None: not read


def check_version(match: VersionMatch | None, current: int, what: str, current_object: Any) -> None:
    """:raises PreconditionFailedError: *match* (None: no precondition) is not met at *current*."""
    if match is not None and not match.matches(current):
        raise PreconditionFailedError(
            f"the {what} is at version {current}; the request asked for {match.describe()}",
            current=current_object,
        )


# Statements of every write, built once; the columns set by the two updates are the keys of the
# parameters they are given.
_INSERT_CHANGE = changes.insert()
_INSERT_ANNOTATIONS = annotations_t.insert().returning(annotations_t.c.id, sort_by_parameter_order=True)
_INSERT_ITEMS = change_items.insert()
_UPDATE_ANNOTATION = annotations_t.update().where(annotations_t.c.id == sa.bindparam("b_id"))
_UPDATE_SET_COUNTS = (
    sets.update()
    .where(sets.c.id == sa.bindparam("b_set"))
    .values(
        annotation_count=sets.c.annotation_count + sa.bindparam("b_n_delta", type_=sa.Integer),
        vertex_count=sets.c.vertex_count + sa.bindparam("b_v_delta", type_=sa.BigInteger),
    )
)
_CURRENT_GROUPS = (
    sa.select(groups.c.id, groups.c.position, groups.c.doc)
    .where(groups.c.set_id == sa.bindparam("b_set"))
    .order_by(groups.c.position, groups.c.id)
)
_CURRENT_ANNOTATIONS = (
    sa.select(annotations_t.c.id, annotations_t.c.position, annotations_t.c.n_points, annotations_t.c.doc)
    .where(annotations_t.c.set_id == sa.bindparam("b_set"))
    .order_by(annotations_t.c.position, annotations_t.c.id)
)
_GROUP_DOCS = (
    sa.select(groups.c.doc)
    .where(groups.c.set_id == sa.bindparam("b_set"))
    .order_by(groups.c.position, groups.c.id)
)
_USER_ID = sa.select(users.c.id).where(users.c.name == sa.bindparam("b_name"))


#: The schema version that added ``annotation_sets.sidecar_warnings`` (a store stopped earlier by
#: ``target_version``, in tests of upgrades, reads without it).
SIDECAR_WARNINGS_SINCE = 4


#: A set's owner and sharing (revision 0007) are read by viewer/store/sharing.py, not here.
_SHARING = ("owner_id", "sharing")


@functools.cache
def set_read_statement(
    lock: bool, annotation: bool, with_groups: bool, recheck: bool, warnings: bool = True
) -> sa.Select[Any]:
    """The statement of :func:`locked_read` (built once: building it cost more than running it)."""
    set_id = sa.bindparam("b_set", type_=sa.Integer)
    skip = _SHARING if warnings else ("sidecar_warnings", *_SHARING)
    columns: list[Any] = [c for c in sets.c if c.name not in skip]
    columns.append(slides.c.key)
    if recheck:
        # PostgreSQL, READ COMMITTED: when the lock was waited for, the set's row is the newest
        # version but every other row comes from the statement's snapshot, taken before the
        # previous writer committed. The set's version in that snapshot tells whether it did.
        in_snapshot = sets.alias("in_snapshot")
        columns.append(
            sa.select(in_snapshot.c.version)
            .where(in_snapshot.c.id == set_id)
            .scalar_subquery()
            .label("snapshot_version")
        )
    joined = sets.join(slides, sets.c.slide_id == slides.c.id)
    if annotation:
        a = annotations_t.c
        columns += [a.id.label("a_id"), a.version.label("a_version"), a.position.label("a_position")]
        columns += [a.n_points.label("a_n_points"), a.doc.label("a_doc")]
        on = (a.id == sa.bindparam("b_annotation", type_=sa.Integer)) & (a.set_id == sets.c.id)
        joined = joined.outerjoin(annotations_t, on)
    if with_groups:
        # Each group as the JSON text [position, id, document], joined with commas: inside
        # brackets, one JSON list (aggregates have no portable order: sorted after reading).
        g = groups.c
        item = sa.literal("[") + sa.cast(g.position, sa.String) + "," + sa.cast(g.id, sa.String)
        docs = sa.func.aggregate_strings(item + "," + g.doc + "]", ",")
        columns.append(sa.select(docs).where(g.set_id == sets.c.id).scalar_subquery().label("g_docs"))
    q = sa.select(*columns).select_from(joined).where(sets.c.id == set_id)
    return q.with_for_update(of=sets) if lock else q


class Writer:
    """Reads sets for writes and appends changes, on one store's engine and schema."""

    def __init__(self, is_sqlite: bool, schema_version: int) -> None:
        self.is_sqlite = is_sqlite
        self.schema_version = schema_version
        self._user_ids: dict[str, int] = {}

    # -- reading the set -------------------------------------------------------------------------

    def info(self, conn: Connection, set_id: int, lock: bool = False) -> SetInfo:
        """The set's metadata (its row locked when *lock*). :raises NotFoundError:"""
        return self.locked_read(conn, set_id, lock)[0]

    def locked_read(
        self,
        conn: Connection,
        set_id: int,
        lock: bool,
        annotation_id: int | None = None,
        with_groups: bool = False,
    ) -> tuple[SetInfo, Prefetched]:
        """The set's info, read with its lock when *lock*; in the same statement, when asked, one
        annotation's row and the set's group documents (one round trip fewer for each while the
        set is locked: writers of one set queue on that lock)."""
        lock = lock and not self.is_sqlite  # SQLite: writers are serialised at BEGIN IMMEDIATE
        recheck = lock and (annotation_id is not None or with_groups)
        warnings = self.schema_version >= SIDECAR_WARNINGS_SINCE
        q = set_read_statement(lock, annotation_id is not None, with_groups, recheck, warnings)
        row = conn.execute(q, {"b_set": set_id, "b_annotation": annotation_id}).first()
        if row is None:
            raise NotFoundError("no such annotation set")
        if recheck and row.snapshot_version != row.version:
            # Read again, now that the lock is held: a new statement sees every committed change.
            return self.locked_read(conn, set_id, False, annotation_id, with_groups)
        info = SetInfo(
            id=row.id,
            slide_key=row.key,
            name=row.name,
            version=row.version,
            annotation_count=row.annotation_count,
            vertex_count=row.vertex_count,
            created_at=row.created_at,
            created_by=row.created_by,
            updated_at=row.updated_at,
            sidecar_path=row.sidecar_path,
            sidecar_error=row.sidecar_error,
            sidecar_warnings=json.loads(row.sidecar_warnings) if warnings and row.sidecar_warnings else [],
            sidecar_signature=(row.sidecar_mtime_ns, row.sidecar_size) if row.sidecar_path else None,
        )
        pre = Prefetched()
        if annotation_id is not None:
            pre.annotation_read = True
            if row.a_id is not None:
                pre.annotation = AnnotationRow(row.a_version, row.a_position, row.a_n_points, row.a_doc)
        if with_groups:
            items = sorted(json.loads(f"[{row.g_docs or ''}]"), key=lambda item: (item[0], item[1]))
            pre.groups = [group_from_dict(d) for _position, _id, d in items]
        return info, pre

    def group_list(self, conn: Connection, set_id: int, pre: Prefetched | None = None) -> list[Group]:
        """The set's groups in order (from *pre* when the lock statement read them)."""
        if pre is not None and pre.groups is not None:
            return pre.groups
        return [group_from_doc(doc) for (doc,) in conn.execute(_GROUP_DOCS, {"b_set": set_id})]

    # -- new sets and users ------------------------------------------------------------------------

    def insert_set(
        self, conn: Connection, slide_id: int, name: str, who: str, owner_id: int | None = None,
        sharing: str = "edit",
    ) -> int:
        """A new empty set (version 0) on a slide, whose row is locked first on PostgreSQL, so the
        sets of one slide are created one at a time (see ``Store.replace_first_set``); *owner_id*
        (``users.id``) and *sharing* are written in the same row (issue 16).

        :raises NotFoundError: no such slide. :raises ConflictError: the name is taken.
        """
        known_slides.lock(conn, slide_id, self.is_sqlite)
        stamp = now()
        # an ownerless "edit" set names neither column: a store held at an older schema revision
        # (WSI_VIEWER's target version, the upgrade tests) has neither, and the defaults are these
        access = {} if owner_id is None and sharing == "edit" else {"owner_id": owner_id, "sharing": sharing}
        try:
            with conn.begin_nested():
                return int(
                    conn.execute(
                        sets.insert().values(
                            slide_id=slide_id,
                            name=name,
                            version=0,
                            annotation_count=0,
                            vertex_count=0,
                            created_at=stamp,
                            created_by=who,
                            updated_at=stamp,
                            **access,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                )
        except sa.exc.IntegrityError:
            raise ConflictError(f"this slide already has a set named {name!r}") from None

    def user_id(self, conn: Connection, who: str) -> int | None:
        """The users row of *who*, added on first use (None before the schema had users)."""
        if self.schema_version < 2:
            return None
        found = self._user_ids.get(who)
        if found is not None:
            return found
        uid = conn.execute(_USER_ID, {"b_name": who}).scalar()
        if uid is not None:
            self._user_ids[who] = int(uid)  # committed by someone: safe to remember
            return int(uid)
        try:
            with conn.begin_nested():
                return int(
                    conn.execute(users.insert().values(name=who, created_at=now())).inserted_primary_key[0]  # type: ignore[index]
                )
        except sa.exc.IntegrityError:  # a concurrent writer added the same name first
            return int(conn.execute(_USER_ID, {"b_name": who}).scalar_one())

    # -- changes -----------------------------------------------------------------------------------

    def replace_ops(
        self,
        conn: Connection,
        set_id: int,
        aset: AnnotationSet,
        who: str,
        kind: str,
        message: str,
        info: SetInfo | None,
        allow_empty: bool = False,
    ) -> ChangeInfo | None:
        """Make the set's content *aset* as one change.

        Annotations are matched to the current ones by list position and groups by name and
        occurrence (the k-th group named N is the k-th current group named N: groups sharing a name
        are kept in order, see :mod:`viewer.annotations.model`), so an object that did not change
        keeps its id and version (a re-save from ASAP that edits one polygon is a change of that
        polygon only).
        """
        info = info or self.info(conn, set_id, lock=True)
        ops: list[Op] = []
        current_g = list(conn.execute(_CURRENT_GROUPS, {"b_set": set_id}))
        names_now = _occurrences(json.loads(r.doc)["name"] for r in current_g)
        by_occurrence = dict(zip(names_now, current_g, strict=True))
        kept: set[int] = set()
        wanted = _occurrences(g.name for g in aset.groups)
        for position, (key, g) in enumerate(zip(wanted, aset.groups, strict=True)):
            doc = group_doc(g)
            old = by_occurrence.get(key)
            if old is None:
                ops.append(Op("g", None, None, doc, position))
                continue
            kept.add(old.id)
            if old.doc != doc or old.position != position:
                ops.append(Op("g", old.id, old.doc, doc, position))
        ops += [Op("g", r.id, r.doc, None, None) for r in current_g if r.id not in kept]

        current_a = list(conn.execute(_CURRENT_ANNOTATIONS, {"b_set": set_id}))
        top = max((r.position for r in current_a), default=-1)
        for index, a in enumerate(aset.annotations):
            if index < len(current_a):
                prev = current_a[index]
                doc = annotation_doc(a)
                if doc != prev.doc:
                    ops.append(annotation_op(prev.id, prev.doc, a, prev.position, prev.n_points))
            else:
                top += 1
                ops.append(annotation_op(None, None, a, top))
        ops += [Op("a", r.id, r.doc, None, None, r.n_points) for r in current_a[len(aset.annotations) :]]
        return self.commit(conn, info, ops, who, kind, message, allow_empty=allow_empty)

    def commit(
        self,
        conn: Connection,
        info: SetInfo,
        ops: Sequence[Op],
        who: str,
        kind: str,
        message: str,
        allow_empty: bool = False,
    ) -> ChangeInfo | None:
        """Append one change with *ops* and apply them to the live tables; None when nothing changed.
        *info* is brought to the new version (no re-read inside the lock)."""
        if not ops and not allow_empty:
            return None
        version = info.version + 1
        stamp = now()
        created = sum(1 for o in ops if o.before is None)
        deleted = sum(1 for o in ops if o.after is None)
        updated = len(ops) - created - deleted
        values: dict[str, Any] = dict(
            set_id=info.id,
            version=version,
            at=stamp,
            who=who,
            kind=kind,
            message=message,
            n_created=created,
            n_updated=updated,
            n_deleted=deleted,
        )
        uid = self.user_id(conn, who)
        if uid is not None:
            values["user_id"] = uid
        change_id = conn.execute(_INSERT_CHANGE, values).inserted_primary_key[0]  # type: ignore[index]

        new_a = [o for o in ops if o.kind == "a" and o.before is None and o.obj_id is None]
        if new_a:
            rows = [{"set_id": info.id, **_annotation_values(o, version)} for o in new_a]
            ids = conn.execute(_INSERT_ANNOTATIONS, rows).scalars().all()
            for o, i in zip(new_a, ids, strict=True):
                o.obj_id = i
        inserted = {id(o) for o in new_a}
        for o in ops:
            if id(o) in inserted:
                continue
            if o.kind == "a":
                _apply_annotation(conn, info.id, o, version)
            else:
                _apply_group(conn, info.id, o, version)
        if ops:
            conn.execute(
                _INSERT_ITEMS,
                [
                    dict(
                        change_id=change_id,
                        obj_kind=o.kind,
                        obj_id=o.obj_id,
                        position=o.position,
                        before=o.before,
                        after=o.after,
                    )
                    for o in ops
                ],
            )
        n_delta = sum(1 for o in ops if o.kind == "a" and o.before is None) - sum(
            1 for o in ops if o.kind == "a" and o.after is None
        )
        v_delta = sum(o.points_after - o.points_before for o in ops if o.kind == "a")
        conn.execute(
            _UPDATE_SET_COUNTS,
            dict(b_set=info.id, version=version, updated_at=stamp, b_n_delta=n_delta, b_v_delta=v_delta),
        )
        info.version, info.updated_at = version, stamp
        info.annotation_count += n_delta
        info.vertex_count += v_delta
        return ChangeInfo(version, stamp, who, kind, message, created, updated, deleted)


def _occurrences(names: Iterable[str]) -> list[tuple[str, int]]:
    """(name, k) of each name in turn: its k-th occurrence (from 0)."""
    seen: Counter[str] = Counter()
    keys = []
    for name in names:
        keys.append((name, seen[name]))
        seen[name] += 1
    return keys


def _annotation_values(o: Op, version: int) -> dict[str, Any]:
    """The columns of an annotation's row after *o* (a create or an update) at *version*."""
    return {
        "position": o.position,
        "version": version,
        "n_points": o.points_after,
        "min_x": o.bbox[0],
        "min_y": o.bbox[1],
        "max_x": o.bbox[2],
        "max_y": o.bbox[3],
        "doc": o.after,
    }


def _apply_annotation(conn: Connection, set_id: int, o: Op, version: int) -> None:
    if o.after is None:
        conn.execute(annotations_t.delete().where(annotations_t.c.id == o.obj_id))
        return
    values = _annotation_values(o, version)
    if o.before is None:
        exists = conn.execute(sa.select(annotations_t.c.id).where(annotations_t.c.id == o.obj_id)).first()
        if exists is None:  # a restore re-creating a deleted annotation under its old id
            conn.execute(annotations_t.insert().values(id=o.obj_id, set_id=set_id, **values))
        return
    conn.execute(_UPDATE_ANNOTATION, {"b_id": o.obj_id, **values})


def _apply_group(conn: Connection, set_id: int, o: Op, version: int) -> None:
    if o.after is None:
        conn.execute(groups.delete().where(groups.c.id == o.obj_id))
    elif o.before is None and o.obj_id is None:
        o.obj_id = conn.execute(
            groups.insert().values(set_id=set_id, position=o.position, version=version, doc=o.after)
        ).inserted_primary_key[0]  # type: ignore[index]
    elif o.before is None:
        conn.execute(
            groups.insert().values(
                id=o.obj_id, set_id=set_id, position=o.position, version=version, doc=o.after
            )
        )
    else:
        conn.execute(
            groups.update()
            .where(groups.c.id == o.obj_id)
            .values(position=o.position, version=version, doc=o.after)
        )
