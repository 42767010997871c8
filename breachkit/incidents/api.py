"""The incident stage's use cases: open, read, update, note, move along the lifecycle, link detections, file
reports, follow the clock. Each takes a `Session`, runs in one store transaction and returns a typed result;
the CLI, the web board and Python code call these same functions.

Assessments and decisions are in `breachkit.incidents.decisions_api`, tasks in `breachkit.incidents.tasks_api`,
the register and the timeline picture in `breachkit.incidents.reports_api`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breachkit.errors import ConflictError, InputError, Location, Problem, UsageError
from breachkit.incidents.actions import Actions, Delivery
from breachkit.incidents.clock import Deadline, incident_deadlines
from breachkit.incidents.documents import ClockDocument, IncidentDocument
from breachkit.incidents.model import (
    TRANSLATABLE_FIELDS,
    Approval,
    Decision,
    Filing,
    FilingKind,
    Incident,
    LinkedDetection,
    Status,
    Task,
    TimelineEntry,
)
from breachkit.incidents.moments import future_problems, order_problems
from breachkit.incidents.progress import by_due_time, effective_tasks
from breachkit.incidents.regimes import Regime
from breachkit.incidents.store.values import validation_problems
from breachkit.locales import canonical_locale
from breachkit.session import Session
from breachkit.times import parse_time

if TYPE_CHECKING:  # the store imports SQLAlchemy: the quick reads (`clock`) may not need it
    from breachkit.detect.document import DetectionItem
    from breachkit.incidents.store.sqlite_reader import CaseReader

OPEN_STATUSES = tuple(s for s in Status if s != Status.CLOSED)
TIME_FIELDS = ("aware_at", "occurred_at", "occurred_until", "detected_at", "processor_notified_at")


def normalize_id(incident_id: str) -> str:
    """Incident ids are upper-case (BK-2026-0001); people type them in any case."""
    return incident_id.strip().upper()


def _actions(incident: Incident, filings: Sequence[Filing], decisions: Sequence[Decision],
             approvals: Sequence[Approval], counts: Mapping[int, tuple[int, int, datetime | None]]) -> Actions:
    """What was done: every approved version of the subject notices whose messages were all delivered counts as a
    delivery (at the time of the last one)."""
    deliveries = []
    for version, (total, sent, last) in sorted(counts.items()):
        approval = next((a for a in reversed(approvals) if a.kind == "subject" and a.version == version), None)
        if approval is not None and last is not None and sent == total == approval.messages:
            deliveries.append(Delivery("subject", version, total, last, approval.approved_by))
    return Actions(filings=filings, decisions=decisions, deliveries=deliveries, approvals=approvals)


def incident_actions(store: CaseReader, incident: Incident) -> Actions:
    """What was done on the incident, for the clock and the task list: filings, decisions, approvals, and every
    approved version of the subject notices whose messages were all delivered."""
    return _actions(incident, store.filings(incident.id), store.decisions(incident.id),
                    store.approval_list(incident.id), store.version_counts(incident.id, "subject"))


def deadlines_of(store: CaseReader, incident: Incident, regimes: Mapping[str, Regime],
                 now: datetime, actions: Actions | None = None) -> list[Deadline]:
    actions = actions if actions is not None else incident_actions(store, incident)
    return incident_deadlines(incident.regimes, regimes, incident.aware_at, actions, now)


@dataclass(frozen=True)
class IncidentState:
    """What an incident stands at, at one moment: what was done, its deadlines as those actions left them (met,
    late, not required…), and its tasks likewise (done by an action, or skipped when their stage is not
    required), by due time. The CLI, the board's pages and the reports all read it."""

    incident: Incident
    actions: Actions
    deadlines: list[Deadline]
    tasks: list[Task]  # by due time


def _state(incident: Incident, actions: Actions, tasks: Sequence[Task], regimes: Mapping[str, Regime],
           now: datetime) -> IncidentState:
    deadlines = incident_deadlines(incident.regimes, regimes, incident.aware_at, actions, now)
    return IncidentState(incident, actions, deadlines, by_due_time(effective_tasks(tasks, actions, deadlines)))


def incident_state(session: Session, incident_id: str) -> IncidentState:
    """One incident's state at the session's now."""
    store = session.store
    incident = store.get(normalize_id(incident_id))
    return _state(incident, incident_actions(store, incident), store.tasks(incident.id), session.regimes,
                  session.now())


