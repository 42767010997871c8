"""The incident store: incidents, timeline, tasks, records, detections, audit log — and the repositories of the
other tables it holds (outbox, subject lists, reminders, scan state). Every write to these tables goes through
this package (a test enforces it), so "every change appends a timeline entry" is kept in one place."""

from breachkit.incidents.store.core import IncidentStore
from breachkit.incidents.store.engine import HEAD_REVISION, MIGRATIONS, create_store_engine, migrate, store_url
from breachkit.incidents.store.values import as_utc, jsonable, validation_problems

__all__ = ["HEAD_REVISION", "MIGRATIONS", "IncidentStore", "as_utc", "create_store_engine", "jsonable", "migrate",
           "store_url", "validation_problems"]
