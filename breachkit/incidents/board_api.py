"""What is due next, and who owns it, across every open incident (the incident board's first page).

One row per open incident: its nearest pending legal deadline (a stage past its deadline comes first: it is the
nearest in time and the most urgent), whether reasons for a delay are owed, and its task load — overdue tasks,
tasks due soon and the next task with its owner. Rows are sorted by that deadline; incidents with no pending
fixed deadline (every stage filed, or only "without undue delay" stages) come last, newest awareness first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from breachkit.incidents.api import OPEN_STATUSES
from breachkit.incidents.clock import Deadline, Status, incident_deadlines
from breachkit.incidents.model import Incident, Task, TaskState
from breachkit.session import Session

DUE_SOON = timedelta(hours=6)  # "due soon": the nearer of the reminder thresholds by default


@dataclass(frozen=True)
class TaskLoad:
    open: int
    overdue: int
    due_soon: int  # not overdue, due within `Board.due_soon`
    next: Task | None  # the open task due first (overdue ones first), with its owner


def task_load(tasks: list[Task], now: datetime, due_soon: timedelta) -> TaskLoad:
    pending = [t for t in tasks if t.state is TaskState.OPEN]
    timed = sorted((t for t in pending if t.due_at is not None), key=lambda t: t.due_at or now)
    overdue = sum(1 for t in timed if t.due_at is not None and t.due_at < now)
    soon = sum(1 for t in timed if t.due_at is not None and now <= t.due_at <= now + due_soon)
    return TaskLoad(len(pending), overdue, soon, timed[0] if timed else (pending[0] if pending else None))


@dataclass(frozen=True)
class BoardRow:
    incident: Incident
    deadlines: list[Deadline]
    next_deadline: Deadline | None  # the nearest unfiled stage with a fixed due time
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
    pending = [d for d in deadlines if d.due_at is not None and d.status in (Status.RUNNING, Status.OVERDUE)]
    return min(pending, key=lambda d: d.due_at or datetime.max, default=None)


def board(session: Session, *, due_soon: timedelta = DUE_SOON) -> Board:
    """Every open incident with its next deadline and task load at the session's now, nearest deadline first."""
    store, now, regimes = session.store, session.now(), session.regimes
    incidents = store.list_incidents(status=OPEN_STATUSES)
    ids = [i.id for i in incidents]
    filings, tasks = store.filings_of(ids), store.tasks_of(ids)
    rows = []
    for incident in incidents:
        deadlines = incident_deadlines(incident.regimes, regimes, incident.aware_at, filings[incident.id], now)
        rows.append(BoardRow(incident, deadlines, next_deadline(deadlines), task_load(tasks[incident.id], now,
                                                                                      due_soon)))

    def order(row: BoardRow) -> tuple[int, float]:
        if row.next_deadline is not None and row.next_deadline.due_at is not None:
            return 0, row.next_deadline.due_at.timestamp()
        return 1, -row.incident.aware_at.timestamp()

    return Board(now, session.zone.key, due_soon, sorted(rows, key=order))
