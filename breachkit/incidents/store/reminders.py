"""Reminder claims (`store.reminders`): each (incident, what, threshold, recipient) is sent at most once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from breachkit.incidents import tables as t

if TYPE_CHECKING:
    from breachkit.incidents.store.core import IncidentStore


class Reminders:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def claim(self, incident_id: str, subject: str, threshold: str, recipient: str, now: datetime) -> bool:
        """Record the reminder as sent before sending it; False when it already was (by this or another run)."""
        try:
            with self.store.transaction() as conn:
                conn.execute(insert(t.reminders).values(incident_id=incident_id, subject=subject,
                                                        threshold=threshold, recipient=recipient, sent_at=now))
            return True
        except IntegrityError:
            return False

    def withdraw(self, incident_id: str, subject: str, threshold: str, recipient: str) -> None:
        """The server refused it: the claim goes, so the next run tries again."""
        with self.store.transaction() as conn:
            conn.execute(delete(t.reminders).where(
                t.reminders.c.incident_id == incident_id, t.reminders.c.subject == subject,
                t.reminders.c.threshold == threshold, t.reminders.c.recipient == recipient))

    def sent(self, incident_id: str, subject: str, threshold: str, recipient: str, *, actor: str,
             now: datetime) -> None:
        """It went out: noted in the incident's timeline (who was reminded of what)."""
        with self.store.transaction() as conn:
            self.store.load(conn, incident_id, lock=True)
            self.store.append_entry(conn, incident_id, now, actor, "reminder", f"{subject} ({threshold})",
                                    {"to": recipient, "what": subject, "threshold": threshold})

    def claimed(self, incident_id: str) -> set[tuple[str, str, str]]:
        with self.store.transaction() as conn:
            return {(r.subject, r.threshold, r.recipient) for r in conn.execute(
                select(t.reminders).where(t.reminders.c.incident_id == incident_id))}
