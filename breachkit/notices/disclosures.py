"""The disclosure record: what was disclosed to whom, when, why, by whom — and the exact bytes, to prove it.

Built from the append-only audit log (the database refuses to change or delete its rows), one row per disclosure,
in time order: every subject notice the SMTP server accepted (recipient, version, time, server reply, the recorded
decision as its reason, the SHA-256 of the bytes sent, the approval those bytes match), every filing with an
authority or public communication (authority, regime stage, kind, reference, time, reason, the hash of the document
kept), and every export, review copy and list view of personal data (who, why, where to).

`disclosure_content` gives the exact bytes of one disclosure — the .eml as sent (from the outbox), the document
filed — after checking them against the hash recorded when they left; exports are not kept (hash the file you
hold). Producing the record, and any content, is itself audited.

Formats: a `breachkit.disclosures/1` document (JSON), CSV (formula-safe), Markdown and PDF; each states how to
verify a hash (`sha256sum`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fpdf import FPDF
from pydantic import BaseModel, ConfigDict, Field

from breachkit.document import Document
from breachkit.errors import ConflictError, NotFoundError, UsageError
from breachkit.incidents.api import normalize_id
from breachkit.incidents.model import Approval, Filing, FilingKind
from breachkit.incidents.reports_api import deliver
from breachkit.incidents.store import IncidentStore
from breachkit.notices.authority_pdf import add_unicode_fonts, clean
from breachkit.safecsv import neutralise
from breachkit.session import Session

RecordFormat = Literal["csv", "json", "md", "pdf"]
RECORD_FORMATS: tuple[RecordFormat, ...] = ("csv", "json", "md", "pdf")
VERIFY = ("Each sha256 is the SHA-256 of the exact bytes disclosed. To verify one, write its content and hash it: "
          "`breachkit report disclosures --content <id> --out <file>` then `sha256sum <file>` (or "
          "`breachkit report disclosures --content <id> | sha256sum`); the hash printed must equal the row's sha256. "
          "Copies of exports are not kept: hash the file you hold.")
_ID = re.compile(r"^[Aa]?(\d+)$")


class DisclosureItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # "A<audit row>": give it to --content
    incident: str | None
    at: datetime  # when it was disclosed (a filing: when it was filed)
    recorded_at: datetime  # when breachkit recorded it
    kind: str  # subject_notice | authority_filing | public_communication | export | render | list_view | …
    to: str  # the address, the authority or channel, the file (or stdout / screen)
    recipient_id: str | None = None  # the data subject's id (notices)
    channel: str  # email | filing | file | screen
    by: str  # who
    reason: str
    what: str = ""  # the document or data disclosed, in words
    version: int | None = None
    regime: str | None = None
    stage: str | None = None
    filing_kind: str | None = None
    reference: str | None = None
    message_id: str | None = None
    reply: str | None = None  # the SMTP server's reply
    sha256: str | None = None
    content_kept: bool = False  # `--content <id>` gives the exact bytes
    approval: str | None = None  # the approval these bytes match
    flags: list[str] = Field(default_factory=list)  # what an auditor should know (no document kept, not approved…)
    verify: str | None = None  # the command that checks the hash


class DisclosuresDocument(Document):
    """`breachkit.disclosures/1`: the disclosure record of one incident, or of all within a period."""

    SCHEMA = "breachkit.disclosures/1"

    at: datetime
    incident: str | None
    since: datetime | None = None
    until: datetime | None = None
    produced_by: str
    verify: str
    counts: dict[str, int]  # per kind
    disclosures: list[DisclosureItem]


# The audit actions that are disclosures (or views of personal data); the others (user changes, overrides of the
# pre-filing check) are in the audit log and the timeline, not in this record.
_KINDS = {"send": "notice", "filing": "authority_filing", "export": "export", "render": "render", "view": "list_view"}


class _Lookup:
    """Filings, documents and approval manifests of the incidents the record covers, each read once."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store
        self._filings: dict[int, Filing] | None = None
        self._approvals: dict[str, list[Approval]] = {}
        self._hashes: dict[int, set[str]] = {}

    def filing(self, record_id: int) -> Filing | None:
        if self._filings is None:
            self._filings = dict(self.store.filing_records())
        return self._filings.get(record_id)

    def approval_of(self, incident_id: str, kind: str, sha256: str | None) -> Approval | None:
        if sha256 is None:
            return None
        if incident_id not in self._approvals:
            self._approvals[incident_id] = self.store.approvals.list(incident_id)
        for approval in reversed(self._approvals[incident_id]):
            if approval.kind != kind:
                continue
            if approval.id not in self._hashes:
                self._hashes[approval.id] = set(self.store.approvals.hashes(approval.id).values())
            if sha256 in self._hashes[approval.id]:
                return approval
        return None


