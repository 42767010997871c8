"""The pre-filing check as a use case: `check_case` gathers the case file (incident, subject list, notices
configuration, regimes, deadlines, decisions, filings, outbox) and runs `incidents.check`; `enforce_check` is what
`authority_report`, `file_report` and `send_notices` call before acting: errors stop them unless a human
overrides with a reason, which is recorded (timeline and audit) before the action goes ahead."""

from __future__ import annotations

from breachkit.errors import InputError, Location, Problem, UsageError
from breachkit.incidents.check import LANGUAGE_CODES, CaseFile, CheckResult, NoticeLanguages, SubjectList, check
from breachkit.incidents.clock import incident_deadlines
from breachkit.incidents.documents import CheckDocument, FindingItem
from breachkit.session import Session
from breachkit.wording import counted


class CheckFailed(InputError):
    """The pre-filing check found errors (each a problem naming the field to fix)."""


def case_file(session: Session, incident_id: str, *, report_type: str = "initial",
              reference: str | None = None, languages: NoticeLanguages | None = None) -> CaseFile:
    store, now = session.store, session.now()
    incident = store.get(incident_id.strip().upper())  # (incidents.api imports this module: no import back)
    record = store.subject_lists.get(incident.id)
    filings = store.filings(incident.id)
    return CaseFile(incident=incident, notices=session.config.notices, regimes=session.regimes,
                    deadlines=incident_deadlines(incident.regimes, session.regimes, incident.aware_at, filings, now),
                    decisions=store.decisions(incident.id), filings=filings,
                    subject_list=None if record is None else SubjectList(record.version, record.summary),
                    outbox_recipients=store.outbox.recipients(incident.id), report_type=report_type,
                    earlier_reference=reference, languages=languages)


def document(result: CheckResult, case: CaseFile, session: Session) -> CheckDocument:
    return CheckDocument.create(
        incident=result.incident_id, at=session.now(), report_type=result.report_type,
        subject_list=case.subject_list.version if case.subject_list else None, passed=result.passed,
        errors=len(result.errors), warnings=len(result.warnings),
        findings=[FindingItem(severity=f.severity.value, code=f.code, field=f.field, message=f.message, hint=f.hint)
                  for f in result.findings])


def check_case(session: Session, incident_id: str, *, report_type: str = "initial",
               reference: str | None = None, languages: NoticeLanguages | None = None) -> CheckDocument:
    """The pre-filing check of one incident: every error and warning with the field to fix. `languages` (the
    notices stage's `coverage`): the languages the people to write to would read, checked before sending."""
    if report_type not in ("initial", "follow_up", "final"):
        raise UsageError(f"unknown report type {report_type!r} (initial, follow_up, final)", field="report_type")
    case = case_file(session, incident_id, report_type=report_type, reference=reference, languages=languages)
    return document(check(case), case, session)


def enforce_check(session: Session, incident_id: str, *, action: str, report_type: str = "initial",
                  reference: str | None = None, override_reason: str | None = None,
                  languages: NoticeLanguages | None = None, accept_fallback: str | None = None,
                  record: bool = True) -> CheckDocument:
    """Run the check before `action`. Errors raise CheckFailed (naming each field) unless `override_reason` is
    given: then the override, with the errors and the reason, is recorded in the timeline and the audit log — at
    once, or (`record=False`) by the caller through `record_check_override` once it goes ahead (e.g. after a
    confirmation that may still say no). `accept_fallback` accepts only the language errors (people who would read
    another language, or miss the incident's own text in theirs) — recorded the same way, as "<action>: language
    fallback accepted"."""
    doc = check_case(session, incident_id, report_type=report_type, reference=reference, languages=languages)
    if doc.passed:
        return doc
    errors = [f for f in doc.findings if f.severity == "error"]
    accepted = [f for f in errors if f.code in LANGUAGE_CODES] if accept_fallback is not None else []
    if accept_fallback is not None and not accept_fallback.strip():
        raise UsageError("accepting the language fallback needs a reason (it is recorded)", field="reason")
    blocking = [f for f in errors if f not in accepted]
    if blocking and override_reason is None:
        language_only = all(f.code in LANGUAGE_CODES for f in blocking)
        raise CheckFailed(
            f"the pre-filing check found {counted(len(blocking), 'error')}: {action} stopped",
            path=doc.incident,
            problems=[Problem(f"{f.message}" + (f" — {f.hint}" if f.hint else ""), Location(field=f.field))
                      for f in blocking],
            hint=(f"give the translations, or go ahead with --accept-fallback --reason \"why\" (recorded); "
                  f"breachkit notices render {doc.incident} --kind subject lists every person" if language_only else
                  f"fix them (breachkit report check {doc.incident} lists every finding), or go ahead with "
                  "--override-check --reason \"why\" (recorded)"))
    if blocking and not (override_reason or "").strip():
        raise UsageError("overriding the pre-filing check needs a reason (it is recorded)", field="reason")
    if record:
        record_check_override(session, doc, action, override_reason or "", accept_fallback=accept_fallback)
    return doc


def record_check_override(session: Session, doc: CheckDocument, action: str, reason: str, *,
                          accept_fallback: str | None = None) -> None:
    """Record that `action` goes ahead although the check (`doc`) found errors: a timeline entry and an audit row
    for the language errors accepted with `accept_fallback`, and one for the others overridden with `reason`."""
    errors = [f for f in doc.findings if f.severity == "error"]
    accepted = [f for f in errors if f.code in LANGUAGE_CODES] if accept_fallback is not None else []
    blocking = [f for f in errors if f not in accepted]
    if accepted:
        session.store.record_override(doc.incident, f"{action}: language fallback accepted",
                                      [f.model_dump() for f in accepted], reason=accept_fallback or "",
                                      actor=session.actor, now=session.now())
    if blocking:
        session.store.record_override(doc.incident, action, [f.model_dump() for f in blocking], reason=reason,
                                      actor=session.actor, now=session.now())
