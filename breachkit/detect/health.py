"""The health of a rule set over time: which rules ran, which did not, and what changed since last time.

A scheduled scan stores the state of each run; the next run compares. A rule that ran last time and does
not now (its file broke, it was deleted, its logsource is no longer mapped, the engine rejects its query)
and a rule that is newly broken are reported once — the run after stores the new state and stays quiet
about them. Skipped rules that never ran (e.g. SigmaHQ proxy rules without proxy data) are not news.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from breachkit.detect.run import DetectionRun


@dataclass(frozen=True)
class RuleSetState:
    ran: dict[str, str]  # rule id → title
    not_run: dict[str, str]  # rule id (or "file:<path>") → "<kind>: <reason>"

    @classmethod
    def of(cls, result: DetectionRun) -> RuleSetState:
        return cls({t.rule_id: t.title for t in result.timings},
                   {n.key: f"{n.kind}: {n.reason}" for n in result.not_run})

    def to_json(self) -> dict[str, Any]:
        return {"ran": dict(sorted(self.ran.items())), "not_run": dict(sorted(self.not_run.items()))}

    @classmethod
    def from_json(cls, data: Any) -> RuleSetState | None:
        if not isinstance(data, dict):
            return None
        ran, not_run = data.get("ran"), data.get("not_run")
        if not isinstance(ran, dict) or not isinstance(not_run, dict):
            return None
        return cls({str(k): str(v) for k, v in ran.items()}, {str(k): str(v) for k, v in not_run.items()})


@dataclass(frozen=True)
class Lost:
    """A rule that stopped running, or is newly broken: what it is and why."""

    key: str
    title: str
    reason: str


@dataclass(frozen=True)
class RuleSetChange:
    stopped: tuple[Lost, ...]  # ran last time, not now
    broken: tuple[Lost, ...]  # broken or failed now, and not already so last time

    @property
    def news(self) -> bool:
        return bool(self.stopped or self.broken)

    def lines(self) -> list[str]:
        out = [f"no longer runs: {x.title} ({x.key}): {x.reason}" for x in self.stopped]
        out += [f"broken: {x.title}: {x.reason}" for x in self.broken]
        return out


def compare(previous: RuleSetState | None, result: DetectionRun) -> RuleSetChange:
    """What is news in `result` compared with the stored state of the previous run (None: first run)."""
    now = RuleSetState.of(result)
    labels = {n.key: n.label for n in result.not_run}
    stopped = []
    if previous is not None:
        for rule_id, title in sorted(previous.ran.items()):
            if rule_id not in now.ran:
                stopped.append(Lost(rule_id, title, now.not_run.get(rule_id, "no longer in the rule set")))
    gone = {x.key for x in stopped}
    broken: dict[str, Lost] = {}
    for n in result.broken:
        if n.key in gone or n.key in broken:
            continue
        if previous is None or previous.not_run.get(n.key) != now.not_run[n.key]:
            broken[n.key] = Lost(n.key, labels[n.key], now.not_run[n.key])
    return RuleSetChange(tuple(stopped), tuple(broken.values()))
