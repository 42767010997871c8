"""Subject lists kept per incident in the incident store, versioned: every build is a new version (the table
as Parquet plus its counts), so a rebuild can show what changed and an export names the version it came from."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select

from breachkit.incidents import tables as t
from breachkit.incidents.store import IncidentStore, as_utc


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
        return pd.read_parquet(io.BytesIO(self.table_parquet))


def _record(row: Any) -> SubjectBuildRecord:
    built_at = as_utc(row.built_at)
    assert built_at is not None
    return SubjectBuildRecord(row.incident_id, row.version, built_at, row.built_by, row.engine, row.rows, row.sha256,
                              dict(row.summary), bytes(row.table_parquet))


def save_build(store: IncidentStore, incident_id: str, table: pd.DataFrame, summary: dict[str, Any], *, engine: str,
               actor: str, now: datetime) -> SubjectBuildRecord:
    """Store a new version of the incident's subject list and note it in the timeline (counts only, no PII)."""
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    with store.transaction() as conn:
        store.load(conn, incident_id, lock=True)
        version = (conn.execute(select(func.max(t.subject_builds.c.version))
                                .where(t.subject_builds.c.incident_id == incident_id)).scalar() or 0) + 1
        conn.execute(insert(t.subject_builds).values(incident_id=incident_id, version=version, built_at=now,
                                                     built_by=actor, engine=engine, rows=len(table), sha256=digest,
                                                     summary=summary, table_parquet=data))
        store.append_entry(conn, incident_id, now, actor, "subjects", f"subject list v{version} built",
                           {"version": version, "people": len(table), "sha256": digest,
                            "changes": without_ids(summary.get("changes", {}))})
    return SubjectBuildRecord(incident_id, version, now, actor, engine, len(table), digest, summary, data)


def without_ids(values: dict[str, Any]) -> dict[str, Any]:
    """Counts only: the `…_ids` lists (who exactly) left out, for the timeline and summaries on screen."""
    return {k: v for k, v in values.items() if not k.endswith("_ids")}


def latest_build(store: IncidentStore, incident_id: str) -> SubjectBuildRecord | None:
    return get_build(store, incident_id, None)


def get_build(store: IncidentStore, incident_id: str, version: int | None) -> SubjectBuildRecord | None:
    query = select(t.subject_builds).where(t.subject_builds.c.incident_id == incident_id)
    query = (query.where(t.subject_builds.c.version == version) if version is not None
             else query.order_by(t.subject_builds.c.version.desc()).limit(1))
    with store.transaction() as conn:
        row = conn.execute(query).first()
    return None if row is None else _record(row)


def list_builds(store: IncidentStore, incident_id: str) -> list[dict[str, Any]]:
    """Versions without their tables."""
    columns = [c for c in t.subject_builds.c if c.name != "table_parquet"]
    with store.transaction() as conn:
        rows = conn.execute(select(*columns).where(t.subject_builds.c.incident_id == incident_id)
                            .order_by(t.subject_builds.c.version)).mappings()
        return [dict(r) | {"built_at": as_utc(r["built_at"])} for r in rows]


def changes(previous: pd.DataFrame | None, current: pd.DataFrame, key: str = "subject_id") -> dict[str, Any]:
    """What a rebuild changed: people added, removed, and kept with different data (ids only)."""
    if previous is None:
        return {"added": len(current), "removed": 0, "changed": 0}
    before, after = set(previous[key]), set(current[key])
    common = sorted(before & after)
    columns = [c for c in previous.columns if c in current.columns and c != key]
    old = _canonical(previous.set_index(key).loc[common, columns])
    new = _canonical(current.set_index(key).loc[common, columns])
    differing = int((old != new).any(axis=1).sum()) if common else 0
    return {"added": len(after - before), "removed": len(before - after), "changed": differing,
            "added_ids": sorted(after - before)[:50], "removed_ids": sorted(before - after)[:50]}


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Comparable text for every cell (lists and arrays as their items, whatever the storage round trip made)."""
    def text(value: Any) -> str:
        if isinstance(value, list | tuple) or hasattr(value, "tolist"):
            items = value.tolist() if hasattr(value, "tolist") else list(value)
            return "\x1f".join(map(str, items)) if isinstance(items, list) else str(items)
        return "" if value is None or (isinstance(value, float) and value != value) else str(value)

    return pd.DataFrame({column: frame[column].map(text) for column in frame.columns}, index=frame.index)
