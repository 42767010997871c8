"""The notices stage's use cases: render for review, send through the outbox (exactly once, or visibly
`unknown`), account for every message, resolve the uncertain ones, and write the authority report."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from breachkit.document import Document
from breachkit.errors import PartialFailure, Problem, UsageError
from breachkit.incidents.api import normalize_id
from breachkit.notices.approvals import SendPlanDocument, latest_approval, send_plan
from breachkit.notices.compose import (
    authority_report_context,
    load_recipients,
    notice_context,
    outgoing,
    require_subject_decision,
    write_eml,
)
from breachkit.notices.context import ReportType
from breachkit.notices.coverage import LanguageReport, language_report
from breachkit.notices.outbox import Row, State
from breachkit.notices.render import AUTHORITY_FORMATS, AuthorityFormat, RenderSummary, render_all, render_authority
from breachkit.notices.render import write_authority as write_authority_files
from breachkit.notices.report_language import ReportLanguage, report_language
from breachkit.notices.templates import environment_from_config
from breachkit.session import Session
from breachkit.wording import counted

NoticeKind = Literal["subject", "authority"]


# --- review ---------------------------------------------------------------------------------------------


def render_subject_notices(session: Session, incident_id: str, out: Path, *, recipients: Path | None = None,
                           overwrite: bool = False) -> RenderSummary:
    """Write each person's email (subject line, text, HTML; 0600) plus summary.json into a new folder, for
    review. Nothing is queued or sent. Audited (counts, never addresses)."""
    store, config, now = session.store, session.config, session.now()
    env = environment_from_config(config)
    incident = store.get(normalize_id(incident_id))
    people = load_recipients(store, incident, env, recipients)
    summary = render_all(notice_context(store, config, incident), people, out, env, overwrite=overwrite)
    store.audit("render", str(out), actor=session.actor, at=now, incident_id=incident.id,
                sha256=hashlib.sha256((out / "summary.json").read_bytes()).hexdigest(),
                reason="subject notices for review",
                detail={"rendered": summary.rendered, "rejected": len(summary.rejected)})
    return summary


def render_authority_reports(session: Session, incident_id: str, out: Path, *,
                             formats: Sequence[AuthorityFormat] = AUTHORITY_FORMATS,
                             report_type: ReportType = "initial", reference: str | None = None,
                             overwrite: bool = False, locale: str | None = None) -> list[Path]:
    """The authority report in each format (report.<fmt>, 0600) in a new folder, all or nothing, in the
    authority's language (`authority_report_language`; `locale` overrides it). Audited."""
    store, config, now = session.store, session.config, session.now()
    incident = store.get(normalize_id(incident_id))
    env = environment_from_config(config)
    language = report_language(incident, config.notices, env, locale)
    ctx = authority_report_context(store, config, incident, now, report_type=report_type,
                                   earlier_reference=reference, locale=language.locale)
    paths = write_authority_files(ctx, env, out, formats, overwrite=overwrite)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()
    store.audit("render", str(out), actor=session.actor, at=now, incident_id=incident.id, sha256=digest,
                reason=f"authority report ({report_type}) for review",
                detail={"files": [p.name for p in paths], "language": language.locale})
    return paths


def authority_report_language(session: Session, incident_id: str, locale: str | None = None) -> ReportLanguage:
    """The language the incident's authority report is written in, and why: `locale`, else
    ``notices.authority_locale``, else the lead authority's language, else English (a language without report
    templates falls back to English, and says so)."""
    incident = session.store.get(normalize_id(incident_id))
    return report_language(incident, session.config.notices, environment_from_config(session.config), locale)


@dataclass(frozen=True)
class Report:
    data: bytes
    path: Path | None
    sha256: str
    language: ReportLanguage | None = None


