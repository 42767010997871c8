"""Severity and notification decisions: the ENISA assessment (`assess_incident`) and the Art. 33/34 suggestion
with the human decision (`decide`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from breachkit.errors import UsageError
from breachkit.incidents.api import normalize_id
from breachkit.incidents.decide import Suggestion, decision_record
from breachkit.incidents.documents import (
    AssumptionItem,
    CategoriesItem,
    DecisionDocument,
    MissingItem,
    SuggestionItem,
)
from breachkit.incidents.model import Assessment
from breachkit.incidents.resolve import Found, advise
from breachkit.incidents.risk import SeverityInputs, SeverityResult, assess, assessment_from_answers, to_assessment
from breachkit.session import Session


@dataclass(frozen=True)
class Assessed:
    record: Assessment
    result: SeverityResult


def assess_incident(session: Session, incident_id: str, answers: Mapping[str, Any], *, notes: str = "",
                    source: str | None = None) -> Assessed:
    """Score the ENISA questionnaire's answers (SE = DPC × EI + CB), store the assessment with every input and
    set the incident's severity. `source` names the answers file in error messages."""
    result = assessment_from_answers(dict(answers), path=source)
    store, now = session.store, session.now()
    incident = store.get(normalize_id(incident_id))
    record = to_assessment(result, incident_id=incident.id, assessed_by=session.actor, assessed_at=now, notes=notes)
    store.add_record(record, actor=session.actor, now=now, reason=notes or f"ENISA severity {result.severity.value}")
    return Assessed(record, result)


def result_of(assessment: Assessment) -> SeverityResult:
    """The stored assessment as a result again (its DPC is already adjusted, so no adjustments)."""
    return assess(SeverityInputs(dpc_base=round(assessment.dpc), ei=assessment.ei,
                                 cb_confidentiality=assessment.cb_confidentiality,
                                 cb_integrity=assessment.cb_integrity, cb_availability=assessment.cb_availability,
                                 malicious=assessment.cb_malicious > 0))


def _item(s: Suggestion) -> SuggestionItem:
    return SuggestionItem(kind=s.kind.value, suggested=s.suggested, risk=s.risk.value,
                          explanation=list(s.explanation), exemptions=list(s.exemptions), alternative=s.alternative)


def found_by_subject_list(session: Session, incident_id: str) -> Found | None:
    """What the incident's latest subject list found (categories, people), or None without one."""
    record = session.store.subject_lists.get(incident_id)
    return None if record is None else Found.of_summary(record.version, record.summary)


def decide(session: Session, incident_id: str, *, facts: Mapping[str, Any] | None = None,
           authority: bool | None = None, subjects: bool | None = None, reason: str = "") -> DecisionDocument:
    """The suggestion for Art. 33 (authority) and Art. 34 (people), explained, from the incident's decision facts
    (`Incident.facts`), the union of its declared data categories and those its subject list found, and its latest
    ENISA assessment; `facts` are one-off overrides (checked by name and value), kept with a decision recorded in
    the same call. With `authority`/`subjects` the human decision is recorded against it, with `reason`
    (required: Art. 33(5)). The explanation lists every assumption and what a known fact would change."""
    if (authority is not None or subjects is not None) and not reason.strip():
        raise UsageError("a decision needs a reason (documented in the breach register, Art. 33(5))",
                         field="reason")
    store, now = session.store, session.now()
    incident = store.get(normalize_id(incident_id))
    assessments = store.assessments(incident.id)
    severity = result_of(assessments[-1]) if assessments else None
    advised = advise(incident, found=found_by_subject_list(session, incident.id), overrides=facts or {},
                     severity=severity)
    resolution = advised.resolution
    case_facts = resolution.facts.model_dump(mode="json")
    assumptions = [a.text for a in resolution.assumptions]
    recorded = []
    for suggestion, choice in ((advised.authority, authority), (advised.subjects, subjects)):
        if choice is None:
            continue
        decision = decision_record(suggestion, choice, reason, session.actor, now, incident.id).model_copy(
            update={"facts": case_facts, "overrides": jsonable(resolution.overrides), "assumptions": assumptions})
        store.add_record(decision, actor=session.actor, now=now, reason=reason)
        recorded.append(decision.model_dump(mode="json"))
    used = resolution.categories
    return DecisionDocument.create(
        incident=incident.id, at=now, facts=resolution.breach.model_dump(mode="json", exclude={"severity"}),
        authority=_item(advised.authority), subjects=_item(advised.subjects), recorded=recorded,
        case_facts=case_facts, overrides=jsonable(resolution.overrides),
        categories=CategoriesItem(declared=list(used.declared), found=None if used.found is None else list(used.found),
                                  used=list(used.used), found_in=used.found_in),
        assumptions=[AssumptionItem(fact=a.fact, text=a.text) for a in resolution.assumptions],
        missing=[MissingItem(fact=m.fact, changes=list(m.changes)) for m in advised.missing],
        notes=list(resolution.notes))


def jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.value if hasattr(v, "value") else v for k, v in values.items()}
