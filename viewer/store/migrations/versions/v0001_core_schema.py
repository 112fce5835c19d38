"""Core schema: slides, sets, groups, annotations, append-only history.

Schema version 1 of the in-house runner (``wsi_schema_version``), which this reproduces exactly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("quickhash", sa.String(64), index=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("sidecar_error", sa.Text),
    )
    op.create_table(
        "annotation_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slide_id", sa.Integer, sa.ForeignKey("slides.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("annotation_count", sa.Integer, nullable=False),
        sa.Column("vertex_count", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("sidecar_path", sa.Text),
        sa.Column("sidecar_mtime_ns", sa.BigInteger),
        sa.Column("sidecar_size", sa.BigInteger),
        sa.Column("sidecar_sha256", sa.String(64)),
        sa.Column("sidecar_error", sa.Text),
        sa.UniqueConstraint("slide_id", "name", name="uq_sets_slide_name"),
    )
    op.create_table(
        "annotation_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("min_x", sa.Float),
        sa.Column("min_y", sa.Float),
        sa.Column("max_x", sa.Float),
        sa.Column("max_y", sa.Float),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_annotations_bbox", "annotations", ["set_id", "min_x", "max_x", "min_y", "max_y", "id"]
    )
    op.create_index("ix_annotations_set_position", "annotations", ["set_id", "position"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_id", sa.Integer, sa.ForeignKey("annotation_sets.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("n_created", sa.Integer, nullable=False),
        sa.Column("n_updated", sa.Integer, nullable=False),
        sa.Column("n_deleted", sa.Integer, nullable=False),
        sa.UniqueConstraint("set_id", "version", name="uq_changes_set_version"),
    )
    op.create_table(
        "change_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=False, index=True),
        sa.Column("obj_kind", sa.String(1), nullable=False),
        sa.Column("obj_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
