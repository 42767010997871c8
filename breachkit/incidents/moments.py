"""The incident's moments checked against each other and against now, so that the legal clock cannot lie: no moment
in the future (beyond a configured clock skew), and the order a breach unfolds in — it occurred, then it was
detected, then the organisation became aware — kept. Pure: `now` is given.

A moment in the future is always refused: a clock that starts in the future shows time elapsed that has not.
The order can have genuine exceptions (a period that began before its first known event was logged, a detection
recorded late): the caller may override it with a reason, which is recorded with the change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from breachkit.errors import Location, Problem
from breachkit.incidents.model import Incident

MOMENTS = ("occurred_at", "occurred_until", "detected_at", "processor_notified_at", "aware_at")
# (earlier, later): the first must not come after the second.
ORDER = (("occurred_at", "occurred_until"), ("occurred_at", "detected_at"), ("occurred_at", "aware_at"),
         ("detected_at", "aware_at"), ("occurred_at", "processor_notified_at"))


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def future_problems(incident: Incident, now: datetime, skew: timedelta, fields: frozenset[str] | None = None
                    ) -> list[Problem]:
    """Moments later than `now` + `skew` (only those in `fields`, when given: the ones being set)."""
    limit = now + skew
    out = []
    for name in MOMENTS:
        value = getattr(incident, name)
        if value is not None and value > limit and (fields is None or name in fields):
            out.append(Problem(f"{name} {_iso(value)} is in the future (now {_iso(now)}): the clock cannot start "
                               "or count from a moment that has not happened", Location(incident.id, field=name)))
    return out


def order_problems(incident: Incident, fields: frozenset[str] | None = None) -> list[Problem]:
    """Moments out of order: occurred ≤ detected ≤ aware, occurred ≤ occurred_until and ≤ processor_notified_at
    (only pairs with a moment in `fields`, when given: the ones being set)."""
    out = []
    for earlier, later in ORDER:
        a, b = getattr(incident, earlier), getattr(incident, later)
        if fields is not None and earlier not in fields and later not in fields:
            continue
        if a is not None and b is not None and a > b:
            out.append(Problem(f"{earlier} {_iso(a)} is after {later} {_iso(b)}", Location(incident.id, field=later)))
    return out
