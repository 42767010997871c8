"""How results look on a terminal: the tables several commands share (deadlines, tasks).

They fit 80 columns without cutting what matters: due times are shown whole in a short form (the zone is named
in the column heading), and overdue / due soon are said in words, not by colour alone."""

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

STATUS_STYLE = {"running": "cyan", "overdue": "bold red", "met": "green", "late": "yellow", "open": "dim",
                "done": "green"}
DUE_SOON = timedelta(hours=6)


def short_time(value: datetime | None, zone: ZoneInfo) -> str:
    """"2026-03-31 14:05": local time in `zone` (named in the column heading), to the minute."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _table(title: str) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
                 collapse_padding=True)


def deadline_words(d: DeadlineItem, zone: ZoneInfo) -> str:
    from breachkit.incidents.clock import duration_words

    if d.status == "met":
        return f"met: filed {short_time(d.filed_at, zone)}"
    if d.status == "late":
        words = f"FILED LATE: {short_time(d.filed_at, zone)}"
    elif d.status == "done":
        return f"done: filed {short_time(d.filed_at, zone)}"
    elif d.status == "open":
        return f"open · {duration_words(timedelta(seconds=d.elapsed_seconds))} since awareness"
    else:
        remaining = timedelta(seconds=d.remaining_seconds or 0)
        if remaining < timedelta(0):
            words = f"OVERDUE by {duration_words(remaining)}"
        else:
            words = f"{duration_words(remaining)} left" + (" (due soon)" if remaining <= DUE_SOON else "")
    if d.needs_delay_reasons:
        words += " · reasons for the delay required"
    return words + (" · provisional" if d.provisional else "")


def deadline_table(rows: Sequence[DeadlineItem], zone: ZoneInfo, title: str) -> Table:
    from rich.text import Text

    several = len({d.incident for d in rows}) > 1
    table = _table(title)
    if several:
        table.add_column("incident", no_wrap=True)
    table.add_column("stage", overflow="fold", ratio=1)
    table.add_column(f"due ({zone.key})", no_wrap=True)
    table.add_column("status", overflow="fold", ratio=2)
    for d in rows:
        cells = [f"{d.regime} {d.stage}", short_time(d.due_at, zone) or "no fixed time", deadline_words(d, zone)]
        table.add_row(*([d.incident] if several else []), *map(Text, cells), style=STATUS_STYLE.get(d.status))
    return table


def task_words(t: Task, now: datetime) -> str:
    from breachkit.incidents.clock import duration_words

    if t.state.value != "open":
        return t.state.value
    if t.due_at is None:
        return "open"
    left = t.due_at - now
    if left < timedelta(0):
        return f"OVERDUE by {duration_words(left)}"
    return f"due in {duration_words(left)}" + (" (soon)" if left <= DUE_SOON else "")


def task_table(tasks: Sequence[Task], zone: ZoneInfo, now: datetime) -> Table:
    from rich.text import Text  # user text is never read as rich markup

    table = _table("tasks")
    table.add_column("task · owner", overflow="fold", ratio=1)
    table.add_column(f"due ({zone.key})", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("list", no_wrap=True, justify="right")
    for t in tasks:
        late = t.state.value == "open" and t.due_at is not None and t.due_at < now
        owner = f"{t.role}: {safe(t.assignee) if t.assignee else 'unassigned'}"
        table.add_row(Text(f"{safe(t.title)} [{t.key}]\n  {owner}"), short_time(t.due_at, zone), task_words(t, now),
                      f"{len(t.checked)}/{len(t.checklist)}", style="bold red" if late else None)
    return table
