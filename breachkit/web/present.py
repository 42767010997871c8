"""How the board says things: times in the display zone, durations and states in words, the deadline and task
views the templates show. Presentation only — every fact comes from the library's use cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from breachkit.incidents.clock import duration_words
from breachkit.incidents.documents import DeadlineItem
from breachkit.incidents.model import Task, TaskState
from breachkit.incidents.regimes import Regime


def when(value: datetime | None, zone: ZoneInfo) -> str:
    """"Tue 31 Mar 14:05 CEST": a weekday helps at 3 a.m.; the zone abbreviation tells CET from CEST."""
    return "" if value is None else value.astimezone(zone).strftime("%a %d %b %H:%M %Z")


def when_full(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def iso(value: datetime | None) -> str:
    """UTC ISO 8601 for the browser (countdowns, <time datetime>)."""
    return "" if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DeadlineView:
    regime: str
    regime_name: str
    stage: str
    title: str
    due_at: datetime | None
    filed_at: datetime | None
    status: str  # running | due-soon | overdue | met | late | open | done
    words: str  # the state in words, as of the page's time
    needs_delay_reasons: bool
    provisional: bool

    @property
    def counting(self) -> bool:
        """A live countdown applies (a fixed due time, not filed yet)."""
        return self.due_at is not None and self.filed_at is None


def deadline_view(d: DeadlineItem, regimes: Mapping[str, Regime], due_soon: timedelta, zone: ZoneInfo
                  ) -> DeadlineView:
    """A deadline of the clock document in words (`needs_delay_reasons` there already knows whether the incident
    records reasons for the delay)."""
    remaining = None if d.remaining_seconds is None else timedelta(seconds=d.remaining_seconds)
    status = d.status
    if status == "running" and remaining is not None and remaining <= due_soon:
        status = "due-soon"
    words = {
        "met": f"met — filed {when(d.filed_at, zone)}",
        "late": f"filed late — {when(d.filed_at, zone)}",
        "done": f"done — filed {when(d.filed_at, zone)}",
        "open": f"without undue delay — {duration_words(timedelta(seconds=d.elapsed_seconds))} since awareness",
    }.get(d.status, "")
    if not words and remaining is not None:
        words = (f"{duration_words(remaining)} left" if remaining >= timedelta(0)
                 else f"OVERDUE by {duration_words(remaining)}")
    regime = regimes.get(d.regime)
    return DeadlineView(d.regime, regime.name if regime else d.regime, d.stage, d.title, d.due_at, d.filed_at, status,
                        words, d.needs_delay_reasons, d.provisional)


@dataclass(frozen=True)
class TaskView:
    task: Task
    status: str  # overdue | due-soon | open | done | skipped
    words: str

    @property
    def checklist(self) -> str:
        return f"{len(self.task.checked)} of {len(self.task.checklist)}" if self.task.checklist else ""


def task_view(task: Task, now: datetime, due_soon: timedelta) -> TaskView:
    if task.state is TaskState.DONE:
        return TaskView(task, "done", "done")
    if task.state is TaskState.SKIPPED:
        return TaskView(task, "skipped", "skipped")
    if task.due_at is None:
        return TaskView(task, "open", "open, no due time")
    left = task.due_at - now
    if left < timedelta(0):
        return TaskView(task, "overdue", f"OVERDUE by {duration_words(left)}")
    return TaskView(task, "due-soon" if left <= due_soon else "open", f"due in {duration_words(left)}")


def tasks_by_due(tasks: list[Task], now: datetime, due_soon: timedelta) -> list[TaskView]:
    """Open tasks first, by due time (overdue first; none last), then finished ones."""
    def key(t: Task) -> tuple[int, float]:
        finished = t.state is not TaskState.OPEN
        return int(finished) * 2 + int(t.due_at is None), t.due_at.timestamp() if t.due_at else 0.0

    return [task_view(t, now, due_soon) for t in sorted(tasks, key=key)]


STATUS_WORDS = {"running": "running", "due-soon": "due soon", "overdue": "OVERDUE", "met": "met", "late": "filed late",
                "open": "no fixed time", "done": "done"}