def _approved(approval: Approval) -> str:
    return (f"approval {approval.id}: {approval.kind} version {approval.version} approved by {approval.approved_by} "
            f"at {_iso(approval.approved_at)}")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _item(row: Mapping[str, Any], lookup: _Lookup) -> DisclosureItem:
    detail: dict[str, Any] = dict(row["detail"] or {})
    action, incident = row["action"], row["incident_id"]
    base: dict[str, Any] = {"id": f"A{row['id']}", "incident": incident, "at": row["at"], "recorded_at": row["at"],
                            "to": row["target"], "by": row["actor"], "reason": row["reason"], "sha256": row["sha256"],
                            "kind": _KINDS.get(action, action), "channel": "file", "flags": []}
    if action == "send":
        kind = str(detail.get("kind", "subject"))
        base |= {"kind": f"{kind}_notice", "channel": "email", "recipient_id": detail.get("recipient"),
                 "version": detail.get("version"), "message_id": detail.get("message_id"),
                 "reply": detail.get("reply"), "content_kept": True, "what": f"{kind} notice (email)"}
        if detail.get("confirmed_by"):
            base["flags"].append(f"no server reply: {detail['confirmed_by']} confirmed it was delivered")
        approval = lookup.approval_of(incident, kind, row["sha256"]) if incident else None
        if approval is not None:
            base["approval"] = _approved(approval)
        else:
            base["flags"].append("the bytes sent match no approval")
    elif action == "filing":
        filing = lookup.filing(int(detail["record_id"])) if "record_id" in detail else None
        base |= {"channel": "filing", "reference": detail.get("reference"), "what": "report to the authority"}
        if filing is not None:
            public = filing.kind is FilingKind.PUBLIC_COMMUNICATION
            base |= {"at": filing.filed_at, "regime": filing.regime, "stage": filing.stage,
                     "filing_kind": filing.kind.value, "reference": filing.reference,
                     "to": filing.recipient or filing.regime, "sha256": filing.content_sha256,
                     "content_kept": filing.content_sha256 is not None,
                     "kind": "public_communication" if public else "authority_filing",
                     "what": (f"document {filing.document_name}" if filing.document_name else "no document")}
            if filing.content_sha256 is None:
                base["flags"].append("no document kept: what was filed cannot be shown or verified")
            approval = lookup.approval_of(incident, "authority", filing.content_sha256) if incident else None
            if approval is not None:
                base["approval"] = _approved(approval)
            elif filing.content_sha256 is not None and not public:
                base["flags"].append("the document filed is not an approved authority report")
        else:
            base["flags"].append("no document kept (filed before documents were kept)")
    else:
        what = detail.get("what") or ("review copy" if action == "render" else action)
        fmt = f" ({detail['format']})" if detail.get("format") else ""
        base |= {"what": f"{what}{fmt}", "channel": "screen" if action == "view" else "file"}
        if base["sha256"]:
            base["flags"].append("copy not kept: hash the file you hold")
    item = DisclosureItem(**base)
    if item.content_kept:
        item = item.model_copy(update={"verify": f"breachkit report disclosures --content {item.id} | sha256sum"})
    return item


def build_record(store: IncidentStore, incident_id: str | None, *, since: datetime | None, until: datetime | None,
                 now: datetime, actor: str) -> DisclosuresDocument:
    """The record of one incident (or all), disclosures at or after `since` and before `until`, in time order."""
    lookup = _Lookup(store)
    items = [_item(r, lookup) for r in store.audit_log(incident_id) if r["action"] in _KINDS]
    items = [i for i in items if (since is None or i.at >= since) and (until is None or i.at < until)]
    items.sort(key=lambda i: (i.at, int(i.id[1:])))
    return DisclosuresDocument.create(at=now, incident=incident_id, since=since, until=until, produced_by=actor,
                                      verify=VERIFY, counts=dict(sorted(Counter(i.kind for i in items).items())),
                                      disclosures=items)


# --- formats ---------------------------------------------------------------------------------------------------

