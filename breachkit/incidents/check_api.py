"""The pre-filing check as a use case: `check_case` gathers the case file (incident, subject list, notices
configuration, regimes, deadlines, decisions, filings, outbox) and runs `incidents.check`; `enforce_check` is what
`authority_report`, `file_report` and `send_notices` call before acting: errors stop them unless a human
overrides with a reason, which is recorded (timeline and audit) before the action goes ahead."""

from __future__ import annotations

from breachkit.errors import InputError, Location, Problem, UsageError
from breachkit.incidents.check import CaseFile, CheckResult, SubjectList, check
from breachkit.incidents.clock import incident_deadlines
from breachkit.incidents.documents import CheckDocument, FindingItem
from breachkit.session import Session


class CheckFailed(InputError):
    """The pre-filing check found errors (each a problem naming the field to fix)."""


def case_file(session: Session, incident_id: str, *, report_type: str = "initial",
              reference: str | None = None) -> CaseFile:
    store, now = session.store, session.now()
    incident = store.get(incident_id.strip().upper())  # (incidents.api imports this module: no import back)
    record = store.subject_lists.get(incident.id)
    filings = store.filings(incident.id)
    return CaseFile(incident=incident, notices=session.config.notices, regimes=session.regimes,
                    deadlines=incident_deadlines(incident.regimes, session.regimes, incident.aware_at, filings, now),
                    decisions=store.decisions(incident.id), filings=filings,
                    subject_list=None if record is None else SubjectList(record.version, record.summary),
                    outbox_recipients=store.outbox.recipients(incident.id), report_type=report_type,
                    earlier_reference=reference)


def document(result: CheckResult, case: CaseFile, session: Session) -> CheckDocument:
    return CheckDocument.create(
        incident=result.incident_id, at=session.now(), report_type=result.report_type,
        subject_list=case.subject_list.version if case.subject_list else None, passed=result.passed,
        errors=len(result.errors), warnings=len(result.warnings),
        findings=[FindingItem(severity=f.severity.value, code=f.code, field=f.field, message=f.message, hint=f.hint)
                  for f in result.findings])


def check_case(session: Session, incident_id: str, *, report_type: str = "initial",
               reference: str | None = None) -> CheckDocument:
    """The pre-filing check of one incident: every error and warning with the field to fix."""
    if report_type not in ("initial", "follow_up", "final"):
        raise UsageError(f"unknown report type {report_type!r} (initial, follow_up, final)", field="report_type")
    case = case_file(session, incident_id, report_type=report_type, reference=reference)
    return document(check(case), case, session)


def enforce_check(session: Session, incident_id: str, *, action: str, report_type: str = "initial",
                  reference: str | None = None, override_reason: str | None = None,
                  record: bool = True) -> CheckDocument:
    """Run the check before `action`. Errors raise CheckFailed (naming each field) unless `override_reason` is
    given: then the override, with the errors and the reason, is recorded in the timeline and the audit log —
    at once, or (`record=False`) by the caller through `record_check_override` once it goes ahead (e.g. after a
    confirmation that may still say no)."""
    doc = check_case(session, incident_id, report_type=report_type, reference=reference)
    if doc.passed:
        return doc
    errors = [f for f in doc.findings if f.severity == "error"]
    if override_reason is None:
        raise CheckFailed(
            f"the pre-filing check found {len(errors)} error{'s' if len(errors) != 1 else ''}: {action} stopped",
            path=doc.incident,
            problems=[Problem(f"{f.message}" + (f" — {f.hint}" if f.hint else ""), Location(field=f.field))
                      for f in errors],
            hint=f"fix them (breachkit report check {doc.incident} lists every finding), or go ahead with "
                 "--override-check --reason \"why\" (recorded)")
    if not override_reason.strip():
        raise UsageError("overriding the pre-filing check needs a reason (it is recorded)", field="reason")
    if record:
        record_check_override(session, doc, action, override_reason)
    return doc


def record_check_override(session: Session, doc: CheckDocument, action: str, reason: str) -> None:
    """Record that `action` goes ahead although the check (`doc`) found errors: a timeline entry and an audit row."""
    errors = [f.model_dump() for f in doc.findings if f.severity == "error"]
    session.store.record_override(doc.incident, action, errors, reason=reason, actor=session.actor,
                                  now=session.now())
