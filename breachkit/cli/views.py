"""How results look on a terminal: the tables several commands share (deadlines, tasks).

They fit 80 columns without cutting what matters: due times are shown whole in a short form (the zone is named
in the column heading), and where a stage or a task stands is said in words (`breachkit.incidents.timing`, the
same words as the board's), not by colour alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from breachkit.cli.common import safe

if TYPE_CHECKING:
    from rich.table import Table

    from breachkit.incidents.documents import DeadlineItem
    from breachkit.incidents.model import Task

STATUS_STYLE = {"running": "cyan", "due_soon": "yellow", "overdue": "bold red", "met": "green", "late": "yellow",
                "open": "dim", "not_required": "green"}
TASK_STYLE = {"overdue": "bold red", "due_soon": "yellow", "done": "green", "skipped": "dim"}


def short_time(value: datetime | None, zone: ZoneInfo) -> str:
    """"2026-03-31 14:05": local time in `zone` (named in the column heading), to the minute."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _table(title: str) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
                 collapse_padding=True)


def deadline_table(rows: Sequence[DeadlineItem], zone: ZoneInfo, title: str, soon: timedelta) -> Table:
    """Stages with their due time and where they stand in words (`incidents.timing.stage_timing`: met, late or not
    required with what did it, time left, overdue)."""
    from rich.text import Text

    from breachkit.incidents.timing import stage_timing

    several = len({d.incident for d in rows}) > 1
    table = _table(title)
    if several:
        table.add_column("incident", no_wrap=True)
    table.add_column("stage", overflow="fold", ratio=1)
    table.add_column(f"due ({zone.key})", no_wrap=True)
    table.add_column("status", overflow="fold", ratio=2)
    for d in rows:
        timing = stage_timing(d, soon, lambda t: short_time(t, zone))
        cells = [f"{d.regime} {d.stage}", short_time(d.due_at, zone) or "no fixed time", safe(timing.text)]
        table.add_row(*([d.incident] if several else []), *map(Text, cells), style=STATUS_STYLE.get(timing.state))
    return table


def task_table(tasks: Sequence[Task], zone: ZoneInfo, now: datetime, soon: timedelta) -> Table:
    """Tasks by due time, each saying in words where it stands (`incidents.timing.task_timing`: "OVERDUE by 2 d
    3 h", "due in 5 h 10 min", "done 2026-03-31 14:05" and the action that did it)."""
    from rich.text import Text  # user text is never read as rich markup

    from breachkit.incidents.progress import by_due_time
    from breachkit.incidents.timing import task_timing

    table = _table("tasks")
    table.add_column("task · owner", overflow="fold", ratio=1)
    table.add_column(f"due ({zone.key})", no_wrap=True)
    table.add_column("state", overflow="fold", ratio=1)
    table.add_column("list", no_wrap=True, justify="right")
    for t in by_due_time(tasks):
        timing = task_timing(t, now, soon, lambda at: short_time(at, zone))
        owner = f"{t.role}: {safe(t.assignee) if t.assignee else 'unassigned'}"
        state = timing.text + (f" — {safe(timing.detail)}" if timing.detail else "")
        table.add_row(Text(f"{safe(t.title)} [{t.key}]\n  {owner}"), short_time(t.due_at, zone), Text(state),
                      f"{len(t.checked)}/{len(t.checklist)}", style=TASK_STYLE.get(timing.state.value))
    return table
