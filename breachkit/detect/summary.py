"""Detections grouped by rule: how many actors or groups each rule fired for, how many events, when — what a
person reads first (the full list is for machines and files)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from breachkit.detect.run import Detection

LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class RuleSummary:
    rule_id: str
    title: str
    level: str | None
    detections: int  # actors or groups it fired for
    events: int
    first_seen: datetime
    last_seen: datetime

    @property
    def rank(self) -> int:
        return LEVELS.index(self.level) if self.level in LEVELS else 0


def by_rule(detections: Iterable[Detection]) -> list[RuleSummary]:
    """One row per rule, most severe first, then most detections."""
    groups: dict[str, list[Detection]] = {}
    for d in detections:
        groups.setdefault(d.rule_id, []).append(d)
    rows = [RuleSummary(rule_id, ds[0].title, ds[0].level, len(ds), sum(d.count for d in ds),
                        min(d.first_seen for d in ds), max(d.last_seen for d in ds)) for rule_id, ds in groups.items()]
    return sorted(rows, key=lambda r: (-r.rank, -r.detections, r.title))
