"""Correlation windows: the one definition both engines use.

The engines only select events (per referenced rule: timestamp, id, group-by values, counted value) —
narrowing the candidate groups first where the condition allows it — and this module decides which
groups fire, the same way for both.

Semantics (Sigma v2 `event_count`, `value_count`, `temporal`, `temporal_ordered`):

* Events are grouped by the values of the `group-by` fields (per referenced rule, after aliases).
  An event that lacks one of those fields belongs to no group and is ignored.
* Windows slide: each event of a group opens a window that holds every event of the group whose
  timestamp is at least the opening event's and at most `timespan` later (both ends inclusive; events
  with equal timestamps are ordered by event id). A burst is caught wherever it falls — there are no
  fixed buckets whose edges could split it.
* The window's measure is: `event_count` the number of events; `value_count` the number of distinct
  non-missing values of the condition's field; `temporal` the number of distinct referenced rules with
  an event in the window; `temporal_ordered` how many referenced rules occur in the window in the given
  order, starting with the first rule at the opening event.
* A window fires when its measure satisfies every bound of the condition (gt, gte, lt, lte, eq, neq;
  two bounds give a range). Overlapping firing windows of one group merge into one detection that
  carries all their events' ids and spans from the first to the last of them.

Chains (a correlation referenced by another, Sigma v2): each firing window of the referenced correlation
is one event for the referencing one, *completed* at the earliest of its events at which the events so
far — from the window's opening event — already satisfy the condition (for `gte: 10`, the tenth). That
event gives its time and id (for ordering; equal times are ordered by id as usual); windows completed at
the same event are one event. Its group values are the referenced correlation's group, projected onto
the fields the referencing correlation groups by (which must be among them), and it stands for all the
events of the windows completed there (a detection lists them all). So "ten failures within 10m, then a
success within 10m" means: a success at most 10 minutes after the tenth failure of some 10-minute window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from breachkit.detect.model import Correlation, Op

GroupKey = tuple[Any, ...]


@dataclass(frozen=True, order=True)
class CorrelationEvent:
    timestamp: datetime
    id: str
    rule: str  # referenced rule id
    group: GroupKey
    value: Any = None  # value_count: the counted field's value
    # A referenced correlation's firing: the events it stands for, (timestamp, id); () for a plain event.
    evidence: tuple[tuple[datetime, str], ...] = field(default=(), compare=False)

    @property
    def members(self) -> tuple[tuple[datetime, str], ...]:
        return self.evidence or ((self.timestamp, self.id),)


@dataclass(frozen=True)
class Firing:
    group: GroupKey
    events: tuple[CorrelationEvent, ...]  # sorted by time, deduplicated

    @property
    def first(self) -> datetime:
        return self.events[0].timestamp

    @property
    def last(self) -> datetime:
        return self.events[-1].timestamp


def satisfied(measure: int, bounds: Sequence[tuple[Op, int]]) -> bool:
    for op, n in bounds:
        ok = {"gt": measure > n, "gte": measure >= n, "lt": measure < n, "lte": measure <= n, "eq": measure == n,
              "neq": measure != n}[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Narrowing:
    """A necessary condition for a group to fire, which an engine checks with aggregations before any
    event is fetched: in some pair of adjacent fixed buckets of `timespan` seconds (aligned at the
    epoch), the events — or, with `distinct`, the distinct values of that field across both buckets —
    number at least `minimum`. Every sliding window of at most `timespan` lies within two adjacent
    buckets, so no firing group is lost; only hopeless groups are skipped."""

    group: tuple[str, ...]
    minimum: int
    timespan: int
    distinct: str | None = None
    # Candidate groups already decided (multi-rule correlations, from each rule's buckets): the engine
    # only restricts to them.
    groups: frozenset[GroupKey] | None = None


def adjacent_bucket_candidates(buckets: Iterable[tuple[GroupKey, int, int]], minimum: int) -> set[GroupKey]:
    """Groups whose event count in bucket k plus bucket k+1 reaches `minimum`. Input: (group, k, count)."""
    per_group: dict[GroupKey, dict[int, int]] = defaultdict(dict)
    for group, k, measure in buckets:
        per_group[group][k] = per_group[group].get(k, 0) + measure
    found = set()
    for group, counts in per_group.items():
        if any(n + counts.get(k + 1, 0) >= minimum for k, n in counts.items()):
            found.add(group)
    return found


def adjacent_bucket_distinct_candidates(triples: Iterable[tuple[GroupKey, int, Any]], minimum: int) -> set[GroupKey]:
    """Groups with at least `minimum` distinct values across some bucket k and k+1. Input: (group, k, value)."""
    per_group: dict[GroupKey, dict[int, set[Any]]] = defaultdict(lambda: defaultdict(set))
    for group, k, value in triples:
        per_group[group][k].add(value)
    found = set()
    for group, values in per_group.items():
        if any(len(v | values.get(k + 1, set())) >= minimum for k, v in values.items()):
            found.add(group)
    return found


def narrowing_for(corr: Correlation, rule_id: str) -> Narrowing | None:
    """The narrowing valid for `corr` (single-rule event_count / value_count with a lower bound)."""
    minimum = can_narrow_by_count(corr)
    group = corr.group_by[rule_id]
    if minimum is None or len(corr.rules) != 1 or not group:
        return None
    return Narrowing(group, minimum, corr.timespan, corr.value_field.get(rule_id))


def multi_rule_candidates(corr: Correlation,
                          buckets: dict[str, list[tuple[GroupKey, int, int]]]) -> set[GroupKey] | None:
    """Candidate groups of a correlation over several rules, from each rule's (group, bucket, count).

    `event_count` adds the rules' counts; `temporal`/`temporal_ordered` need that many distinct rules with
    events in two adjacent buckets (an ordered sequence is also a set of rules present). None: no
    narrowing applies (value_count over several rules, or no lower bound)."""
    lows = [n + 1 if op == "gt" else n for op, n in corr.bounds if op in ("gt", "gte", "eq")]
    minimum = max(lows) if lows else 0
    if minimum <= 0:
        return None
    if corr.type == "event_count":
        return adjacent_bucket_candidates([b for rows in buckets.values() for b in rows], minimum)
    if corr.type in ("temporal", "temporal_ordered"):
        triples = [(g, k, rule) for rule, rows in buckets.items() for g, k, _ in rows]
        return adjacent_bucket_distinct_candidates(triples, minimum)
    return None


def can_narrow_by_count(corr: Correlation) -> int | None:
    """A lower bound on a window's measure below which it can never fire (None: no such bound).

    Only conditions that need *at least* some number of events narrow: for `lt`/`lte`/`eq 0`-style
    conditions every group is a candidate.
    """
    if corr.type in ("temporal", "temporal_ordered"):
        return None
    lows = [n + 1 if op == "gt" else n for op, n in corr.bounds if op in ("gt", "gte", "eq")]
    if not lows:
        return None
    low = max(lows)
    return low if low > 0 else None


class _Measure:
    """A window's measure, grown one event at a time (every measure only grows as events are added)."""

    def __init__(self, corr: Correlation) -> None:
        self.corr, self.count, self.seen, self.step = corr, 0, set[Any](), 0

    def add(self, event: CorrelationEvent) -> int:
        self.count += 1
        kind = self.corr.type
        if kind == "event_count":
            return self.count
        if kind == "value_count":
            if event.value is not None:
                self.seen.add(event.value)
            return len(self.seen)
        if kind == "temporal":
            self.seen.add(event.rule)
            return len(self.seen)
        # temporal_ordered: the longest prefix of the rule order found in sequence, from the opening event
        order = self.corr.rules
        if self.count == 1:
            self.step = 1 if event.rule == order[0] else 0
        elif 0 < self.step < len(order) and event.rule == order[self.step]:
            self.step += 1
        return self.step


