"""What is due next, and who owns it, across every open incident (the incident board's first page).

One row per open incident: its nearest pending legal deadline (a stage past its deadline comes first: it is the
nearest in time and the most urgent), whether reasons for a delay are owed, and its task load — overdue tasks,
tasks due soon and the next task with its owner. Rows are sorted by that deadline; then incidents whose only
pending stages are "without undue delay" (oldest awareness first: the delay grows), then those with nothing pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from breachkit.incidents.api import OPEN_STATUSES
from breachkit.incidents.clock import Deadline, Status, incident_deadlines
from breachkit.incidents.model import Incident, Task
from breachkit.session import Session

DUE_SOON = timedelta(hours=6)  # "due soon": the nearer of the reminder thresholds by default


@dataclass(frozen=True)
class TaskLoad:
    open: int
    overdue: int
    due_soon: int  # not overdue, due within `Board.due_soon`
    next: Task | None  # the open task due first (overdue ones first), with its owner


def task_counts(times: list[tuple[str, datetime | None]], now: datetime, due_soon: timedelta
                ) -> tuple[int, int, int, str | None]:
    """Open, overdue and due-soon counts of (key, due time) pairs of open tasks, and the key of the one due first
    (an overdue one first; without due times, the first in playbook order)."""
    timed = sorted((due, position, key) for position, (key, due) in enumerate(times) if due is not None)
    overdue = sum(1 for due, _, _ in timed if due < now)
    soon = sum(1 for due, _, _ in timed if now <= due <= now + due_soon)
    first = timed[0][2] if timed else (times[0][0] if times else None)
    return len(times), overdue, soon, first


@dataclass(frozen=True)
class BoardRow:
    incident: Incident
    deadlines: list[Deadline]
    next_deadline: Deadline | None  # the nearest unfiled stage with a fixed due time (else one without)
    tasks: TaskLoad

    @property
    def delay_reasons_required(self) -> bool:
        """A stage is (or was filed) past its deadline and the incident records no reasons for the delay yet."""
        return not self.incident.delay_reasons and any(d.needs_delay_reasons for d in self.deadlines)

    @property
    def overdue_stages(self) -> list[Deadline]:
        return [d for d in self.deadlines if d.status is Status.OVERDUE]


@dataclass(frozen=True)
class Board:
    at: datetime
    zone: str
    due_soon: timedelta
    rows: list[BoardRow]


def next_deadline(deadlines: list[Deadline]) -> Deadline | None:
    """The nearest stage not filed yet with a fixed due time; else the first one due "without undue delay" (no
    fixed time, still owed); else None."""
    pending = [d for d in deadlines if d.due_at is not None and d.status in (Status.RUNNING, Status.OVERDUE)]
    if pending:
        return min(pending, key=lambda d: d.due_at or datetime.max)
    return next((d for d in deadlines if d.status is Status.OPEN), None)


def board(session: Session, *, due_soon: timedelta = DUE_SOON) -> Board:
    """Every open incident with its next deadline and task load at the session's now, nearest deadline first."""
    store, now, regimes = session.store, session.now(), session.regimes
    incidents = store.list_incidents(status=OPEN_STATUSES)
    ids = [i.id for i in incidents]
    filings, times = store.filings_of(ids), store.open_task_times(ids)
    counts = {i: task_counts(times[i], now, due_soon) for i in ids}
    following = store.tasks_named([(i, c[3]) for i, c in counts.items() if c[3] is not None])
    rows = []
    for incident in incidents:
        deadlines = incident_deadlines(incident.regimes, regimes, incident.aware_at, filings[incident.id], now)
        pending, overdue, soon, first = counts[incident.id]
        load = TaskLoad(pending, overdue, soon, following.get((incident.id, first)) if first else None)
        rows.append(BoardRow(incident, deadlines, next_deadline(deadlines), load))

    def order(row: BoardRow) -> tuple[int, float]:
        if row.next_deadline is not None and row.next_deadline.due_at is not None:
            return 0, row.next_deadline.due_at.timestamp()
        return (1 if row.next_deadline is not None else 2), row.incident.aware_at.timestamp()

    return Board(now, session.zone.key, due_soon, sorted(rows, key=order))
