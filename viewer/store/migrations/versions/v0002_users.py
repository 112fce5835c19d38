"""A users table (one row per distinct ``who``), referenced from every change; backfilled.

Schema version 2 of the in-house runner. Plain SQL throughout, so the offline script (``wsi-viewer
db upgrade --sql``) does what a run does: a user is dated by their first change (the runner of
version 2 dated every user by the upgrade itself).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    # Inline REFERENCES: SQLite cannot add a constraint to an existing table, and this is the
    # column (and, on PostgreSQL, the constraint name changes_user_id_fkey) the runner made.
    op.execute("ALTER TABLE changes ADD COLUMN user_id INTEGER REFERENCES users(id)")
    op.execute(
        "INSERT INTO users (name, created_at) SELECT who, MIN(at) FROM changes GROUP BY who ORDER BY who"
    )
    op.execute("UPDATE changes SET user_id = (SELECT id FROM users WHERE users.name = changes.who)")
