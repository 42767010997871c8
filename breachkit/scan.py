"""The scheduled scan (`breachkit scan`, for cron): detect since the last run, link new detections to the open
incident whose scope they touch, and alert the on-call about the rest.

A detection is not awareness (EDPB 9/2022: awareness needs a reasonable degree of certainty that personal
data was compromised), so the scan never opens an incident or starts a clock: a human does, with
`incident open --detections`. The window re-covers an overlap before the checkpoint (the longest correlation
reach: a chain's timespans added up) so a burst split across two runs is seen whole; what was reported before
for the same rule and actor, and is still going on, is not alerted again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from breachkit.detect.document import DetectionItem, NotRunItem
from breachkit.detect.engines import Engine, TimeWindow
from breachkit.detect.health import RuleSetChange, RuleSetState, compare
from breachkit.detect.rules import RuleMeta, RuleSet
from breachkit.detect.run import Detection, DetectionRun, run
from breachkit.document import Document
from breachkit.errors import InputError, Location, PartialFailure, Problem, UsageError
from breachkit.incidents.model import Incident, LinkedDetection, Status
from breachkit.incidents.store import IncidentStore
from breachkit.incidents.store.scans import AlertMessage
from breachkit.session import Session
from breachkit.times import parse_time
from breachkit.wording import counted
from breachkit.workspace import Workspace

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
    alerts: AlertDelivery | None = None  # what this run's delivery of the alert outbox did (None: dry run)
    checkpoint_moved: bool = False  # every alert sent or given up, and something ran: the window is done
    late_from: datetime | None = None  # the window reached back to late data dated from here (None: none)


@dataclass
class AlertDelivery:
    """The alert outbox after one run: each address on its own (a refused one does not re-alert the others)."""

    sent: list[str] = field(default_factory=list)  # addresses reached in this run
    retrying: list[tuple[str, int, str]] = field(default_factory=list)  # (address, attempts, why) — next run
    given_up: list[tuple[str, int, str]] = field(default_factory=list)  # after scan.alert_max_attempts

    def failure(self) -> PartialFailure | None:
        if not self.retrying and not self.given_up:
            return None
        problems = [Problem(f"{why} (attempt {n}; the next scan tries again)", Location(field=address))
                    for address, n, why in self.retrying]
        problems += [Problem(f"{why} (given up after {n} attempts)", Location(field=address))
                     for address, n, why in self.given_up]
        return PartialFailure(f"{len(problems)} scan alert{'s' if len(problems) != 1 else ''} not delivered; "
                              f"{len(self.sent)} delivered", problems=problems,
                              hint="the checkpoint moves once every alert is delivered or given up; the others "
                                   "are not alerted again")


def overlap(ruleset: RuleSet, minutes: float | None) -> timedelta:
    if minutes is not None:
        return timedelta(minutes=minutes)
    return timedelta(seconds=max((c.reach for c in ruleset.correlations), default=0))


def window_for(store: IncidentStore, engine: str, ruleset: RuleSet, now: datetime, *, first_lookback: timedelta,
               overlap_minutes: float | None, since: datetime | None = None) -> TimeWindow:
    last = store.scans.checkpoint(engine)
    start = since if since is not None else (now - first_lookback if last is None else
                                             last[0] - overlap(ruleset, overlap_minutes))
    return TimeWindow(start, now)


# Ingests committed this long before the last run still count as possibly unseen by it (another host's clock, a
# search engine's refresh): late data may be looked at twice, never missed — what was alerted is not alerted again.
LATE_MARGIN = timedelta(minutes=10)


def late_events_since(workspace: Workspace, engine: str, last_run: datetime) -> datetime | None:
    """The earliest @timestamp of events stored in `engine` through this workspace since `last_run` (minus
    LATE_MARGIN), from the ingest log: late data the window must reach back to. None: nothing stored since."""
    from breachkit.logs import audit

    earliest: datetime | None = None
    for entry in audit.read(workspace):
        if entry.get("engine") != engine or entry.get("action") not in ("ingest", "replace"):
            continue
        if not entry.get("earliest") or not (entry.get("added") or entry.get("replaced")):
            continue
        committed = datetime.fromisoformat(entry.get("committed_at") or entry["time"])
        if committed >= last_run - LATE_MARGIN:
            first = datetime.fromisoformat(entry["earliest"])
            earliest = first if earliest is None else min(earliest, first)
    return earliest


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
    seen = store.scans.seen()
    previous = RuleSetState.from_json(store.scans.rules(engine.name))
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
            store.link_detections(incident_id, [_linked(d) for d in detections], actor=actor, now=now,
                                  reason="scheduled scan")
    return result


def commit(store: IncidentStore, result: ScanResult, now: datetime, alerts: Sequence[AlertMessage] = ()) -> None:
    """Remember what was reported, the run's rule set and queue its alerts (one per address), in one transaction.
    The checkpoint moves later (`IncidentStore.scans.advance`), once every alert is sent or given up."""
    # ongoing activity moves its last_seen too, so a long campaign stays "ongoing" instead of alerting again
    reported = [d for ds in result.linked.values() for d in ds] + result.new + result.ongoing
    store.scans.commit(result.engine, (result.window.since or now, result.window.until or now),
                       [(d.rule_id, _key(d), d.last_seen) for d in reported], dict(result.seen), now,
                       rules=_rules_json(result), alerts=alerts)


def _rules_json(result: ScanResult) -> dict[str, Any] | None:
    return RuleSetState.of(result.run).to_json() if result.run is not None else None


def _incident_for(incidents: Sequence[Incident], detection: Detection) -> Incident | None:
    """The most recent open incident whose scope names one of the detection's actors."""
    for incident in reversed(incidents):
        if incident.scope.covers(detection.key):
            return incident
    return None


