"""Reading a SQLite incident store directly (the standard library's sqlite3, no SQLAlchemy), for the use cases
that only read a case — `clock`, `list_incidents` — and the commands that start, print and exit around them
(`breachkit incident clock` in a shell prompt or a cron job): importing SQLAlchemy and opening an engine was
about half of that command's start (bench/startup.py).

It answers exactly the reads of `CaseReader`, with the statements written out here; the store answers the same
reads through SQLAlchemy. tests/test_case_reader.py fills stores through `IncidentStore` and checks that both
give equal models. Only a store at the newest schema revision is read here: for a new, older or unreadable
database `open_sqlite_reader` returns None and the caller opens the store, which migrates or says what is wrong.
Nothing here writes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from breachkit.errors import ServiceError
from breachkit.incidents.model import Approval, Decision, Filing, Incident, Status
from breachkit.incidents.store.head import HEAD_REVISION
from breachkit.incidents.store.values import approval_of, no_incident, stored_time

VersionCounts = dict[int, tuple[int, int, datetime | None]]  # version → (messages, of them sent, last sent at)


class CaseReader(Protocol):
    """The reads of a case that `clock` and the deadlines need. `IncidentStore` has them; so has `SqliteReader`."""

    def get(self, incident_id: str) -> Incident: ...

    def list_incidents(self, *, status: Sequence[Status] = ()) -> list[Incident]: ...

    def decisions(self, incident_id: str) -> list[Decision]: ...

    def filings(self, incident_id: str) -> list[Filing]: ...

    def approval_list(self, incident_id: str) -> list[Approval]: ...

    def version_counts(self, incident_id: str, kind: str) -> VersionCounts: ...


class SqliteReader:
    """The `CaseReader` of one SQLite file. Every method reads in its own transaction on a fresh connection (so a
    reader can be shared between threads), on the WAL snapshot beside a writer, as the store's reads do."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._uri = f"{path.resolve().as_uri()}?mode=rw"  # never creates the file

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self._uri, uri=True, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise ServiceError(f"cannot open the incident store {self.path}: {exc}",
                               hint="check incidents.store.url and the file's permissions") from None
        try:
            conn.execute("BEGIN")  # deferred: a read transaction on one snapshot
            yield conn
        except sqlite3.Error as exc:
            raise ServiceError(f"incident store {self.path}: {exc}") from None
        finally:
            conn.close()  # ends the read transaction

    def revision(self) -> str | None:
        """The schema revision recorded by Alembic, or None if there is none."""
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                            ).fetchone() is None:
                return None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return None if row is None else str(row[0])

    def get(self, incident_id: str) -> Incident:
        with self._read() as conn:
            row = conn.execute("SELECT data FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise no_incident(incident_id)
        return Incident.model_validate(json.loads(row[0]))

    def list_incidents(self, *, status: Sequence[Status] = ()) -> list[Incident]:
        with self._read() as conn:
            if status:
                rows = conn.execute("SELECT data FROM incidents WHERE status IN (SELECT value FROM json_each(?))"
                                    " ORDER BY year, number", (json.dumps([s.value for s in status]),)).fetchall()
            else:
                rows = conn.execute("SELECT data FROM incidents ORDER BY year, number").fetchall()
        return [Incident.model_validate(json.loads(r[0])) for r in rows]

    def _records(self, incident_id: str, kind: str) -> list[Any]:
        with self._read() as conn:
            rows = conn.execute("SELECT data FROM records WHERE incident_id = ? AND kind = ? ORDER BY id",
                                (incident_id, kind)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def decisions(self, incident_id: str) -> list[Decision]:
        return [Decision.model_validate(r) for r in self._records(incident_id, "decision")]

    def filings(self, incident_id: str) -> list[Filing]:
        return [Filing.model_validate(r) for r in self._records(incident_id, "filing")]

    def approval_list(self, incident_id: str) -> list[Approval]:
        with self._read() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT id, incident_id, kind, version, approved_at, approved_by, reason, messages,"
                                " sha256, summary FROM approvals WHERE incident_id = ? ORDER BY id",
                                (incident_id,)).fetchall()
        return [approval_of(r) for r in rows]

    def version_counts(self, incident_id: str, kind: str) -> VersionCounts:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT version, count(*), sum(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), max(sent_at)"
                " FROM outbox WHERE incident_id = ? AND kind = ? GROUP BY version", (incident_id, kind)).fetchall()
        return {int(v): (int(n), int(k or 0), stored_time(last)) for v, n, k, last in rows}


def open_sqlite_reader(path: Path) -> SqliteReader | None:
    """A direct reader of the store in `path` if it exists and is at the newest schema revision, else None."""
    if not path.is_file():
        return None
    reader = SqliteReader(path)
    try:
        current = reader.revision()
    except ServiceError:
        return None  # the store itself will say what is wrong
    return reader if current == HEAD_REVISION else None
