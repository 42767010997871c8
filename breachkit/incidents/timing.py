"""Where a task or a regime stage stands at a moment, in words — the one set of words the CLI's tables, the board,
the timeline picture and the reminders all use (never by colour alone). Pure: `now`, the "due soon" threshold and
how to show a time (`when`) are given; spans and due times are said by `clock.duration_words`/`clock.due_words`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from breachkit.incidents.clock import due_words, duration_words
from breachkit.incidents.model import Task, TaskState


class Timing(enum.StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"  # due within the configured threshold (incidents.due_soon_hours)
    OPEN = "open"  # due later
    NO_DEADLINE = "no_deadline"


@dataclass(frozen=True)
class TaskTiming:
    state: Timing
    text: str  # "OVERDUE by 2 d 3 h", "due soon: in 5 h 10 min", "done 2026-03-31 14:05", "open, no due time"
    remaining: timedelta | None  # until due (negative: overdue); None when finished or without a due time
    detail: str = ""  # the action that completed (or skipped) it, in words


def task_timing(task: Task, now: datetime, soon: timedelta,
                when: Callable[[datetime], str] | None = None) -> TaskTiming:
    """Where a task stands at `now`: done or skipped (at `when(completed_at)` when given, with the action that
    did it as `detail`), overdue, due soon (within `soon`), due later, or without a due time."""
    detail = task.done_by_action or ""
    if task.state is not TaskState.OPEN:
        state = Timing.DONE if task.state is TaskState.DONE else Timing.SKIPPED
        at = f" {when(task.completed_at)}" if when is not None and task.completed_at is not None else ""
        return TaskTiming(state, f"{state.value}{at}", None, detail)
    if task.due_at is None:
        return TaskTiming(Timing.NO_DEADLINE, "open, no due time", None)
    remaining = task.due_at - now
    state = (Timing.OVERDUE if remaining < timedelta(0) else Timing.DUE_SOON if remaining <= soon
             else Timing.OPEN)
    return TaskTiming(state, due_words(remaining, soon), remaining)


class StageLike(Protocol):
    """A regime stage as the clock document gives it (`documents.DeadlineItem`)."""

    @property
    def status(self) -> str: ...  # running | overdue | met | late | open | not_required

    @property
    def remaining_seconds(self) -> float | None: ...

    @property
    def elapsed_seconds(self) -> float: ...

    @property
    def met_at(self) -> datetime | None: ...

    @property
    def detail(self) -> str: ...

    @property
    def provisional(self) -> bool: ...

    @property
    def needs_delay_reasons(self) -> bool: ...


@dataclass(frozen=True)
class StageTiming:
    state: str  # the stage's status, "running" within `soon` of its deadline becoming "due_soon"
    text: str


def stage_timing(d: StageLike, soon: timedelta, when: Callable[[datetime], str]) -> StageTiming:
    """A stage in words: "met 2026-03-31 14:05: all 216 approved notices (version 1) delivered", "MET LATE …",
    "not required since …: decided not to notify: …", "without undue delay · 5 h 10 min since awareness",
    "3 h 05 min left (due soon)", "OVERDUE by 2 h 00 min"; then "reasons for the delay required" and "provisional"
    (counted from a stage not met yet) when they apply."""
    state = d.status
    met = f"{when(d.met_at)}" if d.met_at is not None else ""
    detail = f": {d.detail}" if d.detail else ""
    if d.status == "met":
        text = f"met {met}{detail}"
    elif d.status == "late":
        text = f"MET LATE {met}{detail}"
    elif d.status == "not_required":
        text = f"not required since {met}{detail}"
    elif d.status == "open" or d.remaining_seconds is None:
        text = f"without undue delay · {duration_words(timedelta(seconds=d.elapsed_seconds))} since awareness"
    else:
        remaining = timedelta(seconds=d.remaining_seconds)
        if d.status == "running" and remaining <= soon:
            state = "due_soon"
        text = due_words(remaining, soon, countdown=True)
    if d.needs_delay_reasons:
        text += " · reasons for the delay required"
    return StageTiming(state, text + (" · provisional" if d.provisional else ""))
