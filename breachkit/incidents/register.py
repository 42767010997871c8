"""The breach register (Art. 33(5)): every incident, notified or not — facts, effects, remedial action,
decisions and their reasons, filings and whether they were on time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from breachkit.incidents.api import deadlines_of, incident_actions
from breachkit.incidents.clock import Deadline, Status
from breachkit.incidents.model import DecisionKind, Incident
from breachkit.incidents.regimes import Regime
from breachkit.incidents.store import IncidentStore

COLUMNS = (
    "id", "title", "status", "severity", "role", "occurred_at", "occurred_until", "ongoing", "detected_at",
    "aware_at", "aware_justification", "how_discovered", "cause", "malicious", "confidentiality", "integrity",
    "availability", "systems", "data_categories", "special_categories", "subject_categories", "children",
    "approx_subjects", "approx_records", "countries", "lead_authority", "consequences", "measures_taken",
    "measures_proposed", "authority_decision", "authority_reasons", "subjects_decision", "subjects_reasons",
    "notified_authority", "filings", "references", "stages", "late_stages", "delay_reasons", "severity_method",
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def stage_text(d: Deadline) -> str:
    """"gdpr-34.subjects met 2026-03-21T09:00:00Z (notices_delivered: all 216 approved notices … delivered)"."""
    status = d.status.value.replace("_", " ")
    if d.met_at is not None:
        return f"{d.regime}.{d.stage} {status} {_time(d.met_at)} ({d.met_by}: {d.detail})"
    due = f", due {_time(d.due_at)}" if d.due_at else ""
    return f"{d.regime}.{d.stage} {status}{due}"


def register_row(store: IncidentStore, incident: Incident, regimes: Mapping[str, Regime], now: datetime
                 ) -> dict[str, Any]:
    actions = incident_actions(store, incident)
    decisions, filings = actions.decisions, actions.filings
    assessments = store.assessments(incident.id)
    latest = {d.kind: d for d in decisions}  # the last decision of each kind counts
    authority, subjects = latest.get(DecisionKind.NOTIFY_AUTHORITY), latest.get(DecisionKind.NOTIFY_SUBJECTS)
    deadlines = deadlines_of(store, incident, regimes, now, actions)
    late = [f"{d.regime}.{d.stage} ({d.status.value})" for d in deadlines if d.status in (Status.LATE, Status.OVERDUE)]
    return {
        "id": incident.id, "title": incident.title, "status": incident.status.value,
        "severity": incident.severity.value if incident.severity else None, "role": incident.role.value,
        "occurred_at": _time(incident.occurred_at), "occurred_until": _time(incident.occurred_until),
        "ongoing": _yes_no(incident.ongoing), "detected_at": _time(incident.detected_at),
        "aware_at": _time(incident.aware_at), "aware_justification": incident.aware_justification,
        "how_discovered": incident.how_discovered, "cause": incident.cause, "malicious": _yes_no(incident.malicious),
        "confidentiality": _yes_no(incident.impact.confidentiality), "integrity": _yes_no(incident.impact.integrity),
        "availability": _yes_no(incident.impact.availability), "systems": list(incident.systems),
        "data_categories": list(incident.data_categories), "special_categories": incident.special_categories,
        "subject_categories": list(incident.subject_categories), "children": _yes_no(incident.children),
        "approx_subjects": incident.approx_subjects, "approx_records": incident.approx_records,
        "countries": list(incident.countries), "lead_authority": incident.lead_authority,
        "consequences": incident.consequences, "measures_taken": incident.measures_taken,
        "measures_proposed": incident.measures_proposed,
        "authority_decision": _yes_no(authority.decision) if authority else "undecided",
        "authority_reasons": authority.reasons if authority else None,
        "subjects_decision": _yes_no(subjects.decision) if subjects else "undecided",
        "subjects_reasons": subjects.reasons if subjects else None,
        "notified_authority": _yes_no(any(f.regime in ("gdpr-33", "uk-gdpr") for f in filings)),
        "filings": [f"{f.regime}.{f.stage} {f.kind.value} {_time(f.filed_at)}" for f in filings],
        "references": sorted({f.reference for f in filings if f.reference}),
        "stages": [stage_text(d) for d in deadlines], "late_stages": late,
        "delay_reasons": incident.delay_reasons or None,
        "severity_method": (f"ENISA SE={assessments[-1].score:g} ({assessments[-1].severity.value})"
                            if assessments else None),
    }


def register(store: IncidentStore, regimes: Mapping[str, Regime], now: datetime) -> list[dict[str, Any]]:
    """One row per incident, oldest first."""
    return [register_row(store, i, regimes, now) for i in store.list_incidents()]
