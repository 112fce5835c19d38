"""Per-set permissions (issue 16): a set's owner (``users.id``), its sharing (``private`` | ``read``
| ``edit``) and the users granted editing (``set_editors``). Sets made before (or under AUTH=none)
have no owner and sharing ``edit``: everyone who may edit sets edits them, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Inline REFERENCES: SQLite cannot add a constraint to an existing table (as revision 0002).
    op.execute("ALTER TABLE annotation_sets ADD COLUMN owner_id INTEGER REFERENCES users(id)")
    op.add_column(
        "annotation_sets",
        sa.Column("sharing", sa.String(10), nullable=False, server_default="edit"),
    )
    op.create_table(
        "set_editors",
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    )
