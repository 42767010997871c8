"""How the board says things: times in the display zone, durations and states in words, the deadline and task
views the templates show. Presentation only — every fact comes from the library's use cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from breachkit.incidents.documents import DeadlineItem
from breachkit.incidents.model import Task, TaskState
from breachkit.incidents.regimes import Regime
from breachkit.incidents.timing import Timing, stage_timing, task_timing


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
    status: str  # running | due-soon | overdue | met | late | not-required | open
    words: str  # the state in words, as of the page's time (`incidents.timing.stage_timing`, as on the CLI)
    needs_delay_reasons: bool
    provisional: bool
    met_by: str | None = None  # filing | notices_delivered | public_communication | decision
    met_at: datetime | None = None  # when it was met or found not required

    @property
    def counting(self) -> bool:
        """A live countdown applies (a fixed due time, neither met nor found not required)."""
        return self.due_at is not None and self.status in ("running", "due-soon", "overdue")


def deadline_view(d: DeadlineItem, regimes: Mapping[str, Regime], due_soon: timedelta, zone: ZoneInfo
                  ) -> DeadlineView:
    """A deadline of the clock document in words — the same words as the CLI's (`stage_timing`): met, late or not
    required with what did it (a filing, the delivery of the approved notices, a decision), time left, overdue
    (`needs_delay_reasons` there already knows whether the incident records reasons for the delay)."""
    timing = stage_timing(d, due_soon, lambda v: when(v, zone))
    regime = regimes.get(d.regime)
    return DeadlineView(d.regime, regime.name if regime else d.regime, d.stage, d.title, d.due_at, d.filed_at,
                        timing.state.replace("_", "-"), timing.text, d.needs_delay_reasons, d.provisional, d.met_by,
                        d.met_at)


@dataclass(frozen=True)
class TaskView:
    task: Task
    status: str  # overdue | due-soon | open | done | skipped
    words: str
    detail: str = ""  # the action that completed (or skipped) it

    @property
    def checklist(self) -> str:
        return f"{len(self.task.checked)} of {len(self.task.checklist)}" if self.task.checklist else ""


_TASK_STATUS = {Timing.DUE_SOON: "due-soon", Timing.NO_DEADLINE: "open"}


def task_view(task: Task, now: datetime, due_soon: timedelta, zone: ZoneInfo | None = None) -> TaskView:
    """A task in words — the same words as the CLI's (`task_timing`), done ones with when and the action that did
    it."""
    timing = task_timing(task, now, due_soon, None if zone is None else (lambda v: when(v, zone)))
    return TaskView(task, _TASK_STATUS.get(timing.state, timing.state.value), timing.text, timing.detail)


def tasks_by_due(tasks: list[Task], now: datetime, due_soon: timedelta, zone: ZoneInfo | None = None
                 ) -> list[TaskView]:
    """Open tasks first, by due time (overdue first; none last), then finished ones."""
    def key(t: Task) -> tuple[int, float]:
        finished = t.state is not TaskState.OPEN
        return int(finished) * 2 + int(t.due_at is None), t.due_at.timestamp() if t.due_at else 0.0

    return [task_view(t, now, due_soon, zone) for t in sorted(tasks, key=key)]


STATUS_WORDS = {"running": "running", "due-soon": "due soon", "overdue": "OVERDUE", "met": "met", "late": "MET LATE",
                "not-required": "not required", "open": "no fixed time"}
