"""The legal clock: deadlines of every stage of a regime, from the moment the clock started (`aware_at`).

Pure: every input is a value (timezone-aware datetimes; `now` is injected). Hours are exact elapsed
time — 72 h after 01:30 the night clocks go forward is 72 h later in UTC, not "the same wall time in
three days". Working days are counted on the regime's calendar in its zone: the day the clock started
is not counted; the deadline is the end of the N-th working day (its last instant, i.e. the next local
midnight), weekends and public holidays skipped. Months add calendar months to the local time in UTC
(the 31st becomes the month's last day).

What was done comes in as actions (`breachkit.incidents.actions.Actions`): a stage met by a filing, by the delivery of
every approved notice or by a public communication stops its clock at that moment (met, or late when after the
deadline); a recorded decision not to notify makes it not required. The time shown as elapsed stops there too.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from breachkit.errors import UsageError
from breachkit.incidents.actions import Actions, Fulfilment, stage_fulfilment, stage_waiver
from breachkit.incidents.model import Filing
from breachkit.incidents.regimes import Due, Regime


class Status(enum.Enum):
    RUNNING = "running"  # due in the future, not met
    OVERDUE = "overdue"  # past due, not met: the report must give reasons for the delay
    MET = "met"  # met on time (or, without a fixed deadline, met)
    LATE = "late"  # met after the deadline: the report must give reasons for the delay
    OPEN = "open"  # no fixed deadline ("without undue delay"), not met yet
    NOT_REQUIRED = "not_required"  # a recorded decision (with reasons) says it is not required


@dataclass(frozen=True)
class Deadline:
    regime: str
    stage: str
    title: str
    due_at: datetime | None  # UTC; None: no fixed deadline
    provisional: bool  # counted from an earlier stage's due time because that stage is not met yet
    filed_at: datetime | None  # when it was filed (met by a filing)
    status: Status
    remaining: timedelta | None  # until due_at from now, or from when it was met (negative: overdue or late)
    elapsed: timedelta  # since the clock started, until now or until the stage was met or found not required
    met_at: datetime | None = None  # when it was met or found not required, however
    met_by: str | None = None  # filing | notices_delivered | public_communication | decision
    detail: str = ""  # what met it, in words

    @property
    def needs_delay_reasons(self) -> bool:
        return self.status in (Status.OVERDUE, Status.LATE)


def _require_aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays  # a large package: only working-day regimes need it

    return frozenset(holidays.country_holidays(country, years=[year]).keys())


def is_working_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def add_working_days(start: datetime, days: int, country: str, zone: str) -> datetime:
    """End (next local midnight) of the `days`-th working day after `start`'s local day, in UTC."""
    tz = ZoneInfo(zone)
    day = start.astimezone(tz).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, country):
            counted += 1
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return end.astimezone(UTC)


def add_months(start: datetime, months: int) -> datetime:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def due_from(base: datetime, due: Due) -> datetime | None:
    if due.hours is not None:
        return base + timedelta(hours=due.hours)
    if due.working_days is not None:
        assert due.calendar is not None and due.zone is not None
        return add_working_days(base, due.working_days, due.calendar, due.zone)
    if due.months is not None:
        return add_months(base, due.months)
    return None


