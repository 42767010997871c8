"""Use cases over the rule set itself, before any event is read: which rules would run and on which datasets
(`list_rules`), and whether they can run here at all (`check_rules`). Nothing is dropped silently: every rule
that cannot run is listed with its reason, and a check that finds none runnable, or a rule given by the user
that cannot run, fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breachkit.detect.api import ruleset_from_config
from breachkit.detect.model import Correlation, NotRun, Rule, RuleSet
from breachkit.errors import InputError, Location, Problem
from breachkit.session import Session
from breachkit.wording import counted


def load_ruleset(session: Session, paths: Sequence[Path] = ()) -> RuleSet:
    """The rules at `paths`, or the configured ones (bundled pack + detect.rules) when none are given."""
    return ruleset_from_config(session.config, only=list(paths) or None)


@dataclass(frozen=True)
class RuleEntry:
    """A rule or correlation of the set, with where it runs."""

    item: Rule | Correlation
    kind: str  # "event" or the correlation type
    datasets: tuple[str, ...] | None  # the event.dataset values it runs on; None: every dataset

    @property
    def datasets_text(self) -> str:
        return "all" if self.datasets is None else ", ".join(self.datasets) or "none"


@dataclass(frozen=True)
class RuleListing:
    ruleset: RuleSet
    entries: tuple[RuleEntry, ...]
    not_run: tuple[NotRun, ...]  # skipped here (with the reason) and broken

    def to_json(self) -> dict[str, Any]:
        """What `rules list -o json` prints."""
        return {
            "rules": [{**dataclasses.asdict(e.item.meta), "kind": e.kind, "generates": e.item.generate,
                       "datasets": None if e.datasets is None else list(e.datasets)} for e in self.entries],
            "skipped": [{**dataclasses.asdict(s.meta), "reason": s.reason} for s in self.ruleset.skipped],
            "problems": [str(p) for p in self.ruleset.problems],
        }


def list_rules(session: Session, paths: Sequence[Path] = ()) -> RuleListing:
    """Every rule and correlation with its kind and datasets, and every rule that cannot run, with the reason."""
    ruleset = load_ruleset(session, paths)
    items: list[Rule | Correlation] = [*ruleset.rules, *ruleset.correlations]
    entries = tuple(RuleEntry(item, "event" if isinstance(item, Rule) else item.type, ruleset.datasets_of(item))
                    for item in items)
    return RuleListing(ruleset, entries, ruleset.not_run)


@dataclass(frozen=True)
class RuleCheck:
    ruleset: RuleSet
    summary: str  # "N rules ok, M cannot run here (skipped), K problems, in F files"
    # The error to raise once the findings are shown (exit 1): a broken rule, no rule that can run, or a rule
    # given as a path that cannot run here. None: the check passed (skipped rules are then only warned about).
    problem: InputError | None

    @property
    def warning(self) -> str | None:
        skipped = len(self.ruleset.skipped)
        if not skipped or self.problem is not None:
            return None
        return f"{counted(skipped, 'rule')} cannot run here (listed above)"


def check_rules(session: Session, paths: Sequence[Path] = ()) -> RuleCheck:
    """Validate the rules at `paths` (default: the configured ones): broken rules, rules that cannot run here and
    why, SigmaHQ's validators' findings (`ruleset.lint`), per-rule warnings (`rule.warnings`)."""
    ruleset = load_ruleset(session, paths)
    total = len(ruleset.rules) + len(ruleset.correlations)
    summary = (f"{counted(total, 'rule')} ok, {len(ruleset.skipped)} cannot run here (skipped), "
               f"{counted(len(ruleset.problems), 'problem')}, in {counted(len(ruleset.files), 'file')}")
    skipped = [Problem(f"skipped: {s.meta.title}: {s.reason}", Location(s.meta.path)) for s in ruleset.skipped]
    problem: InputError | None = None
    if ruleset.problems:
        where = counted(len(ruleset.files), "rule file")
        problem = InputError(f"{counted(len(ruleset.problems), 'problem')} in {where} ({summary})",
                             problems=list(ruleset.problems), hint="fix the rules listed above")
    elif not ruleset.alerting:
        problem = InputError(f"no rule can run ({summary})", problems=skipped,
                             hint="map the logsources in [detect.logsources] or fix the reasons listed above")
    elif paths and ruleset.skipped:
        problem = InputError(f"{len(ruleset.skipped)} of the rules given cannot run ({summary})", problems=skipped,
                             hint="map their logsources in [detect.logsources] (breachkit rules list shows the "
                                  "mapping)")
    return RuleCheck(ruleset, summary, problem)
