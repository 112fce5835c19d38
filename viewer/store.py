"""The annotation store: every change to every annotation set, kept forever (SQLAlchemy Core).

The only module that imports SQLAlchemy. Two engines, one code path:

* **SQLite** (the default: ``annotations.sqlite3`` in the data directory) in WAL mode, so readers
  never wait for the writer; writers take the database lock up front (``BEGIN IMMEDIATE``) and
  commit with ``synchronous=FULL``;
* **PostgreSQL** (a ``postgresql://`` URL) for several workers or hosts sharing one store; writers
  serialise per set by locking the set's row (``SELECT ... FOR UPDATE``).

Data model (all coordinates in **slide space**, level-0 px)::

    slides ──< sets ──< groups          one row per live object; ``doc`` is the model's fields as
                   ├──< annotations     JSON, ``version`` the set version that last changed it;
                   └──< changes ──< change_items    annotations carry their bounding box in
                                                    indexed columns (viewport queries)

A set's ``version`` grows by one with every change. Each change records who, when, what kind and,
per object touched, its JSON before and after; any earlier state is the replay of the changes up
to it, and a restore is a new change (history is never rewritten). Single annotations and groups
carry their own version, so two people editing different annotations of one set never conflict,
while a stale ``if_version`` gets :class:`~viewer.errors.PreconditionFailedError` with the current
object.

ASAP sidecars: on first use of a slide, ``<stem>.xml`` beside it (or in the annotation directory)
becomes the first change of a set bound to that file; a sidecar whose real path leaves the slide
root and the annotation directory (a symlink, or a linked folder) is ignored, then and later.
Whenever the file changed on disk since we last read or wrote it, it is imported as a new change.
With write-back on, every change rewrites the file atomically (temp file, fsync, rename) *before*
the database commit, with a record of the change (author, version, digest) beside the file until
the commit, so a crash leaves either the old file (and no change) or the new file, which the next
access re-imports as that author's change if the commit was lost. Each store start sweeps the
folders of known sidecars for what killed writers left there.

Schema versions are migrations in :data:`_MIGRATIONS`, applied in order under a lock at start-up;
upgrading keeps every row.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from viewer.annotations.model import Annotation, AnnotationSet, Group
from viewer.errors import (
    AnnotationFormatError,
    ConfigError,
    ConflictError,
    InputTooLargeError,
    NotFoundError,
    PreconditionFailedError,
    UnavailableError,
    ValidationError,
    ViewerError,
)

log = logging.getLogger(__name__)

#: Value of ``who`` when a request names nobody.
ANONYMOUS = "anonymous"
#: ``who`` of changes imported from a sidecar file edited on disk.
SIDECAR_USER = "sidecar"
SQLITE_FILE_NAME = "annotations.sqlite3"
_UNAVAILABLE = "the annotation database is unavailable"
_MAX_NAME = 200

# --------------------------------------------------------------------------------------------------
# Schema (the latest version; migrations below build it step by step)


def _define(m: sa.MetaData, version: int) -> dict[str, sa.Table]:
    """The tables as they are at schema *version* (the migrations and the runtime share this)."""
    t: dict[str, sa.Table] = {}
    t["schema_versions"] = sa.Table(
        "wsi_schema_version",
        m,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("applied_at", sa.String(40), nullable=False),
    )
    t["slides"] = sa.Table(
        "slides",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),  # slide id: path under the slide root
        sa.Column("quickhash", sa.String(64), index=True),  # openslide.quickhash-1: survives renames
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("sidecar_error", sa.Text),  # why a sidecar found at first use was not imported
    )
    t["sets"] = sa.Table(
        "annotation_sets",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slide_id", sa.Integer, sa.ForeignKey("slides.id"), nullable=False),
        sa.Column("name", sa.String(_MAX_NAME), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("annotation_count", sa.Integer, nullable=False),
        sa.Column("vertex_count", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(_MAX_NAME), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("sidecar_path", sa.Text),  # the ASAP XML this set is bound to (absolute)
        sa.Column("sidecar_mtime_ns", sa.BigInteger),  # signature of the file as we last read/wrote it
        sa.Column("sidecar_size", sa.BigInteger),
        sa.Column("sidecar_sha256", sa.String(64)),
        sa.Column("sidecar_error", sa.Text),  # last failure to read or write the sidecar, else NULL
        sa.UniqueConstraint("slide_id", "name", name="uq_sets_slide_name"),
    )
    t["groups"] = sa.Table(
        "annotation_groups",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    ann = t["annotations"] = sa.Table(
        "annotations",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("n_points", sa.Integer, nullable=False),
        # Bounding box in slide space; NULL for an annotation without coordinates.
        sa.Column("min_x", sa.Float),
        sa.Column("min_y", sa.Float),
        sa.Column("max_x", sa.Float),
        sa.Column("max_y", sa.Float),
        sa.Column("doc", sa.Text, nullable=False),
    )
    # Viewport queries are index-only range scans of this covering index: set, then x extent, then y
    # (schema 3 added the position, so results come out in list order without touching the table).
    if version >= 3:
        sa.Index(
            "ix_annotations_viewport",
            ann.c.set_id,
            ann.c.min_x,
            ann.c.max_x,
            ann.c.min_y,
            ann.c.max_y,
            ann.c.position,
            ann.c.id,
            ann.c.version,
        )
    else:
        sa.Index(
            "ix_annotations_bbox", ann.c.set_id, ann.c.min_x, ann.c.max_x, ann.c.min_y, ann.c.max_y, ann.c.id
        )
    sa.Index("ix_annotations_set_position", ann.c.set_id, ann.c.position)
    if version >= 2:  # one row per distinct ``who``; a later auth module adds its columns
        t["users"] = sa.Table(
            "users",
            m,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(_MAX_NAME), nullable=False, unique=True),
            sa.Column("created_at", sa.String(40), nullable=False),
        )
    t["changes"] = sa.Table(
        "changes",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("who", sa.String(_MAX_NAME), nullable=False),
        *([sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"))] if version >= 2 else []),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("n_created", sa.Integer, nullable=False),
        sa.Column("n_updated", sa.Integer, nullable=False),
        sa.Column("n_deleted", sa.Integer, nullable=False),
        sa.UniqueConstraint("set_id", "version", name="uq_changes_set_version"),
    )
    t["change_items"] = sa.Table(
        "change_items",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=False, index=True),
        sa.Column("obj_kind", sa.String(1), nullable=False),  # "a" annotation, "g" group
        sa.Column("obj_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer),  # position after the change (NULL when deleted)
        sa.Column("before", sa.Text),  # JSON doc, NULL when created
        sa.Column("after", sa.Text),  # JSON doc, NULL when deleted
    )
    return t


def _migration_1(conn: Connection) -> None:
    """Core schema: slides, sets, groups, annotations, append-only history."""
    m = sa.MetaData()
    tables = _define(m, 1)
    m.create_all(conn, tables=[v for k, v in tables.items() if k != "schema_versions"])


def _migration_2(conn: Connection) -> None:
    """A users table (one row per distinct ``who``), referenced from every change; backfilled."""
    new_users = _define(sa.MetaData(), 2)["users"]
    new_users.create(conn)
    conn.execute(sa.text("ALTER TABLE changes ADD COLUMN user_id INTEGER REFERENCES users(id)"))
    names = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT who FROM changes ORDER BY who"))]
    now = _now()
    for name in names:
        conn.execute(new_users.insert().values(name=name, created_at=now))
    conn.execute(
        sa.text("UPDATE changes SET user_id = (SELECT id FROM users WHERE users.name = changes.who)")
    )


def _migration_3(conn: Connection) -> None:
    """The viewport index also covers position and version (index-only viewport queries)."""
    conn.execute(sa.text("DROP INDEX ix_annotations_bbox"))
    index = next(
        i for i in _define(sa.MetaData(), 3)["annotations"].indexes if i.name == "ix_annotations_viewport"
    )
    index.create(conn)


#: (version, description, function): applied in order, each in the same transaction as its record.
_MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "core schema: slides, sets, groups, annotations, history", _migration_1),
    (2, "users table referenced by changes", _migration_2),
    (3, "viewport index covers position and version", _migration_3),
)
SCHEMA_VERSION = _MIGRATIONS[-1][0]

_TABLES = _define(sa.MetaData(), SCHEMA_VERSION)
schema_versions, slides, sets = _TABLES["schema_versions"], _TABLES["slides"], _TABLES["sets"]
groups, annotations_t, users = _TABLES["groups"], _TABLES["annotations"], _TABLES["users"]
changes, change_items = _TABLES["changes"], _TABLES["change_items"]


# --------------------------------------------------------------------------------------------------
# Records returned to callers


@dataclass
class AnnotationRecord:
    """One stored annotation: its id, its own version and the model object (slide space)."""

    id: int
    version: int
    annotation: Annotation


@dataclass
class GroupRecord:
    """One stored group: its id, its own version and the model object."""

    id: int
    version: int
    group: Group


@dataclass
class SetInfo:
    """An annotation set (a layer of one slide) without its content."""

    id: int
    slide_key: str
    name: str
    version: int
    annotation_count: int
    vertex_count: int
    created_at: str
    created_by: str
    updated_at: str
    sidecar_path: str | None = None
    sidecar_error: str | None = None
    #: (mtime_ns, size) of the sidecar as last read or written (to notice edits on disk).
    sidecar_signature: tuple[int, int] | None = field(default=None, repr=False, compare=False)


class _AnnotationRow(NamedTuple):
    version: int
    position: int
    n_points: int
    doc: str


@dataclass
class _Prefetched:
    """What a write's lock statement read besides the set (see ``Store._locked_read``)."""

    annotation_read: bool = False  # the annotation was asked for: *annotation* None means it is absent
    annotation: _AnnotationRow | None = None
    groups: list[Group] | None = None  # None: not read


