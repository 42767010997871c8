"""The compiled rule set: rules, correlations, and — typed, with reasons — every rule that cannot run.

Nothing that cannot run disappears: a rule is either compiled (`Rule`, `Correlation`) or listed as `NotRun`
with its kind and reason, so callers (the CLI, the scheduled scan) can say what was not looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from breachkit.detect import ir
from breachkit.errors import Location, Problem

CorrelationType = Literal["event_count", "value_count", "temporal", "temporal_ordered"]
Op = Literal["gt", "gte", "lt", "lte", "eq", "neq"]
# skipped: a valid rule this set-up cannot run (logsource mapped to no dataset, a feature breachkit lacks);
# broken: the file or the rule is invalid (YAML, Sigma syntax, a reference to a missing rule);
# failed: the engine rejected the rule's query while running it.
NotRunKind = Literal["skipped", "broken", "failed"]


@dataclass(frozen=True)
class RuleMeta:
    id: str
    title: str
    name: str | None
    level: str | None
    tags: tuple[str, ...]
    path: str | None
    status: str | None = None
    description: str | None = None
    logsource: str | None = None  # as the rule has it after the processing pipelines ("category: webserver")


@dataclass(frozen=True)
class Rule:
    """A single-event rule, compiled: `query` includes the logsource's dataset scope."""

    meta: RuleMeta
    query: ir.Node
    warnings: tuple[str, ...] = ()
    generate: bool = True  # False: only used by correlations (Sigma's `generate: false` default)
    datasets: tuple[str, ...] | None = None  # the event.dataset values its logsource covers (None: all)


@dataclass(frozen=True)
class Correlation:
    meta: RuleMeta
    type: CorrelationType
    rules: tuple[str, ...]  # ids of the referenced rules or correlations, in the rule's order
    group_by: dict[str, tuple[str, ...]]  # referenced id → its group-by fields (aliases resolved)
    timespan: int  # seconds
    bounds: tuple[tuple[Op, int], ...]  # all must hold
    value_field: dict[str, str] = field(default_factory=dict)  # value_count: referenced id → counted field
    generate: bool = True  # False: only used by a correlation that chains it
    # The correlation's own group-by names (what a chaining correlation can group by).
    group_names: tuple[str, ...] = ()
    # Referenced correlations: id → indexes into their group of this correlation's group-by fields, and of
    # the value_count field (if any) as the last index.
    chained: dict[str, tuple[int, ...]] = field(default_factory=dict)
    lookback: int = 0  # seconds of history a window needs, through the whole chain (0: `timespan`)

    @property
    def reach(self) -> int:
        return max(self.lookback, self.timespan)


@dataclass(frozen=True)
class Skipped:
    meta: RuleMeta
    reason: str


@dataclass(frozen=True)
class NotRun:
    """A rule (or a rule file) that did not run, and why."""

    kind: NotRunKind
    reason: str
    location: Location
    meta: RuleMeta | None = None  # None: the file did not parse far enough to tell which rule

    @property
    def key(self) -> str:
        """The rule id, or the file for what could not be read as a rule."""
        return self.meta.id if self.meta is not None else f"file:{self.location.path}"

    @property
    def label(self) -> str:
        return self.meta.title if self.meta is not None else (self.location.path or "?")

    def __str__(self) -> str:
        where = str(self.location)
        what = f"{self.meta.title}: " if self.meta is not None else ""
        return f"{self.kind}: {where + ': ' if where else ''}{what}{self.reason}"

    def problem(self) -> Problem:
        """As one of an error's problems (`run.verdict`)."""
        return Problem(f"{self.kind}: {self.label}: {self.reason}", self.location)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    correlations: tuple[Correlation, ...]
    skipped: tuple[Skipped, ...]
    problems: tuple[Problem, ...]
    files: tuple[Path, ...]
    lint: tuple[Problem, ...] = ()  # findings of SigmaHQ's validators (style, not errors)
    broken: tuple[NotRun, ...] = ()  # one per problem, with the rule where it is known

    def by_id(self) -> dict[str, Rule | Correlation]:
        """Every compiled rule and correlation by id (correlations can reference both)."""
        found: dict[str, Rule | Correlation] = {r.meta.id: r for r in self.rules}
        found.update((c.meta.id, c) for c in self.correlations)
        return found

    @property
    def not_run(self) -> tuple[NotRun, ...]:
        """Every rule that cannot run: skipped (with the reason) and broken (with the problem)."""
        skipped = tuple(NotRun("skipped", s.reason, Location(s.meta.path), s.meta) for s in self.skipped)
        return skipped + self.broken

    def datasets_of(self, item: Rule | Correlation) -> tuple[str, ...] | None:
        """The event.dataset values a rule runs on (a correlation: those of the rules at its bottom);
        None: every dataset."""
        if isinstance(item, Rule):
            return item.datasets
        catalog, found, todo, seen = self.by_id(), set[str](), list(item.rules), set[str]()
        while todo:
            ref = todo.pop()
            target = catalog.get(ref)
            if ref in seen or target is None:
                continue
            seen.add(ref)
            if isinstance(target, Correlation):
                todo.extend(target.rules)
            elif target.datasets is None:
                return None
            else:
                found.update(target.datasets)
        return tuple(sorted(found))

    @property
    def alerting(self) -> tuple[Rule | Correlation, ...]:
        """What produces detections: rules and correlations not used only by a correlation."""
        return (*(r for r in self.rules if r.generate), *(c for c in self.correlations if c.generate))

