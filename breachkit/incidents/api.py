"""The incident stage's use cases: open, read, update, note, move along the lifecycle, link detections, file
reports, follow the clock. Each takes a `Session`, runs in one store transaction and returns a typed result;
the CLI, the web board and Python code call these same functions.

Assessments and decisions are in `breachkit.incidents.decisions_api`, tasks in `breachkit.incidents.tasks_api`,
the register and the timeline picture in `breachkit.incidents.reports_api`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from breachkit.detect.document import DetectionItem, DetectionsDocument
from breachkit.errors import InputError, Location, Problem, UsageError
from breachkit.incidents.clock import Deadline, incident_deadlines
from breachkit.incidents.documents import ClockDocument, IncidentDocument
from breachkit.incidents.model import Filing, FilingKind, Incident, LinkedDetection, Status, Task, TimelineEntry
from breachkit.incidents.regimes import Regime
from breachkit.incidents.store import IncidentStore
from breachkit.session import Session
from breachkit.times import parse_time

OPEN_STATUSES = tuple(s for s in Status if s != Status.CLOSED)


def normalize_id(incident_id: str) -> str:
    """Incident ids are upper-case (BK-2026-0001); people type them in any case."""
    return incident_id.strip().upper()


def deadlines_of(store: IncidentStore, incident: Incident, regimes: Mapping[str, Regime],
                 now: datetime) -> list[Deadline]:
    return incident_deadlines(incident.regimes, regimes, incident.aware_at, store.filings(incident.id), now)


# --- reading --------------------------------------------------------------------------------------------


def get_incident(session: Session, incident_id: str) -> Incident:
    return session.store.get(normalize_id(incident_id))


def list_incidents(session: Session, statuses: Iterable[Status | str] = ()) -> list[Incident]:
    return session.store.list_incidents(status=[Status(s) for s in statuses])


def show_incident(session: Session, incident_id: str, *, timeline: bool = True) -> IncidentDocument:
    """Everything recorded about one incident, with its deadlines at the session's now."""
    store, now = session.store, session.now()
    incident = store.get(normalize_id(incident_id))
    return IncidentDocument.of(incident, deadlines_of(store, incident, session.regimes, now),
                               store.tasks(incident.id), store.decisions(incident.id), store.filings(incident.id),
                               store.timeline(incident.id) if timeline else [], now)


def clock(session: Session, incident_id: str | None = None) -> ClockDocument:
    """Every deadline of one incident, or of every open incident, at the session's now."""
    store, now = session.store, session.now()
    chosen = [store.get(normalize_id(incident_id))] if incident_id else store.list_incidents(status=OPEN_STATUSES)
    rows = [(i, d) for i in chosen for d in deadlines_of(store, i, session.regimes, now)]
    return ClockDocument.of(rows, now, session.zone.key)


# --- changing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    incident: Incident
    tasks: list[Task]
    detections: int  # linked
    deadlines: list[Deadline]


def open_incident(session: Session, *, title: str, aware_at: datetime | str, justification: str,
                  occurred_at: datetime | str | None = None, detected_at: datetime | str | None = None,
                  description: str = "", playbook: str | None = None, regimes: Sequence[str] = (),
                  commander: str | None = None, detections: Sequence[LinkedDetection] = (),
                  detections_source: str = "", fields: Mapping[str, Any] | None = None) -> Opened:
    """Open an incident (its clocks start at `aware_at`), create its playbook's tasks and link its first
    detections, in one transaction. Times without an offset are read in the display zone."""
    from breachkit.incidents.playbooks import find_playbook, tasks_for

    config, zone = session.config, session.zone
    values: dict[str, Any] = apply_changes({}, fields or {})
    # the named arguments win over `fields`, but only when given (`fields` may carry a description or regimes)
    given = {"description": description or None, "occurred_at": parse_time(occurred_at, "occurred_at", zone),
             "detected_at": parse_time(detected_at, "detected_at", zone), "regimes": list(regimes) or None,
             "commander": commander}
    values |= {k: v for k, v in given.items() if v is not None}
    values |= {"title": title, "aware_justification": justification,
               "aware_at": parse_time(aware_at, "aware_at", zone)}
    values.setdefault("regimes", list(config.incidents.default_regimes))
    for name in ("occurred_at", "occurred_until", "detected_at", "processor_notified_at"):
        if isinstance(values.get(name), str):
            values[name] = parse_time(values[name], name, zone)
    known = session.regimes
    unknown = [r for r in values["regimes"] if r not in known]
    if unknown:
        raise UsageError(f"unknown regime {', '.join(unknown)} (known: {', '.join(sorted(known))})", field="regimes")
    book = (find_playbook(playbook, [config.resolve(p) for p in config.incidents.playbooks], known_regimes=known)
            if playbook else None)
    if book is not None:
        values["playbook"] = book.id
    if values["aware_at"] is None:
        raise UsageError("aware_at is required: it starts every clock", field="aware_at")
    now, store = session.now(), session.store
    tasks = tasks_for(book, "BK-0000-0000", values["aware_at"]) if book else []
    opened = store.open_incident({k: v for k, v in values.items() if v is not None}, actor=session.actor, now=now,
                                 tasks=tasks, reason="opened", detections=detections,
                                 detections_reason=detections_source or "linked when opened")
    return Opened(opened, store.tasks(opened.id), len(store.detections(opened.id)) if detections else 0,
                  deadlines_of(store, opened, known, now))