@dataclass
class SetState:
    """The content of a set at one version (list order = ASAP file order)."""

    info: SetInfo
    version: int
    groups: list[GroupRecord]
    annotations: list[AnnotationRecord]

    def to_model(self) -> AnnotationSet:
        """The model object (for ASAP XML, GeoJSON and mask writers)."""
        return AnnotationSet(
            annotations=[r.annotation for r in self.annotations], groups=[r.group for r in self.groups]
        )


@dataclass
class ChangeInfo:
    """One entry of a set's history."""

    version: int
    at: str
    who: str
    kind: str
    message: str
    created: int
    updated: int
    deleted: int


@dataclass
class ChangeItem:
    """What one change did to one object: JSON docs before and after (None: absent)."""

    kind: str  # "annotation" or "group"
    id: int
    before: Annotation | Group | None
    after: Annotation | Group | None


@dataclass
class WriteResult:
    """The outcome of a write: the set after it, the change (None: nothing changed), the object."""

    info: SetInfo
    change: ChangeInfo | None
    annotation: AnnotationRecord | None = None
    group: GroupRecord | None = None
    sidecar_error: str | None = None


@dataclass
class Diff:
    """Objects added, removed and changed between two versions of a set."""

    from_version: int
    to_version: int
    items: list[ChangeItem] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# JSON documents of model objects (what the tables and the history store)


def annotation_doc(a: Annotation) -> str:
    """The JSON text stored for an annotation (coordinates as floats, so 1 and 1.0 compare equal)."""
    doc: dict[str, Any] = {
        "name": a.name,
        "type": a.type,
        "group": a.group,
        "color": a.color,
        "coordinates": [[float(x), float(y)] for x, y in a.coordinates],
    }
    if a.comment:  # absent when empty: documents stored before comments existed stay byte-identical
        doc["comment"] = a.comment
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


def group_doc(g: Group) -> str:
    """The JSON text stored for a group."""
    return json.dumps(
        {
            "name": g.name,
            "parent": g.parent,
            "color": g.color,
            "attributes": dict(sorted(g.attributes.items())),
        },
        separators=(",", ":"),
        allow_nan=False,
    )


def annotation_from_doc(text: str) -> Annotation:
    """Inverse of :func:`annotation_doc`."""
    d = json.loads(text)
    return Annotation(
        name=d["name"],
        type=d["type"],
        group=d["group"],
        color=d["color"],
        coordinates=[(x, y) for x, y in d["coordinates"]],
        comment=d.get("comment", ""),
    )


def group_from_doc(text: str) -> Group:
    """Inverse of :func:`group_doc`."""
    return _group_from_dict(json.loads(text))


def _group_from_dict(d: dict[str, Any]) -> Group:
    return Group(name=d["name"], parent=d["parent"], color=d["color"], attributes=d["attributes"])


def _bbox(a: Annotation) -> tuple[float, float, float, float] | tuple[None, None, None, None]:
    if not a.coordinates:
        return (None, None, None, None)
    xs = [p[0] for p in a.coordinates]
    ys = [p[1] for p in a.coordinates]
    return (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys)))


# --------------------------------------------------------------------------------------------------
# Helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_who(who: str | None) -> str:
    """A user name fit for the history: control characters dropped, at most 200 characters."""
    text = _CONTROL.sub("", who or "").strip()[:_MAX_NAME]
    return text or ANONYMOUS


def _check_set_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("set name must be a non-empty string", ["name: must be a non-empty string"])
    if len(name) > _MAX_NAME or _CONTROL.search(name):
        raise ValidationError(
            "set name is too long or has control characters",
            [f"name: at most {_MAX_NAME} characters, no control characters"],
        )
    return name.strip()


def name_from_file(file_name: str) -> str:
    """A set name for a file: the file name, shortened in the middle to fit 200 characters."""
    name = _CONTROL.sub("", file_name).strip() or "upload"
    if len(name) > _MAX_NAME:
        name = name[: _MAX_NAME - 12] + "…" + name[-11:]
    return name


def database_url(setting: str, data_dir: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of the DATABASE setting: empty means SQLite in *data_dir*.

    :raises ConfigError: for anything but ``sqlite:///...`` and ``postgresql://...`` URLs.
    """
    if not setting:
        return f"sqlite:///{Path(data_dir) / SQLITE_FILE_NAME}"
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if setting.startswith(prefix):
            return "postgresql+psycopg://" + setting[len(prefix) :]
    if setting.startswith("sqlite:///"):
        return setting
    raise ConfigError(
        "DATABASE must be empty (SQLite in the data directory), a sqlite:///FILE or a "
        "postgresql://USER:PASSWORD@HOST/DB URL"
    )


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _write_sidecar(path: Path, data: bytes) -> tuple[int, int]:
    """Replace *path* by *data* atomically (:mod:`viewer.atomicfile`: temp file in the same
    directory, fsync, rename, fsync of the directory; the file keeps its permissions), so readers
    see the old file or the new one, complete, whatever happens to this process. Returns the new
    file's (mtime_ns, size)."""
    from viewer.atomicfile import write_atomic

    write_atomic(path, data)
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


@dataclass
class _Op:
    """One object change inside a change: create (obj_id None or a re-used id), update or delete."""

    kind: str  # "a" | "g"
    obj_id: int | None
    before: str | None
    after: str | None
    position: int | None
    points_before: int = 0
    points_after: int = 0
    bbox: tuple[Any, Any, Any, Any] = (None, None, None, None)


def _annotation_op(
    obj_id: int | None, before: str | None, a: Annotation | None, position: int | None, points_before: int = 0
) -> _Op:
    if a is None:
        return _Op("a", obj_id, before, None, None, points_before, 0)
    return _Op("a", obj_id, before, annotation_doc(a), position, points_before, len(a.coordinates), _bbox(a))


def _points_of(doc: str | None) -> int:
    if doc is None:
        return 0
    return len(json.loads(doc)["coordinates"])


#: Sets up to this many annotations get an in-memory viewport index per version (see Store.query).
VIEWPORT_INDEX_MAX = 200_000


class _ViewportIndex:
    """One version of a set's annotation bounding boxes, in set order, for viewport queries.

    A zoomed-out view meets thousands of annotations; the database's range scan, sort and one row
    object per result cost several ms, here one vectorised comparison.
    """

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.versions = np.array([r[1] for r in rows], dtype=np.int64)
        boxes = np.array([r[2:6] for r in rows], dtype=np.float64).reshape(len(rows), 4)
        # NULL bounds (no coordinates) become nan, which no comparison meets: as in SQL.
        self.min_x, self.max_x, self.min_y, self.max_y = boxes.T

    def query(self, bbox: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = bbox
        hit = np.flatnonzero(
            (self.min_x <= x1) & (self.max_x >= x0) & (self.min_y <= y1) & (self.max_y >= y0)
        )
        return list(zip(self.ids[hit].tolist(), self.versions[hit].tolist(), strict=True))


class _WriterQueue:
    """SQLite writers of this database, one at a time, in the order they came.

    SQLite lets one writer in and has the others poll with growing sleeps (up to 100 ms), so under
    concurrent saves a writer can wait far longer than the writes ahead of it take. Here writers
    queue on a lock that wakes the next one as soon as the previous commits: a thread lock within
    the process, and an ``flock`` on a file beside the database across worker processes (the
    kernel drops it if a process dies). SQLite's own locking still guards against anyone else.
    """

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".writers")
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:
            self._depth += 1
            try:
                if self._depth == 1:
                    if self._fd is None:
                        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if self._depth == 1:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]
            finally:
                self._depth -= 1

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


# Statements of every write, built once (building one per call cost more than running it); the
# columns set by the two updates are the keys of the parameters they are given.
_INSERT_CHANGE = changes.insert()
_UPDATE_ANNOTATION = annotations_t.update().where(annotations_t.c.id == sa.bindparam("b_id"))
_UPDATE_SET_COUNTS = (
    sets.update()
    .where(sets.c.id == sa.bindparam("b_set"))
    .values(
        annotation_count=sets.c.annotation_count + sa.bindparam("b_n_delta", type_=sa.Integer),
        vertex_count=sets.c.vertex_count + sa.bindparam("b_v_delta", type_=sa.BigInteger),
    )
)


@functools.cache
def _set_read_statement(lock: bool, annotation: bool, with_groups: bool, recheck: bool) -> sa.Select[Any]:
    """The statement of ``Store._locked_read`` (built once: building it cost more than running it)."""
    set_id = sa.bindparam("b_set", type_=sa.Integer)
    columns: list[Any] = [sets, slides.c.key]
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


def _ping_idle_connections(engine: Engine, idle_after: float) -> None:
    """Check a pooled connection before use only when it sat idle for *idle_after* seconds.

    A server restart or a proxy's idle timeout drops connections; SQLAlchemy's ``pool_pre_ping``
    finds them with a round trip on every checkout, which under a write load was a tenth of a
    worker's time. A connection used moments ago is not checked: if the server dropped it since,
    that one request fails as unavailable (503) and SQLAlchemy replaces the whole pool."""

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # None: connected just now (info ends with it)
        if idle_since is None or time.monotonic() - idle_since < idle_after:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise sa.exc.DisconnectionError(str(exc)) from exc  # the pool connects again
            raise


