"""What is due next, and who owns it, across every open incident (the incident board's first page).

One row per open incident: its nearest pending legal deadline (a stage past its deadline comes first: it is the
nearest in time and the most urgent), whether reasons for a delay are owed, and its task load — overdue tasks,
tasks due soon and the next task with its owner. Rows are sorted by that deadline; then incidents whose only
pending stages are "without undue delay" (oldest awareness first: the delay grows), then those with nothing pending.

Every row is the incident's state as what was done left it (`api.incident_states`, the same use case as the incident
page and the CLI): a stage met by a filing or by the delivery of every approved notice, or not required by a recorded
decision, is not pending; a task an action completed is not open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from breachkit.incidents.api import OPEN_STATUSES, incident_states
from breachkit.incidents.clock import Deadline, Status
from breachkit.incidents.model import Incident, Task, TaskState
from breachkit.session import Session


@dataclass(frozen=True)
class TaskLoad:
    open: int
    overdue: int
    due_soon: int  # not overdue, due within `Board.due_soon`
    next: Task | None  # the open task due first (overdue ones first), with its owner


def task_load(tasks: list[Task], now: datetime, due_soon: timedelta) -> TaskLoad:
    """Open, overdue and due-soon counts of the tasks still open (after what was done), and the one due first (an
    overdue one first; without due times, the first in playbook order)."""
    pending = [t for t in tasks if t.state is TaskState.OPEN]
    timed = sorted(((t.due_at, n, t) for n, t in enumerate(pending) if t.due_at is not None), key=lambda x: x[:2])
    overdue = sum(1 for due, _, _ in timed if due < now)
    soon = sum(1 for due, _, _ in timed if now <= due <= now + due_soon)
    first = timed[0][2] if timed else (pending[0] if pending else None)
    return TaskLoad(len(pending), overdue, soon, first)


@dataclass(frozen=True)
class BoardRow:
    incident: Incident
    deadlines: list[Deadline]
    next_deadline: Deadline | None  # the nearest pending stage with a fixed due time (else one without)
    tasks: TaskLoad

    @property
    def delay_reasons_required(self) -> bool:
        """A stage is (or was met) past its deadline and the incident records no reasons for the delay yet."""
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
    """The nearest stage still pending (neither met nor not required) with a fixed due time; else the first one due
    "without undue delay" (no fixed time, still owed); else None."""
    pending = [d for d in deadlines if d.due_at is not None and d.status in (Status.RUNNING, Status.OVERDUE)]
    if pending:
        return min(pending, key=lambda d: d.due_at or datetime.max)
    return next((d for d in deadlines if d.status is Status.OPEN), None)


def board(session: Session, *, due_soon: timedelta | None = None) -> Board:
    """Every open incident with its next deadline and task load at the session's now, nearest deadline first.
    `due_soon`: default the session's (incidents.due_soon_hours)."""
    soon = session.due_soon if due_soon is None else due_soon
    now = session.now()
    incidents = session.store.list_incidents(status=OPEN_STATUSES)
    rows = [BoardRow(s.incident, s.deadlines, next_deadline(s.deadlines), task_load(s.tasks, now, soon))
            for s in incident_states(session, incidents, open_tasks_only=True)]

    def order(row: BoardRow) -> tuple[int, float]:
        if row.next_deadline is not None and row.next_deadline.due_at is not None:
            return 0, row.next_deadline.due_at.timestamp()
        return (1 if row.next_deadline is not None else 2), row.incident.aware_at.timestamp()

    return Board(now, session.zone.key, soon, sorted(rows, key=order))
