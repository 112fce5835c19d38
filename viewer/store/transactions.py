"""How the store runs one read or one write: :class:`StoreTransactions`, the base of
:class:`~viewer.store.facade.Store`, which holds the database, the writer, the sidecars and the kept
answers of idempotent writes.

A read imports the set's sidecar first when that changed on disk. A write takes the set's lock,
checks the key of an idempotent write (:meth:`StoreTransactions.idempotent`), imports a changed
sidecar, checks the precondition, runs its body (the change the operation makes), writes the sidecar
back when that is on and keeps the idempotent answer, all before the commit. What each operation
changes is :mod:`~viewer.store.facade`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from viewer.annotations.model import AnnotationSet
from viewer.errors import InputTooLargeError
from viewer.preconditions import Precondition, VersionMatch, as_match
from viewer.store import migrate
from viewer.store.engine import Database
from viewer.store.idempotency import IDEMPOTENCY_SINCE, Idempotent, Keeper, Replayed
from viewer.store.records import ChangeInfo, SetInfo, WriteResult
from viewer.store.sidecar_files import SidecarFiles, signature, unlink_quietly
from viewer.store.sidecar_sync import SidecarSync
from viewer.store.viewport import ViewportIndexes
from viewer.store.writes import Prefetched, Writer, check_version

#: The body of a write: given the locked set's info and what the lock statement read, its change.
WriteBody = Callable[[Connection, SetInfo, Prefetched], ChangeInfo | None]
#: Fills in a write's result (its object) inside the write's transaction.
Complete = Callable[[Connection, WriteResult], None]
#: The idempotent write (``Idempotency-Key``) the current context runs, set by :meth:`idempotent`.
_IDEMPOTENT: ContextVar[Idempotent | None] = ContextVar("wsi_idempotent", default=None)


class StoreTransactions:
    """The state of a :class:`~viewer.store.facade.Store` and the one way its reads and writes run.

    Thread-safe and fork-safe when created after the fork (gunicorn workers build their own).
    """

    def __init__(
        self,
        url: str,
        *,
        annotation_dir: str | Path | None = None,
        slide_root: str | Path | None = None,
        sidecar_import: bool = True,
        sidecar_writeback: bool = False,
        max_vertices: int = 5_000_000,
        max_sidecar_bytes: int | None = 256 << 20,
        target_version: int | None = None,
        ping_idle_after: float = 10.0,
        idempotency_retention_s: float = 7 * 86400.0,
    ) -> None:
        """Open the database at *url*, creating or upgrading its schema when needed
        (:mod:`viewer.store.migrate`).

        :param url: a SQLAlchemy URL from :func:`~viewer.store.engine.database_url`.
        :param slide_root: the slide directory: sidecars whose real path leaves it (and the
            *annotation_dir*) are ignored. None: the root implied by each slide's key and path at
            first use, and a sidecar's own folder later.
        :param target_version: migrate only up to this schema version (tests of upgrades).
        :param ping_idle_after: a pooled PostgreSQL connection idle for longer (s) is checked before
            use, and replaced if the server dropped it.
        :param idempotency_retention_s: how long the answer of a write sent with an
            ``Idempotency-Key`` is kept (:meth:`idempotent`).
        :raises migrate.SchemaTooNewError: a newer wsi-viewer wrote the database.
        """
        self.url = url
        self.max_vertices = max_vertices
        self._db = Database(url, ping_idle_after)
        self.engine: Engine = self._db.engine
        self.is_sqlite = self._db.is_sqlite
        try:
            self.schema_version = migrate.upgrade(self._db, target_version)
        except BaseException:
            self._db.close()
            raise
        self._writer = Writer(self.is_sqlite, self.schema_version)
        self._keeper = Keeper(idempotency_retention_s)
        files = SidecarFiles(annotation_dir, max_sidecar_bytes, slide_root)
        self._sidecars = SidecarSync(self._db, self._writer, files, sidecar_import, sidecar_writeback)
        self._viewport = ViewportIndexes()
        # Leftovers of writers killed mid-write, swept once per start: the sidecars are read here
        # (one query), their folders listed in the background.
        self._sweeper = threading.Thread(
            target=self._sidecars.sweep_quietly,
            args=(self._sidecars.bound_sets(),),
            name="sidecar-sweep",
            daemon=True,
        )
        self._sweeper.start()

    @property
    def sidecar_import(self) -> bool:
        """Whether a slide's ASAP sidecar becomes its first set on first use."""
        return self._sidecars.importing

    @property
    def sidecar_writeback(self) -> bool:
        """Whether every change is written through to the set's sidecar."""
        return self._sidecars.writeback

    def migrate(self, target_version: int | None = None) -> int:
        """Apply pending schema revisions (under a lock, so concurrent workers apply each once)."""
        self.schema_version = migrate.upgrade(self._db, target_version)
        self._writer.schema_version = self.schema_version
        return self.schema_version

    def close(self) -> None:
        """Close every pooled connection."""
        self._sweeper.join(5.0)  # a start-up sweep still listing folders
        self._db.close()

    @contextmanager
    def idempotent(self, job: Idempotent) -> Iterator[Idempotent]:
        """Run the one write of the block as *job*: when its key was used, the write is skipped
        (``job.replayed``, ``job.answer`` the stored answer); else its answer is kept with the key in
        the write's transaction (``job.answer``). Only single-object writes (annotations, groups)
        take part.

        :raises ValidationError: the key was used by another request.
        """
        token = _IDEMPOTENT.set(job if self.schema_version >= IDEMPOTENCY_SINCE else None)
        try:
            yield job
        except Replayed:
            pass
        finally:
            _IDEMPOTENT.reset(token)

    def prune_idempotency_keys(self) -> int:
        """Delete the kept answers older than the retention now; returns how many."""
        with self._db.write() as conn:
            return self._keeper.prune(conn)

    # -- one read, one write -----------------------------------------------------------------------

    @contextmanager
    def _read_set(self, set_id: int) -> Iterator[tuple[Connection, SetInfo]]:
        """A read transaction and the set's info, after importing its sidecar if that changed on
        disk (checked with one stat, inside the same transaction when it did not)."""
        with self._db.read() as conn:
            info = self._writer.info(conn, set_id)
            sig = signature(Path(info.sidecar_path)) if info.sidecar_path else None
            if sig is None or sig == info.sidecar_signature:
                yield conn, info
                return
        self._sidecars.sync(set_id)
        with self._db.read() as conn:
            yield conn, self._writer.info(conn, set_id)

    def _check_content(self, aset: AnnotationSet) -> None:
        """A whole set's content, before it is written: valid and within the vertex limit."""
        aset.validate()
        vertices = aset.vertex_count()
        if vertices > self.max_vertices:
            raise InputTooLargeError(f"{vertices} vertices is over the limit of {self.max_vertices} per set")

    def _write_change(
        self,
        set_id: int,
        if_version: Precondition,
        body: WriteBody,
        annotation_id: int | None = None,
        with_groups: bool = False,
        complete: Complete | None = None,
    ) -> WriteResult:
        """Run *body* in a write transaction holding the set's lock, after importing a changed
        sidecar and checking *if_version* against the set's version; write the sidecar back (before
        committing) when that is on. *complete* fills in the result's object in the transaction,
        where the answer of an idempotent write (:meth:`idempotent`) is then kept."""
        with self._db.write() as conn:
            result, pending = self._write_change_in(
                conn, set_id, as_match(if_version), body, annotation_id, with_groups
            )
            if complete is not None:
                complete(conn, result)
            job = _IDEMPOTENT.get()
            if job is not None:
                self._keeper.after(conn, job, result)
        if pending is not None:  # committed: the record of who wrote the sidecar has done its job
            unlink_quietly(pending)
        return result

    def _write_change_in(
        self,
        conn: Connection,
        set_id: int,
        match: VersionMatch | None,
        body: WriteBody,
        annotation_id: int | None = None,
        with_groups: bool = False,
    ) -> tuple[WriteResult, Path | None]:
        """:meth:`_write_change` inside the caller's write transaction; also returns the write-back
        record to remove once that commits."""
        info, pre = self._writer.locked_read(conn, set_id, True, annotation_id, with_groups)
        job = _IDEMPOTENT.get()
        if job is not None:  # under the set's lock: a request racing with the same key waits for this
            self._keeper.before(conn, job)
        if info.sidecar_path is not None and self._sidecars.sync_locked(conn, info) is not None:
            info, pre = self._writer.info(conn, set_id), Prefetched()  # the import changed what was read
        check_version(match, info.version, "set", info.version)
        change = body(conn, info, pre)  # Writer.commit keeps *info* up to date: no re-read inside the lock
        sidecar_error, pending = self._sidecars.write_back(conn, set_id, change) if change else (None, None)
        if change is not None and self.sidecar_writeback and info.sidecar_path is not None:
            info.sidecar_error = sidecar_error  # what write_back recorded
        return WriteResult(info, change, sidecar_error=sidecar_error), pending