def _close_store(engine: Engine, writers: _WriterQueue | None) -> None:
    engine.dispose()
    if writers is not None:
        writers.close()


class _Sidecar:
    """Locating, containing and reading the ASAP XML that belongs to a slide.

    Sidecars follow the slides' containment rule: a ``<stem>.xml`` (or a folder on its way) that is
    a symlink whose target leaves the slide root, or the annotation directory (an allowed root of
    its own), is ignored, at the first import and at every later read and write-back. A set keeps
    the path as found (a link's own name, not its target's); reads and writes go to the file it
    resolves to. Errors name files relative to the slide root or the annotation directory, never by
    their absolute server path.
    """

    def __init__(
        self,
        annotation_dir: str | os.PathLike[str] | None,
        max_bytes: int | None,
        slide_root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.annotation_dir = Path(annotation_dir).absolute() if annotation_dir else None
        self.max_bytes = max_bytes
        self.slide_root = Path(slide_root).absolute() if slide_root else None
        self._real_roots = [r.resolve() for r in (self.slide_root, self.annotation_dir) if r is not None]
        # as configured and as resolved (a slide's path may come either way)
        self._display_roots = [
            (form, label)
            for root, label in ((self.slide_root, ""), (self.annotation_dir, "<ANNOTATION_DIR>/"))
            if root is not None
            for form in (root, root.resolve())
        ]

    @staticmethod
    def _derived_root(slide_key: str, slide_path: Path) -> Path:
        """The slide root implied by a slide's key (its path under the root) and its path."""
        parts = PurePosixPath(slide_key).parts
        if parts and len(slide_path.parts) > len(parts) and slide_path.parts[-len(parts):] == parts:
            return slide_path.parents[len(parts) - 1]
        return slide_path.parent

    def _roots_for(self, fallback_root: Path) -> list[Path]:
        if self.slide_root is not None:
            return self._real_roots
        real = [fallback_root.resolve()]
        if self.annotation_dir is not None:
            real.append(self.annotation_dir.resolve())
        return real

    @staticmethod
    def _inside(path: Path, real_roots: list[Path]) -> Path | None:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if any(real == r or r in real.parents for r in real_roots) else None

    def find(self, slide_key: str, slide_path: Path | None) -> Path | None:
        """``<stem>.xml`` next to the slide, in the annotation directory (mirroring the slide's folder,
        or flat), or in ``../annotations/`` beside an ``images/`` folder (the CAMELYON layout): the
        first regular file among them whose real path stays inside an allowed root, as found."""
        if slide_path is None:
            return None
        slide_path = slide_path.absolute()
        stem = slide_path.stem if slide_path.suffix else slide_path.name
        candidates = [slide_path.with_name(stem + ".xml")]
        if self.annotation_dir is not None:
            folder = Path(slide_key).parent
            candidates += [
                self.annotation_dir / folder / (stem + ".xml"),
                self.annotation_dir / (stem + ".xml"),
            ]
        if slide_path.parent.name == "images":
            candidates.append(slide_path.parent.parent / "annotations" / (stem + ".xml"))
        roots = self._roots_for(self._derived_root(slide_key, slide_path))
        for candidate in candidates:
            if candidate.is_file():
                if self._inside(candidate, roots) is not None:
                    return candidate
                log.warning("sidecar %s leads outside the slide directory: ignored", candidate)
        return None

    def real_path(self, path: Path) -> Path | None:
        """The file a set's sidecar *path* resolves to now, if that is still inside an allowed root
        (the slide root, or without one the sidecar's own folder; the annotation directory)."""
        return self._inside(path, self._roots_for(path.parent))

    def display(self, path: Path) -> str:
        """*path* for messages: relative to the slide root or the annotation directory."""
        for root, label in self._display_roots:
            try:
                return label + path.relative_to(root).as_posix()
            except ValueError:
                continue
        return path.name

    def read(self, real: Path) -> tuple[AnnotationSet, bytes, tuple[int, int]]:
        """Parse the file at *real* (a :meth:`real_path`); returns the set, its bytes and its
        (mtime_ns, size) when read. Messages carry no path.

        :raises AnnotationFormatError, ValidationError, InputTooLargeError, OSError
        """
        from viewer.annotations.asap import read_asap

        # No link is followed (real has none) and a FIFO or device is refused, not waited on.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise AnnotationFormatError("not a regular file")
            if self.max_bytes is not None and st.st_size > self.max_bytes:
                raise InputTooLargeError(f"larger than {self.max_bytes} bytes")
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read() if self.max_bytes is None else handle.read(self.max_bytes + 1)
        finally:
            os.close(fd)
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise InputTooLargeError(f"larger than {self.max_bytes} bytes")
        aset = read_asap(data, max_bytes=self.max_bytes)
        sig = (st.st_mtime_ns, st.st_size) if st.st_size == len(data) else (0, len(data))
        return aset, data, sig


def _reason(exc: BaseException) -> str:
    """Why a sidecar could not be read or written, without the absolute path an OSError carries."""
    if isinstance(exc, ViewerError):
        return exc.message
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)


#: Beside a sidecar while its write-back is not committed: who wrote it and what it should become.
_PENDING_SUFFIX = ".pending-change.json"


def _pending_path(real: Path) -> Path:
    return real.with_name(f".{real.name}{_PENDING_SUFFIX}")


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


#: Test hook (tests/test_store_reliability.py), read once at import: the first sidecar write-back
#: of a server creates this file after its rename and then waits, before the commit, to be killed.
_PAUSE_AFTER_SIDECAR_RENAME = os.environ.get("WSI_VIEWER_TEST_PAUSE_AFTER_SIDECAR_RENAME")


def _pause_for_test(marker: str) -> None:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return  # one pause per test run: the worker that replaces the killed one writes normally
    time.sleep(600)


# --------------------------------------------------------------------------------------------------
# The store