def authority_report(session: Session, incident_id: str, fmt: AuthorityFormat = "md", out: Path | None = None, *,
                     report_type: ReportType = "initial", reference: str | None = None,
                     override_reason: str | None = None, locale: str | None = None) -> Report:
    """The report to the supervisory authority (Art. 33(3)) in one format: written to `out` (0600) or returned
    for stdout. The pre-filing check runs first: its errors (a late report without reasons for the delay, a
    contradiction, a blank the form asks for…) refuse it unless `override_reason` is given (recorded). In the
    authority's language (`authority_report_language`; `locale` overrides it). Audited."""
    from breachkit.incidents.check_api import enforce_check
    from breachkit.incidents.reports_api import deliver

    if fmt == "pdf" and out is None:
        raise UsageError("a PDF needs an output file", field="out")
    store, config, now = session.store, session.config, session.now()
    incident = store.get(normalize_id(incident_id))
    enforce_check(session, incident.id, action="the authority report", report_type=report_type, reference=reference,
                  override_reason=override_reason)
    env = environment_from_config(config)
    language = report_language(incident, config.notices, env, locale)
    ctx = authority_report_context(store, config, incident, now, report_type=report_type,
                                   earlier_reference=reference, locale=language.locale)
    content = render_authority(ctx, env, fmt)
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    digest = deliver(data, out)
    store.audit("export", str(out) if out else "stdout", actor=session.actor, at=now, incident_id=incident.id,
                sha256=digest, reason=f"authority report ({report_type})",
                detail={"format": fmt, "language": language.locale})
    return Report(data, out, digest, language)


# --- sending --------------------------------------------------------------------------------------------


@dataclass
class SendResult:
    incident: str
    queued: int = 0  # new in the outbox
    already: int = 0  # queued before (an earlier run): not queued again
    changed: list[str] = field(default_factory=list)  # kept for callers of older versions: always empty now
    rejected: list[Problem] = field(default_factory=list)  # recipient rows left out
    dry_run: list[Path] = field(default_factory=list)  # .eml files written instead of queuing
    sent: int = 0
    retried: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient, error)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # left `sending` by an earlier run: now unknown
    counts: dict[str, int] = field(default_factory=dict)  # outbox totals by state after the run
    delivered: bool = False  # delivery ran (not --queue-only, not a dry run)
    languages: LanguageReport | None = None  # who reads another language or misses the incident's own text
    plan: SendPlanDocument | None = None  # what was confirmed
    cancelled: bool = False  # the confirmation said no: nothing was queued or sent
    warnings: list[str] = field(default_factory=list)

    def failure(self) -> PartialFailure | None:
        """The messages not delivered for sure, as the error the caller should raise (None: all fine)."""
        problems = [Problem(f"failed: {r}: {e}") for r, e in self.failed]
        problems += [Problem(f"unknown: {r}: {e}") for r, e in self.unknown]
        problems += [Problem(f"unknown: {r}: interrupted by an earlier run") for r in self.interrupted]
        if not problems:
            return None
        return PartialFailure(f"{len(problems)} messages not delivered for sure", problems=problems,
                              hint=f"breachkit notices status {self.incident}; decide on unknown ones with "
                                   f"`breachkit notices resolve {self.incident} --action resend|sent`")