def apply_changes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`{"impact.confidentiality": True}` changes one key of a nested value and keeps the rest. Decision facts
    (`facts.<name>`, or `facts` as a mapping) are checked by name and value (`facts.parse_fact_changes`), and an
    impossible combination is refused with the field to fix."""
    changes = _checked_facts(current, changes)
    out: dict[str, Any] = {}
    for name, value in changes.items():
        head, _, rest = name.strip().partition(".")
        if rest:
            base = out.get(head, current.get(head)) or {}
            if not isinstance(base, dict):
                raise UsageError(f"{name}: {head} has no sub-fields", field=name)
            out[head] = {**base, rest: value}
        else:
            out[head] = value
    return out


def _checked_facts(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    from breachkit.incidents.facts import CaseFacts, merged_facts

    given: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for name, value in changes.items():
        head, _, sub = name.strip().partition(".")
        if head != "facts":
            rest[name] = value
        elif sub:
            given[sub] = value
        elif isinstance(value, Mapping):
            given.update(value)
        else:
            raise UsageError("facts is a mapping of fact names to values (or set one: facts.<name>=<value>)",
                             field="facts", hint="`breachkit incident facts` lists them")
    if not given:
        return rest
    base = CaseFacts.model_validate(current.get("facts") or {})
    merged = merged_facts(base, given)
    confidentiality = rest.get("impact.confidentiality", (rest.get("impact") or current.get("impact") or {}).get(
        "confidentiality", False))
    if merged.recipient_deletion.value in ("confirmed", "requested") and not confidentiality:
        raise UsageError(f"deletion {merged.recipient_deletion.value} needs a recipient, but no disclosure is "
                         "recorded (impact.confidentiality is false)", field="facts.recipient_deletion",
                         hint="set impact.confidentiality=true and facts.confidentiality_reach in the same update")
    return rest | {"facts": merged.model_dump(mode="json")}


def update_incident(session: Session, incident_id: str, changes: Mapping[str, Any], *, reason: str,
                    if_version: int | None = None) -> Incident:
    """Change incident fields (dotted names reach into nested ones). With `if_version`, only if the incident is
    still at that version; otherwise against the version read here. A concurrent change is a ConflictError."""
    if not changes:
        raise UsageError("nothing to change")
    store = session.store
    incident = store.get(normalize_id(incident_id))
    values = apply_changes(incident.model_dump(mode="json"), changes)
    for name in ("aware_at", "occurred_at", "occurred_until", "detected_at", "processor_notified_at"):
        if isinstance(values.get(name), str):
            values[name] = parse_time(values[name], name, session.zone)
    return store.update(incident.id, values, expected_version=if_version or incident.version, actor=session.actor,
                        now=session.now(), reason=reason)


def add_note(session: Session, incident_id: str, text: str) -> TimelineEntry:
    if not text.strip():
        raise UsageError("a note needs text")
    return session.store.note(normalize_id(incident_id), text, actor=session.actor, now=session.now())


def set_status(session: Session, incident_id: str, status: Status | str, *, reason: str,
               if_version: int | None = None) -> Incident:
    """Move the incident along its lifecycle (closing needs the authority decision on record, Art. 33(5))."""
    store = session.store
    incident = store.get(normalize_id(incident_id))
    return store.set_status(incident.id, Status(status), expected_version=if_version or incident.version,
                            actor=session.actor, now=session.now(), reason=reason)


def close_incident(session: Session, incident_id: str, *, reason: str) -> Incident:
    return set_status(session, incident_id, Status.CLOSED, reason=reason)


@dataclass(frozen=True)
class Linked:
    added: int
    already: int


def link_detections(session: Session, incident_id: str, detections: Sequence[LinkedDetection], *,
                    reason: str = "") -> Linked:
    """Link detections (each once) and widen the incident's scope to their actors and window."""
    added = session.store.link_detections(normalize_id(incident_id), detections, actor=session.actor,
                                          now=session.now(), reason=reason)
    return Linked(added, len(detections) - added)


