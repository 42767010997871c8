"""The disclosure record: approvals (four eyes: the hash of every approved message) and the documents filed with
authorities (their exact bytes), both append-only; and the outbox's message bytes move into their own table
(`outbox_messages`, written once), so that a message's state changes no longer rewrite its bytes.

Revision ID: 0004
Revises: 0003 (users)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

T = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("approved_at", T, nullable=False),
        sa.Column("approved_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_approvals_incident_id", "approvals", ["incident_id"])
    op.create_table(
        "filed_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", T, nullable=False),
        sa.UniqueConstraint("record_id", name="uq_filed_documents_record_id"),
    )
    op.create_index("ix_filed_documents_incident_id", "filed_documents", ["incident_id"])
    for table in ("approvals", "filed_documents"):
        _append_only(table)
    # The bytes go aside first (a table nothing refers to), then the column goes: on SQLite the outbox table is
    # copied and the old one dropped, which a foreign key pointing at it would refuse.
    op.create_table("outbox_messages_moving", sa.Column("outbox_id", sa.Integer, primary_key=True),
                    sa.Column("message", sa.LargeBinary, nullable=False))
    op.execute("INSERT INTO outbox_messages_moving (outbox_id, message) SELECT id, message FROM outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("message")
    op.create_table(
        "outbox_messages",
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), primary_key=True),
        sa.Column("message", sa.LargeBinary, nullable=False),
    )
    op.execute("INSERT INTO outbox_messages (outbox_id, message) SELECT outbox_id, message FROM outbox_messages_moving")
    op.drop_table("outbox_messages_moving")
    _append_only("outbox_messages")  # the bytes handed to the server never change


def _append_only(table: str) -> None:
    """The database itself refuses UPDATE and DELETE on these records."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only'; END $$""")
        op.execute(f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END""")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table("outbox_messages_moving", sa.Column("outbox_id", sa.Integer, primary_key=True),
                    sa.Column("message", sa.LargeBinary, nullable=False))
    op.execute("INSERT INTO outbox_messages_moving (outbox_id, message) SELECT outbox_id, message FROM outbox_messages")
    op.drop_table("outbox_messages")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message", sa.LargeBinary, nullable=False,
                                   server_default=sa.text("X''" if sqlite else "''::bytea")))
    op.execute("UPDATE outbox SET message = (SELECT message FROM outbox_messages_moving "
               "WHERE outbox_messages_moving.outbox_id = outbox.id)")
    op.drop_table("outbox_messages_moving")
    op.drop_table("filed_documents")
    op.drop_table("approvals")
    if not sqlite:  # dropping a table drops its triggers; their functions remain
        for table in ("approvals", "filed_documents", "outbox_messages"):
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
