"""The viewport index also covers position and version (index-only viewport queries).

Schema version 3 of the in-house runner.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_annotations_bbox", table_name="annotations")
    op.create_index(
        "ix_annotations_viewport",
        "annotations",
        ["set_id", "min_x", "max_x", "min_y", "max_y", "position", "id", "version"],
    )