def send_notices(session: Session, incident_id: str, *, recipients: Path | None = None, version: int = 1,
                 dry_run_to: Path | None = None, queue_only: bool = False,
                 confirm: Callable[[SendPlanDocument], bool] | None = None,
                 on_start: Callable[[int], None] | None = None,
                 on_message: Callable[[Row, State], None] | None = None,
                 override_reason: str | None = None, accept_fallback: str | None = None) -> SendResult:
    """Send an approved version of the subject notices (every kind: breach, compromise, both): every message
    rendered again and checked against the hash its approval recorded, the whole set queued in one transaction
    (or, if one message differs, none: a ConflictError names how many and why), then delivered over SMTP, exactly
    once or visibly `unknown`.

    The pre-filing check runs first, with the languages the people would read (`notices.coverage`): its errors
    stop the sending unless `override_reason` is given — `accept_fallback` accepts the language errors alone —
    (either is recorded once the sending goes ahead, i.e. after the confirmation). Then it needs a recorded
    decision to tell the people (its reasons are each disclosure's reason), an approval of the version
    (`approve_notices`), a configured sender and — with `notices.require_second_person` — a sender other than the
    approver. `confirm` is shown the plan (counts per locale and kind, approver, the check's outcome) and may say
    no; None means the caller has confirmed. A version queued by an earlier run is delivered without rendering it
    again. `dry_run_to` writes the .eml files instead (no approval needed; a dry run only reviews, so it is not
    checked)."""
    from breachkit.incidents.check_api import enforce_check, record_check_override
    from breachkit.notices.delivery import DeliveryOptions, deliver, transport_from_config

    store, config, now = session.store, session.config, session.now()
    env = environment_from_config(config)
    incident = store.get(normalize_id(incident_id))
    reason = require_subject_decision(store, incident)
    if dry_run_to is not None:
        approval = store.approvals.latest(incident.id, "subject", version)
        people = load_recipients(store, incident, env, recipients)
        messages = outgoing(incident, people, notice_context(store, config, incident), env, config,
                            version=version, reason=reason, now=approval.approved_at if approval else now)
        result = SendResult(incident.id)
        result.dry_run = write_eml(messages, dry_run_to)
        result.rejected = list(people.rejected)  # known once the recipients have been read
        store.audit("render", str(dry_run_to), actor=session.actor, at=now, incident_id=incident.id,
                    reason="dry run (.eml)", detail={"messages": len(result.dry_run)})
        return result
    people = load_recipients(store, incident, env, recipients)
    context = notice_context(store, config, incident)
    languages = language_report(people, context, env)
    checked = enforce_check(session, incident.id, action="sending the notices", override_reason=override_reason,
                            languages=languages.for_check(), accept_fallback=accept_fallback, record=False)
    plan = send_plan(session, incident.id, version=version)
    if not checked.passed:
        plan = plan.model_copy(update={"warnings": [*plan.warnings, (
            f"the pre-filing check found {counted(checked.errors, 'error')}: going ahead "
            + (f"on the override given ({override_reason})" if override_reason else
               f"on the language fallback accepted ({accept_fallback})") + ", recorded when the sending starts")]})
    result = SendResult(incident.id, plan=plan, warnings=list(plan.warnings), languages=languages)
    if confirm is not None and not confirm(plan):
        result.cancelled = True
        return result
    if not checked.passed:
        record_check_override(session, checked, "sending the notices", override_reason or "",
                              accept_fallback=accept_fallback)
    approval = latest_approval(session, incident, version)
    outbox = store.outbox
    # an earlier run queued it: the outbox must hold exactly the approved bytes (compared in the database)
    result.already = outbox.check_queued(incident.id, "subject", version, store.approvals.pairs(approval.id))
    if not result.already:
        messages = outgoing(incident, people, context, env, config, version=version, reason=reason,
                            now=approval.approved_at)
        result.queued = outbox.enqueue_approved(incident.id, "subject", version, messages,
                                                store.approvals.pairs(approval.id), actor=session.actor, now=now)
        result.rejected = list(people.rejected)  # known once the recipients have been read
    if not queue_only:
        if on_start is not None:
            on_start(outbox.counts(incident.id, "subject")[State.QUEUED.value])
        report = deliver(outbox, incident.id, "subject", transport_from_config(config),
                         DeliveryOptions.from_config(config.notices.smtp), actor=session.actor, clock=session.now,
                         on_message=on_message)
        result.sent, result.retried, result.delivered = report.sent, report.retried, True
        result.failed, result.unknown, result.interrupted = report.failed, report.unknown, report.interrupted
    result.counts = outbox.counts(incident.id, "subject")
    return result


class NoticeStatusDocument(Document):
    """`breachkit.notices/1`: the outbox of one incident by state, with every message not delivered for sure."""

    SCHEMA = "breachkit.notices/1"

    incident: str
    counts: dict[str, int]
    problems: list[dict[str, str | int]]


def notice_status(session: Session, incident_id: str) -> NoticeStatusDocument:
    store = session.store
    incident = store.get(normalize_id(incident_id))
    trouble = store.outbox.rows(incident.id, states=[State.FAILED, State.UNKNOWN])
    return NoticeStatusDocument.create(
        incident=incident.id, counts=store.outbox.counts(incident.id),
        problems=[{"recipient": r.recipient, "kind": r.kind, "state": r.state.value, "attempts": r.attempts,
                   "error": r.last_error} for r in trouble])


def delivery_times(session: Session, incident_id: str) -> list[datetime]:
    """When each subject notice of the incident was delivered, oldest first (the board's timeline picture)."""
    return session.store.outbox.sent_times(normalize_id(incident_id), "subject")


def resolve_notices(session: Session, incident_id: str, *, action: Literal["resend", "sent", "cancel"],
                    reason: str, recipients: Sequence[str] | None = None, include_failed: bool = False) -> int:
    """An explicit decision about messages in state `unknown` (and `failed` with `include_failed`): resend, they
    did arrive (sent), or give up (cancel). `recipients` None: all of them. Recorded with the reason."""
    if not reason.strip():
        raise UsageError("resolving messages needs a reason", field="reason")
    states = [State.UNKNOWN, State.FAILED] if include_failed else [State.UNKNOWN]
    return session.store.outbox.resolve(normalize_id(incident_id), "subject", action=action, recipients=recipients,
                                        states=states, actor=session.actor, now=session.now(), reason=reason)
