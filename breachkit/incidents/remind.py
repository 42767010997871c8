"""Reminders for cron (`breachkit remind`): task owners and the incident commander are emailed when a due
time comes within a configured threshold (e.g. 24 h, 6 h) and once more when it is overdue.

Each (incident, what, threshold, recipient) is sent at most once: the reminder is claimed in the store
(a unique row) before it is sent, and the claim is withdrawn if the server refuses it, so a later run
tries again. When a run starts after several thresholds have passed, only the tightest one is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from breachkit.errors import BreachkitError
from breachkit.incidents.clock import Deadline, Status, due_words
from breachkit.incidents.model import Incident, Task, TaskState
from breachkit.incidents.store import IncidentStore

OVERDUE = "overdue"


@dataclass(frozen=True)
class Reminder:
    incident_id: str
    subject: str  # "task:<key>" or "deadline:<regime>.<stage>"
    threshold: str  # "24h", "6h" or "overdue"
    recipient: str
    title: str
    due_at: datetime
    remaining: timedelta

    def text(self, incident: Incident, zone: ZoneInfo) -> tuple[str, str]:
        """Subject line and body (no personal data of data subjects: only the incident's own facts)."""
        when = self.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        state = due_words(self.remaining)
        head = "OVERDUE" if self.threshold == OVERDUE else f"due in {self.threshold}"
        body = (f"{incident.id} — {incident.title}\n\n{self.title}\nDue: {when} ({state}).\n\n"
                f"See: breachkit incident show {incident.id}\n")
        return f"[{incident.id}] {head}: {self.title}", body


def _label(hours: float) -> str:
    return f"{hours:g}h"


def _tightest(remaining: timedelta, thresholds: Sequence[float]) -> str | None:
    if remaining <= timedelta(0):
        return OVERDUE
    crossed = [h for h in thresholds if remaining <= timedelta(hours=h)]
    return _label(min(crossed)) if crossed else None


def due_reminders(incident: Incident, tasks: Sequence[Task], deadlines: Sequence[Deadline],
                  thresholds_hours: Sequence[float], now: datetime, *, dpo: str | None = None) -> list[Reminder]:
    """What should be sent now (before removing those already sent). Pure."""
    out: list[Reminder] = []
    commander = incident.commander
    for task in tasks:
        if task.state != TaskState.OPEN or task.due_at is None:
            continue
        remaining = task.due_at - now
        threshold = _tightest(remaining, thresholds_hours)
        if threshold is None:
            continue
        recipients = {r for r in (task.assignee, commander) if r}
        out += [Reminder(incident.id, f"task:{task.key}", threshold, r, f"Task: {task.title}", task.due_at, remaining)
                for r in sorted(recipients)]
    for d in deadlines:
        if d.due_at is None or d.status not in (Status.RUNNING, Status.OVERDUE) or d.remaining is None:
            continue
        threshold = _tightest(d.remaining, thresholds_hours)
        if threshold is None:
            continue
        recipients = {r for r in (commander, dpo) if r}
        out += [Reminder(incident.id, f"deadline:{d.regime}.{d.stage}", threshold, r, f"Deadline: {d.title}",
                         d.due_at, d.remaining) for r in sorted(recipients)]
    return out


@dataclass
class RemindReport:
    sent: list[Reminder] = field(default_factory=list)
    already: int = 0
    failed: list[tuple[Reminder, str]] = field(default_factory=list)
    no_recipient: list[str] = field(default_factory=list)  # incidents without a commander


def message_id(reminder: Reminder) -> str:
    digest = hashlib.sha256(f"{reminder.subject}|{reminder.threshold}|{reminder.recipient}".encode()).hexdigest()
    return f"<{reminder.incident_id}.remind.{digest[:20]}@breachkit>"


def send_reminders(store: IncidentStore, reminders: Sequence[Reminder], send: Callable[[Reminder], None],
                   now: datetime, report: RemindReport, *, actor: str) -> None:
    """Claim, send, and withdraw the claim when sending fails (so the next run retries it). `send` raises a
    BreachkitError when the message was certainly not delivered."""
    for r in reminders:
        if not store.reminders.claim(r.incident_id, r.subject, r.threshold, r.recipient, now):
            report.already += 1
            continue
        try:
            send(r)
        except BreachkitError as exc:
            store.reminders.withdraw(r.incident_id, r.subject, r.threshold, r.recipient)
            report.failed.append((r, str(exc)))
            continue
        store.reminders.sent(r.incident_id, r.subject, r.threshold, r.recipient, actor=actor, now=now)
        report.sent.append(r)
