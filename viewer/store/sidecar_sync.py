"""Keeping a set and its ASAP sidecar in step: the first import when a slide is first used, a new
change whenever the file changed on disk since we last read or wrote it, the write-back of every
change (when on), and the start-up sweep of what killed writers left beside the files.

With write-back on, every change rewrites the file atomically *before* the database commit, with a
record of the change (author, version, digest) beside the file until the commit, so a crash leaves
either the old file (and no change) or the new file, which the next access re-imports as that
author's change if the commit was lost. A file changed on disk and not importable is never
overwritten.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from viewer.annotations.model import AnnotationSet
from viewer.errors import ViewerError
from viewer.store.documents import annotation_from_doc, group_from_doc
from viewer.store.engine import Database
from viewer.store.names import SIDECAR_USER, name_from_file
from viewer.store.records import ChangeInfo, SetInfo
from viewer.store.schema import annotations_t, groups, sets
from viewer.store.sidecar_files import (
    PAUSE_AFTER_SIDECAR_RENAME,
    SidecarFiles,
    Signature,
    pause_for_test,
    pending_path,
    reason,
    signature,
    unlink_quietly,
    write_sidecar,
)
from viewer.store.writes import SIDECAR_WARNINGS_SINCE, Writer

log = logging.getLogger(__name__)

#: What :meth:`SidecarSync.read_for_import` found for a new slide: the file as found, either its
#: parsed content (set, bytes, signature) or why it cannot be imported, and what its reader tolerated.
FirstImport = tuple[Path | None, tuple[AnnotationSet, bytes, Signature] | None, str | None, list[str]]

_SIDECAR_STATE = sa.select(
    sets.c.sidecar_path,
    sets.c.sidecar_mtime_ns,
    sets.c.sidecar_size,
    sets.c.sidecar_sha256,
    sets.c.sidecar_error,
).where(sets.c.id == sa.bindparam("b_set"))


class SidecarSync:
    """The sidecar side of one store's writes (see the module docstring)."""

    def __init__(
        self, db: Database, writer: Writer, files: SidecarFiles, importing: bool, writeback: bool
    ) -> None:
        self.db = db
        self.writer = writer
        self.files = files
        self.importing = importing
        self.writeback = writeback

    # -- first use of a slide ----------------------------------------------------------------------

    def read_for_import(self, slide_key: str, slide_path: Path | None, *, ndpa: bool = False) -> FirstImport:
        """The sidecar of a slide used for the first time, read and checked (outside any transaction):
        its ASAP XML, or (*ndpa*) its ``<slide>.ndpi.ndpa``, each imported as a set of its own."""
        find = self.files.find_ndpa if ndpa else self.files.find
        sidecar = find(slide_key, slide_path) if self.importing else None
        if sidecar is None:
            return None, None, None, []
        real = self.files.real_path(sidecar)  # None: changed since find() looked
        warnings: list[str] = []
        try:
            if real is None:
                raise FileNotFoundError(errno.ENOENT, "no longer a file inside the slide directory")
            parsed = self.files.read(real, warnings)
            parsed[0].validate()
        except (ViewerError, OSError) as exc:
            error = f"{self.files.display(sidecar)}: {reason(exc)}"
            log.warning("sidecar %s not imported: %s", sidecar, error)
            return sidecar, None, error, []
        return sidecar, parsed, None, warnings

    def import_first(self, conn: Connection, slide_id: int, found: FirstImport) -> None:
        """Make what :meth:`read_for_import` parsed the first set of the new slide, bound to its file."""
        sidecar, parsed, _error, warnings = found
        if sidecar is None or parsed is None:
            return
        aset, data, sig = parsed
        set_id = self.writer.insert_set(conn, slide_id, name_from_file(sidecar.name), SIDECAR_USER)
        conn.execute(
            sets.update()
            .where(sets.c.id == set_id)
            .values(
                sidecar_path=str(sidecar),
                sidecar_mtime_ns=sig[0],
                sidecar_size=sig[1],
                sidecar_sha256=hashlib.sha256(data).hexdigest(),
                **self._warnings_column(warnings),
            )
        )
        self.writer.replace_ops(conn, set_id, aset, SIDECAR_USER, "import", f"imported {sidecar.name}", None)

    # -- edits on disk -----------------------------------------------------------------------------

    def sync(self, set_id: int) -> None:
        """Import the set's sidecar XML as a new change if it changed on disk since we last saw it."""
        with self.db.read() as conn:
            row = conn.execute(_SIDECAR_STATE, {"b_set": set_id}).first()
        if row is None or row.sidecar_path is None:
            return
        sig = signature(Path(row.sidecar_path))
        if sig is None or sig == (row.sidecar_mtime_ns, row.sidecar_size):
            return
        with self.db.write() as conn:
            # The file is the source of this change: nothing to write back.
            self.sync_locked(conn, self.writer.info(conn, set_id, lock=True))

    def sync_locked(self, conn: Connection, info: SetInfo) -> ChangeInfo | None:
        """:meth:`sync` inside a write transaction holding the set's lock; the change, if any."""
        row = conn.execute(_SIDECAR_STATE, {"b_set": info.id}).first()
        if row is None or row.sidecar_path is None:
            return None
        path = Path(row.sidecar_path)
        sig = signature(path)
        if sig is None or sig == (row.sidecar_mtime_ns, row.sidecar_size):
            return None  # a deleted sidecar leaves the store as it is
        shown = self.files.display(path)
        real = self.files.real_path(path)
        try:
            if real is None:
                raise FileNotFoundError(errno.ENOENT, "no longer a file inside the slide directory")
            warnings: list[str] = []
            aset, data, sig = self.files.read(real, warnings)
            aset.validate()
        except (ViewerError, OSError) as exc:
            error = f"{shown} changed on disk but cannot be imported: {reason(exc)}"
            if row.sidecar_error != error:
                conn.execute(sets.update().where(sets.c.id == info.id).values(sidecar_error=error))
            return None
        digest = hashlib.sha256(data).hexdigest()
        conn.execute(
            sets.update()
            .where(sets.c.id == info.id)
            .values(
                sidecar_mtime_ns=sig[0],
                sidecar_size=sig[1],
                sidecar_sha256=digest,
                sidecar_error=None,
                **self._warnings_column(warnings),
            )
        )
        if digest == row.sidecar_sha256:
            return None  # touched, not changed
        who, kind, message = SIDECAR_USER, "sidecar-import", f"imported {shown} (changed on disk)"
        pending = self._pending_change(real, info, digest)
        if pending is not None:
            # Our own write-back, whose process died between the rename and the commit: the change
            # is its author's, as it would have been committed.
            who, kind = pending["who"], pending["kind"]
            message = f"{pending['message']} (recovered from {shown} after an interrupted save)"
        return self.writer.replace_ops(conn, info.id, aset, who, kind, message, info)

    def _warnings_column(self, warnings: list[str]) -> dict[str, str | None]:
        """The ``sidecar_warnings`` value of *warnings* (nothing before the schema had the column)."""
        if self.writer.schema_version < SIDECAR_WARNINGS_SINCE:
            return {}
        return {"sidecar_warnings": json.dumps(warnings) if warnings else None}

    @staticmethod
    def _pending_change(real: Path, info: SetInfo, digest: str) -> dict[str, Any] | None:
        """The record a write-back left beside *real* before its rename, if it describes exactly
        this content as the set's next version (so neither a stale record nor an edit on disk
        since is ever attributed to it)."""
        try:
            record = json.loads(pending_path(real).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        fields = (record.get("set"), record.get("version"), record.get("sha256"))
        if fields != (info.id, info.version + 1, digest):
            return None
        if not all(isinstance(record.get(k), str) for k in ("who", "kind", "message")):
            return None
        return record

    # -- write-back --------------------------------------------------------------------------------

    def write_back(self, conn: Connection, set_id: int, change: ChangeInfo) -> tuple[str | None, Path | None]:
        """Write the set's state to its sidecar (inside the transaction, before commit).

        Before the rename a record of the change (author, kind, set version, digest of the new
        file) goes beside the file, so that if this process dies before the commit, the re-import
        of the file at the next access is the author's change, not an anonymous edit on disk.

        :returns: the error text when writing failed (the change is kept in the store regardless),
            and the record to remove once the transaction has committed.
        """
        if not self.writeback:
            return None, None
        row = conn.execute(_SIDECAR_STATE, {"b_set": set_id}).first()
        if row is None or row.sidecar_path is None:
            return None, None
        path = Path(row.sidecar_path)
        shown = self.files.display(path)
        sig = signature(path)
        if sig is not None and sig != (row.sidecar_mtime_ns, row.sidecar_size):
            # Changed on disk and not importable (else the sync before this change imported it):
            # never overwrite a file we did not write.
            return row.sidecar_error or f"{shown} changed on disk; not overwritten", None
        real = self.files.real_path(path)
        if real is None:
            error = f"could not write {shown}: no longer a file inside the slide directory"
            conn.execute(sets.update().where(sets.c.id == set_id).values(sidecar_error=error))
            return error, None
        g_rows = conn.execute(
            sa.select(groups.c.doc).where(groups.c.set_id == set_id).order_by(groups.c.position, groups.c.id)
        )
        a_rows = conn.execute(
            sa.select(annotations_t.c.doc)
            .where(annotations_t.c.set_id == set_id)
            .order_by(annotations_t.c.position, annotations_t.c.id)
        )
        aset = AnnotationSet(
            groups=[group_from_doc(r.doc) for r in g_rows],
            annotations=[annotation_from_doc(r.doc) for r in a_rows],
        )
        try:
            data = self.files.serialise(path, aset)  # NDPA for an .ndpa sidecar, else ASAP XML
        except ViewerError as exc:
            error = f"could not write {shown}: {reason(exc)}"
            conn.execute(sets.update().where(sets.c.id == set_id).values(sidecar_error=error))
            return error, None
        digest = hashlib.sha256(data).hexdigest()
        pending = pending_path(real)
        record = {
            "set": set_id,
            "version": change.version,
            "sha256": digest,
            "who": change.who,
            "kind": change.kind,
            "message": change.message,
            "at": change.at,
        }
        try:
            from viewer.atomicfile import write_atomic

            # The sidecar's own rename just below fsyncs the folder, making this name durable too.
            write_atomic(pending, json.dumps(record).encode(), sync_directory=False)
            new_sig = write_sidecar(real, data)
        except OSError as exc:
            unlink_quietly(pending)
            error = f"could not write {shown}: {reason(exc)}"
            log.error("sidecar write-back failed: %s", error)
            conn.execute(sets.update().where(sets.c.id == set_id).values(sidecar_error=error))
            return error, None
        if PAUSE_AFTER_SIDECAR_RENAME is not None:
            pause_for_test(PAUSE_AFTER_SIDECAR_RENAME)
        conn.execute(
            sets.update()
            .where(sets.c.id == set_id)
            .values(
                sidecar_mtime_ns=new_sig[0],
                sidecar_size=new_sig[1],
                sidecar_sha256=digest,
                sidecar_error=None,
                # the file is now this server's own: of what its reader told, only what the model
                # says of the set itself (groups sharing a name) still holds
                **self._warnings_column(aset.warnings()),
            )
        )
        return None, pending

    # -- leftovers ---------------------------------------------------------------------------------

    def bound_sets(self) -> list[tuple[int, int, str]]:
        """(set id, version, sidecar path) of every set bound to a sidecar."""
        with self.db.read() as conn:
            query = sa.select(sets.c.id, sets.c.version, sets.c.sidecar_path).where(
                sets.c.sidecar_path.is_not(None)
            )
            return [(int(r.id), int(r.version), str(r.sidecar_path)) for r in conn.execute(query)]

    def sweep(self, rows: list[tuple[int, int, str]]) -> list[Path]:
        """Remove what writers killed mid-write left beside the sidecars of *rows* (from
        :meth:`bound_sets`): temporary files nobody holds any more and over a minute old
        (:mod:`viewer.atomicfile`), and records of write-backs whose change was committed (or
        superseded) after all. One listing per folder: a bounded list, not a walk of the slide tree.

        :returns: the files removed.
        """
        from viewer.atomicfile import remove_leftovers_in

        by_folder: dict[Path, dict[str, list[tuple[int, int]]]] = {}
        for set_id, version, sidecar_path in rows:
            real = self.files.real_path(Path(sidecar_path))
            if real is not None:
                by_folder.setdefault(real.parent, {}).setdefault(real.name, []).append((set_id, version))
        removed: list[Path] = []
        for folder, names in by_folder.items():
            removed += remove_leftovers_in(folder, names)
            for name, owners in names.items():
                pending = pending_path(folder / name)
                try:
                    record = json.loads(pending.read_bytes())
                    stale = any(
                        record["set"] == set_id and record["version"] <= version for set_id, version in owners
                    )
                except (OSError, ValueError, TypeError, KeyError):
                    continue
                if stale:
                    unlink_quietly(pending)
                    removed.append(pending)
        if removed:
            log.info("removed %d leftovers of interrupted sidecar writes", len(removed))
        return removed

    def sweep_quietly(self, rows: list[tuple[int, int, str]]) -> None:
        """:meth:`sweep` for the start-up thread: housekeeping never takes the store down."""
        try:
            self.sweep(rows)
        except Exception:  # noqa: BLE001 - housekeeping must never take the store down
            log.warning("sidecar leftover sweep did not finish", exc_info=True)