class Store:
    """Annotation sets of slides with full history, on SQLite or PostgreSQL.

    Thread-safe and fork-safe when created after the fork (gunicorn workers build their own).
    """

    def __init__(
        self,
        url: str,
        *,
        annotation_dir: str | os.PathLike[str] | None = None,
        slide_root: str | os.PathLike[str] | None = None,
        sidecar_import: bool = True,
        sidecar_writeback: bool = False,
        max_vertices: int = 5_000_000,
        max_sidecar_bytes: int | None = 256 << 20,
        target_version: int | None = None,
        ping_idle_after: float = 10.0,
    ) -> None:
        """Open (creating and upgrading the schema when needed) the database at *url*.

        :param url: a SQLAlchemy URL from :func:`database_url`.
        :param slide_root: the slide directory: sidecars whose real path leaves it (and the
            *annotation_dir*) are ignored. None: the root implied by each slide's key and path at
            first use, and a sidecar's own folder later.
        :param target_version: migrate only up to this schema version (tests of upgrades).
        :param ping_idle_after: a pooled PostgreSQL connection idle for longer (s) is checked before
            use, and replaced if the server dropped it.
        """
        self.url = url
        self.sidecar_import = sidecar_import
        self.sidecar_writeback = sidecar_writeback
        self.max_vertices = max_vertices
        self._sidecar = _Sidecar(annotation_dir, max_sidecar_bytes, slide_root)
        self.engine = self._make_engine(url, ping_idle_after)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._writers = _WriterQueue(Path(url[len("sqlite:///") :])) if self.is_sqlite else None
        # Pooled connections are closed when the store goes away, even unclosed (sqlite3 and psycopg
        # warn about connections left to the garbage collector).
        self._finalizer = weakref.finalize(self, _close_store, self.engine, self._writers)
        self.schema_version = self.migrate(target_version)
        self._user_ids: dict[str, int] = {}
        # set id -> (version, its viewport index or None when only queried once); insertion order
        self._indexes: dict[int, tuple[int, _ViewportIndex | None]] = {}
        self._indexes_lock = threading.Lock()
        # Leftovers of writers killed mid-write, swept once per start: the sidecars are read here
        # (one query, on the connection the migration used), their folders listed in the background.
        self._sweeper = threading.Thread(
            target=self._sweep_quietly, args=(self._sidecar_rows(),), name="sidecar-sweep", daemon=True
        )
        self._sweeper.start()

    # -- engine, transactions, migrations ------------------------------------------------------------

    @staticmethod
    def _make_engine(url: str, ping_idle_after: float) -> Engine:
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///") :])
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the database directory {path.parent}: {exc.strerror}"
                ) from None
            engine = sa.create_engine(
                url, pool_size=16, max_overflow=16, connect_args={"timeout": 60, "check_same_thread": False}
            )

            @sa.event.listens_for(engine, "connect")
            def _connect(dbapi_conn: Any, _record: Any) -> None:
                # We issue BEGIN ourselves (below): the driver must not open transactions on its own.
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA busy_timeout = 60000")
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = FULL")  # a saved change survives a power cut
                cur.execute("PRAGMA foreign_keys = ON")
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _begin(conn: Connection) -> None:
                # Writers take the lock at BEGIN, so two writers never deadlock upgrading read locks.
                write = conn.get_execution_options().get("wsi_write", False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

            return engine
        if url.startswith("postgresql+psycopg://"):
            engine = sa.create_engine(url, pool_size=8, max_overflow=16)
            _ping_idle_connections(engine, ping_idle_after)
            return engine
        raise ConfigError("unsupported database URL")

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writers.turn() if self._writers else nullcontext(), self._connect() as conn:
            conn.execution_options(wsi_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreUnavailableError(_UNAVAILABLE, [str(exc.orig)]) from None
        with conn:
            try:
                yield conn
            except sa.exc.OperationalError as exc:
                # Server gone, connection dropped, or SQLite still locked after the busy timeout.
                raise StoreUnavailableError(_UNAVAILABLE, [str(exc.orig)]) from None

    def migrate(self, target_version: int | None = None) -> int:
        """Apply pending migrations (under a lock, so concurrent workers apply each once)."""
        target = SCHEMA_VERSION if target_version is None else target_version
        with self._write() as conn:
            if not self.is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(715517)"))  # any fixed number
            inspector = sa.inspect(conn)
            if not inspector.has_table(schema_versions.name):
                schema_versions.create(conn)
            current = conn.execute(sa.select(sa.func.max(schema_versions.c.version))).scalar() or 0
            for version, description, apply in _MIGRATIONS:
                if current < version <= target:
                    apply(conn)
                    conn.execute(
                        schema_versions.insert().values(
                            version=version, description=description, applied_at=_now()
                        )
                    )
                    current = version
            return int(current)

    def close(self) -> None:
        """Close every pooled connection."""
        self._sweeper.join(5.0)  # a start-up sweep still listing folders
        self._finalizer()

    def _user_id(self, conn: Connection, who: str) -> int | None:
        if self.schema_version < 2:
            return None
        found = self._user_ids.get(who)
        if found is not None:
            return found
        query = sa.select(users.c.id).where(users.c.name == who)
        uid = conn.execute(query).scalar()
        if uid is not None:
            self._user_ids[who] = int(uid)  # committed by someone: safe to remember
            return int(uid)
        try:
            with conn.begin_nested():
                return int(
                    conn.execute(users.insert().values(name=who, created_at=_now())).inserted_primary_key[0]  # type: ignore[index]
                )
        except sa.exc.IntegrityError:  # a concurrent writer added the same name first
            return int(conn.execute(query).scalar_one())

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
        with self._read() as conn:
            row = conn.execute(sa.select(slides.c.id, slides.c.quickhash).where(slides.c.key == key)).first()
        if row is not None:
            if quickhash and row.quickhash != quickhash:
                with self._write() as conn:
                    conn.execute(slides.update().where(slides.c.id == row.id).values(quickhash=quickhash))
            return int(row.id)
        sidecar = self._sidecar.find(key, path) if self.sidecar_import else None
        parsed: tuple[AnnotationSet, bytes, tuple[int, int]] | None = None
        error: str | None = None
        if sidecar is not None:
            real = self._sidecar.real_path(sidecar)  # None: changed since find() looked
            try:
                if real is None:
                    raise FileNotFoundError(errno.ENOENT, "no longer a file inside the slide directory")
                parsed = self._sidecar.read(real)
                parsed[0].validate()
            except (ViewerError, OSError) as exc:
                parsed = None
                error = f"{self._sidecar.display(sidecar)}: {_reason(exc)}"
                log.warning("sidecar %s not imported: %s", sidecar, error)
        for attempt in range(3):
            try:
                with self._write() as conn:
                    found = conn.execute(sa.select(slides.c.id).where(slides.c.key == key)).scalar()
                    if found is not None:
                        return int(found)
                    if quickhash and known_keys is not None:
                        known = set(known_keys)
                        for moved in conn.execute(
                            sa.select(slides.c.id, slides.c.key)
                            .where(slides.c.quickhash == quickhash)
                            .order_by(slides.c.id)
                        ):
                            if moved.key not in known:
                                conn.execute(slides.update().where(slides.c.id == moved.id).values(key=key))
                                return int(moved.id)
                    slide_id = int(
                        conn.execute(
                            slides.insert().values(
                                key=key, quickhash=quickhash, created_at=_now(), sidecar_error=error
                            )
                        ).inserted_primary_key[0]  # type: ignore[index]
                    )
                    if parsed is not None and sidecar is not None:
                        aset, data, sig = parsed
                        set_id = self._insert_set(conn, slide_id, name_from_file(sidecar.name), SIDECAR_USER)
                        conn.execute(
                            sets.update()
                            .where(sets.c.id == set_id)
                            .values(
                                sidecar_path=str(sidecar),
                                sidecar_mtime_ns=sig[0],
                                sidecar_size=sig[1],
                                sidecar_sha256=hashlib.sha256(data).hexdigest(),
                            )
                        )
                        self._replace_ops(
                            conn, set_id, aset, SIDECAR_USER, "import", f"imported {sidecar.name}", None
                        )
                    return slide_id
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
                time.sleep(0.05)  # another worker created it first: read theirs
        raise AssertionError("unreachable")

    def slide_error(self, slide_id: int) -> str | None:
        """Why the slide's sidecar was not imported at first use, if it was not."""
        with self._read() as conn:
            return conn.execute(sa.select(slides.c.sidecar_error).where(slides.c.id == slide_id)).scalar()

    def annotation_counts(self, keys: Iterable[str]) -> dict[str, int]:
        """Annotations over every set of each slide in *keys* (slides never used are absent)."""
        wanted = list(keys)
        if not wanted:
            return {}
        q = (
            sa.select(slides.c.key, sa.func.coalesce(sa.func.sum(sets.c.annotation_count), 0))
            .select_from(slides.outerjoin(sets, sets.c.slide_id == slides.c.id))
            .group_by(slides.c.key)
        )
        with self._read() as conn:
            return {k: int(n) for k, n in conn.execute(q) if k in set(wanted)}

    # -- sets --------------------------------------------------------------------------------------

    def _insert_set(self, conn: Connection, slide_id: int, name: str, who: str) -> int:
        now = _now()
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
                            created_at=now,
                            created_by=who,
                            updated_at=now,
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                )
        except sa.exc.IntegrityError:
            raise ConflictError(f"this slide already has a set named {name!r}") from None

    def _info(self, conn: Connection, set_id: int, lock: bool = False) -> SetInfo:
        return self._locked_read(conn, set_id, lock)[0]

    def _locked_read(
        self,
        conn: Connection,
        set_id: int,
        lock: bool,
        annotation_id: int | None = None,
        with_groups: bool = False,
    ) -> tuple[SetInfo, _Prefetched]:
        """The set's info, read with its lock when *lock*; in the same statement, when asked, one
        annotation's row and the set's group documents (one round trip fewer for each while the
        set is locked: writers of one set queue on that lock)."""
        lock = lock and not self.is_sqlite  # SQLite: writers are serialised at BEGIN IMMEDIATE
        recheck = lock and (annotation_id is not None or with_groups)
        q = _set_read_statement(lock, annotation_id is not None, with_groups, recheck)
        row = conn.execute(q, {"b_set": set_id, "b_annotation": annotation_id}).first()
        if row is None:
            raise NotFoundError("no such annotation set")
        if recheck and row.snapshot_version != row.version:
            # Read again, now that the lock is held: a new statement sees every committed change.
            return self._locked_read(conn, set_id, False, annotation_id, with_groups)
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
            sidecar_signature=(row.sidecar_mtime_ns, row.sidecar_size) if row.sidecar_path else None,
        )
        pre = _Prefetched()
        if annotation_id is not None:
            pre.annotation_read = True
            if row.a_id is not None:
                pre.annotation = _AnnotationRow(row.a_version, row.a_position, row.a_n_points, row.a_doc)
        if with_groups:
            items = sorted(json.loads(f"[{row.g_docs or ''}]"), key=lambda item: (item[0], item[1]))
            pre.groups = [_group_from_dict(d) for _position, _id, d in items]
        return info, pre

    @contextmanager
    def _read_set(self, set_id: int) -> Iterator[tuple[Connection, SetInfo]]:
        """A read transaction and the set's info, after importing its sidecar if that changed on
        disk (checked with one stat, inside the same transaction when it did not)."""
        with self._read() as conn:
            info = self._info(conn, set_id)
            sig = _signature(Path(info.sidecar_path)) if info.sidecar_path else None
            if sig is None or sig == info.sidecar_signature:
                yield conn, info
                return
        self.sync_sidecar(set_id)
        with self._read() as conn:
            yield conn, self._info(conn, set_id)

    def list_sets(self, slide_id: int) -> list[SetInfo]:
        """Every set of a slide, oldest first."""
        with self._read() as conn:
            ids = conn.execute(
                sa.select(sets.c.id).where(sets.c.slide_id == slide_id).order_by(sets.c.id)
            ).scalars()
            return [self._info(conn, i) for i in list(ids)]

    def create_set(
        self,
        slide_id: int,
        name: str,
        who: str = ANONYMOUS,
        content: AnnotationSet | None = None,
        message: str = "",
    ) -> WriteResult:
        """A new set on a slide, empty or with *content* as its first change.

        :raises ConflictError: the slide already has a set of that name.
        """
        name = _check_set_name(name)
        who = clean_who(who)
        if content is not None:
            self._check_content(content)
        with self._write() as conn:
            set_id = self._insert_set(conn, slide_id, name, who)
            change = self._replace_ops(
                conn,
                set_id,
                content or AnnotationSet(),
                who,
                "create",
                message or f"created set {name!r}",
                None,
                allow_empty=True,
            )
            return WriteResult(self._info(conn, set_id), change)

    def set_info(self, set_id: int) -> SetInfo:
        """A set's metadata (after importing its sidecar if that changed on disk)."""
        with self._read_set(set_id) as (_conn, info):
            return info

    def rename_set(self, set_id: int, name: str, who: str = ANONYMOUS) -> SetInfo:
        """Give a set another name (kept in the history as a change without objects)."""
        name = _check_set_name(name)
        with self._write() as conn:
            info = self._info(conn, set_id, lock=True)
            try:
                with conn.begin_nested():
                    conn.execute(sets.update().where(sets.c.id == set_id).values(name=name))
            except sa.exc.IntegrityError:
                raise ConflictError(f"this slide already has a set named {name!r}") from None
            self._commit(
                conn,
                info,
                [],
                clean_who(who),
                "rename",
                f"renamed {info.name!r} to {name!r}",
                allow_empty=True,
            )
            return self._info(conn, set_id)

    # -- reading -----------------------------------------------------------------------------------

    def state(self, set_id: int, version: int | None = None) -> SetState:
        """The set's content now, or at *version* (replayed from the history).

        :raises NotFoundError: no such set, or a version it never had.
        """
        with self._read_set(set_id) as (conn, info):
            if version is None or version == info.version:
                g_rows = conn.execute(
                    sa.select(groups.c.id, groups.c.version, groups.c.doc)
                    .where(groups.c.set_id == set_id)
                    .order_by(groups.c.position, groups.c.id)
                )
                a_rows = conn.execute(
                    sa.select(annotations_t.c.id, annotations_t.c.version, annotations_t.c.doc)
                    .where(annotations_t.c.set_id == set_id)
                    .order_by(annotations_t.c.position, annotations_t.c.id)
                )
                return SetState(
                    info,
                    info.version,
                    [GroupRecord(r.id, r.version, group_from_doc(r.doc)) for r in g_rows],
                    [AnnotationRecord(r.id, r.version, annotation_from_doc(r.doc)) for r in a_rows],
                )
            if not 0 <= version <= info.version:
                raise NotFoundError(
                    f"version {version} does not exist (the set is at version {info.version})"
                )
            objects = self._replay(conn, set_id, version)
        return self._state_from_replay(info, version, objects)

    @staticmethod
    def _replay(conn: Connection, set_id: int, version: int) -> dict[tuple[str, int], tuple[int, int, str]]:
        """(kind, id) -> (position, version, doc) of every object alive at *version*."""
        q = (
            sa.select(
                change_items.c.obj_kind,
                change_items.c.obj_id,
                change_items.c.position,
                change_items.c.after,
                changes.c.version,
            )
            .select_from(change_items.join(changes, change_items.c.change_id == changes.c.id))
            .where(changes.c.set_id == set_id, changes.c.version <= version)
            .order_by(changes.c.version, change_items.c.id)
        )
        alive: dict[tuple[str, int], tuple[int, int, str]] = {}
        for kind, obj_id, position, after, v in conn.execute(q):
            if after is None:
                alive.pop((kind, obj_id), None)
            else:
                alive[(kind, obj_id)] = (position, v, after)
        return alive

    @staticmethod
    def _state_from_replay(
        info: SetInfo, version: int, objects: dict[tuple[str, int], tuple[int, int, str]]
    ) -> SetState:
        ordered = sorted(objects.items(), key=lambda kv: (kv[1][0], kv[0][1]))
        return SetState(
            info,
            version,
            [GroupRecord(i, v, group_from_doc(d)) for (k, i), (_p, v, d) in ordered if k == "g"],
            [AnnotationRecord(i, v, annotation_from_doc(d)) for (k, i), (_p, v, d) in ordered if k == "a"],
        )

    def query(
        self, set_id: int, bbox: tuple[float, float, float, float]
    ) -> tuple[SetInfo, list[GroupRecord], Sequence[Sequence[int]]]:
        """The set, its groups and (id, version) of the annotations whose bounding box meets *bbox*
        (slide space: x0, y0, x1, y1), in set order, from one snapshot.

        An index-only range scan of the bounding-box index, whatever the set's size; callers fetch
        the documents they do not have cached with :meth:`docs`.
        """
        x0, y0, x1, y1 = bbox
        a = annotations_t.c
        # Sorted by the database (C, from the covering index's columns), fetched in one call: per-row
        # Python work was most of the cost of a zoomed-out view of thousands of annotations.
        q = (
            sa.select(a.id, a.version)
            .where(a.set_id == set_id, a.min_x <= x1, a.max_x >= x0, a.min_y <= y1, a.max_y >= y0)
            .order_by(a.position, a.id)
        )
        with self._read_set(set_id) as (conn, info):
            g_rows = conn.execute(
                sa.select(groups.c.id, groups.c.version, groups.c.doc)
                .where(groups.c.set_id == set_id)
                .order_by(groups.c.position, groups.c.id)
            )
            found = [GroupRecord(r.id, r.version, group_from_doc(r.doc)) for r in g_rows]
            index = self._viewport_index(conn, info)
            if index is not None:
                return info, found, index.query(bbox)
            return info, found, conn.execute(q).all()  # rows unpack as (id, version) tuples

    def _viewport_index(self, conn: Connection, info: SetInfo) -> _ViewportIndex | None:
        """This version of the set's bounding boxes in memory, or None: the database answers.

        Built on the second query of a version (a version being edited may never get one), for sets
        of at most VIEWPORT_INDEX_MAX annotations, from this transaction's snapshot.
        """
        if info.annotation_count > VIEWPORT_INDEX_MAX:
            return None
        with self._indexes_lock:
            seen = self._indexes.get(info.id)
            if seen is not None and seen[0] == info.version:
                if seen[1] is not None:
                    return seen[1]
            else:
                self._indexes[info.id] = (info.version, None)  # first query of this version
                return None
        a = annotations_t.c
        # The set's version is read by the same statement as the rows: one snapshot, on PostgreSQL too.
        version = sa.select(sets.c.version).where(sets.c.id == info.id).scalar_subquery()
        rows = conn.execute(
            sa.select(a.id, a.version, a.min_x, a.max_x, a.min_y, a.max_y, version.label("set_version"))
            .where(a.set_id == info.id)
            .order_by(a.position, a.id)
        ).all()
        built_at = rows[0].set_version if rows else info.version
        index = _ViewportIndex(rows)
        with self._indexes_lock:
            self._indexes[info.id] = (built_at, index)
            while len(self._indexes) > 64:  # the sets people are looking at now
                self._indexes.pop(next(iter(self._indexes)))
        return index if built_at == info.version else None

    def docs(self, set_id: int, ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        """id -> (version, JSON doc) of those of *ids* that are still in the set."""
        out: dict[int, tuple[int, str]] = {}
        a = annotations_t.c
        with self._read() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for r in conn.execute(
                    sa.select(a.id, a.version, a.doc).where(a.set_id == set_id, a.id.in_(chunk))
                ):
                    out[r.id] = (r.version, r.doc)
        return out

    def annotation(self, set_id: int, annotation_id: int) -> AnnotationRecord:
        """One current annotation. :raises NotFoundError:"""
        with self._read() as conn:
            return self._annotation(conn, set_id, annotation_id)

    def group(self, set_id: int, group_id: int) -> GroupRecord:
        """One current group. :raises NotFoundError:"""
        with self._read() as conn:
            return self._group(conn, set_id, group_id)

    @staticmethod
    def _annotation(conn: Connection, set_id: int, annotation_id: int) -> AnnotationRecord:
        row = conn.execute(
            sa.select(annotations_t.c.version, annotations_t.c.doc).where(
                annotations_t.c.id == annotation_id, annotations_t.c.set_id == set_id
            )
        ).first()
        if row is None:
            raise NotFoundError("no such annotation in this set")
        return AnnotationRecord(annotation_id, row.version, annotation_from_doc(row.doc))

    @staticmethod
    def _group(conn: Connection, set_id: int, group_id: int) -> GroupRecord:
        row = conn.execute(
            sa.select(groups.c.version, groups.c.doc).where(
                groups.c.id == group_id, groups.c.set_id == set_id
            )
        ).first()
        if row is None:
            raise NotFoundError("no such group in this set")
        return GroupRecord(group_id, row.version, group_from_doc(row.doc))

    # -- history -----------------------------------------------------------------------------------

    def history(self, set_id: int, limit: int = 100, before: int | None = None) -> list[ChangeInfo]:
        """The set's changes, newest first (*before*: only versions below it)."""
        c = changes.c
        q = (
            sa.select(c.version, c.at, c.who, c.kind, c.message, c.n_created, c.n_updated, c.n_deleted)
            .where(c.set_id == set_id)
            .order_by(c.version.desc())
            .limit(max(1, min(limit, 1000)))
        )
        if before is not None:
            q = q.where(c.version < before)
        with self._read() as conn:
            self._info(conn, set_id)
            return [ChangeInfo(*row) for row in conn.execute(q)]

    def change(self, set_id: int, version: int) -> tuple[ChangeInfo, list[ChangeItem]]:
        """One change with what it did to each object (before/after)."""
        c = changes.c
        with self._read() as conn:
            self._info(conn, set_id)
            row = conn.execute(
                sa.select(
                    c.id, c.version, c.at, c.who, c.kind, c.message, c.n_created, c.n_updated, c.n_deleted
                ).where(c.set_id == set_id, c.version == version)
            ).first()
            if row is None:
                raise NotFoundError(f"version {version} does not exist")
            items = conn.execute(
                sa.select(
                    change_items.c.obj_kind,
                    change_items.c.obj_id,
                    change_items.c.before,
                    change_items.c.after,
                )
                .where(change_items.c.change_id == row.id)
                .order_by(change_items.c.id)
            )
            return ChangeInfo(*row[1:]), [self._item(k, i, b, a) for k, i, b, a in items]

    @staticmethod
    def _item(kind: str, obj_id: int, before: str | None, after: str | None) -> ChangeItem:
        load: Callable[[str], Annotation | Group] = annotation_from_doc if kind == "a" else group_from_doc
        return ChangeItem(
            "annotation" if kind == "a" else "group",
            obj_id,
            load(before) if before is not None else None,
            load(after) if after is not None else None,
        )

    def diff(self, set_id: int, from_version: int, to_version: int | None = None) -> Diff:
        """What differs between two versions (to_version None: the current one)."""
        with self._read() as conn:
            info = self._info(conn, set_id)
            to_v = info.version if to_version is None else to_version
            for v in (from_version, to_v):
                if not 0 <= v <= info.version:
                    raise NotFoundError(f"version {v} does not exist (the set is at version {info.version})")
            old = self._replay(conn, set_id, from_version)
            new = self._replay(conn, set_id, to_v)
        result = Diff(from_version, to_v)
        for key in sorted(set(old) | set(new), key=lambda k: (k[0] != "g", k[1])):
            before = old[key][2] if key in old else None
            after = new[key][2] if key in new else None
            moved = key in old and key in new and old[key][0] != new[key][0]
            if before != after or moved:
                result.items.append(self._item(key[0], key[1], before, after))
        return result

    # -- writing -----------------------------------------------------------------------------------

    def _check_content(self, aset: AnnotationSet) -> None:
        aset.validate()
        vertices = aset.vertex_count()
        if vertices > self.max_vertices:
            raise InputTooLargeError(f"{vertices} vertices is over the limit of {self.max_vertices} per set")

    def replace(
        self,
        set_id: int,
        aset: AnnotationSet,
        who: str = ANONYMOUS,
        if_version: int | None = None,
        message: str = "",
    ) -> WriteResult:
        """Make the set's content *aset* as one change.

        Annotations are matched to the current ones by list position and groups by name, so an
        object that did not change keeps its id and version (a re-save from ASAP that edits one
        polygon is a change of that polygon only).

        :raises PreconditionFailedError: *if_version* is not the set's version.
        """
        self._check_content(aset)
        who = clean_who(who)
        return self._write_change(
            set_id,
            if_version,
            lambda conn, info, _pre: self._replace_ops(
                conn, set_id, aset, who, "replace", message or "replaced the set", info
            ),
        )

    def _replace_ops(
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
        info = info or self._info(conn, set_id, lock=True)
        ops: list[_Op] = []
        current_g = list(
            conn.execute(
                sa.select(groups.c.id, groups.c.position, groups.c.doc)
                .where(groups.c.set_id == set_id)
                .order_by(groups.c.position, groups.c.id)
            )
        )
        by_name = {json.loads(r.doc)["name"]: r for r in current_g}
        wanted = set()
        for position, g in enumerate(aset.groups):
            doc = group_doc(g)
            wanted.add(g.name)
            old = by_name.get(g.name)
            if old is None:
                ops.append(_Op("g", None, None, doc, position))
            elif old.doc != doc or old.position != position:
                ops.append(_Op("g", old.id, old.doc, doc, position))
        ops += [
            _Op("g", r.id, r.doc, None, None) for r in current_g if json.loads(r.doc)["name"] not in wanted
        ]

        current_a = list(
            conn.execute(
                sa.select(
                    annotations_t.c.id,
                    annotations_t.c.position,
                    annotations_t.c.n_points,
                    annotations_t.c.doc,
                )
                .where(annotations_t.c.set_id == set_id)
                .order_by(annotations_t.c.position, annotations_t.c.id)
            )
        )
        top = max((r.position for r in current_a), default=-1)
        for index, a in enumerate(aset.annotations):
            if index < len(current_a):
                prev = current_a[index]
                doc = annotation_doc(a)
                if doc != prev.doc:
                    op = _annotation_op(prev.id, prev.doc, a, prev.position, prev.n_points)
                    ops.append(op)
            else:
                top += 1
                ops.append(_annotation_op(None, None, a, top))
        ops += [_Op("a", r.id, r.doc, None, None, r.n_points) for r in current_a[len(aset.annotations) :]]
        return self._commit(conn, info, ops, who, kind, message, allow_empty=allow_empty)

    def _write_change(
        self,
        set_id: int,
        if_version: int | None,
        body: Callable[[Connection, SetInfo, _Prefetched], ChangeInfo | None],
        annotation_id: int | None = None,
        with_groups: bool = False,
    ) -> WriteResult:
        """Run *body* in a write transaction holding the set's lock, after importing a changed sidecar;
        write the sidecar back (before committing) when that is on. *body* gets what the lock
        statement read of *annotation_id* and the groups (when asked)."""
        pending: Path | None = None
        with self._write() as conn:
            info, pre = self._locked_read(conn, set_id, True, annotation_id, with_groups)
            if info.sidecar_path is not None and self._sync_sidecar_locked(conn, info) is not None:
                info, pre = self._info(conn, set_id), _Prefetched()  # the import changed what was read
            if if_version is not None and if_version != info.version:
                raise PreconditionFailedError(
                    f"the set changed: version {info.version}, not {if_version}", current=info.version
                )
            change = body(conn, info, pre)  # _commit keeps *info* up to date: no re-read inside the lock
            sidecar_error, pending = self._write_back(conn, set_id, change) if change else (None, None)
            if change is not None and self.sidecar_writeback and info.sidecar_path is not None:
                info.sidecar_error = sidecar_error  # what _write_back recorded
            result = WriteResult(info, change, sidecar_error=sidecar_error)
        if pending is not None:  # committed: the record of who wrote the sidecar has done its job
            _unlink_quietly(pending)
        return result

    def _commit(
        self,
        conn: Connection,
        info: SetInfo,
        ops: Sequence[_Op],
        who: str,
        kind: str,
        message: str,
        allow_empty: bool = False,
    ) -> ChangeInfo | None:
        """Append one change with *ops* and apply them to the live tables; None when nothing changed."""
        if not ops and not allow_empty:
            return None
        version = info.version + 1
        now = _now()
        created = sum(1 for o in ops if o.before is None)
        deleted = sum(1 for o in ops if o.after is None)
        updated = len(ops) - created - deleted
        values: dict[str, Any] = dict(
            set_id=info.id,
            version=version,
            at=now,
            who=who,
            kind=kind,
            message=message,
            n_created=created,
            n_updated=updated,
            n_deleted=deleted,
        )
        uid = self._user_id(conn, who)
        if uid is not None:
            values["user_id"] = uid
        change_id = conn.execute(_INSERT_CHANGE, values).inserted_primary_key[0]  # type: ignore[index]

        new_a = [o for o in ops if o.kind == "a" and o.before is None and o.obj_id is None]
        if new_a:
            rows = [
                dict(
                    set_id=info.id,
                    position=o.position,
                    version=version,
                    n_points=o.points_after,
                    min_x=o.bbox[0],
                    min_y=o.bbox[1],
                    max_x=o.bbox[2],
                    max_y=o.bbox[3],
                    doc=o.after,
                )
                for o in new_a
            ]
            ids = (
                conn.execute(
                    annotations_t.insert().returning(annotations_t.c.id, sort_by_parameter_order=True), rows
                )
                .scalars()
                .all()
            )
            for o, i in zip(new_a, ids, strict=True):
                o.obj_id = i
        inserted = {id(o) for o in new_a}
        for o in ops:
            if id(o) in inserted:
                continue
            if o.kind == "a":
                self._apply_annotation(conn, info.id, o, version)
            else:
                self._apply_group(conn, info.id, o, version)
        if ops:
            conn.execute(
                change_items.insert(),
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
            dict(b_set=info.id, version=version, updated_at=now, b_n_delta=n_delta, b_v_delta=v_delta),
        )
        info.version, info.updated_at = version, now
        info.annotation_count += n_delta
        info.vertex_count += v_delta
        return ChangeInfo(version, now, who, kind, message, created, updated, deleted)

    @staticmethod
    def _apply_annotation(conn: Connection, set_id: int, o: _Op, version: int) -> None:
        if o.after is None:
            conn.execute(annotations_t.delete().where(annotations_t.c.id == o.obj_id))
            return
        values = dict(
            position=o.position,
            version=version,
            n_points=o.points_after,
            min_x=o.bbox[0],
            min_y=o.bbox[1],
            max_x=o.bbox[2],
            max_y=o.bbox[3],
            doc=o.after,
        )
        if o.before is None:
            exists = conn.execute(sa.select(annotations_t.c.id).where(annotations_t.c.id == o.obj_id)).first()
            if exists is None:  # a restore re-creating a deleted annotation under its old id
                conn.execute(annotations_t.insert().values(id=o.obj_id, set_id=set_id, **values))
            return
        conn.execute(_UPDATE_ANNOTATION, {"b_id": o.obj_id, **values})

    @staticmethod
    def _apply_group(conn: Connection, set_id: int, o: _Op, version: int) -> None:
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

    # -- single annotations --------------------------------------------------------------------------

    def _group_names(self, conn: Connection, set_id: int, pre: _Prefetched | None = None) -> list[Group]:
        if pre is not None and pre.groups is not None:
            return pre.groups
        rows = conn.execute(
            sa.select(groups.c.doc).where(groups.c.set_id == set_id).order_by(groups.c.position, groups.c.id)
        )
        return [group_from_doc(r.doc) for r in rows]

    @staticmethod
    def _needs_groups(a: Annotation) -> bool:
        # Validation checks an annotation against the set's groups only when it names one.
        return a.group is not None and isinstance(a.group, str)

    def _check_annotation(
        self,
        conn: Connection,
        set_id: int,
        a: Annotation,
        info: SetInfo,
        pre: _Prefetched,
        points_before: int = 0,
    ) -> None:
        # Validate against the set's groups only (the rest of the set is already valid).
        AnnotationSet(
            annotations=[a], groups=self._group_names(conn, set_id, pre) if self._needs_groups(a) else []
        ).validate()
        total = info.vertex_count - points_before + len(a.coordinates)
        if total > self.max_vertices:
            raise InputTooLargeError(f"{total} vertices is over the limit of {self.max_vertices} per set")

    @staticmethod
    def _checked_annotation(
        conn: Connection, set_id: int, annotation_id: int, if_version: int | None, pre: _Prefetched
    ) -> Any:
        """The annotation's row, after checking that *if_version* (when given) is its version."""
        a = annotations_t.c
        if pre.annotation_read:
            row: Any = pre.annotation
        else:
            row = conn.execute(
                sa.select(a.version, a.position, a.n_points, a.doc).where(
                    a.id == annotation_id, a.set_id == set_id
                )
            ).first()
        if row is None:
            raise NotFoundError("no such annotation in this set")
        if if_version is not None and if_version != row.version:
            raise PreconditionFailedError(
                f"the annotation changed: version {row.version}, not {if_version}",
                current=AnnotationRecord(annotation_id, row.version, annotation_from_doc(row.doc)),
            )
        return row

    @staticmethod
    def _checked_group(conn: Connection, set_id: int, group_id: int, if_version: int | None) -> Any:
        """The group's row, after checking that *if_version* (when given) is its version."""
        row = conn.execute(
            sa.select(groups.c.version, groups.c.position, groups.c.doc).where(
                groups.c.id == group_id, groups.c.set_id == set_id
            )
        ).first()
        if row is None:
            raise NotFoundError("no such group in this set")
        if if_version is not None and if_version != row.version:
            raise PreconditionFailedError(
                f"the group changed: version {row.version}, not {if_version}",
                current=GroupRecord(group_id, row.version, group_from_doc(row.doc)),
            )
        return row

    def create_annotation(self, set_id: int, a: Annotation, who: str = ANONYMOUS) -> WriteResult:
        """Append one annotation to the set (a change of its own)."""
        who = clean_who(who)
        created: list[int] = []

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            self._check_annotation(conn, set_id, a, info, pre)
            top = conn.execute(
                sa.select(sa.func.max(annotations_t.c.position)).where(annotations_t.c.set_id == set_id)
            ).scalar()
            op = _annotation_op(None, None, a, (top if top is not None else -1) + 1)
            change = self._commit(conn, info, [op], who, "create", f"created annotation {a.name!r}")
            assert op.obj_id is not None
            created.append(op.obj_id)
            return change

        result = self._write_change(set_id, None, body, with_groups=self._needs_groups(a))
        result.annotation = AnnotationRecord(created[0], result.info.version, a)
        return result

    def update_annotation(
        self,
        set_id: int,
        annotation_id: int,
        a: Annotation,
        who: str = ANONYMOUS,
        if_version: int | None = None,
    ) -> WriteResult:
        """Replace one annotation; *if_version* is the annotation's version the client edited.

        :raises PreconditionFailedError: with the current annotation, when *if_version* is stale.
        """
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            row = self._checked_annotation(conn, set_id, annotation_id, if_version, pre)
            self._check_annotation(conn, set_id, a, info, pre, row.n_points)
            op = _annotation_op(annotation_id, row.doc, a, row.position, row.n_points)
            if op.after == row.doc:
                unchanged.append(row.version)
                return None
            return self._commit(conn, info, [op], who, "update", f"updated annotation {a.name!r}")

        unchanged: list[int] = []
        result = self._write_change(set_id, None, body, annotation_id, self._needs_groups(a))
        stored = annotation_from_doc(annotation_doc(a))  # as a read would return it
        result.annotation = AnnotationRecord(
            annotation_id, unchanged[0] if unchanged else result.info.version, stored
        )
        return result

    def delete_annotation(
        self, set_id: int, annotation_id: int, who: str = ANONYMOUS, if_version: int | None = None
    ) -> WriteResult:
        """Delete one annotation (kept in the history).

        :raises PreconditionFailedError: with the current annotation, when *if_version* is stale.
        """
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            row = self._checked_annotation(conn, set_id, annotation_id, if_version, pre)
            name = json.loads(row.doc)["name"]
            return self._commit(
                conn,
                info,
                [_Op("a", annotation_id, row.doc, None, None, row.n_points)],
                who,
                "delete",
                f"deleted annotation {name!r}",
            )

        return self._write_change(set_id, None, body, annotation_id)

    # -- single groups -------------------------------------------------------------------------------

    def create_group(self, set_id: int, g: Group, who: str = ANONYMOUS) -> WriteResult:
        """Add one group at the end of the set's group list."""
        who = clean_who(who)
        made: list[int] = []

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            AnnotationSet(groups=[*self._group_names(conn, set_id), g]).validate()
            top = conn.execute(
                sa.select(sa.func.max(groups.c.position)).where(groups.c.set_id == set_id)
            ).scalar()
            op = _Op("g", None, None, group_doc(g), (top if top is not None else -1) + 1)
            change = self._commit(conn, info, [op], who, "create", f"created group {g.name!r}")
            assert op.obj_id is not None
            made.append(op.obj_id)
            return change

        result = self._write_change(set_id, None, body)
        result.group = GroupRecord(made[0], result.info.version, g)
        return result

    def update_group(
        self, set_id: int, group_id: int, g: Group, who: str = ANONYMOUS, if_version: int | None = None
    ) -> WriteResult:
        """Replace one group. A new name is carried to its annotations and child groups, in the
        same change (ASAP links them by name)."""
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            row = self._checked_group(conn, set_id, group_id, if_version)
            old_name = json.loads(row.doc)["name"]
            others = list(
                conn.execute(
                    sa.select(groups.c.id, groups.c.position, groups.c.doc).where(
                        groups.c.set_id == set_id, groups.c.id != group_id
                    )
                )
            )
            ops = []
            new_groups = [g]
            for other in others:
                og = group_from_doc(other.doc)
                if g.name != old_name and og.parent == old_name:
                    og.parent = g.name
                    ops.append(_Op("g", other.id, other.doc, group_doc(og), other.position))
                new_groups.append(og)
            AnnotationSet(groups=new_groups).validate()
            doc = group_doc(g)
            if doc != row.doc:
                ops.insert(0, _Op("g", group_id, row.doc, doc, row.position))
            if g.name != old_name:
                members = conn.execute(
                    sa.select(
                        annotations_t.c.id,
                        annotations_t.c.position,
                        annotations_t.c.n_points,
                        annotations_t.c.doc,
                    ).where(annotations_t.c.set_id == set_id)
                )
                for m in members:
                    a = annotation_from_doc(m.doc)
                    if a.group == old_name:
                        a.group = g.name
                        ops.append(_annotation_op(m.id, m.doc, a, m.position, m.n_points))
            return self._commit(conn, info, ops, who, "update", f"updated group {g.name!r}")

        result = self._write_change(set_id, None, body)
        with self._read() as conn:
            result.group = self._group(conn, set_id, group_id)
        return result

    def delete_group(
        self, set_id: int, group_id: int, who: str = ANONYMOUS, if_version: int | None = None
    ) -> WriteResult:
        """Delete an empty group. :raises ConflictError: it still has annotations or child groups."""
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            row = self._checked_group(conn, set_id, group_id, if_version)
            name = json.loads(row.doc)["name"]
            members = sum(
                1
                for (d,) in conn.execute(
                    sa.select(annotations_t.c.doc).where(annotations_t.c.set_id == set_id)
                )
                if json.loads(d)["group"] == name
            )
            children = sum(1 for g in self._group_names(conn, set_id) if g.parent == name)
            if members or children:
                raise ConflictError(
                    f"group {name!r} is not empty: {members} annotations, {children} child groups",
                    [f"move or delete the {members} annotations and {children} child groups first"],
                )
            return self._commit(
                conn,
                info,
                [_Op("g", group_id, row.doc, None, None)],
                who,
                "delete",
                f"deleted group {name!r}",
            )

        return self._write_change(set_id, None, body)

    # -- restore -----------------------------------------------------------------------------------

    def restore(
        self, set_id: int, version: int, who: str = ANONYMOUS, if_version: int | None = None
    ) -> WriteResult:
        """Make the set's content what it was at *version*, as a new change (ids are kept, so deleted
        objects come back under their old ids)."""
        who = clean_who(who)

        def body(conn: Connection, info: SetInfo, pre: _Prefetched) -> ChangeInfo | None:
            if not 0 <= version <= info.version:
                raise NotFoundError(
                    f"version {version} does not exist (the set is at version {info.version})"
                )
            target = self._replay(conn, set_id, version)
            now = self._replay(conn, set_id, info.version)
            ops: list[_Op] = []
            for key in sorted(set(target) | set(now), key=lambda k: (k[0] != "g", k[1])):
                kind, obj_id = key
                before = now[key][2] if key in now else None
                after = target[key][2] if key in target else None
                position = target[key][0] if key in target else None
                if before == after and (key not in now or now[key][0] == position):
                    continue
                op = _Op(kind, obj_id, before, after, position, _points_of(before) if kind == "a" else 0)
                if kind == "a" and after is not None:
                    a = annotation_from_doc(after)
                    op.points_after, op.bbox = len(a.coordinates), _bbox(a)
                ops.append(op)
            return self._commit(
                conn, info, ops, who, "restore", f"restored version {version}", allow_empty=True
            )

        return self._write_change(set_id, if_version, body)

    # -- sidecars ----------------------------------------------------------------------------------

    def sync_sidecar(self, set_id: int) -> None:
        """Import the set's sidecar XML as a new change if it changed on disk since we last saw it."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(sets.c.sidecar_path, sets.c.sidecar_mtime_ns, sets.c.sidecar_size).where(
                    sets.c.id == set_id
                )
            ).first()
        if row is None or row.sidecar_path is None:
            return
        sig = _signature(Path(row.sidecar_path))
        if sig is None or sig == (row.sidecar_mtime_ns, row.sidecar_size):
            return
        with self._write() as conn:
            # The file is the source of this change: nothing to write back.
            self._sync_sidecar_locked(conn, self._info(conn, set_id, lock=True))

    def _sync_sidecar_locked(self, conn: Connection, info: SetInfo) -> ChangeInfo | None:
        row = conn.execute(
            sa.select(
                sets.c.sidecar_path,
                sets.c.sidecar_mtime_ns,
                sets.c.sidecar_size,
                sets.c.sidecar_sha256,
                sets.c.sidecar_error,
            ).where(sets.c.id == info.id)
        ).first()
        if row is None or row.sidecar_path is None:
            return None
        path = Path(row.sidecar_path)
        sig = _signature(path)
        if sig is None or sig == (row.sidecar_mtime_ns, row.sidecar_size):
            return None  # a deleted sidecar leaves the store as it is
        shown = self._sidecar.display(path)
        real = self._sidecar.real_path(path)
        try:
            if real is None:
                raise FileNotFoundError(errno.ENOENT, "no longer a file inside the slide directory")
            aset, data, sig = self._sidecar.read(real)
            aset.validate()
        except (ViewerError, OSError) as exc:
            error = f"{shown} changed on disk but cannot be imported: {_reason(exc)}"
            if row.sidecar_error != error:
                conn.execute(sets.update().where(sets.c.id == info.id).values(sidecar_error=error))
            return None
        digest = hashlib.sha256(data).hexdigest()
        conn.execute(
            sets.update()
            .where(sets.c.id == info.id)
            .values(sidecar_mtime_ns=sig[0], sidecar_size=sig[1], sidecar_sha256=digest, sidecar_error=None)
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
        return self._replace_ops(conn, info.id, aset, who, kind, message, info)

    @staticmethod
    def _pending_change(real: Path, info: SetInfo, digest: str) -> dict[str, Any] | None:
        """The record a write-back left beside *real* before its rename, if it describes exactly
        this content as the set's next version (so neither a stale record nor an edit on disk
        since is ever attributed to it)."""
        try:
            record = json.loads(_pending_path(real).read_bytes())
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

    def _write_back(
        self, conn: Connection, set_id: int, change: ChangeInfo
    ) -> tuple[str | None, Path | None]:
        """Write the set's state to its sidecar (inside the transaction, before commit).

        Before the rename a record of the change (author, kind, set version, digest of the new
        file) goes beside the file, so that if this process dies before the commit, the re-import
        of the file at the next access is the author's change, not an anonymous edit on disk.

        :returns: the error text when writing failed (the change is kept in the store regardless),
            and the record to remove once the transaction has committed.
        """
        if not self.sidecar_writeback:
            return None, None
        row = conn.execute(
            sa.select(
                sets.c.sidecar_path, sets.c.sidecar_mtime_ns, sets.c.sidecar_size, sets.c.sidecar_error
            ).where(sets.c.id == set_id)
        ).first()
        if row is None or row.sidecar_path is None:
            return None, None
        path = Path(row.sidecar_path)
        shown = self._sidecar.display(path)
        sig = _signature(path)
        if sig is not None and sig != (row.sidecar_mtime_ns, row.sidecar_size):
            # Changed on disk and not importable (else the sync before this change imported it):
            # never overwrite a file we did not write.
            return row.sidecar_error or f"{shown} changed on disk; not overwritten", None
        real = self._sidecar.real_path(path)
        if real is None:
            error = f"could not write {shown}: no longer a file inside the slide directory"
            conn.execute(sets.update().where(sets.c.id == set_id).values(sidecar_error=error))
            return error, None
        from viewer.annotations.asap import write_asap

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
        data = write_asap(aset)
        digest = hashlib.sha256(data).hexdigest()
        pending = _pending_path(real)
        record = {
            "set": set_id, "version": change.version, "sha256": digest,
            "who": change.who, "kind": change.kind, "message": change.message, "at": change.at,
        }
        try:
            from viewer.atomicfile import write_atomic

            # The sidecar's own rename just below fsyncs the folder, making this name durable too.
            write_atomic(pending, json.dumps(record).encode(), sync_directory=False)
            new_sig = _write_sidecar(real, data)
        except OSError as exc:
            _unlink_quietly(pending)
            error = f"could not write {shown}: {_reason(exc)}"
            log.error("sidecar write-back failed: %s", error)
            conn.execute(sets.update().where(sets.c.id == set_id).values(sidecar_error=error))
            return error, None
        if _PAUSE_AFTER_SIDECAR_RENAME is not None:
            _pause_for_test(_PAUSE_AFTER_SIDECAR_RENAME)
        conn.execute(
            sets.update()
            .where(sets.c.id == set_id)
            .values(
                sidecar_mtime_ns=new_sig[0],
                sidecar_size=new_sig[1],
                sidecar_sha256=digest,
                sidecar_error=None,
            )
        )
        return None, pending

    def sweep_sidecar_leftovers(self) -> list[Path]:
        """Remove what writers killed mid-write left beside the sidecars of every set: temporary
        files nobody holds any more and over a minute old (:mod:`viewer.atomicfile`), and records of
        write-backs whose change was committed (or superseded) after all. Runs at start-up.

        One listing per folder that holds a sidecar: a bounded list from the database, not a walk
        of the slide tree.

        :returns: the files removed.
        """
        return self._sweep_folders(self._sidecar_rows())

    def _sidecar_rows(self) -> list[tuple[int, int, str]]:
        """(set id, version, sidecar path) of every set bound to a sidecar."""
        with self._read() as conn:
            query = sa.select(sets.c.id, sets.c.version, sets.c.sidecar_path).where(
                sets.c.sidecar_path.is_not(None)
            )
            return [(int(r.id), int(r.version), str(r.sidecar_path)) for r in conn.execute(query)]

    def _sweep_folders(self, rows: list[tuple[int, int, str]]) -> list[Path]:
        from viewer.atomicfile import remove_leftovers_in

        by_folder: dict[Path, dict[str, list[tuple[int, int]]]] = {}
        for set_id, version, sidecar_path in rows:
            real = self._sidecar.real_path(Path(sidecar_path))
            if real is not None:
                by_folder.setdefault(real.parent, {}).setdefault(real.name, []).append((set_id, version))
        removed: list[Path] = []
        for folder, names in by_folder.items():
            removed += remove_leftovers_in(folder, names)
            for name, owners in names.items():
                pending = _pending_path(folder / name)
                try:
                    record = json.loads(pending.read_bytes())
                    stale = any(record["set"] == set_id and record["version"] <= version
                                for set_id, version in owners)
                except (OSError, ValueError, TypeError, KeyError):
                    continue
                if stale:
                    _unlink_quietly(pending)
                    removed.append(pending)
        if removed:
            log.info("removed %d leftovers of interrupted sidecar writes", len(removed))
        return removed

    def _sweep_quietly(self, rows: list[tuple[int, int, str]]) -> None:
        try:
            self._sweep_folders(rows)
        except Exception:  # noqa: BLE001 - housekeeping must never take the store down
            log.warning("sidecar leftover sweep did not finish", exc_info=True)


class StoreUnavailableError(UnavailableError):
    """The database cannot be reached (a PostgreSQL server down) or stays locked."""


__all__ = [
    "ANONYMOUS",
    "AnnotationRecord",
    "ChangeInfo",
    "ChangeItem",
    "Diff",
    "GroupRecord",
    "SCHEMA_VERSION",
    "SetInfo",
    "SetState",
    "Store",
    "StoreUnavailableError",
    "WriteResult",
    "annotation_doc",
    "annotation_from_doc",
        "clean_who",
    "database_url",
    "name_from_file",
    "group_doc",
    "group_from_doc",
]
