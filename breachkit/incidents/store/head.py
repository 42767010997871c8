"""Where the incident store is and which schema revision is current — plain values, importable without
SQLAlchemy (the direct SQLite reader needs them too)."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The newest migration. `migrate` compares the database's revision with it before importing Alembic (which
# costs a third of a second), so opening a current store stays cheap; a test keeps it equal to Alembic's head.
HEAD_REVISION = "0006"


def store_url(configured: str | None, workspace_root: Path) -> str:
    return configured or f"sqlite:///{workspace_root / 'incidents.db'}"


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain SQLite URL (`sqlite:///relative`, `sqlite:////absolute`, with or without
    `+pysqlite`); None for anything else — another database, an in-memory one, or a URL with options — which
    only SQLAlchemy reads."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme not in ("sqlite", "sqlite+pysqlite") or not rest or "?" in rest or rest == ":memory:":
        return None
    return Path(rest)
