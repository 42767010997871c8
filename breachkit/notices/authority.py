"""The authority report as data (JSON) and as a PDF, both straight from the `AuthorityContext`, plus the
Art. 33(3) check that a rendered report shows every required item.

JSON document (``authority_document``; keys stable, in this order, times ISO 8601 UTC with ``Z``)::

    schema                      "breachkit.authority-report/1"
    report                      type (initial | follow_up | final), earlier_reference, incident_id, title,
                                generated_at, regimes[]
    controller                  name, address, role (controller | joint_controller | processor)
    reporter                    name, email
    contact_point               name, email, phone, address                 (the DPO; Art. 33(3)(b))
    timing                      occurred {from, until, ongoing}, containment (ongoing | contained | ended),
                                detected_at, aware_at, aware_justification, processor_notified_at, how_discovered,
                                deadline {regime, due_at, status}, late, delay_reasons, elapsed_hours
    nature                      description, cause, malicious (true | false | null), confidentiality, integrity,
                                availability, systems[]                     (Art. 33(3)(a))
    personal_data               categories[{code, label}] (declared and found), special_categories[{code, label}],
                                people_per_category[{code, label, people}], found_in (subject list version | null),
                                categories_agree, declared_and_found[{code, label, declared, found (null: no
                                list), people}]
    data_subjects               categories[{code, label}], children, vulnerable,
                                number {value, precision}, records {value, precision}   (exact | approximate
                                | unknown), minors, compromised_accounts, compromised_requests (accounts used by
                                someone else, counted apart: not people affected, their requests not records)
    consequences                likely                                      (Art. 33(3)(c))
    severity                    null | {method, score, band, dpc, dpc_basis, ei,
                                cb {confidentiality, integrity, availability, malicious}, notes, assessed_by,
                                assessed_at}
    measures                    taken, proposed                             (Art. 33(3)(d))
    communication_to_subjects   status (informed | planned | not_informed | undecided), informed_at, channel,
                                reasons
    cross_border                cross_border, lead_authority, countries[], people_per_country[{country, people}]
    other_bodies                [{body, regime, stage, filed_at, reference}]
    other_regimes               [{id, name, authority, countries[], people}]   (e.g. revFADP for people in CH)
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any, Literal

from fpdf import FPDF

from breachkit.notices.context import AuthorityContext, Count, Label, Precision
from breachkit.notices.formatting import format_datetime, format_duration, format_number

SCHEMA = "breachkit.authority-report/1"
ART33_ITEMS = {
    "a": "nature of the breach, categories and approximate numbers of data subjects and records",
    "b": "name and contact details of the data protection officer or other contact point",
    "c": "likely consequences",
    "d": "measures taken or proposed, including mitigation",
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _labels(labels: tuple[Label, ...]) -> list[dict[str, str]]:
    return [{"code": x.code, "label": x.label} for x in labels]


def _count(count: Count) -> dict[str, Any]:
    return {"value": count.value, "precision": count.precision.value}


def authority_document(ctx: AuthorityContext) -> dict[str, Any]:
    """The report as nested plain data (the structure documented in this module's docstring)."""
    r, p, t, n, s, sev = ctx.report, ctx.parties, ctx.timing, ctx.nature, ctx.subjects, ctx.severity
    return {
        "schema": SCHEMA,
        "report": {"type": r.type, "earlier_reference": r.earlier_reference, "incident_id": r.incident_id,
                   "title": r.title, "generated_at": _iso(r.generated_at), "regimes": list(r.regimes)},
        "controller": {"name": p.controller.name, "address": p.controller.address, "role": p.role},
        "reporter": {"name": p.reporter.name, "email": p.reporter.email},
        "contact_point": {"name": p.dpo.name, "email": p.dpo.email, "phone": p.dpo.phone, "address": p.dpo.address},
        "timing": {
            "occurred": {"from": _iso(t.occurred_at), "until": _iso(t.occurred_until), "ongoing": t.ongoing},
            "containment": t.containment,
            "detected_at": _iso(t.detected_at), "aware_at": _iso(t.aware_at),
            "aware_justification": t.aware_justification, "processor_notified_at": _iso(t.processor_notified_at),
            "how_discovered": t.how_discovered,
            "deadline": {"regime": "gdpr-33", "due_at": _iso(t.due_at), "status": t.deadline_status},
            "late": t.late, "delay_reasons": t.delay_reasons,
            "elapsed_hours": round(t.elapsed.total_seconds() / 3600, 2)},
        "nature": {"description": n.description, "cause": n.cause, "malicious": n.malicious,
                   "confidentiality": n.confidentiality, "integrity": n.integrity, "availability": n.availability,
                   "systems": list(n.systems)},
        "personal_data": {"categories": _labels(ctx.data.categories),
                          "special_categories": _labels(ctx.data.special_categories),
                          "people_per_category": [{"code": c.category.code, "label": c.category.label,
                                                   "people": c.people} for c in ctx.data.per_category],
                          "found_in": ctx.data.found_in, "categories_agree": ctx.data.agree,
                          "declared_and_found": [{"code": r.category.code, "label": r.category.label,
                                                  "declared": r.declared, "found": r.found, "people": r.people}
                                                 for r in ctx.data.rows]},
        "data_subjects": {"categories": _labels(s.categories), "children": s.children, "vulnerable": s.vulnerable,
                          "number": _count(s.people), "records": _count(s.records), "minors": s.minors,
                          "compromised_accounts": s.compromised_accounts,
                          "compromised_requests": s.compromised_requests},
        "consequences": {"likely": ctx.consequences},
        "severity": None if sev is None else {
            "method": sev.method, "score": sev.score, "band": sev.band, "dpc": sev.dpc, "dpc_basis": sev.dpc_basis,
            "ei": sev.ei, "cb": {"confidentiality": sev.cb_confidentiality, "integrity": sev.cb_integrity,
                                 "availability": sev.cb_availability, "malicious": sev.cb_malicious},
            "notes": sev.notes, "assessed_by": sev.assessed_by, "assessed_at": _iso(sev.assessed_at)},
        "measures": {"taken": ctx.measures.taken, "proposed": ctx.measures.proposed},
        "communication_to_subjects": {"status": ctx.informed.status.value,
                                      "informed_at": _iso(ctx.informed.informed_at),
                                      "channel": ctx.informed.channel, "reasons": ctx.informed.reasons},
        "cross_border": {"cross_border": ctx.cross_border.cross_border,
                         "lead_authority": ctx.cross_border.lead_authority,
                         "countries": list(ctx.cross_border.countries),
                         "people_per_country": [{"country": c.country, "people": c.people}
                                                for c in ctx.cross_border.per_country]},
        "other_bodies": [{"body": b.body, "regime": b.regime, "stage": b.stage, "filed_at": _iso(b.filed_at),
                          "reference": b.reference} for b in ctx.other_bodies],
        "other_regimes": [{"id": r.id, "name": r.name, "authority": r.authority, "countries": list(r.countries),
                           "people": r.people} for r in ctx.other_regimes],
    }


def authority_json(ctx: AuthorityContext) -> str:
    return json.dumps(authority_document(ctx), ensure_ascii=False, indent=2) + "\n"


# --- the Art. 33(3) check ------------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return " ".join(text.split())


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def _plain(rendered: str, fmt: str) -> str:
    if fmt == "html":
        return _norm(html.unescape(re.sub(r"<[^>]*>", " ", rendered)))
    if fmt == "json":
        return _norm("\n".join(_strings(json.loads(rendered))))
    return _norm(rendered)


def art33_requirements(ctx: AuthorityContext) -> dict[str, list[tuple[str, ...]]]:
    """Per Art. 33(3) item, the values a report must show (each a tuple of acceptable spellings)."""
    def texts(*values: str) -> list[tuple[str, ...]]:
        return [(_norm(v),) for v in values if v.strip()]

    def number(count: Count) -> list[tuple[str, ...]]:
        if count.value is None or count.precision is Precision.UNKNOWN:
            return []
        return [(format_number(count.value, ctx.locale), str(count.value))]

    subjects = ctx.subjects
    return {
        "a": [*texts(ctx.nature.description, ctx.nature.cause), *texts(*(x.label for x in ctx.data.categories)),
              *texts(*(x.label for x in subjects.categories)), *number(subjects.people), *number(subjects.records)],
        "b": texts(ctx.parties.dpo.name, ctx.parties.dpo.email, ctx.parties.dpo.phone, ctx.parties.dpo.address),
        "c": texts(ctx.consequences),
        "d": texts(ctx.measures.taken, ctx.measures.proposed),
    }


def _shows(text: str, spellings: tuple[str, ...]) -> bool:
    for spelling in spellings:
        if spelling.replace(",", "").replace(".", "").replace("\u202f", "").isdigit():
            if re.search(rf"(?<![\d.,]){re.escape(spelling)}(?![\d]|[.,]\d)", text):
                return True
        elif spelling in text:
            return True
    return False


def missing_art33_items(rendered: str, ctx: AuthorityContext, fmt: Literal["md", "html", "json", "text"] = "md",
                        ) -> list[str]:
    """The Art. 33(3) items ("a"–"d") whose values from `ctx` do not all appear in `rendered` (a report
    rendered from `ctx`; HTML is read without tags and entities, JSON by its values)."""
    text = _plain(rendered, fmt)
    return [item for item, needed in art33_requirements(ctx).items()
            if not all(_shows(text, spellings) for spellings in needed)]


def content_gaps(ctx: AuthorityContext) -> list[str]:
    """Fields the report's content lacks (the template then says "to follow"; Art. 33(4) allows phases)."""
    gaps = {"nature.description": not (ctx.nature.description.strip() or ctx.nature.cause.strip()),
            "personal_data.categories": not ctx.data.categories,
            "data_subjects.categories": not ctx.subjects.categories,
            "data_subjects.number": ctx.subjects.people.precision is Precision.UNKNOWN,
            "contact_point.email": not ctx.parties.dpo.email.strip(),
            "consequences": not ctx.consequences.strip(),
            "measures.taken": not ctx.measures.taken.strip()}
    return [name for name, missing in gaps.items() if missing]


# --- PDF -----------------------------------------------------------------------------------------------------

def _declared_found(declared: bool, found: bool | None, people: int | None) -> str:
    said = "declared" if declared else "not declared"
    if found is None:
        return said + "; no subject list yet"
    return said + ("; found for " + format_number(people or 0) + " people" if found else "; not found in the logs")


_LATIN1_MAP = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'",
                             "\u201a": ",", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2026": "...",
                             "\u2022": "-", "\u20ac": "EUR", "\u2192": "->", "\u202f": " ", "\u2009": " ",
                             "\u2264": "<=", "\u2265": ">=", "\u0141": "L", "\u0142": "l",
                             "\u0110": "D", "\u0111": "d", "\u0152": "OE", "\u0153": "oe"})


