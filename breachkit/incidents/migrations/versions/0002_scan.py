"""The scheduled scan's checkpoint and the detections it has already reported.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scan_state",
        sa.Column("engine", sa.String(32), primary_key=True),
        sa.Column("until", T, nullable=False),
        sa.Column("run_at", T, nullable=False),
    )
    op.create_table(
        "scan_seen",
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("last_seen", T, nullable=False),
        sa.Column("reported_at", T, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scan_seen")
    op.drop_table("scan_state")
