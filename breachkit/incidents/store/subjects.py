"""Subject lists kept per incident, versioned: every build is a new version (the table as Parquet plus its
counts), so a rebuild can show what changed and an export names the version it came from (`store.subject_lists`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from breachkit.incidents import tables as t
from breachkit.incidents.store.values import as_utc

if TYPE_CHECKING:
    import pandas as pd

    from breachkit.incidents.store.core import IncidentStore


@dataclass(frozen=True)
class SubjectBuildRecord:
    incident_id: str
    version: int
    built_at: datetime
    built_by: str
    engine: str
    rows: int
    sha256: str
    summary: dict[str, Any]
    table_parquet: bytes

    def table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.table_parquet))


def _record(row: Any) -> SubjectBuildRecord:
    built_at = as_utc(row.built_at)
    assert built_at is not None
    return SubjectBuildRecord(row.incident_id, row.version, built_at, row.built_by, row.engine, row.rows, row.sha256,
                              dict(row.summary), bytes(row.table_parquet))


class SubjectLists:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def save(self, incident_id: str, table_parquet: bytes, rows: int, summary: dict[str, Any], *, engine: str,
             actor: str, now: datetime, timeline: dict[str, Any]) -> SubjectBuildRecord:
        """Store a new version of the incident's subject list and note it in the timeline (`timeline`: what
        the entry says — counts only, never identities)."""
        digest = hashlib.sha256(table_parquet).hexdigest()
        with self.store.transaction() as conn:
            self.store.load(conn, incident_id, lock=True, change="building a subject list")
            version = (conn.execute(select(func.max(t.subject_builds.c.version))
                                    .where(t.subject_builds.c.incident_id == incident_id)).scalar() or 0) + 1
            conn.execute(insert(t.subject_builds).values(incident_id=incident_id, version=version, built_at=now,
                                                         built_by=actor, engine=engine, rows=rows, sha256=digest,
                                                         summary=summary, table_parquet=table_parquet))
            self.store.append_entry(conn, incident_id, now, actor, "subjects", f"subject list v{version} built",
                                    {"version": version, "people": rows, "sha256": digest, **timeline})
        return SubjectBuildRecord(incident_id, version, now, actor, engine, rows, digest, summary, table_parquet)

    def get(self, incident_id: str, version: int | None = None) -> SubjectBuildRecord | None:
        """One version (None: the latest), or None when there is none."""
        query = select(t.subject_builds).where(t.subject_builds.c.incident_id == incident_id)
        query = (query.where(t.subject_builds.c.version == version) if version is not None
                 else query.order_by(t.subject_builds.c.version.desc()).limit(1))
        with self.store.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def versions(self, incident_id: str) -> list[dict[str, Any]]:
        """Versions without their tables."""
        columns = [c for c in t.subject_builds.c if c.name != "table_parquet"]
        with self.store.read() as conn:
            rows = conn.execute(select(*columns).where(t.subject_builds.c.incident_id == incident_id)
                                .order_by(t.subject_builds.c.version)).mappings()
            return [dict(r) | {"built_at": as_utc(r["built_at"])} for r in rows]
