"""Small value conversions shared by the store's repositories."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from breachkit.errors import Location, NotFoundError, Problem
from breachkit.incidents.model import Approval


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were written as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stored_time(value: datetime | str | None) -> datetime | None:
    """A time column as read, in UTC: a datetime (through SQLAlchemy) or SQLite's text of one, as SQLAlchemy
    writes it ("YYYY-MM-DD HH:MM:SS.ffffff", UTC without an offset), read directly."""
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def approval_of(row: Mapping[str, Any]) -> Approval:
    """An approvals row (every column but the manifest) as the model."""
    summary = row["summary"]
    approved_at = stored_time(row["approved_at"])
    assert approved_at is not None  # NOT NULL
    return Approval(id=row["id"], incident_id=row["incident_id"], kind=row["kind"], version=row["version"],
                    approved_at=approved_at, approved_by=row["approved_by"], reason=row["reason"],
                    messages=row["messages"], sha256=row["sha256"],
                    summary=json.loads(summary) if isinstance(summary, str) else summary)


def no_incident(incident_id: str) -> NotFoundError:
    return NotFoundError(f"no incident {incident_id}", hint="`breachkit incident list` shows the incidents")


def validation_problems(exc: ValidationError, where: str) -> list[Problem]:
    return [Problem(e["msg"], Location(where, field=".".join(str(p) for p in e["loc"]) or None))
            for e in exc.errors()]