def incident_states(session: Session, incidents: Sequence[Incident], *, open_tasks_only: bool = False
                    ) -> list[IncidentState]:
    """`incident_state` of many incidents, read in a few statements (the board over every open incident).
    `open_tasks_only`: only the tasks still open in the store (those finished by hand need no reading)."""
    store, now, regimes = session.store, session.now(), session.regimes
    ids = [i.id for i in incidents]
    filings, decisions = store.filings_of(ids), store.decisions_of(ids)
    approvals, counts = store.approvals.list_of(ids), store.outbox.version_counts_of(ids, "subject")
    tasks = store.tasks_of(ids, open_only=open_tasks_only)
    return [_state(i, _actions(i, filings[i.id], decisions[i.id], approvals[i.id], counts[i.id]), tasks[i.id],
                   regimes, now) for i in incidents]


# --- reading --------------------------------------------------------------------------------------------


def get_incident(session: Session, incident_id: str) -> Incident:
    return session.store.get(normalize_id(incident_id))


def list_incidents(session: Session, statuses: Iterable[Status | str] = ()) -> list[Incident]:
    return session.reader.list_incidents(status=[Status(s) for s in statuses])


def show_incident(session: Session, incident_id: str, *, timeline: bool = True) -> IncidentDocument:
    """Everything recorded about one incident, with its deadlines at the session's now."""
    store, now = session.store, session.now()
    state = incident_state(session, incident_id)
    incident = state.incident
    return IncidentDocument.of(incident, state.deadlines, state.tasks, state.actions.decisions, state.actions.filings,
                               store.timeline(incident.id) if timeline else [], now, soon=session.due_soon)


def clock(session: Session, incident_id: str | None = None) -> ClockDocument:
    """Every deadline of one incident, or of every open incident, at the session's now."""
    store, now = session.reader, session.now()
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
                  detections_source: str = "", fields: Mapping[str, Any] | None = None,
                  allow_order: str | None = None) -> Opened:
    """Open an incident (its clocks start at `aware_at`), create its playbook's tasks and link its first
    detections, in one transaction. Times without an offset are read in the display zone.

    A moment in the future is refused; moments out of order (occurred ≤ detected ≤ aware) are refused unless
    `allow_order` gives the reason they are right, which is recorded."""
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
    values = {k: v for k, v in values.items() if v is not None}
    override = check_moments(session, _draft(values, now), allow_order)
    tasks = tasks_for(book, "BK-0000-0000", values["aware_at"]) if book else []
    opened = store.open_incident(values, actor=session.actor, now=now, tasks=tasks,
                                 reason="opened" + (f"; moments out of order accepted: {allow_order}" if override
                                                    else ""),
                                 detections=detections, detections_reason=detections_source or "linked when opened")
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
        if translated := _translation_target(head, rest):
            locale, field = translated
            texts = {**(out.get("translations", current.get("translations")) or {})}
            texts[locale] = {**(texts.get(locale) or {}), field: value}
            out["translations"] = texts
        elif rest:
            base = out.get(head, current.get(head)) or {}
            if not isinstance(base, dict):
                raise UsageError(f"{name}: {head} has no sub-fields", field=name)
            out[head] = {**base, rest: value}
        else:
            out[head] = value
    return out


