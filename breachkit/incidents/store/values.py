"""Small value conversions shared by the store's repositories."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from breachkit.errors import Location, Problem


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were written as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def validation_problems(exc: ValidationError, where: str) -> list[Problem]:
    return [Problem(e["msg"], Location(where, field=".".join(str(p) for p in e["loc"]) or None))
            for e in exc.errors()]
