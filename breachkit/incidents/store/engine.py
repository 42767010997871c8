"""Opening the incident store's database: SQLite (WAL, BEGIN IMMEDIATE) or PostgreSQL, migrated once per
process to the newest Alembic revision."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from breachkit.incidents.store.head import HEAD_REVISION, MIGRATIONS

READ_ONLY = "breachkit_read_only"  # execution option: a transaction that only reads

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def create_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    password = os.environ.get("BREACHKIT_DB_PASSWORD")
    if password and parsed.password is None and not parsed.drivername.startswith("sqlite"):
        parsed = parsed.set(password=password)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database
        if database and database != ":memory:":
            path = Path(database)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # created 0600: the store holds personal data
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(parsed, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit is atomic and never corrupts; a power cut may lose the last commits,
            # which the outbox tolerates (a lost "sent" leaves "sending", which becomes "unknown").
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # Writers take the write lock up front; reads (`IncidentStore.read`) run on a WAL snapshot beside them.
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None  # a new store: Alembic creates it
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision: checked once per database per process, and Alembic is
    only imported when the database is behind."""
    key = engine.url.render_as_string(hide_password=True)
    with _migrate_lock:
        if key in _migrated:
            return
        if _current_revision(engine) != HEAD_REVISION:
            _upgrade(engine)
        _migrated.add(key)


def alembic_head() -> str:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # two processes starting at once migrate one after the other
            conn.execute(text("SELECT pg_advisory_xact_lock(7316201)"))
        if MigrationContext.configure(conn).get_current_revision() == alembic_head():
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def forget_migrated(engine: Engine) -> None:
    """Tests that downgrade a store on purpose make the next open check it again."""
    with _migrate_lock:
        _migrated.discard(engine.url.render_as_string(hide_password=True))