def _translation_target(head: str, rest: str) -> tuple[str, str] | None:
    """`description.de` or `translations.de.description` → ("de", "description"): the incident's own text in
    another language (`Incident.translations`); None for any other name."""
    if head in TRANSLATABLE_FIELDS and rest:
        locale, field = rest, head
    elif head == "translations" and "." in rest:
        locale, _, field = rest.partition(".")
        if field not in TRANSLATABLE_FIELDS:
            raise UsageError(f"translations.{rest}: {field!r} cannot be translated (only "
                             f"{', '.join(TRANSLATABLE_FIELDS)})", field=f"translations.{rest}")
    else:
        return None
    canonical = canonical_locale(locale)
    if canonical is None or canonical.startswith("x-"):
        raise UsageError(f"{head}.{rest}: {locale!r} is not a language tag (e.g. de, fr, de-AT)",
                         field=f"{head}.{rest}",
                         hint=f"breachkit incident update ID --set '{field}.de=…' gives the German {field}")
    return canonical, field


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
                    if_version: int | None = None, allow_order: bool = False) -> Incident:
    """Change incident fields (dotted names reach into nested ones). With `if_version`, only if the incident is
    still at that version; otherwise against the version read here. A concurrent change is a ConflictError.

    A moment set in the future is refused; one that puts the moments out of order is refused unless
    `allow_order` (the change's `reason` then says why, and the override is recorded). A closed incident refuses
    changes (reopen it)."""
    if not changes:
        raise UsageError("nothing to change")
    if not reason.strip():
        raise UsageError("a change needs a reason (it is recorded)", field="reason")
    store = session.store
    incident = store.get(normalize_id(incident_id))
    if if_version is not None and if_version != incident.version:
        raise ConflictError(f"{incident.id} was changed by someone else (now version {incident.version}, you read "
                            f"version {if_version}); nothing was written",
                            hint=f"see `breachkit incident show {incident.id}` and apply your change again")
    values = apply_changes(incident.model_dump(mode="json"), changes)
    for name in TIME_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = parse_time(values[name], name, session.zone)
    now = session.now()
    candidate = _draft({**incident.model_dump(), **values}, now)
    changed = frozenset(n for n in TIME_FIELDS if getattr(candidate, n) != getattr(incident, n))
    override = check_moments(session, candidate, reason if allow_order else None, changed)
    return store.update(incident.id, values, expected_version=incident.version, actor=session.actor, now=now,
                        reason=reason, annotations={"order_override": override} if override else None)


def _draft(values: Mapping[str, Any], now: datetime) -> Incident:
    """The incident these values make (validated as the store will), to check before anything is written."""
    from pydantic import ValidationError

    data = {**values, "id": values.get("id", "BK-0000-0000"), "created_at": values.get("created_at", now),
            "updated_at": now}
    data = {k: v for k, v in data.items() if k in Incident.model_fields}
    try:
        return Incident.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, "incident")
        raise InputError(f"invalid incident ({len(problems)} problems)", problems=problems) from None


def check_moments(session: Session, incident: Incident, allow_order: str | None,
                  fields: frozenset[str] | None = None) -> list[str]:
    """Refuse moments in the future (beyond incidents.max_future_skew_minutes) and, unless `allow_order` gives the
    reason, moments out of order. Returns the order problems accepted (to record with the change)."""
    skew = timedelta(minutes=session.config.incidents.max_future_skew_minutes)
    future = future_problems(incident, session.now(), skew, fields)
    if future:
        raise UsageError(future[0].message if len(future) == 1 else f"{len(future)} moments are in the future",
                         field=future[0].location.field, problems=future if len(future) > 1 else None,
                         hint="give the time it actually happened (with its offset, e.g. +01:00); the allowed clock "
                              "skew is incidents.max_future_skew_minutes")
    order = order_problems(incident, fields)
    if order and not (allow_order or "").strip():
        raise UsageError(order[0].message if len(order) == 1 else f"{len(order)} moments are out of order",
                         field=order[0].location.field, problems=order if len(order) > 1 else None,
                         hint="a breach occurs, is detected, then the organisation becomes aware; if these times are "
                              "right, say why: --allow-order with --reason (recorded)")
    return [p.message for p in order]


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
    """Close the incident: from then on it refuses changes (notes aside) until reopened."""
    return set_status(session, incident_id, Status.CLOSED, reason=reason)


