"""Running a rule set on an engine: single-event rules and correlations → detection records.

What did not run is part of the result (`DetectionRun.not_run`): the rule set's skipped and broken rules
(those the selection covers) and any rule whose query the engine rejected while running (`failed`) — the
others still run. `verdict` turns that into the outcome the use cases (detect, scan) report.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from breachkit.detect.correlate import (
    CorrelationEvent,
    GroupKey,
    Narrowing,
    completions,
    fire,
    multi_rule_candidates,
    narrowing_for,
)
from breachkit.detect.engines import Engine, QueryFailed, Row, TimeWindow
from breachkit.detect.model import Correlation, NotRun, Rule, RuleMeta, RuleSet
from breachkit.errors import BreachkitError, InputError, Location, PartialFailure, UsageError
from breachkit.wording import counted

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
    not_run: tuple[NotRun, ...] = ()  # skipped, broken and failed rules (of the selection), with reasons
    notes: tuple[str, ...] = ()  # what the engine says of the events searched (`Engine.notes`)
    # Set by the use case (`detect.api.run_detection`, `scan.run_scan`): the error to raise after the
    # detections were shown, when some rules that had to run did not (`verdict`); None: complete.
    incomplete: BreachkitError | None = field(default=None, compare=False)

    @property
    def ran(self) -> int:
        """How many rules and correlations ran to the end."""
        return len(self.timings)

    @property
    def found_by(self) -> int:
        """How many of them found something."""
        return len({d.rule_id for d in self.detections})

    @property
    def broken(self) -> tuple[NotRun, ...]:
        return tuple(n for n in self.not_run if n.kind != "skipped")

    @property
    def skipped(self) -> tuple[NotRun, ...]:
        return tuple(n for n in self.not_run if n.kind == "skipped")


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


Catalog = Mapping[str, Rule | Correlation]


def _base_events(corr: Correlation, rule_id: str, rule: Rule, engine: Engine, window: TimeWindow,
                 narrowing: Narrowing | None) -> list[CorrelationEvent]:
    group = corr.group_by[rule_id]
    value = corr.value_field.get(rule_id)
    columns = [*group, *([value] if value else [])]
    return [CorrelationEvent(row[1], row[0], rule_id, tuple(row[2:2 + len(group)]), row[-1] if value else None)
            for row in engine.select(rule.query, window, columns, narrowing)]


def _chained_events(corr: Correlation, inner: Correlation, catalog: Catalog, engine: Engine,
                    window: TimeWindow) -> list[CorrelationEvent]:
    """The referenced correlation's firings as events of `corr` (correlate.completions), projected onto the
    fields `corr` groups by (and counts, for value_count)."""
    projection = corr.chained[inner.meta.id]
    width = len(corr.group_by[inner.meta.id])
    out = []
    for e in completions(inner, correlation_events(inner, catalog, engine, window)):
        picked = tuple(e.group[i] for i in projection)
        out.append(CorrelationEvent(e.timestamp, e.id, inner.meta.id, picked[:width],
                                    picked[width] if len(picked) > width else None, e.evidence))
    return out


def correlation_events(corr: Correlation, catalog: Catalog, engine: Engine,
                       window: TimeWindow) -> list[CorrelationEvent]:
    """The events of every rule (or chained correlation) `corr` references, narrowed where that is safe."""
    events: list[CorrelationEvent] = []
    base = [r for r in corr.rules if r not in corr.chained]
    for rule_id in corr.rules:
        inner = catalog[rule_id]
        if isinstance(inner, Correlation):
            events.extend(_chained_events(corr, inner, catalog, engine, window))
    shared: frozenset[GroupKey] | None = None
    if corr.chained and _needs_every_rule(corr):
        # every referenced rule must occur in a firing group: only the chained firings' groups can fire
        by_rule: dict[str, set[GroupKey]] = defaultdict(set)
        for e in events:
            by_rule[e.rule].add(e.group)
        present = [by_rule[r] for r in corr.chained]
        shared = frozenset(set.intersection(*present)) if present else None
        if not shared:
            return events if not base else []
    elif not corr.chained and len(corr.rules) > 1 and all(corr.group_by[r] for r in corr.rules):
        buckets = {r: engine.buckets(_rule(catalog, r).query, window, corr.group_by[r], corr.timespan)
                   for r in corr.rules}
        found = multi_rule_candidates(corr, buckets)
        shared = None if found is None else frozenset(found)
    for rule_id in base:
        narrowing = (narrowing_for(corr, rule_id) if shared is None
                     else Narrowing(corr.group_by[rule_id], 0, corr.timespan, groups=shared))
        events.extend(_base_events(corr, rule_id, _rule(catalog, rule_id), engine, window, narrowing))
    return events


def _rule(catalog: Catalog, rule_id: str) -> Rule:
    rule = catalog[rule_id]
    assert isinstance(rule, Rule)
    return rule


def _needs_every_rule(corr: Correlation) -> bool:
    """True when a window can only fire with an event of every referenced rule in it."""
    if corr.type not in ("temporal", "temporal_ordered"):
        return False
    lows = [n + 1 if op == "gt" else n for op, n in corr.bounds if op in ("gt", "gte", "eq")]
    return bool(lows) and max(lows) >= len(corr.rules)


def detect_correlation(corr: Correlation, catalog: Catalog, engine: Engine,
                       window: TimeWindow) -> list[Detection]:
    firings = fire(corr, correlation_events(corr, catalog, engine, window))
    names = next(iter(corr.group_by.values()), ())
    out = []
    for f in firings:
        key = tuple((name, str(v)) for name, v in zip(names, f.group, strict=False))
        members = sorted({(e_id, ts) for e in f.events for ts, e_id in e.members}, key=lambda m: (m[1], m[0]))
        out.append(_detection(corr.meta, corr.type, engine.name, key, members))
    return out


def run(ruleset: RuleSet, engine: Engine, window: TimeWindow = TimeWindow(),  # noqa: B008 - frozen
        *, select: Callable[[RuleMeta], bool] | None = None,
        on_rule: Callable[[RuleMeta], None] | None = None) -> DetectionRun:
    """Run every selected rule (single-event rules that generate output, and correlations that do).

    A rule whose query the engine rejects is recorded as `failed` and the others still run; errors that
    concern every rule (the service is unreachable, credentials refused) are raised."""
    catalog = ruleset.by_id()
    detections: list[Detection] = []
    timings: list[RuleTiming] = []
    not_run = [n for n in ruleset.not_run if n.meta is None or select is None or select(n.meta)]
    for item in ruleset.alerting:
        if select is not None and not select(item.meta):
            continue
        started = time.perf_counter()
        try:
            found = (detect_rule(item, engine, window) if isinstance(item, Rule)
                     else detect_correlation(item, catalog, engine, window))
        except QueryFailed as exc:
            not_run.append(NotRun("failed", f"the {engine.name} engine rejected its query: {exc}",
                                  Location(item.meta.path), item.meta))
            found = None
        if found is not None:
            detections.extend(found)
            timings.append(RuleTiming(item.meta.id, item.meta.title, time.perf_counter() - started, len(found)))
        if on_rule is not None:
            on_rule(item.meta)
    return DetectionRun(engine.name, window, tuple(detections), tuple(timings), tuple(not_run), tuple(engine.notes))


def _under(path: str | None, roots: Collection[str]) -> bool:
    return path is not None and any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def verdict(result: DetectionRun, *, explicit: Collection[str] = (),
            explicit_ids: Collection[str] = ()) -> BreachkitError | None:
    """What the outcome of a run means for its caller (None: every rule that should run ran).

    - nothing ran at all → InputError (exit 1): a scan that looks at nothing must not look like "all quiet";
    - some rules broken or failed, or a rule given explicitly (`explicit`: files or folders; `explicit_ids`) skipped →
      PartialFailure (exit 4): the detections are real, but not everything was looked at;
    - rules of the configured sets skipped (e.g. SigmaHQ proxy rules, no proxy data) → None: they are
      listed as warnings, the run is complete for the data there is.
    """
    problems = [n.problem() for n in result.not_run]
    if result.ran == 0:
        if not result.not_run:
            return UsageError("nothing was run: no rule matches the selection",
                              hint="breachkit rules list shows the rules with their ids, tags and levels")
        return InputError(f"nothing was run: none of the {len(result.not_run)} selected rules could run",
                          problems=problems, hint="breachkit rules check lists every rule with the reason")
    explicit_skips = [n for n in result.skipped
                      if _under(n.location.path, explicit) or (n.meta is not None and n.meta.id in explicit_ids)]
    if result.broken or explicit_skips:
        bad = len(result.broken) + len(explicit_skips)
        return PartialFailure(f"{bad} of {counted(bad + result.ran, 'rule')} did not run; the detections above are "
                              f"from the {result.ran} that did", problems=problems)
    return None
