"""Subject-list versions: saving a built table as a new version (the store keeps the Parquet bytes and counts),
and what a rebuild changed."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pandas as pd

from breachkit.incidents.store import IncidentStore
from breachkit.incidents.store.subjects import SubjectBuildRecord

ROW_GROUP = 10_000


def save_build(store: IncidentStore, incident_id: str, table: pd.DataFrame, summary: dict[str, Any], *, engine: str,
               actor: str, now: datetime) -> SubjectBuildRecord:
    """Store a new version of the incident's subject list and note it in the timeline (counts only, no PII)."""
    buffer = io.BytesIO()
    # row groups of ROW_GROUP people: the notices read the list back batch by batch, and a reader decodes a whole
    # row group's column at once (one group of 200,000 people cost ~40 MiB more than groups of 10,000)
    table.to_parquet(buffer, index=False, row_group_size=ROW_GROUP)
    return store.subject_lists.save(incident_id, buffer.getvalue(), len(table), summary, engine=engine, actor=actor,
                                    now=now, timeline={"changes": without_ids(summary.get("changes", {}))})


def without_ids(values: dict[str, Any]) -> dict[str, Any]:
    """Counts only: the `…_ids` lists (who exactly) left out, for the timeline and summaries on screen."""
    return {k: v for k, v in values.items() if not k.endswith("_ids")}


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