def alert_text(result: ScanResult, zone_name: str, to_local: Callable[[datetime], str]) -> tuple[str, str]:
    """Subject and body of the on-call alert (the detections' keys are the actors: addresses, account ids)."""
    lines = [f"breachkit scan: {counted(len(result.new), 'new detection')} between "
             f"{to_local(result.window.since or UTC_MIN)} "
             f"and {to_local(result.window.until or UTC_MIN)} ({zone_name}).", ""]
    for d in result.new:
        key = " ".join(f"{k}={v}" for k, v in d.key)
        lines.append(f"[{d.level}] {d.title} · {key} · {counted(d.count, 'event')} · {to_local(d.first_seen)} – "
                     f"{to_local(d.last_seen)}")
    lines += ["", "Decide whether this is a personal-data breach; if so, open an incident with the time and",
              "reason you became aware: breachkit incident open --detections FILE (breachkit detect -o ndjson)."]
    subject = f"[breachkit] {counted(len(result.new), 'new detection')}"
    if result.rules is not None and result.rules.news:  # said once: the next run stores the new rule set
        lines += ["", "The scan's rule set changed: what these rules would find is not being looked for.",
                  *result.rules.lines(), "Check them with: breachkit rules check"]
        changed = len(result.rules.stopped) + len(result.rules.broken)
        subject += f"; {counted(changed, 'rule')} stopped running or broke"
    return subject, "\n".join(lines) + "\n"


UTC_MIN = datetime(1970, 1, 1, tzinfo=UTC)


def _linked(d: Detection) -> LinkedDetection:
    return LinkedDetection(rule_id=d.rule_id, title=d.title, level=d.level, kind=d.kind, engine=d.engine,
                           key=list(d.key), event_count=d.count, event_ids=list(d.event_ids),
                           first_seen=d.first_seen, last_seen=d.last_seen)


# --- the use case ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanStatus:
    engine: str
    checkpoint: tuple[datetime, datetime] | None  # (scanned until, run at); None: never run


def scan_status(session: Session, engine: str | None = None) -> ScanStatus:
    name = engine or session.config.ingest.default_engine
    return ScanStatus(name, session.store.scans.checkpoint(name))


