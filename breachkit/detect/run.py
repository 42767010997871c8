"""Running a rule set on an engine: single-event rules and correlations → detection records."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from breachkit.detect.correlate import (
    CorrelationEvent,
    GroupKey,
    Narrowing,
    fire,
    multi_rule_candidates,
    narrowing_for,
)
from breachkit.detect.engines import Engine, Row, TimeWindow
from breachkit.detect.rules import Correlation, Rule, RuleCheck, RuleMeta, RuleSet

# The fields a single-event detection is keyed by (who did it), in this order.
KEY_FIELDS = ("source.ip", "user.id", "user.name")


@dataclass(frozen=True)
class Detection:
    rule_id: str
    title: str
    level: str | None
    tags: tuple[str, ...]
    kind: str  # "event" or the correlation type
    engine: str
    key: tuple[tuple[str, str], ...]  # (field, value) pairs identifying the actor or group
    event_ids: tuple[str, ...]  # sorted
    first_seen: datetime
    last_seen: datetime

    @property
    def count(self) -> int:
        return len(self.event_ids)


@dataclass(frozen=True)
class RuleTiming:
    rule_id: str
    title: str
    seconds: float
    detections: int


@dataclass(frozen=True)
class DetectionRun:
    engine: str
    window: TimeWindow
    detections: tuple[Detection, ...]
    timings: tuple[RuleTiming, ...] = field(default=())
    not_run: tuple[RuleCheck, ...] = ()  # rules left out: they cannot run on the engine's indices


def _detection(meta: RuleMeta, kind: str, engine: str, key: tuple[tuple[str, str], ...],
               rows: Sequence[tuple[str, datetime]]) -> Detection:
    stamps = [r[1] for r in rows]
    return Detection(meta.id, meta.title, meta.level, meta.tags, kind, engine, key,
                     tuple(sorted({r[0] for r in rows})), min(stamps), max(stamps))


def detect_rule(rule: Rule, engine: Engine, window: TimeWindow) -> list[Detection]:
    """One detection per actor key (source.ip, user.id, user.name) among the rule's matching events."""
    rows = engine.select(rule.query, window, KEY_FIELDS)
    by_key: dict[tuple[tuple[str, str], ...], list[Row]] = defaultdict(list)
    for row in rows:
        key = tuple((f, str(v)) for f, v in zip(KEY_FIELDS, row[2:], strict=True) if v is not None)
        by_key[key].append(row)
    return [_detection(rule.meta, "event", engine.name, key, [(r[0], r[1]) for r in group])
            for key, group in sorted(by_key.items())]


def correlation_events(corr: Correlation, rules: dict[str, Rule], engine: Engine,
                       window: TimeWindow) -> list[CorrelationEvent]:
    events: list[CorrelationEvent] = []
    shared: frozenset[GroupKey] | None = None
    if len(corr.rules) > 1 and all(corr.group_by[r] for r in corr.rules):
        buckets = {r: engine.buckets(rules[r].query, window, corr.group_by[r], corr.timespan) for r in corr.rules}
        found = multi_rule_candidates(corr, buckets)
        shared = None if found is None else frozenset(found)
    for rule_id in corr.rules:
        group = corr.group_by[rule_id]
        value = corr.value_field.get(rule_id)
        columns = [*group, *([value] if value else [])]
        narrowing = (narrowing_for(corr, rule_id) if shared is None
                     else Narrowing(group, 0, corr.timespan, groups=shared))
        for row in engine.select(rules[rule_id].query, window, columns, narrowing):
            key = tuple(row[2:2 + len(group)])
            events.append(CorrelationEvent(row[1], row[0], rule_id, key, row[-1] if value else None))
    return events


def detect_correlation(corr: Correlation, rules: dict[str, Rule], engine: Engine,
                       window: TimeWindow) -> list[Detection]:
    firings = fire(corr, correlation_events(corr, rules, engine, window))
    names = next(iter(corr.group_by.values()), ())
    out = []
    for f in firings:
        key = tuple((name, str(v)) for name, v in zip(names, f.group, strict=False))
        out.append(_detection(corr.meta, corr.type, engine.name, key, [(e.id, e.timestamp) for e in f.events]))
    return out


def run(ruleset: RuleSet, engine: Engine, window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen
        *, select: Callable[[RuleMeta], bool] | None = None,
        on_rule: Callable[[RuleMeta], None] | None = None) -> DetectionRun:
    """Run every selected rule (single-event rules that generate output, and correlations)."""
    rules = ruleset.by_id()
    detections: list[Detection] = []
    timings: list[RuleTiming] = []
    items: list[Rule | Correlation] = [*(r for r in ruleset.rules if r.generate), *ruleset.correlations]
    for item in items:
        if select is not None and not select(item.meta):
            continue
        started = time.perf_counter()
        found = (detect_rule(item, engine, window) if isinstance(item, Rule)
                 else detect_correlation(item, rules, engine, window))
        detections.extend(found)
        timings.append(RuleTiming(item.meta.id, item.meta.title, time.perf_counter() - started, len(found)))
        if on_rule is not None:
            on_rule(item.meta)
    return DetectionRun(engine.name, window, tuple(detections), tuple(timings))
