"""Severity and notification decisions: the ENISA assessment (`assess_incident`) and the Art. 33/34 suggestion
with the human decision (`decide`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from breachkit.errors import UsageError
from breachkit.incidents.api import normalize_id
from breachkit.incidents.decide import Suggestion, decision_record, facts_from_incident, suggest
from breachkit.incidents.documents import DecisionDocument, SuggestionItem
from breachkit.incidents.model import Assessment
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


def decide(session: Session, incident_id: str, *, facts: Mapping[str, Any] | None = None,
           authority: bool | None = None, subjects: bool | None = None, reason: str = "") -> DecisionDocument:
    """The suggestion for Art. 33 (authority) and Art. 34 (people), explained; with `authority`/`subjects`
    the human decision is recorded against it, with `reason` (required: Art. 33(5))."""
    if (authority is not None or subjects is not None) and not reason.strip():
        raise UsageError("a decision needs a reason (documented in the breach register, Art. 33(5))",
                         field="reason")
    store, now = session.store, session.now()
    incident = store.get(normalize_id(incident_id))
    overrides = dict(facts or {})
    assessments = store.assessments(incident.id)
    if assessments:
        overrides.setdefault("severity", result_of(assessments[-1]))
    try:
        breach = facts_from_incident(incident, **overrides)
    except ValueError as exc:
        raise UsageError(f"facts: {exc}", field="facts") from None
    advice = suggest(breach)
    recorded = []
    for suggestion, choice in ((advice.authority, authority), (advice.subjects, subjects)):
        if choice is None:
            continue
        decision = decision_record(suggestion, choice, reason, session.actor, now, incident.id)
        store.add_record(decision, actor=session.actor, now=now, reason=reason)
        recorded.append(decision.model_dump(mode="json"))
    return DecisionDocument.create(incident=incident.id, at=now,
                                   facts=breach.model_dump(mode="json", exclude={"severity"}),
                                   authority=_item(advice.authority), subjects=_item(advice.subjects),
                                   recorded=recorded)
