"""Answers of writes sent with an ``Idempotency-Key`` header, kept in the write's own transaction so
that a client replaying a request whose answer it lost gets the same answer and the write is applied
once (``viewer/store/idempotency.py``). Rows older than ``IDEMPOTENCY_RETENTION_S`` are pruned.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("set_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("location", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
