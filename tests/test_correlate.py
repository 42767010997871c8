"""Pure correlation logic: the narrowing (adjacent fixed buckets) never drops a group that fires."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from breachkit.detect.correlate import (
    CorrelationEvent,
    Narrowing,
    adjacent_bucket_candidates,
    adjacent_bucket_distinct_candidates,
    fire,
    multi_rule_candidates,
    narrowing_for,
    satisfied,
)
from breachkit.detect.rules import Correlation, RuleMeta

T0 = datetime(2026, 3, 26, 13, 0, tzinfo=UTC)


def corr(kind: str, timespan: int, bounds, value_field=None) -> Correlation:
    meta = RuleMeta("c", "c", None, "high", (), None)
    return Correlation(meta, kind, ("r",), {"r": ("source.ip",)}, timespan, tuple(bounds),
                       {"r": "user.id"} if value_field else {})


def events(seed: int, n: int = 300) -> list[CorrelationEvent]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = T0 + timedelta(seconds=rng.randrange(0, 4 * 3600))
        out.append(CorrelationEvent(ts, f"e{i:04d}", "r", (f"203.0.113.{rng.randrange(8)}",),
                                    f"u{rng.randrange(12)}"))
    return out


def candidates_for(evs, n: Narrowing):
    """What an engine's aggregation yields, fed to the shared candidate logic."""
    if n.distinct:
        triples = {(e.group, int(e.timestamp.timestamp()) // n.timespan, e.value) for e in evs}
        return adjacent_bucket_distinct_candidates(triples, n.minimum)
    counts: dict[tuple, int] = {}
    for e in evs:
        key = (e.group, int(e.timestamp.timestamp()) // n.timespan)
        counts[key] = counts.get(key, 0) + 1
    return adjacent_bucket_candidates([(g, k, c) for (g, k), c in counts.items()], n.minimum)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("kind,bounds", [("event_count", [("gte", 9)]), ("value_count", [("gte", 6)]),
                                         ("event_count", [("gt", 7), ("lte", 30)])])
def test_narrowing_keeps_every_firing_group(seed, kind, bounds):
    c = corr(kind, 600, bounds, value_field=kind == "value_count")
    evs = events(seed)
    n = narrowing_for(c, "r")
    assert n is not None
    candidates = candidates_for(evs, n)
    full = fire(c, evs)
    narrowed = fire(c, [e for e in evs if e.group in candidates])
    assert full == narrowed
    assert {f.group for f in full} <= candidates


def test_no_narrowing_for_upper_bounds_only():
    assert narrowing_for(corr("event_count", 60, [("lt", 3)]), "r") is None


def test_satisfied_bounds():
    assert satisfied(3, [("gte", 3), ("lte", 4)]) and not satisfied(5, [("gte", 3), ("lte", 4)])
    assert satisfied(2, [("neq", 3)]) and not satisfied(3, [("eq", 4)])


def test_window_boundary_is_inclusive_and_windows_merge():
    c = corr("event_count", 10, [("gte", 2)])
    base = [CorrelationEvent(T0 + timedelta(seconds=s), f"e{s}", "r", ("a",)) for s in (0, 10, 21, 40, 45)]
    fired = fire(c, base)
    # 0 and 10 are exactly 10 s apart (inclusive); 21 stands alone; 40 and 45 form a second window
    assert [[e.id for e in f.events] for f in fired] == [["e0", "e10"], ["e40", "e45"]]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("kind,bounds", [("temporal", [("gte", 2)]), ("temporal_ordered", [("gte", 2)]),
                                         ("event_count", [("gte", 6)])])
def test_multi_rule_narrowing_keeps_every_firing_group(seed, kind, bounds):
    rng = random.Random(seed)
    meta = RuleMeta("m", "m", None, "high", (), None)
    c = Correlation(meta, kind, ("a", "b"), {"a": ("source.ip",), "b": ("source.ip",)}, 300, tuple(bounds))
    evs = [CorrelationEvent(T0 + timedelta(seconds=rng.randrange(0, 6 * 3600)), f"e{i:04d}", rng.choice("ab"),
                            (f"203.0.113.{rng.randrange(30)}",)) for i in range(400)]
    per_rule: dict[str, dict[tuple, int]] = {"a": {}, "b": {}}
    for e in evs:
        key = (e.group, int(e.timestamp.timestamp()) // c.timespan)
        per_rule[e.rule][key] = per_rule[e.rule].get(key, 0) + 1
    buckets = {r: [(g, k, n) for (g, k), n in rows.items()] for r, rows in per_rule.items()}
    candidates = multi_rule_candidates(c, buckets)
    assert candidates is not None
    assert fire(c, evs) == fire(c, [e for e in evs if e.group in candidates])