def deadlines(regime: Regime, aware_at: datetime, now: datetime,
              filed: Mapping[str, datetime] | None = None, *, actions: Actions | None = None) -> list[Deadline]:
    """Every stage of `regime`: due time, status and time left at `now`. `filed` maps stage id → when filed;
    `actions` (filings, deliveries, decisions) meet or waive stages as the regime says."""
    start = _require_aware("aware_at", aware_at)
    now = _require_aware("now", now)
    met: dict[str, Fulfilment] = {k: Fulfilment(_require_aware(f"filed[{k}]", v), "filing", "filed")
                                  for k, v in (filed or {}).items()}
    waived: dict[str, Fulfilment] = {}
    for stage in regime.stages:
        found = stage_fulfilment(regime.id, stage, actions) if actions is not None else None
        if found is not None and (stage.id not in met or found.at < met[stage.id].at):
            met[stage.id] = found
        waiver = stage_waiver(stage, actions) if actions is not None else None
        if waiver is not None and stage.id not in met:
            waived[stage.id] = waiver
    due_at: dict[str, datetime | None] = {}
    out: list[Deadline] = []
    for stage in regime.stages:
        provisional = False
        base: datetime | None = start
        if stage.due.after is not None:
            if stage.due.after in met:
                base = met[stage.due.after].at
            else:
                base, provisional = due_at.get(stage.due.after), True
            if stage.due.after in waived and stage.id not in met:
                earlier = waived[stage.due.after]
                waived[stage.id] = Fulfilment(earlier.at, earlier.action,
                                              f"{stage.due.after} is not required", earlier.by)
        due = due_from(base, stage.due) if base is not None and stage.due.fixed else None
        due_at[stage.id] = due
        done, waiver = met.get(stage.id), waived.get(stage.id)
        stopped = done.at if done else waiver.at if waiver else None
        if done is not None:
            status = Status.MET if due is None or done.at <= due else Status.LATE
        elif waiver is not None:
            status = Status.NOT_REQUIRED
        elif due is None:
            status = Status.OPEN
        else:
            status = Status.OVERDUE if now > due else Status.RUNNING
        remaining = None if due is None or (waiver is not None and done is None) else due - (stopped or now)
        how = done or waiver
        out.append(Deadline(regime.id, stage.id, stage.title, due, provisional,
                            done.at if done is not None and done.action == "filing" else None, status, remaining,
                            max((stopped or now) - start, timedelta(0)), met_at=stopped,
                            met_by=how.action if how else None, detail=how.detail if how else ""))
    return out


def incident_deadlines(regime_ids: Sequence[str], regimes: Mapping[str, Regime], aware_at: datetime,
                       actions: Actions | Sequence[Filing], now: datetime) -> list[Deadline]:
    """Every deadline of every regime an incident runs under, at `now`, given what was done (`actions`; a list of
    filings alone is read as the actions)."""
    if not isinstance(actions, Actions):
        actions = Actions(filings=tuple(actions))
    out: list[Deadline] = []
    for regime_id in regime_ids:
        regime = regimes.get(regime_id)
        if regime is None:
            raise UsageError(f"unknown regime {regime_id!r} (known: {', '.join(sorted(regimes))})",
                             hint="custom regimes come from incidents.regimes in breachkit.toml")
        out.extend(deadlines(regime, aware_at, now, actions=actions))
    return out


class HasDue(Protocol):
    @property
    def due_at(self) -> datetime | None: ...

    @property
    def provisional(self) -> bool: ...


def legal_window(aware_at: datetime, deadlines: Iterable[HasDue], now: datetime) -> tuple[datetime, datetime]:
    """The span a timeline shows by default: from awareness (the clocks start) to the last deadline, so the 72 hours
    stay the width of the picture however old the incident is. Deadlines counted from a stage not filed yet
    (provisional: an estimate that moves when that stage is filed, e.g. NIS2's final report a month after the
    notification) only count when there is no other; they are shown at the window's edge instead. Without any fixed
    deadline: awareness to now (at least an hour)."""
    start = _require_aware("aware_at", aware_at)
    items = [d for d in deadlines if d.due_at is not None]
    firm = [d.due_at for d in items if not d.provisional and d.due_at is not None]
    due = firm or [d.due_at for d in items if d.due_at is not None]
    end = max(due) if due else _require_aware("now", now)
    return start, max(end, start + timedelta(hours=1))


def duration_words(value: timedelta) -> str:
    """"2 d 3 h", "3 h 05 min", "12 min", "40 s" (the sign dropped): how long, for people, two units at most. The
    one way a span is said — by the CLI, the board, the timeline picture and the reminders."""
    seconds = int(abs(value).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def due_words(remaining: timedelta, soon: timedelta | None = None, *, countdown: bool = False) -> str:
    """The one way a due time is said: "OVERDUE by 2 d 1 h"; "due in 3 h 05 min" ("due soon: in 3 h 05 min"
    within `soon`); a legal deadline's `countdown`: "3 h 05 min left" ("… left (due soon)")."""
    if remaining < timedelta(0):
        return f"OVERDUE by {duration_words(remaining)}"
    near = soon is not None and remaining <= soon
    if countdown:
        return f"{duration_words(remaining)} left" + (" (due soon)" if near else "")
    return f"due soon: in {duration_words(remaining)}" if near else f"due in {duration_words(remaining)}"