def latin1(text: str) -> str:
    """`text` in Latin-1 for the PDF core fonts: typographic characters mapped, accents outside Latin-1
    dropped (ł → l is not decomposable: it becomes ?), control characters removed; never raises."""
    out: list[str] = []
    for char in text.translate(_LATIN1_MAP):
        if char == "\n" or (" " <= char <= "~") or ("\xa0" <= char <= "\xff"):
            out.append(char)
        elif char == "\t":
            out.append(" ")
        elif unicodedata.category(char)[0] == "C":
            continue
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if "\x20" <= c <= "\xff"
                           and not unicodedata.combining(c))
            out.append(base or "?")
    return "".join(out)


class _Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.report_title = latin1(title)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, f"{self.report_title} - page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 12)
        self.multi_cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def field(self, label: str, value: str) -> None:
        self.set_font("Helvetica", "B", 10)
        self.write(5, latin1(label) + ": ")
        self.set_font("Helvetica", size=10)
        self.write(5, latin1(value or "-"))
        self.ln(6)


def authority_pdf(ctx: AuthorityContext) -> bytes:
    """The report as a PDF (fpdf2 core fonts; text outside Latin-1 is mapped, see `latin1`)."""
    doc = authority_document(ctx)
    zone, t = ctx.zone, ctx.timing

    def when(value: datetime | None) -> str:
        return format_datetime(value, zone) + f" ({_iso(value)})" if value else "-"

    def yes(value: bool | None) -> str:
        return "unknown" if value is None else "yes" if value else "no"

    def count(c: Count) -> str:
        return "unknown" if c.value is None else f"{format_number(c.value)} ({c.precision.value})"

    kind = {"initial": "Initial notification", "follow_up": "Follow-up notification", "final": "Final report"}
    pdf = _Report(f"{ctx.report.incident_id} - breach notification")
    pdf.set_creation_date(ctx.report.generated_at)
    pdf.set_title(latin1(f"Personal data breach notification {ctx.report.incident_id}"))
    pdf.set_author(latin1(ctx.parties.controller.name))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, latin1(f"Personal data breach notification (Art. 33 GDPR): {ctx.report.title}"),
                   new_x="LMARGIN", new_y="NEXT")
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("1. Report", [("Type", kind[ctx.report.type]), ("Earlier reference", ctx.report.earlier_reference or "-"),
                       ("Incident", ctx.report.incident_id), ("Generated", when(ctx.report.generated_at))]),
        ("2. Controller, reporter and contact point", [
            ("Controller", ctx.parties.controller.name), ("Address", ctx.parties.controller.address),
            ("Role", ctx.parties.role), ("Reporter", f"{ctx.parties.reporter.name} {ctx.parties.reporter.email}"),
            ("DPO / contact point", " | ".join(x for x in (ctx.parties.dpo.name, ctx.parties.dpo.email,
                                                              ctx.parties.dpo.phone, ctx.parties.dpo.address) if x))]),
        ("3. Timing", [
            ("Occurred", when(t.occurred_at) + (f" until {when(t.occurred_until)}" if t.occurred_until else "")),
            ("Ongoing", yes(t.ongoing)), ("State", t.containment), ("Detected", when(t.detected_at)),
            ("Aware", when(t.aware_at)),
            ("Why aware then", t.aware_justification), ("Processor notified us", when(t.processor_notified_at)),
            ("How discovered", t.how_discovered),
            ("Deadline (72 h)", f"{when(t.due_at)}, {t.deadline_status or '-'}"),
            ("Time since awareness", format_duration(t.elapsed)),
            *([("Reasons for the delay", t.delay_reasons)] if t.late or t.delay_reasons else [])]),
        ("4. Nature of the breach", [
            ("Description", ctx.nature.description), ("Cause", ctx.nature.cause),
            ("Malicious", yes(ctx.nature.malicious)), ("Confidentiality", yes(ctx.nature.confidentiality)),
            ("Integrity", yes(ctx.nature.integrity)), ("Availability", yes(ctx.nature.availability)),
            ("Systems", ", ".join(ctx.nature.systems))]),
        ("5. Personal data concerned", [
            ("Categories", "; ".join(x.label for x in ctx.data.categories)),
            ("Special categories", "; ".join(x.label for x in ctx.data.special_categories) or "none"),
            *[(r.category.label, _declared_found(r.declared, r.found, r.people)) for r in ctx.data.rows]]),
        ("6. Data subjects", [
            ("Categories", "; ".join(x.label for x in ctx.subjects.categories)),
            ("Children", yes(ctx.subjects.children)), ("Vulnerable persons", yes(ctx.subjects.vulnerable)),
            ("People whose data was exposed", count(ctx.subjects.people)), ("Records", count(ctx.subjects.records)),
            *([("Minors", format_number(ctx.subjects.minors))] if ctx.subjects.minors is not None else []),
            *([("Accounts compromised (counted apart)",
                f"{format_number(ctx.subjects.compromised_accounts)}"
                f" ({format_number(ctx.subjects.compromised_requests or 0)} requests made with them)")]
              if ctx.subjects.compromised_accounts else []),
            ]),
        ("7. Likely consequences", [("Consequences", ctx.consequences or "to follow")]),
        ("8. Severity assessment", [] if ctx.severity is None else [
            ("Method", ctx.severity.method),
            ("Score", f"{ctx.severity.score:g} ({ctx.severity.band.replace('_', ' ')})"),
            ("Inputs", f"DPC {ctx.severity.dpc:g}, EI {ctx.severity.ei:g}, CB {ctx.severity.cb_confidentiality:g}"
                       f" / {ctx.severity.cb_integrity:g} / {ctx.severity.cb_availability:g}"
                       f" / {ctx.severity.cb_malicious:g}"),
            ("Basis", ctx.severity.dpc_basis), ("Notes", ctx.severity.notes),
            ("Assessed", f"{ctx.severity.assessed_by}, {when(ctx.severity.assessed_at)}")]),
        ("9. Measures", [("Taken", ctx.measures.taken or "to follow"),
                         ("Proposed", ctx.measures.proposed or "to follow")]),
        ("10. Communication to the data subjects", [
            ("Status", doc["communication_to_subjects"]["status"].replace("_", " ")),
            ("When", when(ctx.informed.informed_at)), ("How", ctx.informed.channel),
            ("Reasons", ctx.informed.reasons)]),
        ("11. Cross-border processing", [
            ("Cross-border", yes(ctx.cross_border.cross_border)),
            ("Lead authority", ctx.cross_border.lead_authority or "-"),
            ("Countries", ", ".join(ctx.cross_border.countries)),
            *[(f"People in {c.country or 'unknown'}", format_number(c.people)) for c in ctx.cross_border.per_country]]),
        ("12. Other bodies informed", [(b.body, f"{b.regime}/{b.stage}, {when(b.filed_at)}"
                                        + (f", reference {b.reference}" if b.reference else ""))
                                       for b in ctx.other_bodies]),
        ("13. Other regimes followed", [(r.name, f"{r.authority}; {', '.join(r.countries)}"
                                         + (f"; {format_number(r.people)} people affected there"
                                            if r.people is not None else "")) for r in ctx.other_regimes]),
    ]
    for title, rows in sections:
        pdf.heading(title)
        for label, value in rows or [("Information", "none")]:
            pdf.field(label, value)
    return bytes(pdf.output())