def run_scan(session: Session, *, engine: str | None = None, since: datetime | str | None = None,
             level: str | None = None, dry_run: bool = False,
             on_start: Callable[[int], None] | None = None,
             on_rule: Callable[[RuleMeta], None] | None = None) -> ScanResult:
    """Detect since the checkpoint (minus the longest correlation reach), link detections of an open
    incident's actors to it, email new ones to scan.alert_to, then move the checkpoint — in that order, so a
    failed alert leaves the checkpoint where it was and the next run alerts again. Never opens an incident.

    A rule that stops running or breaks is alerted once too (the run's rule set is stored with the
    checkpoint). When no rule could run, the rule set is stored but the checkpoint stays, and this raises
    (InputError, exit 1) after alerting; when some broke or were rejected by the engine, the result's
    `incomplete` is the PartialFailure (exit 4) to raise after showing it."""
    from breachkit.detect.api import level_at_least, open_engine, ruleset_from_config, runnable_on
    from breachkit.detect.run import verdict

    config, store, now = session.config, session.store, session.now()
    engine_name = engine or config.ingest.default_engine
    min_level = level or config.scan.min_level
    ruleset = ruleset_from_config(config)
    start = parse_time(since, "since")
    window = window_for(store, engine_name, ruleset, now,
                        first_lookback=timedelta(hours=config.scan.first_lookback_hours),
                        overlap_minutes=config.scan.overlap_minutes, since=start)
    last = store.scans.checkpoint(engine_name)
    late = late_events_since(session.workspace, engine_name, last[1]) if last and start is None else None
    if late is not None and window.since is not None and late < window.since:
        # events stored since the last run but dated before its checkpoint: scanned now, whatever their date
        window = TimeWindow(late - overlap(ruleset, config.scan.overlap_minutes), window.until)
    else:
        late = None
    with open_engine(config, session.workspace, engine_name) as eng:
        # over existing indices lacking fields some rules cannot run: skipped with why, never silently empty
        ruleset = runnable_on(ruleset, eng)
        if on_start is not None:
            on_start(sum(1 for item in ruleset.alerting if level_at_least(item.meta.level, min_level)))
        result = scan(store, ruleset, eng, now=now, window=window, min_level=min_level,
                      actor=session.actor, dry_run=dry_run, on_rule=on_rule)
    result.late_from = late
    assert result.run is not None
    problem = verdict(result.run)
    nothing_ran = isinstance(problem, InputError | UsageError)
    if not dry_run:
        news = bool(result.new or (result.rules is not None and result.rules.news))
        commit(store, result, now, _alert_messages(session, result) if news and config.scan.alert_to else [])
        result.alerts = _deliver_alerts(session, engine_name)
        if not nothing_ran:  # a run in which nothing could run keeps the checkpoint: its window is scanned again
            result.checkpoint_moved = store.scans.advance(engine_name, result.window.until or now, now)
    if problem is not None and nothing_ran:
        raise problem
    alerting = result.alerts.failure() if result.alerts is not None else None
    if problem is not None and alerting is not None:
        problem = PartialFailure(f"{problem}; {alerting}", problems=[*problem.problems, *alerting.problems],
                                 hint=alerting.hint)
    result.run = dataclasses.replace(result.run, incomplete=problem or alerting)
    return result


def _alert_messages(session: Session, result: ScanResult) -> list[AlertMessage]:
    zone = session.zone
    subject, body = alert_text(result, zone.key, lambda t: f"{t.astimezone(zone):%Y-%m-%d %H:%M:%S}")
    out = []
    for recipient in session.config.scan.alert_to:
        digest = hashlib.sha256(f"{result.engine}|{result.window.until}|{recipient}".encode()).hexdigest()[:20]
        out.append(AlertMessage(recipient, subject, body, f"<scan.{digest}@breachkit>"))
    return out


