"""The tables of the annotation store, as they are at the newest schema revision.

The one definition the store's statements are built from. The Alembic revisions in
``migrations/versions/`` build the same tables step by step, each frozen as it was written (a test
compares a migrated database with :data:`metadata`, so the two cannot drift apart).

Data model (all coordinates in **slide space**, level-0 px)::

    slides ──< annotation_sets ──< annotation_groups    one row per live object; ``doc`` is the
                               ├──< annotations         model's fields as JSON, ``version`` the
                               └──< changes ──< change_items    set version that last changed it
    users ──< changes
    idempotency_keys                                    answers of writes sent with an Idempotency-Key
    users ──< sessions, api_tokens; login_failures      accounts (viewer/auth; revision 0006)
    users ──< annotation_sets.owner_id, set_editors      per-set sharing (revision 0007)

Annotations carry their bounding box in indexed columns (viewport queries). Annotation and set ids
are never handed out twice, on SQLite too (AUTOINCREMENT, revision 0008).
"""

from __future__ import annotations

import sqlalchemy as sa

#: The longest set name, user name (``who``) and change kind the tables take.
MAX_NAME = 200

metadata = sa.MetaData()

slides = sa.Table(
    "slides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),  # slide id: path under the slide root
    sa.Column("quickhash", sa.String(64), index=True),  # openslide.quickhash-1: survives renames
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("sidecar_error", sa.Text),  # why a sidecar found at first use was not imported
)

sets = sa.Table(
    "annotation_sets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slide_id", sa.Integer, sa.ForeignKey("slides.id"), nullable=False),
    sa.Column("name", sa.String(MAX_NAME), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("annotation_count", sa.Integer, nullable=False),
    sa.Column("vertex_count", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_by", sa.String(MAX_NAME), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("sidecar_path", sa.Text),  # the ASAP XML this set is bound to (absolute)
    sa.Column("sidecar_mtime_ns", sa.BigInteger),  # signature of the file as we last read/wrote it
    sa.Column("sidecar_size", sa.BigInteger),
    sa.Column("sidecar_sha256", sa.String(64)),
    sa.Column("sidecar_error", sa.Text),  # last failure to read or write the sidecar, else NULL
    # what the reader tolerated in the sidecar as last imported: a JSON array of lines (revision 0004)
    sa.Column("sidecar_warnings", sa.Text),
    sa.UniqueConstraint("slide_id", "name", name="uq_sets_slide_name"),
    # who owns the set and who else reads and edits it (revision 0007; viewer/auth/permissions.py)
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id")),  # NULL: made before or under AUTH=none
    sa.Column("sharing", sa.String(10), nullable=False, server_default="edit"),  # private | read | edit
    # ids never reused on SQLite either (revision 0008): a deleted set's id never names another
    sqlite_autoincrement=True,
)

groups = sa.Table(
    "annotation_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
)

annotations_t = sa.Table(
    "annotations",
    metadata,
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
    # ids never reused on SQLite either (revision 0008): caches keyed by (id, version) stay right
    sqlite_autoincrement=True,
)
_a = annotations_t.c
# Viewport queries are index-only range scans of this covering index: set, then x extent, then y,
# then what a query returns, in list order (revision 0003).
sa.Index(
    "ix_annotations_viewport",
    _a.set_id,
    _a.min_x,
    _a.max_x,
    _a.min_y,
    _a.max_y,
    _a.position,
    _a.id,
    _a.version,
)
sa.Index("ix_annotations_set_position", _a.set_id, _a.position)

# One row per distinct ``who`` (revision 0002); accounts (revision 0006) are the rows with a
# password hash (builtin) or a role given them (proxy): history authors without one cannot log in.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(MAX_NAME), nullable=False, unique=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("password_hash", sa.Text),  # Argon2id (argon2-cffi's encoded form); NULL: cannot log in
    sa.Column("role", sa.String(20)),  # viewer | annotator | admin; NULL: no account (a history author)
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("who", sa.String(MAX_NAME), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("n_created", sa.Integer, nullable=False),
    sa.Column("n_updated", sa.Integer, nullable=False),
    sa.Column("n_deleted", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),  # added by revision 0002: last
    sa.UniqueConstraint("set_id", "version", name="uq_changes_set_version"),
)

change_items = sa.Table(
    "change_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=False, index=True),
    sa.Column("obj_kind", sa.String(1), nullable=False),  # "a" annotation, "g" group
    sa.Column("obj_id", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer),  # position after the change (NULL when deleted)
    sa.Column("before", sa.Text),  # JSON doc, NULL when created
    sa.Column("after", sa.Text),  # JSON doc, NULL when deleted
)

# Answers of writes sent with an Idempotency-Key, written in the write's transaction (revision 0005).
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("set_id", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # sha256 of the request
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("location", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False, index=True),
)

# Accounts (revision 0006, viewer/auth). Secrets are stored as their sha256 only: a session id or
# an API token read from the database cannot be replayed. Times are Unix seconds (UTC).
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),  # NULL: a login form's pre-session
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("label", sa.String(MAX_NAME), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),  # NULL: in use
)

# Users granted editing of a set besides its owner (revision 0007).
set_editors = sa.Table(
    "set_editors",
    metadata,
    sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(MAX_NAME), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
sa.Index("ix_login_failures_name_address_at", login_failures.c.name, login_failures.c.address,
         login_failures.c.at)
