"""The authority report as data (JSON), straight from the `AuthorityContext`, plus the Art. 33(3) check that a
rendered report shows every required item, in any language (it looks for the context's own values, which are in
the report's language). The PDF is built in `authority_pdf`.

JSON document (``authority_document``; keys stable, in this order, times ISO 8601 UTC with ``Z``)::

    schema                      "breachkit.authority-report/1"
    report                      type (initial | follow_up | final), earlier_reference, incident_id, title,
                                generated_at, regimes[], language (of the labels and translated text),
                                untranslated[] (free-text fields given in the source language only)
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
from datetime import UTC, datetime
from typing import Any, Literal

from breachkit.notices.context import AuthorityContext, Count, Label, Precision
from breachkit.notices.formatting import format_number

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
                   "title": r.title, "generated_at": _iso(r.generated_at), "regimes": list(r.regimes),
                   "language": r.language, "untranslated": list(r.untranslated)},
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
        spelled = format_number(count.value, ctx.locale)  # its no-break spaces (fr, pl) read as spaces too
        return [tuple(dict.fromkeys((spelled, _norm(spelled), str(count.value))))]

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
        if spelling.replace(",", "").replace(".", "").replace("\u202f", "").replace("\u00a0", "").isdigit():
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