COLUMNS = ("id", "at", "incident", "kind", "to", "recipient_id", "channel", "by", "reason", "what", "version",
           "regime", "stage", "filing_kind", "reference", "message_id", "reply", "sha256", "content_kept",
           "approval", "flags", "verify", "recorded_at")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def record_csv(doc: DisclosuresDocument) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in doc.disclosures:
        data = item.model_dump()
        writer.writerow([neutralise(_cell(data[c])) for c in COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def record_md(doc: DisclosuresDocument) -> bytes:
    scope = f"incident {doc.incident}" if doc.incident else "all incidents"
    period = (f" from {_iso(doc.since)}" if doc.since else "") + (f" until {_iso(doc.until)}" if doc.until else "")
    lines = [f"# Disclosure record: {scope}{period}", "",
             f"Produced {_iso(doc.at)} by {_md_escape(doc.produced_by)}. {len(doc.disclosures)} disclosures: "
             + ", ".join(f"{k} {v}" for k, v in doc.counts.items()) + ".", "", f"**Verifying.** {doc.verify}", "",
             "| id | when (UTC) | kind | to | by | reason | what | sha256 | approval | flags |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i in doc.disclosures:
        extra = " · ".join(x for x in (f"v{i.version}" if i.version else "", i.reference or "", i.reply or "") if x)
        cells = [i.id, _iso(i.at), i.kind, i.to + (f" ({i.recipient_id})" if i.recipient_id else ""), i.by, i.reason,
                 i.what + (f" — {extra}" if extra else ""), i.sha256 or "", i.approval or "", "; ".join(i.flags)]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return ("\n".join(lines) + "\n").encode("utf-8")


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="L", format="A4")
        self.doc_title = clean(title)
        self.set_auto_page_break(auto=True, margin=14)
        self.set_margins(12, 12, 12)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("body", size=7)
        self.cell(0, 4, f"{self.doc_title} - page {self.page_no()}/{{nb}}", align="C")


def _facts(i: DisclosureItem) -> str:
    facts = [f"by {i.by}", f"reason: {i.reason}", i.what,
             *(x for x in (f"version {i.version}" if i.version else "", f"{i.regime}.{i.stage} {i.filing_kind}"
                           if i.regime else "", f"reference {i.reference}" if i.reference else "",
                           f"server: {i.reply}" if i.reply else "") if x),
             f"sha256 {i.sha256}" if i.sha256 else "no hash", *([i.approval] if i.approval else []),
             *(f"NOTE: {f}" for f in i.flags)]
    return " | ".join(f for f in facts if f)


def _heading(i: DisclosureItem) -> str:
    return f"{i.id}  {_iso(i.at)}  {i.kind}  to {i.to}" + (f" ({i.recipient_id})" if i.recipient_id else "")


def record_pdf(doc: DisclosuresDocument) -> bytes:
    """The record as a PDF, every name as written (Unicode fonts, as the authority report); characters no font
    has are listed at the end."""
    scope = f"incident {doc.incident}" if doc.incident else "all incidents"
    title = f"Disclosure record: {scope}"
    intro = (f"Produced {_iso(doc.at)} by {doc.produced_by}. {len(doc.disclosures)} disclosures: "
             + ", ".join(f"{k} {v}" for k, v in doc.counts.items()) + ".")
    pdf = _Pdf(title)
    missing = add_unicode_fonts(pdf, [title, intro, doc.verify, *(t for i in doc.disclosures
                                                                  for t in (_heading(i), _facts(i)))])
    pdf.set_creation_date(doc.at)
    pdf.set_title(clean(title))
    pdf.add_page()
    pdf.set_font("body", "B", 14)
    pdf.multi_cell(0, 7, clean(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", size=9)
    pdf.multi_cell(0, 5, clean(intro), new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, clean(doc.verify), new_x="LMARGIN", new_y="NEXT")
    for i in doc.disclosures:
        pdf.ln(1.5)
        pdf.set_font("body", "B", 8)
        pdf.multi_cell(0, 4, clean(_heading(i)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("body", size=7.5)
        pdf.multi_cell(0, 3.6, clean(_facts(i)), new_x="LMARGIN", new_y="NEXT")
    if missing:
        pdf.ln(3)
        pdf.set_font("body", "B", 9)
        shown = " ".join(f"U+{c:04X}" for c in sorted(missing)[:40]) + (" …" if len(missing) > 40 else "")
        pdf.multi_cell(0, 5, f"Characters this PDF cannot show (the CSV and JSON record have them): {shown}",
                       new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render_record(doc: DisclosuresDocument, fmt: RecordFormat) -> bytes:
    if fmt == "csv":
        return record_csv(doc)
    if fmt == "json":
        return (doc.to_json() + "\n").encode("utf-8")
    if fmt == "md":
        return record_md(doc)
    if fmt == "pdf":
        return record_pdf(doc)
    raise UsageError(f"unknown format {fmt!r} (known: {', '.join(RECORD_FORMATS)})", field="format")


# --- use cases -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordExport:
    document: DisclosuresDocument
    data: bytes  # the record in the format asked for (what was written, or is to be shown)
    path: Path | None
    sha256: str


def disclosure_record(session: Session, incident_id: str | None = None, *, since: datetime | None = None,
                      until: datetime | None = None, fmt: RecordFormat | None = None, out: Path | None = None,
                      reason: str = "disclosure record") -> RecordExport:
    """The disclosure record of one incident (or of all, within [since, until)): the typed document, and with
    `fmt` its rendering, written to `out` (0600) or returned for stdout. Audited: an export (with its hash) when
    rendered, a view when only the document is taken (e.g. to show a table)."""
    store, now = session.store, session.now()
    iid = normalize_id(incident_id) if incident_id else None
    if iid is not None:
        store.get(iid)
    if since is not None and until is not None and until <= since:
        raise UsageError("--until must be after --since", field="until")
    if fmt == "pdf" and out is None:
        raise UsageError("a PDF needs an output file", field="out")
    doc = build_record(store, iid, since=since, until=until, now=now, actor=session.actor)
    detail = {"what": "disclosures", "format": fmt or "view", "rows": len(doc.disclosures),
              "since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    if fmt is None:
        store.audit("view", "screen", actor=session.actor, at=now, incident_id=iid, reason=reason, detail=detail)
        return RecordExport(doc, b"", None, "")
    data = render_record(doc, fmt)
    digest = deliver(data, out)
    store.audit("export", str(out) if out else "stdout", actor=session.actor, at=now, incident_id=iid,
                sha256=digest, reason=reason, detail=detail)
    return RecordExport(doc, data, out, digest)


@dataclass(frozen=True)
class DisclosureContent:
    id: str
    name: str  # a file name for it (.eml for a message, the document's own name for a filing)
    data: bytes
    sha256: str  # recorded when it was disclosed (and checked against the bytes)
    path: Path | None


def disclosure_content(session: Session, disclosure_id: str, *, out: Path | None = None,
                       reason: str = "disclosure content") -> DisclosureContent:
    """The exact bytes of one disclosure (a message as sent, a document as filed), checked against the hash recorded
    when it left; written to `out` (0600) or returned for stdout. Audited."""
    match = _ID.match(disclosure_id.strip())
    if match is None:
        raise UsageError(f"{disclosure_id!r} is not a disclosure id (e.g. A123, the record's id column)",
                         field="content")
    store, now = session.store, session.now()
    row = store.audit_row(int(match.group(1)))
    if row is None:
        raise NotFoundError(f"no disclosure A{match.group(1)}", hint="breachkit report disclosures lists them")
    detail = dict(row["detail"] or {})
    name, data = _content(store, row, detail)
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise ConflictError(f"A{row['id']}: the bytes kept do not match the SHA-256 recorded when it was disclosed",
                            hint="the store was changed outside breachkit: keep it as evidence and investigate")
    digest = deliver(data, out)
    store.audit("export", str(out) if out else "stdout", actor=session.actor, at=now, incident_id=row["incident_id"],
                sha256=digest, reason=reason, detail={"what": "disclosure content", "disclosure": f"A{row['id']}"})
    return DisclosureContent(f"A{row['id']}", name, data, digest, out)


def _content(store: IncidentStore, row: Mapping[str, Any], detail: Mapping[str, Any]) -> tuple[str, bytes]:
    iid = row["incident_id"]
    if row["action"] == "send" and iid and detail.get("recipient") is not None and detail.get("version") is not None:
        message = store.outbox.message(iid, str(detail["recipient"]), str(detail.get("kind", "subject")),
                                       int(detail["version"]))
        if message is not None:
            return f"A{row['id']}.eml", message.message
    if row["action"] == "filing" and "record_id" in detail:
        document = store.filed_document(int(detail["record_id"]))
        if document is not None:
            return document[0], document[1]
        raise UsageError(f"A{row['id']}: no document was kept with this filing (it was recorded without one)")
    raise UsageError(f"A{row['id']} ({row['action']}): its content is not kept — only messages sent and documents "
                     "filed are; hash the file you hold and compare it with the record's sha256")
