"""The scheduled scan (`breachkit scan`, for cron): detect since the last run, link new detections to the open
incident whose scope they touch, and alert the on-call about the rest.

A detection is not awareness (EDPB 9/2022: awareness needs a reasonable degree of certainty that personal
data was compromised), so the scan never opens an incident or starts a clock: a human does, with
`incident open --detections`. The window re-covers an overlap before the checkpoint (the longest correlation
timespan) so a burst split across two runs is seen whole; what was reported before for the same rule and
actor, and is still going on, is not alerted again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from breachkit.detect.engines import Engine, TimeWindow
from breachkit.detect.health import RuleSetChange, RuleSetState, compare
from breachkit.detect.rules import RuleMeta, RuleSet
from breachkit.detect.run import Detection, DetectionRun, run
from breachkit.incidents import tables as t
from breachkit.incidents.api import linked
from breachkit.incidents.model import Incident, Status
from breachkit.incidents.store import IncidentStore, as_utc

LEVELS = ("informational", "low", "medium", "high", "critical")
# Activity of the same rule and actor that resumes within this gap of what was last reported is the same
# ongoing activity (not alerted again).
QUIET_GAP = timedelta(hours=1)


@dataclass
class ScanResult:
    engine: str
    window: TimeWindow
    detections: int  # at or above the level
    linked: dict[str, list[Detection]] = field(default_factory=dict)  # incident id → detections linked
    new: list[Detection] = field(default_factory=list)  # to alert about
    ongoing: list[Detection] = field(default_factory=list)  # reported before, still going on
    seen: dict[tuple[str, str], datetime | None] = field(default_factory=dict, repr=False)  # as read by the scan
    run: DetectionRun | None = None  # what ran and what did not (not_run: skipped, broken, failed rules)
    rules: RuleSetChange | None = None  # rules that stopped running or broke since the last run (alert once)


def checkpoint(store: IncidentStore, engine: str) -> tuple[datetime, datetime] | None:
    """(scanned until, when) of the last run on `engine`, or None before the first run."""
    with store.transaction() as conn:
        row = conn.execute(select(t.scan_state.c.until, t.scan_state.c.run_at)
                           .where(t.scan_state.c.engine == engine)).first()
    if row is None:
        return None
    until, run_at = as_utc(row[0]), as_utc(row[1])
    assert until is not None and run_at is not None
    return until, run_at


def overlap(ruleset: RuleSet, minutes: float | None) -> timedelta:
    if minutes is not None:
        return timedelta(minutes=minutes)
    return timedelta(seconds=max((c.reach for c in ruleset.correlations), default=0))


def window_for(store: IncidentStore, engine: str, ruleset: RuleSet, now: datetime, *, first_lookback: timedelta,
               overlap_minutes: float | None, since: datetime | None = None) -> TimeWindow:
    last = checkpoint(store, engine)
    start = since if since is not None else (now - first_lookback if last is None else
                                             last[0] - overlap(ruleset, overlap_minutes))
    return TimeWindow(start, now)


def _key(detection: Detection) -> str:
    return json.dumps(list(detection.key), separators=(",", ":"))


def scan(store: IncidentStore, ruleset: RuleSet, engine: Engine, *, now: datetime, window: TimeWindow,
         min_level: str, actor: str, dry_run: bool = False,
         on_rule: Callable[[RuleMeta], None] | None = None) -> ScanResult:
    minimum = LEVELS.index(min_level)

    def selected(meta: RuleMeta) -> bool:
        return LEVELS.index(meta.level or "informational") >= minimum

    outcome = run(ruleset, engine, window, select=selected, on_rule=on_rule)
    found = outcome.detections
    open_incidents = store.list_incidents(status=[s for s in Status if s != Status.CLOSED])
    with store.transaction() as conn:
        seen = {(r.rule_id, r.key): as_utc(r.last_seen) for r in conn.execute(select(t.scan_seen))}
        stored = conn.execute(select(t.scan_state.c.rules).where(t.scan_state.c.engine == engine.name)).first()
    previous = RuleSetState.from_json(stored[0]) if stored is not None else None
    result = ScanResult(engine.name, window, len(found), seen=seen, run=outcome, rules=compare(previous, outcome))
    for detection in sorted(found, key=lambda d: (d.first_seen, d.rule_id, d.key)):
        incident = _incident_for(open_incidents, detection)
        if incident is not None:
            result.linked.setdefault(incident.id, []).append(detection)
            continue
        last = seen.get((detection.rule_id, _key(detection)))
        if last is not None and last >= detection.first_seen - QUIET_GAP:
            result.ongoing.append(detection)
        else:
            result.new.append(detection)
    if not dry_run:  # linking is idempotent (each detection once), so it may happen before the alert
        for incident_id, detections in result.linked.items():
            store.link_detections(incident_id, [linked(d) for d in detections], actor=actor, now=now,
                                  reason="scheduled scan")
    return result


def commit(store: IncidentStore, result: ScanResult, now: datetime) -> None:
    """After the alert went out: remember what was reported and move the checkpoint (so a failed alert is
    raised again by the next run rather than lost)."""
    # ongoing activity moves its last_seen too, so a long campaign stays "ongoing" instead of alerting again
    reported = [d for ds in result.linked.values() for d in ds] + result.new + result.ongoing
    _remember(store, reported, dict(result.seen), now)
    remember_rules(store, result, now, checkpoint=True)


def remember_rules(store: IncidentStore, result: ScanResult, now: datetime, *, checkpoint: bool = False) -> None:
    """Store which rules ran (so a rule that stops running is alerted once); with `checkpoint`, also move
    the checkpoint. A run in which nothing could run keeps it (at the window's start on a first run), so
    its window is scanned again once rules run."""
    rules = RuleSetState.of(result.run).to_json() if result.run is not None else None
    with store.transaction() as conn:
        exists = conn.execute(select(t.scan_state.c.until).where(t.scan_state.c.engine == result.engine)).first()
        kept = exists[0] if exists is not None else (result.window.since or now)
        values = {"until": (result.window.until or now) if checkpoint else kept, "run_at": now, "rules": rules}
        if exists:
            conn.execute(update(t.scan_state).where(t.scan_state.c.engine == result.engine).values(values))
        else:
            conn.execute(insert(t.scan_state).values(engine=result.engine, **values))


def _incident_for(incidents: Sequence[Incident], detection: Detection) -> Incident | None:
    """The most recent open incident whose scope names one of the detection's actors."""
    for incident in reversed(incidents):
        if incident.scope.covers(detection.key):
            return incident
    return None


def _remember(store: IncidentStore, detections: Sequence[Detection],
              seen: dict[tuple[str, str], datetime | None], now: datetime) -> None:
    with store.transaction() as conn:
        for d in detections:
            key = (d.rule_id, _key(d))
            if key in seen:
                conn.execute(update(t.scan_seen).where(t.scan_seen.c.rule_id == d.rule_id,
                                                       t.scan_seen.c.key == key[1])
                             .values(last_seen=max(d.last_seen, seen[key] or d.last_seen)))
            else:
                conn.execute(insert(t.scan_seen).values(rule_id=d.rule_id, key=key[1], last_seen=d.last_seen,
                                                        reported_at=now))
            seen[key] = max(d.last_seen, seen.get(key) or d.last_seen)


def alert_text(result: ScanResult, zone_name: str, to_local: Callable[[datetime], str]) -> tuple[str, str]:
    """Subject and body of the on-call alert (the detections' keys are the actors: addresses, account ids)."""
    lines = [f"breachkit scan: {len(result.new)} new detections between {to_local(result.window.since or UTC_MIN)} "
             f"and {to_local(result.window.until or UTC_MIN)} ({zone_name}).", ""]
    for d in result.new:
        key = " ".join(f"{k}={v}" for k, v in d.key)
        lines.append(f"[{d.level}] {d.title} · {key} · {d.count} events · {to_local(d.first_seen)} – "
                     f"{to_local(d.last_seen)}")
    lines += ["", "Decide whether this is a personal-data breach; if so, open an incident with the time and",
              "reason you became aware: breachkit incident open --detections FILE (breachkit detect -o ndjson)."]
    subject = f"[breachkit] {len(result.new)} new detections"
    if result.rules is not None and result.rules.news:  # said once: the next run stores the new rule set
        lines += ["", "The scan's rule set changed: what these rules would find is not being looked for.",
                  *result.rules.lines(), "Check them with: breachkit rules check"]
        subject += f"; {len(result.rules.stopped) + len(result.rules.broken)} rules stopped running or broke"
    return subject, "\n".join(lines) + "\n"


UTC_MIN = datetime(1970, 1, 1, tzinfo=UTC)