def reopen_incident(session: Session, incident_id: str, *, reason: str) -> Incident:
    """Reopen a closed incident (back to investigating), with the reason recorded: the only way to change a closed
    case."""
    store = session.store
    incident = store.get(normalize_id(incident_id))
    return store.set_status(incident.id, Status.INVESTIGATING, expected_version=incident.version,
                            actor=session.actor, now=session.now(), reason=reason, reopen=True)


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
                document: Path | tuple[str, bytes] | None = None, override_reason: str | None = None) -> Filing:
    """Record a report filed with an authority, or a public communication (kind `public_communication`, for a
    stage the regime lets one meet, e.g. gdpr-34.subjects under Art. 34(3)(c)), which stops that stage's clock —
    with the exact document filed (`document`: a file, or a name and its bytes; kept in the store with its
    SHA-256) and its audit row, in one transaction. A filing without a document is allowed and flagged in the
    disclosure record. A document that is an approved authority report is linked to its approval. A follow-up
    cites the authority's reference (given, from an earlier filing, or the incident's).

    The pre-filing check runs once everything given is read and valid: its errors refuse the filing unless
    `override_reason` is given (recorded). A public communication is checked as the initial disclosure."""
    from breachkit.incidents.actions import latest_decision
    from breachkit.incidents.check_api import enforce_check

    regimes = session.regimes
    if regime not in regimes or stage not in [s.id for s in regimes[regime].stages]:
        stages = ", ".join(f"{r.id}.{s.id}" for r in regimes.values() for s in r.stages)
        raise UsageError(f"unknown regime stage {regime}.{stage} (known: {stages})", field="regime")
    the_stage = regimes[regime].stage(stage)
    kind = FilingKind(kind)
    if kind is FilingKind.PUBLIC_COMMUNICATION and "public_communication" not in the_stage.met_by:
        allowed = ", ".join(f"{r.id}.{s.id}" for r in regimes.values() for s in r.stages
                            if "public_communication" in s.met_by)
        raise UsageError(f"{regime}.{stage} is not met by a public communication (it is for: {allowed or 'none'})",
                         field="kind")
    store, now = session.store, session.now()
    incident = store.get(normalize_id(incident_id))
    when = parse_time(filed_at, "filed_at", session.zone) or now
    skew = timedelta(minutes=session.config.incidents.max_future_skew_minutes)
    if when > now + skew:
        raise UsageError(f"filed_at {when.isoformat()} is in the future: record a filing once it is made",
                         field="filed_at")
    earlier = [f for f in store.filings(incident.id) if f.regime == regime and f.stage == stage]
    reference = reference or next((f.reference for f in earlier if f.reference), None) or (
        incident.authority_reference if regime == "gdpr-33" else None)
    if kind == FilingKind.FOLLOW_UP and not reference:
        raise UsageError("a follow-up report refers to the authority's reference of the first report",
                         field="reference", hint="give --reference, or record it on the initial filing")
    content = _read_document(document)
    digest = hashlib.sha256(content[1]).hexdigest() if content else None
    enforce_check(session, incident.id, action=f"filing {regime}.{stage}",
                  report_type="initial" if kind is FilingKind.PUBLIC_COMMUNICATION else kind.value,
                  reference=reference, override_reason=override_reason)
    approval = store.approvals.find_hash(incident.id, "authority", digest) if digest else None
    filing = Filing(incident_id=incident.id, regime=regime, stage=stage, kind=kind, filed_at=when,
                    reference=reference, recipient=recipient, filed_by=session.actor, note=note,
                    content_sha256=digest, document_name=content[0] if content else None,
                    document_size=len(content[1]) if content else None,
                    approval_id=approval.id if approval else None)
    decision = latest_decision(store.decisions(incident.id), the_stage.not_required_by or "")
    why = the_stage.title + (f": {decision.reasons}" if decision is not None and decision.decision else "")
    store.add_record(filing, actor=session.actor, now=now, reason=note or f"{kind.value} report filed",
                     audit={"action": "filing", "target": recipient or regime, "sha256": digest,
                            "reason": why + (f" ({note})" if note else ""),
                            "detail": {"reference": filing.reference, "regime": regime, "stage": stage,
                                       "kind": kind.value, "document": filing.document_name,
                                       "filed_at": when.isoformat(), "approval_id": filing.approval_id}},
                     document=content)
    return filing


def _read_document(document: Path | tuple[str, bytes] | None) -> tuple[str, bytes] | None:
    if document is None or isinstance(document, tuple):
        return document
    try:
        data = document.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the document filed: {exc.strerror}", path=document) from None
    if not data:
        raise InputError("the document filed is empty", path=document)
    return document.name, data


# --- detections from files ------------------------------------------------------------------------------


def linked(item: DetectionItem) -> LinkedDetection:
    return LinkedDetection(rule_id=item.rule_id, title=item.title, level=item.level, kind=item.kind,
                           engine=item.engine, key=list(item.key.items()), event_count=item.count,
                           event_ids=list(item.event_ids), first_seen=item.first_seen, last_seen=item.last_seen)


def read_detections(path: Path) -> list[LinkedDetection]:
    """Detections saved by `breachkit detect -o json` (a breachkit.detections/1 document) or `-o ndjson`
    (a detection per line). Every invalid one is listed; nothing is returned unless all are valid."""
    from pydantic import ValidationError

    from breachkit.detect.document import DetectionItem, DetectionsDocument

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
