"""Annotation and set ids are never reused (issue 12): on SQLite, ``annotations`` and
``annotation_sets`` are rebuilt with ``INTEGER PRIMARY KEY AUTOINCREMENT``, every row, column, index
and foreign key kept as it was.

Without AUTOINCREMENT SQLite gives a new row the largest id + 1, so the newest annotation deleted
and another drawn got the deleted one's id (at version 1 both), and caches keyed by id and version
(the summary records, a browser's) served the deleted one for the new one. ``sqlite_sequence`` is
seeded above every id still visible: the rows, and the ids the history (``change_items``), the
changes and the kept idempotent answers name, so an id a history or a cache knows never comes back.

PostgreSQL's sequences never hand an id out twice: nothing to do there.

Plain SQL throughout, so the offline script (``wsi-viewer db upgrade --sql``) does what a run does.
The store runs every upgrade in one transaction with ``foreign_keys`` on, where the pragma cannot be
turned off; a table others refer to cannot be rebuilt the usual way (a new table renamed over the
dropped one): the drop counts each referring row as a violation and only rows inserted into the
table of that name take it back. So each table's rows are held in a temporary table, the table is
dropped and created again under its own name, and the rows go back into it, with the foreign key
checks deferred to the commit (where they must all hold again).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The tables as revisions 0001..0007 left them (column order, types, defaults, constraint names, the
#: inline ``REFERENCES`` of 0007), but for ``id``, now AUTOINCREMENT.
SETS = """CREATE TABLE annotation_sets (
\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
\tslide_id INTEGER NOT NULL,
\tname VARCHAR(200) NOT NULL,
\tversion INTEGER NOT NULL,
\tannotation_count INTEGER NOT NULL,
\tvertex_count BIGINT NOT NULL,
\tcreated_at VARCHAR(40) NOT NULL,
\tcreated_by VARCHAR(200) NOT NULL,
\tupdated_at VARCHAR(40) NOT NULL,
\tsidecar_path TEXT,
\tsidecar_mtime_ns BIGINT,
\tsidecar_size BIGINT,
\tsidecar_sha256 VARCHAR(64),
\tsidecar_error TEXT,
\tsidecar_warnings TEXT,
\towner_id INTEGER REFERENCES users(id),
\tsharing VARCHAR(10) DEFAULT 'edit' NOT NULL,
\tCONSTRAINT uq_sets_slide_name UNIQUE (slide_id, name),
\tFOREIGN KEY(slide_id) REFERENCES slides (id)
)"""
SETS_COLUMNS = (
    "id, slide_id, name, version, annotation_count, vertex_count, created_at, created_by, updated_at, "
    "sidecar_path, sidecar_mtime_ns, sidecar_size, sidecar_sha256, sidecar_error, sidecar_warnings, "
    "owner_id, sharing"
)
ANNOTATIONS = """CREATE TABLE annotations (
\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
\tset_id INTEGER NOT NULL,
\tposition INTEGER NOT NULL,
\tversion INTEGER NOT NULL,
\tn_points INTEGER NOT NULL,
\tmin_x FLOAT,
\tmin_y FLOAT,
\tmax_x FLOAT,
\tmax_y FLOAT,
\tdoc TEXT NOT NULL,
\tFOREIGN KEY(set_id) REFERENCES annotation_sets (id)
)"""
ANNOTATIONS_COLUMNS = "id, set_id, position, version, n_points, min_x, min_y, max_x, max_y, doc"
#: The indexes of annotations (0001, 0003); the set's unique constraint comes with its table.
ANNOTATION_INDEXES = (
    "CREATE INDEX ix_annotations_set_position ON annotations (set_id, position)",
    "CREATE INDEX ix_annotations_viewport ON annotations "
    "(set_id, min_x, max_x, min_y, max_y, position, id, version)",
)
#: Per table, the ids known besides its rows: the next id is above all of them.
KNOWN_IDS = {
    "annotation_sets": (
        "SELECT max(id) FROM annotation_sets",
        "SELECT max(set_id) FROM changes",
        "SELECT max(set_id) FROM idempotency_keys",
    ),
    "annotations": (
        "SELECT max(id) FROM annotations",
        "SELECT max(obj_id) FROM change_items WHERE obj_kind = 'a'",
    ),
}


def _rebuild(table: str, create: str, columns: str, indexes: tuple[str, ...] = ()) -> None:
    hold = f"v0008_{table}"
    op.execute(f"CREATE TEMP TABLE {hold} AS SELECT {columns} FROM main.{table}")
    op.execute(f"DROP TABLE main.{table}")  # its indexes go with it
    op.execute(create)
    # in id order: the rows as they were, and the deferred counter of violations back to zero
    op.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM temp.{hold} ORDER BY id")
    op.execute(f"DROP TABLE temp.{hold}")
    for statement in indexes:
        op.execute(statement)


def _seed_sequence(table: str) -> None:
    # the insert above left a row only when the table had rows: one, whatever was there
    op.execute(
        f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', 0 "
        f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
    )
    known = ", ".join(f"coalesce(({q}), 0)" for q in KNOWN_IDS[table])
    op.execute(f"UPDATE sqlite_sequence SET seq = max(seq, {known}) WHERE name = '{table}'")


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    # Checked at the commit instead of at each statement (reset by the commit itself): between the
    # drop and the insert, the groups, changes, annotations and editors of every set refer to none.
    op.execute("PRAGMA defer_foreign_keys = ON")
    _rebuild("annotation_sets", SETS, SETS_COLUMNS)
    _rebuild("annotations", ANNOTATIONS, ANNOTATIONS_COLUMNS, ANNOTATION_INDEXES)
    for table in KNOWN_IDS:
        _seed_sequence(table)
