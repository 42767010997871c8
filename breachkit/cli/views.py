"""How results look on a terminal: the tables several commands share (deadlines, tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from breachkit.cli.common import local, safe

if TYPE_CHECKING:
    from rich.table import Table

    from breachkit.incidents.documents import DeadlineItem
    from breachkit.incidents.model import Task

STATUS_STYLE = {"running": "cyan", "overdue": "bold red", "met": "green", "late": "yellow", "open": "dim",
                "not_required": "green"}
TASK_STYLE = {"overdue": "bold red", "due_soon": "yellow", "done": "green", "skipped": "dim"}


def deadline_table(rows: Sequence[DeadlineItem], zone: ZoneInfo, title: str) -> Table:
    from rich.table import Table

    from breachkit.incidents.clock import format_duration, format_remaining

    several = len({d.incident for d in rows}) > 1
    table = Table(title=title, title_justify="left")
    for col in (("incident",) if several else ()) + ("regime", "stage", f"due ({zone.key})", "time", "status"):
        table.add_column(col)
    for d in rows:
        if d.met_at is not None:
            left = f"{d.status.replace('_', ' ')} {local(d.met_at, zone)}: {safe(d.detail)}"
        elif d.remaining_seconds is not None:
            left = format_remaining(timedelta(seconds=d.remaining_seconds))
        else:
            left = f"{format_duration(timedelta(seconds=d.elapsed_seconds))} elapsed"
        status = d.status + (" · reasons for the delay required" if d.needs_delay_reasons else "")
        cells = [d.regime, d.title, local(d.due_at, zone) or "without undue delay", left, status]
        table.add_row(*([d.incident] if several else []), *cells, style=STATUS_STYLE.get(d.status))
    return table


def task_table(tasks: Sequence[Task], zone: ZoneInfo, now: datetime, soon: timedelta) -> Table:
    """Tasks by due time, each saying in words where it stands ("overdue by 2 d 3 h", "due in 5 h")."""
    from rich.table import Table

    from breachkit.incidents.progress import by_due_time, task_timing

    table = Table(title="tasks", title_justify="left")
    for col in ("task", "title", "role", "assignee", f"due ({zone.key})", "state", "checklist"):
        table.add_column(col)
    for t in by_due_time(tasks):
        timing = task_timing(t, now, soon)
        state = timing.text
        if t.completed_at is not None:
            state += f" {local(t.completed_at, zone)}"
        if t.done_by_action:
            state += f" ({t.done_by_action})"
        table.add_row(t.key, safe(t.title), t.role, safe(t.assignee or ""), local(t.due_at, zone), safe(state),
                      f"{len(t.checked)}/{len(t.checklist)}", style=TASK_STYLE.get(timing.state.value))
    return table
