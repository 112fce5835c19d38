"""What the ASAP reader tolerated in a set's sidecar (groups sharing a name, text inside
``<Coordinates>``, decimal commas...), kept per set as a JSON array of lines; NULL: none.

The first revision after the in-house runner's three: filled at the next import of each sidecar.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("annotation_sets", sa.Column("sidecar_warnings", sa.Text))
