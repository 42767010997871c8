"""Alembic environment for the incident store. breachkit runs migrations itself (store.migrate) and
hands the connection over in ``config.attributes["connection"]``; `alembic` on the command line is
not needed."""

from __future__ import annotations

from alembic import context

from breachkit.incidents.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
