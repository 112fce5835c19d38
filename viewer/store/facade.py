"""The store's one façade: :class:`Store`, what the web layer, the services and the CLI call.

Each method is one transaction (or a read and then one), run as
:class:`~viewer.store.transactions.StoreTransactions` runs them (the set's lock, a changed sidecar
imported first, the precondition, the write-back, idempotent answers): it checks its arguments,
hands the work to the module that owns it (:mod:`~viewer.store.writes`, :mod:`~viewer.store.edits`,
:mod:`~viewer.store.history`, :mod:`~viewer.store.sidecar_sync`, :mod:`~viewer.store.viewport`) and
returns records (:mod:`~viewer.store.records`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import ConflictError, PreconditionFailedError
from viewer.preconditions import Precondition, as_match
from viewer.store import edits, history, known_slides
from viewer.store.documents import annotation_from_doc, group_from_doc
from viewer.store.names import ANONYMOUS, check_set_name, clean_who
from viewer.store.records import (
    AnnotationRecord,
    ChangeInfo,
    ChangeItem,
    Diff,
    GroupRecord,
    SetInfo,
    SetState,
    WriteResult,
)
from viewer.store.schema import annotations_t, groups, sets
from viewer.store.sharing import SetSharing, Sharing, check_sharing
from viewer.store.sidecar_files import unlink_quietly
from viewer.store.transactions import StoreTransactions
from viewer.store.writes import Prefetched, check_version

_GROUPS_NOW = (
    sa.select(groups.c.id, groups.c.version, groups.c.doc)
    .where(groups.c.set_id == sa.bindparam("b_set"))
    .order_by(groups.c.position, groups.c.id)
)
_ANNOTATIONS_NOW = (
    sa.select(annotations_t.c.id, annotations_t.c.version, annotations_t.c.doc)
    .where(annotations_t.c.set_id == sa.bindparam("b_set"))
    .order_by(annotations_t.c.position, annotations_t.c.id)
)
_DOCS = sa.select(annotations_t.c.id, annotations_t.c.version, annotations_t.c.doc).where(
    annotations_t.c.set_id == sa.bindparam("b_set"),
    annotations_t.c.id.in_(sa.bindparam("b_ids", expanding=True)),
)
_FIRST_SET = sa.select(sa.func.min(sets.c.id)).where(sets.c.slide_id == sa.bindparam("b_slide"))


class Store(SetSharing, StoreTransactions):
    """Annotation sets of slides with full history, on SQLite or PostgreSQL.

    Opened with :class:`~viewer.store.transactions.StoreTransactions`' arguments (the database URL,
    the sidecars' directories and switches, the limits); thread-safe and fork-safe when created
    after the fork (gunicorn workers build their own).
    """

    # -- slides ----------------------------------------------------------------------------------

    def open_slide(
        self,
        key: str,
        path: Path | None = None,
        quickhash: str | None = None,
        known_keys: Iterable[str] | None = None,
    ) -> int:
        """The store's id of slide *key*, creating it on first use (and importing its ASAP sidecar).

        A slide seen before under another key with the same *quickhash*, whose old key is no longer
        in *known_keys* (it was renamed or moved), takes its annotations along.
        """
        with self._db.read() as conn:
            row = known_slides.by_key(conn, key)
        if row is not None:
            if quickhash and row.quickhash != quickhash:
                with self._db.write() as conn:
                    known_slides.set_quickhash(conn, row.id, quickhash)
            return int(row.id)
        found = self._sidecars.read_for_import(key, path)
        found_ndpa = self._sidecars.read_for_import(key, path, ndpa=True)  # NDP.view's, a set of its own
        errors = "; ".join(e for e in (found[2], found_ndpa[2]) if e) or None
        for attempt in range(3):
            try:
                with self._db.write() as conn:
                    slide_id, created = known_slides.find_or_insert(
                        conn, key, quickhash, known_keys, errors
                    )
                    if created:
                        self._sidecars.import_first(conn, slide_id, found)
                        self._sidecars.import_first(conn, slide_id, found_ndpa)
                    return slide_id
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
                time.sleep(0.05)  # another worker created it first: read theirs
        raise AssertionError("unreachable")

    def slide_error(self, slide_id: int) -> str | None:
        """Why the slide's sidecar was not imported at first use, if it was not."""
        with self._db.read() as conn:
            return known_slides.sidecar_error(conn, slide_id)

    def annotation_counts(self, keys: Iterable[str]) -> dict[str, int]:
        """Annotations over every set of each slide in *keys* (slides never used are absent)."""
        with self._db.read() as conn:
            return known_slides.annotation_counts(conn, keys)

    def set_counts(self, keys: Iterable[str]) -> dict[str, int]:
        """Annotation sets of each slide in *keys* (slides never used are absent)."""
        with self._db.read() as conn:
            return known_slides.set_counts(conn, keys)

    # -- sets --------------------------------------------------------------------------------------

    def list_sets(self, slide_id: int) -> list[SetInfo]:
        """Every set of a slide, oldest first."""
        with self._db.read() as conn:
            ids = conn.execute(
                sa.select(sets.c.id).where(sets.c.slide_id == slide_id).order_by(sets.c.id)
            ).scalars()
            return [self._writer.info(conn, i) for i in list(ids)]

    def create_set(
        self,
        slide_id: int,
        name: str,
        who: str = ANONYMOUS,
        content: AnnotationSet | None = None,
        message: str = "",
        owner: int | None = None,
        sharing: Sharing = "edit",
    ) -> WriteResult:
        """A new set on a slide, empty or with *content* as its first change, owned by *owner*
        (``users.id``; None: nobody, as under AUTH=none or a sidecar import) and shared *sharing*,
        all in one transaction: no set is ever seen without the owner it was made with.

        :raises ConflictError: the slide already has a set of that name.
        :raises ValidationError: a bad *sharing*.
        """
        name = check_set_name(name)
        who = clean_who(who)
        check_sharing(sharing)
        if content is not None:
            self._check_content(content)
        with self._db.write() as conn:
            return self._create_set_in(conn, slide_id, name, who, content, message or f"created set {name!r}",
                                       owner, sharing)

    def _create_set_in(
        self,
        conn: Connection,
        slide_id: int,
        name: str,
        who: str,
        content: AnnotationSet | None,
        message: str,
        owner: int | None = None,
        sharing: Sharing = "edit",
    ) -> WriteResult:
        set_id = self._writer.insert_set(conn, slide_id, name, who, owner, sharing)
        change = self._writer.replace_ops(
            conn, set_id, content or AnnotationSet(), who, "create", message, None, allow_empty=True
        )
        return WriteResult(self._writer.info(conn, set_id), change)

    def first_set(self, slide_id: int) -> SetInfo | None:
        """The slide's first set (the one ``urls.annotations_xml`` reads and writes), or None."""
        with self._db.read() as conn:
            set_id = conn.execute(_FIRST_SET, {"b_slide": slide_id}).scalar()
        return None if set_id is None else self.set_info(int(set_id))

    def first_set_state(self, slide_id: int, version: int | None = None) -> SetState | None:
        """The content of the slide's first set (now, or at *version*), or None when it has none
        (a client then sees an empty set at version 0)."""
        with self._db.read() as conn:
            set_id = conn.execute(_FIRST_SET, {"b_slide": slide_id}).scalar()
        return None if set_id is None else self.state(int(set_id), version)

    def replace_first_set(
        self,
        slide_id: int,
        aset: AnnotationSet,
        who: str = ANONYMOUS,
        if_version: Precondition = None,
        name: str = "default",
        message: str = "",
        owner: int | None = None,
        sharing: Sharing = "edit",
    ) -> WriteResult:
        """Make the slide's first set *aset*, creating it when the slide has none (owned by *owner*,
        shared *sharing*, as :meth:`create_set`; both unused when the set exists).

        A slide without sets is seen as an empty set at version 0: a precondition of version 0 (or
        ``*``) creates the set named *name* with *aset* as its first change (version 1). Sets of a
        slide are created one at a time (the slide's row is locked on PostgreSQL, the writers' lock
        on SQLite), so of two first saves racing exactly one creates the set and the other is
        checked against it.

        :raises PreconditionFailedError: *if_version* does not match; ``current`` is the set's version.
        """
        name = check_set_name(name)
        check_sharing(sharing)
        self._check_content(aset)
        who, match = clean_who(who), as_match(if_version)
        with self._db.write() as conn:
            known_slides.lock(conn, slide_id, self.is_sqlite)  # a first save that waited sees the set made
            set_id = conn.execute(_FIRST_SET, {"b_slide": slide_id}).scalar()
            if set_id is None:
                if match is not None and not match.matches(0):
                    raise PreconditionFailedError(
                        f"the slide has no set yet (version 0); the request asked for {match.describe()}",
                        current=0,
                    )
                return self._create_set_in(
                    conn, slide_id, name, who, aset, message or f"created set {name!r}", owner, sharing
                )

            def body(c: Connection, info: SetInfo, _pre: Prefetched) -> ChangeInfo | None:
                return self._writer.replace_ops(
                    c, info.id, aset, who, "replace", message or "replaced the set", info
                )

            result, pending = self._write_change_in(conn, int(set_id), match, body)
        if pending is not None:
            unlink_quietly(pending)
        return result

    def set_info(self, set_id: int) -> SetInfo:
        """A set's metadata (after importing its sidecar if that changed on disk)."""
        with self._read_set(set_id) as (_conn, info):
            return info

    def rename_set(
        self, set_id: int, name: str, who: str = ANONYMOUS, if_version: Precondition = None
    ) -> SetInfo:
        """Give a set another name (kept in the history as a change without objects).

        :raises PreconditionFailedError: *if_version* does not match; ``current`` is the set's version.
        :raises ConflictError: the slide has another set of that name.
        """
        name = check_set_name(name)
        match = as_match(if_version)
        with self._db.write() as conn:
            info = self._writer.info(conn, set_id, lock=True)
            check_version(match, info.version, "set", info.version)
            try:
                with conn.begin_nested():
                    conn.execute(sets.update().where(sets.c.id == set_id).values(name=name))
            except sa.exc.IntegrityError:
                raise ConflictError(f"this slide already has a set named {name!r}") from None
            message = f"renamed {info.name!r} to {name!r}"
            self._writer.commit(conn, info, [], clean_who(who), "rename", message, allow_empty=True)
            return self._writer.info(conn, set_id)

    # -- reading -----------------------------------------------------------------------------------

    def state(self, set_id: int, version: int | None = None) -> SetState:
        """The set's content now, or at *version* (replayed from the history).

        :raises NotFoundError: no such set, or a version it never had.
        """
        with self._read_set(set_id) as (conn, info):
            if version is None or version == info.version:
                g_rows = conn.execute(_GROUPS_NOW, {"b_set": set_id})
                a_rows = conn.execute(_ANNOTATIONS_NOW, {"b_set": set_id})
                return SetState(
                    info,
                    info.version,
                    [GroupRecord(r.id, r.version, group_from_doc(r.doc)) for r in g_rows],
                    [AnnotationRecord(r.id, r.version, annotation_from_doc(r.doc)) for r in a_rows],
                )
            history.check_version_exists(info, version)
            objects = history.replay(conn, set_id, version)
        return history.state_from_replay(info, version, objects)

    def query(
        self, set_id: int, bbox: tuple[float, float, float, float]
    ) -> tuple[SetInfo, list[GroupRecord], Sequence[Sequence[int]]]:
        """The set, its groups and (id, version) of the annotations whose bounding box meets *bbox*
        (slide space: x0, y0, x1, y1), in set order, from one snapshot.

        An index-only range scan of the bounding-box index (or an in-memory index of this version),
        whatever the set's size; callers fetch the documents they do not have cached with :meth:`docs`.
        """
        with self._read_set(set_id) as (conn, info):
            g_rows = conn.execute(_GROUPS_NOW, {"b_set": set_id})
            found = [GroupRecord(r.id, r.version, group_from_doc(r.doc)) for r in g_rows]
            return info, found, self._viewport.query(conn, info, bbox)

    def docs(self, set_id: int, ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        """id -> (version, JSON doc) of those of *ids* that are still in the set."""
        out: dict[int, tuple[int, str]] = {}
        with self._db.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for r in conn.execute(_DOCS, {"b_set": set_id, "b_ids": chunk}):
                    out[r.id] = (r.version, r.doc)
        return out

    def annotation(self, set_id: int, annotation_id: int) -> AnnotationRecord:
        """One current annotation. :raises NotFoundError:"""
        with self._db.read() as conn:
            return edits.read_annotation(conn, set_id, annotation_id)

    def group(self, set_id: int, group_id: int) -> GroupRecord:
        """One current group. :raises NotFoundError:"""
        with self._db.read() as conn:
            return edits.read_group(conn, set_id, group_id)

    # -- history -----------------------------------------------------------------------------------

    def history(self, set_id: int, limit: int = 100, before: int | None = None) -> list[ChangeInfo]:
        """The set's changes, newest first (*before*: only versions below it)."""
        with self._db.read() as conn:
            self._writer.info(conn, set_id)
            return history.changes_of(conn, set_id, limit, before)

    def change(self, set_id: int, version: int) -> tuple[ChangeInfo, list[ChangeItem]]:
        """One change with what it did to each object (before/after)."""
        with self._db.read() as conn:
            self._writer.info(conn, set_id)
            return history.change_of(conn, set_id, version)

    def diff(self, set_id: int, from_version: int, to_version: int | None = None) -> Diff:
        """What differs between two versions (to_version None: the current one)."""
        with self._db.read() as conn:
            info = self._writer.info(conn, set_id)
            to_v = info.version if to_version is None else to_version
            for v in (from_version, to_v):
                history.check_version_exists(info, v)
            old = history.replay(conn, set_id, from_version)
            new = history.replay(conn, set_id, to_v)
        return history.diff(old, new, from_version, to_v)

    # -- writing -----------------------------------------------------------------------------------

    def replace(
        self,
        set_id: int,
        aset: AnnotationSet,
        who: str = ANONYMOUS,
        if_version: Precondition = None,
        message: str = "",
    ) -> WriteResult:
        """Make the set's content *aset* as one change (see :meth:`Writer.replace_ops`: unchanged
        objects keep their ids and versions).

        :raises PreconditionFailedError: *if_version* does not match the set's version.
        """
        self._check_content(aset)
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, _pre: Prefetched) -> ChangeInfo | None:
            return self._writer.replace_ops(
                conn, set_id, aset, who, "replace", message or "replaced the set", info
            )

        return self._write_change(set_id, if_version, body)

    def create_annotation(self, set_id: int, a: Annotation, who: str = ANONYMOUS) -> WriteResult:
        """Append one annotation to the set (a change of its own)."""
        who = clean_who(who)
        created: list[int] = []

        def body(conn: Connection, info: SetInfo, pre: Prefetched) -> ChangeInfo | None:
            change, new_id = edits.create_annotation(self._writer, conn, info, pre, a, who, self.max_vertices)
            created.append(new_id)
            return change

        def complete(_conn: Connection, result: WriteResult) -> None:
            result.annotation = AnnotationRecord(created[0], result.info.version, a)

        return self._write_change(set_id, None, body, with_groups=edits.needs_groups(a), complete=complete)

    def update_annotation(
        self,
        set_id: int,
        annotation_id: int,
        a: Annotation,
        who: str = ANONYMOUS,
        if_version: Precondition = None,
    ) -> WriteResult:
        """Replace one annotation; *if_version* is the annotation's version the client edited.

        :raises PreconditionFailedError: with the current annotation, when *if_version* does not match.
        """
        who, match = clean_who(who), as_match(if_version)
        versions: list[int] = []

        def body(conn: Connection, info: SetInfo, pre: Prefetched) -> ChangeInfo | None:
            change, version = edits.update_annotation(
                self._writer, conn, info, pre, annotation_id, a, who, match, self.max_vertices
            )
            versions.append(version)
            return change

        def complete(_conn: Connection, result: WriteResult) -> None:
            result.annotation = AnnotationRecord(annotation_id, versions[0], edits.stored_annotation(a))

        return self._write_change(set_id, None, body, annotation_id, edits.needs_groups(a), complete)

    def delete_annotation(
        self, set_id: int, annotation_id: int, who: str = ANONYMOUS, if_version: Precondition = None
    ) -> WriteResult:
        """Delete one annotation (kept in the history).

        :raises PreconditionFailedError: with the current annotation, when *if_version* does not match.
        """
        who, match = clean_who(who), as_match(if_version)

        def body(conn: Connection, info: SetInfo, pre: Prefetched) -> ChangeInfo | None:
            return edits.delete_annotation(self._writer, conn, info, pre, annotation_id, who, match)

        return self._write_change(set_id, None, body, annotation_id)

    def create_group(self, set_id: int, g: Group, who: str = ANONYMOUS) -> WriteResult:
        """Add one group at the end of the set's group list.

        :raises ConflictError: the set has a group of that name (the new one, the last of the name,
            would take over its annotations and child groups).
        """
        who = clean_who(who)
        made: list[int] = []

        def body(conn: Connection, info: SetInfo, _pre: Prefetched) -> ChangeInfo | None:
            change, new_id = edits.create_group(self._writer, conn, info, g, who)
            made.append(new_id)
            return change

        def complete(_conn: Connection, result: WriteResult) -> None:
            result.group = GroupRecord(made[0], result.info.version, g)

        return self._write_change(set_id, None, body, complete=complete)

    def update_group(
        self, set_id: int, group_id: int, g: Group, who: str = ANONYMOUS, if_version: Precondition = None
    ) -> WriteResult:
        """Replace one group. A new name is carried to its annotations and child groups, in the
        same change (ASAP links them by name), when they are this group's: of groups sharing a
        name, the last one's (:mod:`viewer.store.edits`).

        :raises PreconditionFailedError: with the current group, when *if_version* does not match.
        :raises ConflictError: the new name is another group's.
        :raises ValidationError: a parent the other groups of a shared name do not have.
        """
        who, match = clean_who(who), as_match(if_version)

        def body(conn: Connection, info: SetInfo, _pre: Prefetched) -> ChangeInfo | None:
            return edits.update_group(self._writer, conn, info, group_id, g, who, match)

        def complete(conn: Connection, result: WriteResult) -> None:
            result.group = edits.read_group(conn, set_id, group_id)

        return self._write_change(set_id, None, body, complete=complete)

    def delete_group(
        self, set_id: int, group_id: int, who: str = ANONYMOUS, if_version: Precondition = None
    ) -> WriteResult:
        """Delete an empty group (an earlier group of a shared name always is).

        :raises ConflictError: it still has annotations or child groups."""
        who, match = clean_who(who), as_match(if_version)

        def body(conn: Connection, info: SetInfo, _pre: Prefetched) -> ChangeInfo | None:
            return edits.delete_group(self._writer, conn, info, group_id, who, match)

        return self._write_change(set_id, None, body)

    def restore(
        self, set_id: int, version: int, who: str = ANONYMOUS, if_version: Precondition = None
    ) -> WriteResult:
        """Make the set's content what it was at *version*, as a new change (ids are kept, so deleted
        objects come back under their old ids)."""
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, _pre: Prefetched) -> ChangeInfo | None:
            history.check_version_exists(info, version)
            ops = history.restore_ops(
                history.replay(conn, set_id, info.version), history.replay(conn, set_id, version)
            )
            return self._writer.commit(
                conn, info, ops, who, "restore", f"restored version {version}", allow_empty=True
            )

        return self._write_change(set_id, if_version, body)

    # -- sidecars ----------------------------------------------------------------------------------

    def sync_sidecar(self, set_id: int) -> None:
        """Import the set's sidecar XML as a new change if it changed on disk since we last saw it."""
        self._sidecars.sync(set_id)

    def sweep_sidecar_leftovers(self) -> list[Path]:
        """Remove what writers killed mid-write left beside the sidecars of every set (see
        :meth:`SidecarSync.sweep`). Runs at start-up. :returns: the files removed."""
        return self._sidecars.sweep(self._sidecars.bound_sets())