def file_report(session: Session, incident_id: str, *, regime: str, stage: str,
                kind: FilingKind | str = FilingKind.INITIAL, filed_at: datetime | str | None = None,
                reference: str | None = None, recipient: str = "", note: str = "",
                override_reason: str | None = None) -> Filing:
    """Record a report filed with an authority (it stops that stage's clock), with its audit row, in one
    transaction. A follow-up cites the authority's reference (given, from an earlier filing, or the incident's).
    The pre-filing check runs first: its errors refuse the filing unless `override_reason` is given (recorded)."""
    from breachkit.incidents.check_api import enforce_check

    regimes = session.regimes
    if regime not in regimes or stage not in [s.id for s in regimes[regime].stages]:
        stages = ", ".join(f"{r.id}.{s.id}" for r in regimes.values() for s in r.stages)
        raise UsageError(f"unknown regime stage {regime}.{stage} (known: {stages})", field="regime")
    store, now = session.store, session.now()
    incident = store.get(normalize_id(incident_id))
    kind = FilingKind(kind)
    earlier = [f for f in store.filings(incident.id) if f.regime == regime and f.stage == stage]
    reference = reference or next((f.reference for f in earlier if f.reference), None) or (
        incident.authority_reference if regime == "gdpr-33" else None)
    if kind == FilingKind.FOLLOW_UP and not reference:
        raise UsageError("a follow-up report refers to the authority's reference of the first report",
                         field="reference", hint="give --reference, or record it on the initial filing")
    enforce_check(session, incident.id, action=f"filing {regime}.{stage}", report_type=kind.value,
                  reference=reference, override_reason=override_reason)
    filing = Filing(incident_id=incident.id, regime=regime, stage=stage, kind=kind,
                    filed_at=parse_time(filed_at, "filed_at", session.zone) or now, reference=reference,
                    recipient=recipient, filed_by=session.actor, note=note)
    store.add_record(filing, actor=session.actor, now=now, reason=note or f"{kind.value} report filed",
                     audit={"action": "filing", "target": recipient or regime,
                            "reason": f"{regime}.{stage} {kind.value}", "detail": {"reference": filing.reference}})
    return filing


# --- detections from files ------------------------------------------------------------------------------


def linked(item: DetectionItem) -> LinkedDetection:
    return LinkedDetection(rule_id=item.rule_id, title=item.title, level=item.level, kind=item.kind,
                           engine=item.engine, key=list(item.key.items()), event_count=item.count,
                           event_ids=list(item.event_ids), first_seen=item.first_seen, last_seen=item.last_seen)


def read_detections(path: Path) -> list[LinkedDetection]:
    """Detections saved by `breachkit detect -o json` (a breachkit.detections/1 document) or `-o ndjson`
    (a detection per line). Every invalid one is listed; nothing is returned unless all are valid."""
    from pydantic import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read detections: {exc}", path=path) from None
    stripped = text.strip()
    if stripped.startswith("{") and "\n{" not in stripped:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
        if isinstance(data, dict) and "detections" in data:
            return [linked(d) for d in DetectionsDocument.read(data, path=str(path)).detections]
        items: list[tuple[int | None, Any]] = [(None, data)]
    else:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON: {exc.msg}", path=path, line=number) from None
    out: list[LinkedDetection] = []
    problems: list[Problem] = []
    for index, (where, data) in enumerate(items):
        if not isinstance(data, Mapping):
            problems.append(Problem("a detection is a JSON object", Location(str(path), where, f"detections[{index}]")))
            continue
        try:
            out.append(linked(DetectionItem.model_validate(data)))
        except ValidationError as exc:
            problems += [Problem(e["msg"], Location(str(path), where, f"detections[{index}]." + ".".join(
                str(p) for p in e["loc"]))) for e in exc.errors()]
    if problems:
        raise InputError(f"{len(problems)} invalid detections; nothing was linked", path=path, problems=problems)
    return out
