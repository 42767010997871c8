"""The incident store: incidents, timeline, tasks, records, detections, audit log — and the repositories of the
other tables it holds (outbox, subject lists, reminders, scan state). Every write to these tables goes through
this package (a test enforces it), so "every change appends a timeline entry" is kept in one place.

The names below are imported on first use: importing a light part of the package (`head`, `values`, the
direct SQLite reader) must not import SQLAlchemy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore
    from breachkit.incidents.store.engine import create_store_engine, migrate
    from breachkit.incidents.store.head import HEAD_REVISION, MIGRATIONS, store_url
    from breachkit.incidents.store.values import as_utc, jsonable, validation_problems

_WHERE = {"IncidentStore": "core", "create_store_engine": "engine", "migrate": "engine", "HEAD_REVISION": "head",
          "MIGRATIONS": "head", "store_url": "head", "as_utc": "values", "jsonable": "values",
          "validation_problems": "values"}

__all__ = ["HEAD_REVISION", "MIGRATIONS", "IncidentStore", "as_utc", "create_store_engine", "jsonable", "migrate",
           "store_url", "validation_problems"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
