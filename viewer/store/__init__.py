"""The annotation store: every change to every annotation set, kept forever (SQLAlchemy Core, schema
revisions with Alembic). The only package that imports SQLAlchemy or Alembic.

:class:`Store` is the one façade callers use; everything they import lives here. Inside, one
module per concept:

=================  ===============================================================================
``schema``         the tables at the newest revision
``migrate``        bringing a database to that revision (Alembic; scripts in ``migrations/``)
``engine``         connections: SQLite pragmas and writers' queue, PostgreSQL pool and idle pings
``records``        the dataclasses callers get (sets, states, changes, write results)
``documents``      the model ↔ JSON codec of what the tables and the history store
``names``          user names and set names
``writes``         writing one change: lock, precondition, history rows, live tables
``edits``          edits of one annotation or group
``history``        replay, diff, restore
``sidecar_files``  ASAP sidecars on disk: find, contain, read, replace atomically
``sidecar_sync``   keeping a set and its sidecar in step (import on change, write-back, sweep)
``viewport``       viewport queries and the in-memory index of a set's version
``transactions``   how one read or write runs (lock, sidecar import, precondition, idempotency)
``facade``         :class:`Store`: the operations on slides, sets, annotations, groups, history
=================  ===============================================================================

Two engines, one code path: SQLite (the default, in the data directory) and PostgreSQL (several
workers or hosts sharing one store). A set's ``version`` grows by one with every change; each change
records who, when, what kind and, per object touched, its JSON before and after; any earlier state
is the replay of the changes up to it, and a restore is a new change (history is never rewritten).
Single annotations and groups carry their own version, so two people editing different annotations
of one set never conflict, while a stale ``if_version`` gets
:class:`~viewer.errors.PreconditionFailedError` with the current object.

ASAP sidecars: on first use of a slide, ``<stem>.xml`` beside it (or in the annotation directory)
becomes the first change of a set bound to that file; whenever the file changed on disk since we
last read or wrote it, it is imported as a new change; with write-back on, every change rewrites it
atomically before the commit (:mod:`viewer.store.sidecar_sync`). What the ASAP reader tolerated in
the file (groups sharing a name, text inside ``<Coordinates>``...) is kept as the set's
``sidecar_warnings``. Groups sharing a name are kept in order and bind as in ASAP: members and child
groups naming N belong to the last group named N (:mod:`viewer.store.edits`).
"""

from __future__ import annotations

from viewer.store.documents import (
    annotation_doc,
    annotation_from_doc,
    annotation_outlines,
    group_doc,
    group_from_doc,
)
from viewer.store.engine import SQLITE_FILE_NAME, StoreUnavailableError, database_url, shown_url
from viewer.store.facade import Store
from viewer.store.migrate import (
    SCHEMA_VERSION,
    SchemaStatus,
    SchemaTooNewError,
    database_status,
    offline_sql,
    upgrade_database,
    upgrade_script,
)
from viewer.store.names import ANONYMOUS, SIDECAR_USER, clean_who, name_from_file
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
from viewer.store.viewport import VIEWPORT_INDEX_MAX

__all__ = [
    "ANONYMOUS",
    "AnnotationRecord",
    "ChangeInfo",
    "ChangeItem",
    "Diff",
    "GroupRecord",
    "SCHEMA_VERSION",
    "SIDECAR_USER",
    "SQLITE_FILE_NAME",
    "SchemaStatus",
    "SchemaTooNewError",
    "SetInfo",
    "SetState",
    "Store",
    "StoreUnavailableError",
    "VIEWPORT_INDEX_MAX",
    "WriteResult",
    "annotation_doc",
    "annotation_from_doc",
    "annotation_outlines",
    "clean_who",
    "database_status",
    "database_url",
    "group_doc",
    "group_from_doc",
    "name_from_file",
    "offline_sql",
    "shown_url",
    "upgrade_database",
    "upgrade_script",
]