def _deliver_alerts(session: Session, engine: str) -> AlertDelivery:
    """Deliver every pending alert of `engine` (this run's and earlier runs' refused ones), each address on its
    own: a refusal is recorded with its reason and tried again by the next run, until scan.alert_max_attempts.
    A crash between the server's acceptance and the record can repeat one alert to one address (at least once:
    an alert must not be lost)."""
    from breachkit.notices.delivery import (
        PermanentFailure,
        TemporaryFailure,
        UncertainFailure,
        send_plain,
        transport_from_config,
    )

    config, store = session.config, session.store
    delivery = AlertDelivery()
    pending = store.scans.pending_alerts(engine)
    if not pending:
        return delivery
    transport = transport_from_config(config)
    try:
        for alert in pending:
            try:
                send_plain(transport, config.notices.smtp, to=alert.recipient, subject=alert.subject,
                           text=alert.body, message_id=alert.message_id, date=session.now())
            except (TemporaryFailure, PermanentFailure, UncertainFailure) as exc:
                state = store.scans.alert_outcome(alert.id, sent=False, error=str(exc), now=session.now(),
                                                  max_attempts=config.scan.alert_max_attempts)
                row = (alert.recipient, alert.attempts + 1, str(exc))
                (delivery.given_up if state == "given_up" else delivery.retrying).append(row)
            else:
                store.scans.alert_outcome(alert.id, sent=True, error=None, now=session.now(),
                                          max_attempts=config.scan.alert_max_attempts)
                delivery.sent.append(alert.recipient)
    finally:
        transport.close()
    return delivery


class ScanDocument(Document):
    """`breachkit.scan/1`: what a scan found, linked and alerted."""

    SCHEMA = "breachkit.scan/1"

    engine: str
    since: datetime | None
    until: datetime | None
    detections: int  # at or above the level
    ongoing: int
    linked: dict[str, list[DetectionItem]]  # incident id → detections linked to it
    new: list[DetectionItem]  # alerted
    dry_run: bool
    rules_run: int | None = None  # rules and correlations that ran to the end (None: not recorded)
    not_run: list[NotRunItem] = Field(default_factory=list)  # selected rules that did not run, with the reason
    notes: list[str] = Field(default_factory=list)  # about the events searched (e.g. unfinished ingests left out)
    rules_changed: list[str] = Field(default_factory=list)  # rules that stopped running or broke (alerted once)
    alerts_sent: list[str] = Field(default_factory=list)  # addresses alerted by this run
    alerts_retrying: list[str] = Field(default_factory=list)  # refused or failed: the next run tries again
    alerts_given_up: list[str] = Field(default_factory=list)  # after scan.alert_max_attempts
    checkpoint_moved: bool | None = None  # None: dry run
    late_from: datetime | None = None  # events stored since the last run but dated before it: scanned from here

    @classmethod
    def of(cls, result: ScanResult, *, dry_run: bool) -> ScanDocument:
        run = result.run
        return cls.create(engine=result.engine, since=result.window.since, until=result.window.until,
                          detections=result.detections, ongoing=len(result.ongoing),
                          linked={k: [DetectionItem.of(d) for d in v] for k, v in result.linked.items()},
                          new=[DetectionItem.of(d) for d in result.new], dry_run=dry_run,
                          rules_run=run.ran if run is not None else None,
                          not_run=[NotRunItem.of(n) for n in run.not_run] if run is not None else [],
                          notes=list(run.notes) if run is not None else [],
                          rules_changed=result.rules.lines() if result.rules is not None else [],
                          alerts_sent=result.alerts.sent if result.alerts is not None else [],
                          alerts_retrying=[f"{a}: {why}" for a, _, why in result.alerts.retrying]
                          if result.alerts is not None else [],
                          alerts_given_up=[f"{a}: {why}" for a, _, why in result.alerts.given_up]
                          if result.alerts is not None else [],
                          checkpoint_moved=None if dry_run else result.checkpoint_moved,
                          late_from=result.late_from)
