"""The scheduled scan remembers its rule set (which rules ran, which did not and why), so it alerts once when a
rule stops running.

Revision ID: 0005
Revision ID follows 0004 (disclosures).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan_state") as batch:
        batch.add_column(sa.Column("rules", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_state") as batch:
        batch.drop_column("rules")