def _measure(corr: Correlation, window: Sequence[CorrelationEvent]) -> int:
    measure = _Measure(corr)
    value = 0
    for event in window:
        value = measure.add(event)
    return value


def _tracked(corr: Correlation, event: CorrelationEvent) -> Any:
    if corr.type == "value_count":
        return event.value
    if corr.type == "temporal":
        return event.rule
    return None


def _groups(events: Iterable[CorrelationEvent]) -> list[tuple[GroupKey, list[CorrelationEvent]]]:
    groups: dict[GroupKey, list[CorrelationEvent]] = defaultdict(list)
    for event in events:
        if any(v is None for v in event.group):
            continue
        groups[event.group].append(event)
    ordered = sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k))
    return [(key, sorted(set(groups[key]))) for key in ordered]


def _windows(corr: Correlation, seq: Sequence[CorrelationEvent]) -> list[tuple[int, int]]:
    """[start, end) index ranges of the group's firing windows (one per opening event that fires)."""
    span = corr.timespan
    firing: list[tuple[int, int]] = []
    counts: Counter[Any] = Counter()  # value_count: values in the window; temporal: rules
    end = 0
    for start, opener in enumerate(seq):
        while end < len(seq) and (seq[end].timestamp - opener.timestamp).total_seconds() <= span:
            tracked = _tracked(corr, seq[end])
            if tracked is not None:
                counts[tracked] += 1
            end += 1
        if corr.type == "event_count":
            measure = end - start
        elif corr.type in ("value_count", "temporal"):
            measure = len(counts)
        else:
            measure = _measure(corr, seq[start:end])
        if satisfied(measure, corr.bounds):
            firing.append((start, end))
        tracked = _tracked(corr, opener)  # the opener leaves before the next window
        if tracked is not None:
            counts[tracked] -= 1
            if counts[tracked] == 0:
                del counts[tracked]
    return firing


def fire(corr: Correlation, events: Iterable[CorrelationEvent]) -> list[Firing]:
    """Every group's merged firing windows, ordered by group and time."""
    result: list[Firing] = []
    for key, seq in _groups(events):
        merged: list[tuple[int, int]] = []
        for start, stop in _windows(corr, seq):
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
            else:
                merged.append((start, stop))
        result.extend(Firing(key, tuple(seq[a:b])) for a, b in merged)
    return result


def completions(corr: Correlation, events: Iterable[CorrelationEvent]) -> list[CorrelationEvent]:
    """The firings of `corr` as events for a correlation that references it (see the module docs): one per
    completing event, `rule` = `corr`'s id, group = `corr`'s group, evidence = the windows' events."""
    done: dict[int, set[tuple[datetime, str]]] = {}
    out: list[CorrelationEvent] = []
    for key, seq in _groups(events):
        done.clear()
        for start, stop in _windows(corr, seq):
            measure = _Measure(corr)
            for j in range(start, stop):
                if satisfied(measure.add(seq[j]), corr.bounds):
                    done.setdefault(j, set()).update(m for e in seq[start:j + 1] for m in e.members)
                    break
        for j, evidence in sorted(done.items()):
            out.append(CorrelationEvent(seq[j].timestamp, seq[j].id, corr.meta.id, key,
                                        evidence=tuple(sorted(evidence))))
    return out
