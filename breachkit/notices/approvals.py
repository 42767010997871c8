"""Four eyes: a person approves the exact rendered set before anything is sent or filed.

`approve_notices` renders a version of the subject notices exactly as `notices send` will (the same recipients,
templates, facts and configuration, composed to the same bytes) and records who approved it, why, and the
SHA-256 of every message. For the authority report it records the hash of each format (and can write the approved
copies, to upload them): a document filed later with those bytes is linked to the approval.

How the bytes are fixed. A message's Message-ID is derived from the incident, kind, version, recipient and the
sender's domain, and its MIME boundary from the Message-ID, so both are the same on every render. The Date header is
the approval time: RFC 5322 §3.6.1 defines it as the moment "the creator of the message indicated that the message
was complete and ready to enter the mail delivery system", which is the approval. So `send` composes every message
with the approval's time and gets, byte for byte, what was approved — the hash approved is the hash sent and the hash
in the disclosure record, with nothing left out of the comparison. The cost: a version sent long after its approval
carries an old Date (mail clients sort by it); the plan warns after a day, and approving again refreshes it.

`send_plan` is what the sender confirms: the approved version's counts per locale, who approved it and when, and
what is already in the outbox. It refuses a version nobody approved, and (with `notices.require_second_person`) a
sender who approved it themselves.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Literal

from pydantic import Field

from breachkit.document import Document
from breachkit.errors import UsageError
from breachkit.incidents.api import normalize_id
from breachkit.incidents.model import Approval, Incident, Status
from breachkit.notices.compose import (
    authority_report_context,
    load_recipients,
    notice_context,
    outgoing,
    require_subject_decision,
)
from breachkit.notices.context import ReportType
from breachkit.notices.coverage import language_report
from breachkit.notices.outbox import State
from breachkit.notices.render import AUTHORITY_FORMATS, AuthorityFormat, render_authority
from breachkit.notices.templates import environment_from_config
from breachkit.session import Session

ApprovalKind = Literal["subject", "authority"]
STALE_DATE = timedelta(days=1)


class ApprovalDocument(Document):
    """`breachkit.approval/1`: what was approved, by whom, when and why, with the hash of every item."""

    SCHEMA = "breachkit.approval/1"

    incident: str
    kind: str  # subject | authority
    version: int
    approval_id: int
    approved_by: str
    approved_at: datetime  # also the Date header of the approved messages
    reason: str
    messages: int  # messages (subject) or formats (authority)
    sha256: str  # of the manifest: "<key>\t<sha256>" per item, sorted
    per_locale: dict[str, int] = Field(default_factory=dict)
    per_kind: dict[str, int] = Field(default_factory=dict)  # breach | compromise | breach_and_compromise
    rejected: int = 0  # recipient rows left out (not approved, not sent)
    skipped: int = 0  # rows nobody writes to (the actor's own accounts)
    formats: dict[str, str] = Field(default_factory=dict)  # authority: report.<fmt> → SHA-256
    files: list[str] = Field(default_factory=list)  # approved copies written (authority)
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, approval: Approval, *, formats: dict[str, str] | None = None, files: Sequence[Path] = (),
           warnings: Sequence[str] = ()) -> ApprovalDocument:
        return cls.create(incident=approval.incident_id, kind=approval.kind, version=approval.version,
                          approval_id=approval.id, approved_by=approval.approved_by, approved_at=approval.approved_at,
                          reason=approval.reason, messages=approval.messages, sha256=approval.sha256,
                          per_locale=dict(approval.summary.get("per_locale", {})),
                          per_kind=dict(approval.summary.get("per_kind", {})),
                          rejected=int(approval.summary.get("rejected", 0)),
                          skipped=int(approval.summary.get("skipped", 0)), formats=dict(formats or {}),
                          files=[str(p) for p in files], warnings=list(warnings))


def approve_notices(session: Session, incident_id: str, *, version: int, reason: str,
                    kind: ApprovalKind = "subject", recipients: Path | None = None,
                    report_type: ReportType = "initial", reference: str | None = None,
                    formats: Sequence[AuthorityFormat] = AUTHORITY_FORMATS, out: Path | None = None,
                    overwrite: bool = False) -> ApprovalDocument:
    """Approve version `version` of the subject notices (rendered exactly as `send_notices` sends them) or of the
    authority report (every format in `formats`; the approved copies written into `out` when given). Recorded
    with the hash of every message or format, who approved it and why."""
    if not reason.strip():
        raise UsageError("an approval needs a reason (it is recorded)", field="reason")
    if version < 1:
        raise UsageError("versions are numbered from 1", field="version")
    store = session.store
    incident = store.get(normalize_id(incident_id))
    now = session.now().replace(microsecond=0)  # the Date header has whole seconds
    if kind == "authority":
        return _approve_authority(session, incident, version, reason, now, report_type, reference, formats, out,
                                  overwrite)
    config = session.config
    decision = require_subject_decision(store, incident)
    queued = sum(store.outbox.version_states(incident.id, "subject", version).values())
    if queued:
        raise UsageError(f"{incident.id}: version {version} of the subject notices is already in the outbox "
                         f"({queued} messages): a changed notice is a new version",
                         field="version", hint=f"approve --version {version + 1}")
    env = environment_from_config(config)
    people = load_recipients(store, incident, env, recipients)
    per_locale: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    context = notice_context(store, config, incident)
    languages = language_report(people, context, env)
    # (recipient, hash) pairs spooled to an unnamed 0600 file while rendering, so that neither the set nor the
    # rendering sits in memory or inside the store's write transaction; the store sorts them into the manifest
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n", dir=session.workspace.tmp) as spool:
        count = 0
        for message in outgoing(incident, people, context, env, config, version=version, reason=decision, now=now):
            spool.write(f"{message.recipient}\t{message.sha256}\n")
            count += 1
            per_locale[message.locale] += 1
            per_kind[message.notice_kind] += 1
        if not count:
            raise UsageError(f"{incident.id}: there is no one to write to (no valid recipient)")
        spool.seek(0)
        rejected = len({p.location.line for p in people.rejected})
        approval = store.approvals.add(incident.id, kind="subject", version=version, hashes=_pairs(spool),
                                       summary={"per_locale": dict(sorted(per_locale.items())),
                                                "per_kind": dict(sorted(per_kind.items())), "rejected": rejected,
                                                "skipped": len(people.skipped),
                                                "recipients": str(recipients) if recipients else "subject list",
                                                "decision": decision},
                                       actor=session.actor, now=now, reason=reason)
    # the approver sees who would read another language or miss the incident's own text (send checks it again)
    return ApprovalDocument.of(approval, warnings=[*config.notices.sender_warnings(),
                                                   *(f"language: {line}" for line in languages.lines())])


def _approve_authority(session: Session, incident: Incident, version: int, reason: str, now: datetime,
                       report_type: ReportType, reference: str | None, formats: Sequence[AuthorityFormat],
                       out: Path | None, overwrite: bool) -> ApprovalDocument:
    from breachkit.notices.render import write_rendered

    store, config = session.store, session.config
    ctx = authority_report_context(store, config, incident, now, report_type=report_type,
                                   earlier_reference=reference)
    env = environment_from_config(config)
    rendered: dict[str, bytes] = {}
    for fmt in formats or AUTHORITY_FORMATS:
        content = render_authority(ctx, env, fmt)
        rendered[f"report.{fmt}"] = content if isinstance(content, bytes) else content.encode("utf-8")
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in rendered.items()}
    files = write_rendered(rendered, out, overwrite=overwrite) if out is not None else []
    approval = store.approvals.add(incident.id, kind="authority", version=version, hashes=hashes,
                                   summary={"report_type": report_type, "reference": reference,
                                            "formats": sorted(hashes)},
                                   actor=session.actor, now=now, reason=reason)
    return ApprovalDocument.of(approval, formats=hashes, files=files)


class SendPlanDocument(Document):
    """`breachkit.sendplan/1`: what `notices send` is about to do, for the sender to confirm."""

    SCHEMA = "breachkit.sendplan/1"

    incident: str
    kind: str
    version: int
    approval_id: int
    approved_by: str
    approved_at: datetime
    approval_reason: str
    messages: int
    per_locale: dict[str, int]
    sender: str
    per_kind: dict[str, int] = Field(default_factory=dict)  # breach | compromise | breach_and_compromise
    outbox: dict[str, int]  # this version's messages already in the outbox, by state
    to_send: int  # not yet sent (queued now, or waiting from an earlier run)
    warnings: list[str] = Field(default_factory=list)


def latest_approval(session: Session, incident: Incident, version: int) -> Approval:
    approval = session.store.approvals.latest(incident.id, "subject", version)
    if approval is None:
        raise UsageError(f"{incident.id}: version {version} of the subject notices is not approved: nothing is sent "
                         "without an approval", field="version",
                         hint=f"review them (breachkit notices render {incident.id} --kind subject --out DIR), then "
                              f"breachkit notices approve {incident.id} --version {version} --reason …")
    return approval


def send_plan(session: Session, incident_id: str, *, version: int = 1) -> SendPlanDocument:
    """The approved version about to be sent, with its counts; refuses an unapproved version, a missing sender, and
    the approver sending it when `notices.require_second_person` is set."""
    store, config = session.store, session.config
    incident = store.get(normalize_id(incident_id))
    if incident.status is Status.CLOSED:
        raise UsageError(f"{incident.id} is closed: sending notices is refused (a closed case only takes notes)",
                         hint=f"reopen it first: breachkit incident reopen {incident.id} --reason …")
    sender = config.notices.smtp.require_sender()
    approval = latest_approval(session, incident, version)
    if config.notices.require_second_person and approval.approved_by.strip().lower() == session.actor.strip().lower():
        raise UsageError(f"four eyes: {session.actor} approved version {version} and may not send it too "
                         "(notices.require_second_person)", hint="another person sends it, or approves it again")
    states = store.outbox.version_states(incident.id, "subject", version)  # counts only: no message bytes read
    done = states.get(State.SENT.value, 0) + states.get(State.CANCELLED.value, 0)
    warnings = config.notices.sender_warnings()
    age = session.now() - approval.approved_at
    if age > STALE_DATE and not states:
        warnings.append(f"approved {age.days} d ago: every message's Date header will say "
                        f"{approval.approved_at.isoformat()} (approve again to refresh it)")
    return SendPlanDocument.create(
        incident=incident.id, kind="subject", version=version, approval_id=approval.id,
        approved_by=approval.approved_by, approved_at=approval.approved_at, approval_reason=approval.reason,
        messages=approval.messages, per_locale=dict(approval.summary.get("per_locale", {})), sender=sender,
        per_kind=dict(approval.summary.get("per_kind", {})),
        outbox=dict(sorted(states.items())), to_send=approval.messages - done, warnings=warnings)


def _pairs(spool: IO[str]) -> Iterator[tuple[str, str]]:
    for line in spool:
        key, _, value = line.rstrip("\n").partition("\t")
        yield key, value
