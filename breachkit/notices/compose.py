"""What the notices use cases (`breachkit.notices.api`) share: recipients (from a file or the incident's subject
list), the authority report's context, and rendered emails turned into outbox messages."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd

from breachkit.config import Config
from breachkit.errors import UsageError
from breachkit.incidents.api import deadlines_of
from breachkit.incidents.model import DATA_CATEGORIES, DecisionKind, Incident
from breachkit.incidents.regimes import load_regimes
from breachkit.incidents.store import IncidentStore
from breachkit.notices.context import (
    AuthorityContext,
    IncidentNoticeContext,
    ReportType,
    SubjectNumbers,
    authority_context,
    incident_notice_context,
)
from breachkit.notices.delivery import compose
from breachkit.notices.outbox import Outgoing
from breachkit.notices.recipients import Recipient, Recipients, read_recipients, recipients_from_frame
from breachkit.notices.render import render_subject
from breachkit.notices.templates import NoticeEnvironment


def load_recipients(store: IncidentStore, incident: Incident, env: NoticeEnvironment,
                    path: Path | None = None) -> Recipients:
    """The people to write to: a subject table file, else the incident's latest subject list."""
    if path is not None:
        return read_recipients(path, locales=env.locales, default_locale=env.default_locale)
    build = store.subject_lists.get(incident.id)
    if build is None:
        raise UsageError(f"{incident.id} has no subject list yet",
                         hint=f"breachkit subjects build {incident.id}, or give --recipients FILE")
    frame = pd.read_parquet(io.BytesIO(build.table_parquet))
    return recipients_from_frame(frame, source=f"{incident.id} subjects v{build.version}", locales=env.locales,
                                 default_locale=env.default_locale)


def subject_numbers(store: IncidentStore, incident: Incident) -> SubjectNumbers | None:
    """Counts for the authority report: the latest subject list (exact), else the incident's estimates."""
    build = store.subject_lists.get(incident.id)
    if build is not None:
        counts = build.summary.get("counts", {})
        found = build.summary.get("found_categories")
        if found is None:  # a list built before found categories were kept
            found = [c for c in counts.get("people_per_category", {}) if c in DATA_CATEGORIES]
        return SubjectNumbers(people=int(counts.get("people", build.rows)), records=int(counts.get("records", 0)),
                              exact=True, per_country=dict(counts.get("people_per_country", {})),
                              per_category=dict(counts.get("people_per_category", {})),
                              minors=int(counts.get("minors", 0)),
                              compromised_accounts=counts.get("compromised_accounts"),
                              compromised_requests=counts.get("compromised_requests"), found_in=build.version,
                              found_categories=tuple(sorted(found)))
    if incident.approx_subjects is None:
        return None
    return SubjectNumbers(people=incident.approx_subjects, records=incident.approx_records or 0, exact=False)


def authority_report_context(store: IncidentStore, config: Config, incident: Incident, now: datetime, *,
                             report_type: ReportType = "initial", earlier_reference: str | None = None,
                             locale: str = "en") -> AuthorityContext:
    assessments = store.assessments(incident.id)
    return authority_context(
        incident, config=config.notices, now=now,
        deadlines=deadlines_of(store, incident, load_regimes([config.resolve(p) for p in config.incidents.regimes]),
                               now),
        numbers=subject_numbers(store, incident), filings=store.filings(incident.id),
        decisions=store.decisions(incident.id), assessment=assessments[-1] if assessments else None,
        report_type=report_type, earlier_reference=earlier_reference or incident.authority_reference,
        zone=config.workspace.timezone, regimes=load_regimes([config.resolve(p) for p in config.incidents.regimes]),
        locale=locale, source_locale=config.notices.default_locale)


def notice_context(store: IncidentStore, config: Config, incident: Incident) -> IncidentNoticeContext:
    return incident_notice_context(incident, config=config.notices, zone=config.workspace.timezone,
                                   filings=store.filings(incident.id))


def require_subject_decision(store: IncidentStore, incident: Incident) -> str:
    """Subject notices go out only after a recorded decision to communicate (Art. 34); its reasons are the
    disclosure's reason."""
    decisions = [d for d in store.decisions(incident.id) if d.kind == DecisionKind.NOTIFY_SUBJECTS]
    if not decisions or not decisions[-1].decision:
        raise UsageError(f"{incident.id}: no recorded decision to communicate the breach to the people affected",
                         hint=f"breachkit incident decide {incident.id} --subjects yes --reason …")
    return f"Art. 34 communication: {decisions[-1].reasons}"


def message_id(incident_id: str, kind: str, version: int, subject_id: str, sender: str) -> str:
    digest = hashlib.sha256(subject_id.encode()).hexdigest()[:20]
    domain = sender.rsplit("@", 1)[-1] or "breachkit.invalid"
    return f"<{incident_id}.{kind}.v{version}.{digest}@{domain}>"


def outgoing(incident: Incident, recipients: Iterable[Recipient], incident_ctx: IncidentNoticeContext,
             env: NoticeEnvironment, config: Config, *, version: int, reason: str, now: datetime) -> Iterator[Outgoing]:
    """Render each recipient's email and compose the exact bytes to queue (lazily: a million people never sit
    in memory as rendered messages at once). `now` is the Date header: the same inputs give the same bytes."""
    smtp = config.notices.smtp
    sender = smtp.require_sender()
    sender_name = smtp.sender_name or config.notices.controller_name
    for recipient in recipients:
        email = render_subject(recipient, incident_ctx, env)
        mid = message_id(incident.id, "subject", version, recipient.subject_id, sender)
        body = compose(sender=sender, sender_name=sender_name, to_address=recipient.email, to_name=recipient.name,
                       subject=email.subject_line, text=email.text, html=email.html, message_id=mid, date=now)
        content = hashlib.sha256(f"{recipient.email}\0{email.sha256}".encode()).hexdigest()
        yield Outgoing(incident.id, recipient.subject_id, "subject", version, recipient.email, body, mid, reason,
                       content, email.locale, recipient.notice_kind)


def write_eml(messages: Iterable[Outgoing], folder: Path) -> list[Path]:
    """Dry run: each message as an .eml file (0600), named by a hash of the recipient id, never by address."""
    from breachkit.workspace import write_private_bytes

    paths = []
    for m in messages:
        path = folder / f"{hashlib.sha256(m.recipient.encode()).hexdigest()[:16]}.eml"
        write_private_bytes(path, m.message)
        paths.append(path)
    return paths
