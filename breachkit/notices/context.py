"""Typed, frozen contexts the notice templates render — built from the incident, never from raw log hits.

* `AuthorityContext` follows the field structure of the EDPB common breach-notification template (report type,
  parties, timing, nature, data, subjects, consequences, severity, measures, communication to the subjects,
  cross-border, other bodies). `authority_context` builds it and refuses an incomplete one: a report whose
  gdpr-33 deadline is overdue or was missed needs ``delay_reasons``; a follow-up needs the earlier reference.
* `IncidentNoticeContext` holds the facts every subject email shares; `subject_context` adds one recipient's
  details: the notice kind (their data exposed, their account used by someone else, or both in one message),
  the data categories found for them, consequences and advice in their language (from `LocaleStrings`), and for
  a compromised account what was done with it and what to rotate.

Templates receive the fields of these dataclasses as top-level variables (see notices/README.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from breachkit.config import NoticesConfig
from breachkit.errors import InputError, Location, Problem
from breachkit.incidents.clock import Deadline
from breachkit.incidents.model import (
    DATA_CATEGORIES,
    SPECIAL_DATA_CATEGORIES,
    Assessment,
    Decision,
    DecisionKind,
    Filing,
    Incident,
)
from breachkit.incidents.regimes import Regime
from breachkit.locales import base_language
from breachkit.notices.authority_words import DATA_CATEGORY_LABELS, FIELD_NAMES, SUBJECT_CATEGORY_LABELS
from breachkit.notices.subject_context import Contact, Label

AUTHORITY_REGIME, SUBJECTS_REGIME = "gdpr-33", "gdpr-34"
ReportType = Literal["initial", "follow_up", "final"]


@dataclass(frozen=True)
class SubjectNumbers:
    """How many people and records the breach touched (the subjects stage's counts)."""

    people: int
    records: int
    exact: bool  # counted from the subject table (True) or estimated (False)
    per_country: Mapping[str, int] = field(default_factory=dict)  # ISO alpha-2 ("" unknown) → people
    per_category: Mapping[str, int] = field(default_factory=dict)  # data category → people
    minors: int = 0
    compromised_accounts: int | None = None  # accounts used by someone else, counted apart (None: not known)
    compromised_requests: int | None = None  # requests made with them (not records)
    found_in: int | None = None  # the subject list version the numbers come from (None: estimates)
    found_categories: tuple[str, ...] | None = None  # data categories the subject list found (None: no list)


class Precision(enum.StrEnum):
    EXACT = "exact"
    APPROXIMATE = "approximate"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Count:
    value: int | None
    precision: Precision


@dataclass(frozen=True)
class ReportInfo:
    type: ReportType
    earlier_reference: str | None
    incident_id: str
    title: str
    generated_at: datetime
    regimes: tuple[str, ...]
    language: str = "en"  # the report's language
    untranslated: tuple[str, ...] = ()  # free-text fields given in the source language only (their names)


@dataclass(frozen=True)
class Parties:
    controller: Contact
    role: str  # controller | joint_controller | processor
    reporter: Contact
    dpo: Contact  # the DPO or other contact point (Art. 33(3)(b))


@dataclass(frozen=True)
class Timing:
    occurred_at: datetime | None
    occurred_until: datetime | None
    ongoing: bool
    detected_at: datetime | None
    aware_at: datetime
    aware_justification: str
    processor_notified_at: datetime | None
    how_discovered: str
    due_at: datetime | None  # the gdpr-33 deadline
    deadline_status: str | None  # running | overdue | met | late (breachkit.incidents.clock.Status)
    late: bool
    delay_reasons: str
    elapsed: timedelta  # from aware_at to the report
    containment: str = "ended"  # Incident.containment: ongoing | contained | ended (as the notices say)


@dataclass(frozen=True)
class Nature:
    description: str
    cause: str
    malicious: bool | None
    confidentiality: bool
    integrity: bool
    availability: bool
    systems: tuple[str, ...]


@dataclass(frozen=True)
class CategoryCount:
    category: Label
    people: int


@dataclass(frozen=True)
class CategoryRow:
    """One data category as the responders declared it and as the subject list found it."""

    category: Label
    declared: bool
    found: bool | None  # None: no subject list
    people: int | None  # people the subject list found it for


@dataclass(frozen=True)
class DataConcerned:
    categories: tuple[Label, ...]  # declared and found, in vocabulary order
    special_categories: tuple[Label, ...]  # Art. 9 / Art. 10 data among `categories`
    per_category: tuple[CategoryCount, ...]  # people affected per data category, most first
    rows: tuple[CategoryRow, ...] = ()  # each category: declared? found (for how many)?
    found_in: int | None = None  # the subject list version (None: no list)
    agree: bool = True  # declared and found name the same categories (or there is no list)


@dataclass(frozen=True)
class SubjectsConcerned:
    categories: tuple[Label, ...]
    children: bool
    vulnerable: bool
    people: Count
    records: Count
    minors: int | None
    compromised_accounts: int | None = None  # accounts used by someone else (their holders are told to rotate)
    compromised_requests: int | None = None  # requests made with them — not records affected


@dataclass(frozen=True)
class SeverityInfo:
    method: str
    score: float
    band: str
    dpc: float
    dpc_basis: str
    ei: float
    cb_confidentiality: float
    cb_integrity: float
    cb_availability: float
    cb_malicious: float
    notes: str
    assessed_by: str
    assessed_at: datetime


@dataclass(frozen=True)
class Measures:
    taken: str
    proposed: str


class Communication(enum.StrEnum):
    INFORMED = "informed"  # a gdpr-34 filing exists
    PLANNED = "planned"  # decided to inform, not done yet
    NOT_INFORMED = "not_informed"  # decided not to (reasons given)
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class SubjectsInformed:
    status: Communication
    informed_at: datetime | None
    channel: str  # how (the filing's recipient/channel, e.g. "email")
    reasons: str  # the notify_subjects decision's reasons (why, or why not)
    decided_at: datetime | None


@dataclass(frozen=True)
class CountryCount:
    country: str
    people: int


@dataclass(frozen=True)
class CrossBorder:
    cross_border: bool
    lead_authority: str | None
    countries: tuple[str, ...]
    per_country: tuple[CountryCount, ...]


@dataclass(frozen=True)
class RegimeInfo:
    """Another regime the incident follows besides GDPR Arts. 33/34 (e.g. the revFADP for people in CH)."""

    id: str
    name: str
    authority: str
    countries: tuple[str, ...]
    people: int | None  # people affected in its countries (None: unknown)


@dataclass(frozen=True)
class OtherBody:
    body: str
    regime: str
    stage: str
    filed_at: datetime
    reference: str | None


@dataclass(frozen=True)
class AuthorityContext:
    report: ReportInfo
    parties: Parties
    timing: Timing
    nature: Nature
    data: DataConcerned
    subjects: SubjectsConcerned
    consequences: str
    severity: SeverityInfo | None
    measures: Measures
    informed: SubjectsInformed
    cross_border: CrossBorder
    other_bodies: tuple[OtherBody, ...]
    zone: str  # IANA zone for displayed times
    locale: str = "en"
    other_regimes: tuple[RegimeInfo, ...] = ()


def _labels(codes: Sequence[str], vocabulary: Mapping[str, str]) -> tuple[Label, ...]:
    return tuple(Label(c, vocabulary.get(c, c)) for c in codes)


def _latest_decision(decisions: Sequence[Decision], kind: DecisionKind) -> Decision | None:
    relevant = [d for d in decisions if d.kind is kind]
    return max(relevant, key=lambda d: d.decided_at) if relevant else None


def _count(exact: int | None, estimate: int | None, is_exact: bool) -> Count:
    if exact is not None:
        return Count(exact, Precision.EXACT if is_exact else Precision.APPROXIMATE)
    return Count(estimate, Precision.APPROXIMATE) if estimate is not None else Count(None, Precision.UNKNOWN)


def _informed(filings: Sequence[Filing], decisions: Sequence[Decision],
              deadlines: Sequence[Deadline] = ()) -> SubjectsInformed:
    decision = _latest_decision(decisions, DecisionKind.NOTIFY_SUBJECTS)
    reasons, decided_at = (decision.reasons, decision.decided_at) if decision else ("", None)
    told = sorted((f for f in filings if f.regime == SUBJECTS_REGIME), key=lambda f: f.filed_at)
    delivered = next((d for d in deadlines if d.regime == SUBJECTS_REGIME and d.met_by == "notices_delivered"), None)
    if delivered is not None and delivered.met_at is not None and (not told or delivered.met_at < told[0].filed_at):
        return SubjectsInformed(Communication.INFORMED, delivered.met_at, "email", reasons, decided_at)
    if told:
        return SubjectsInformed(Communication.INFORMED, told[0].filed_at, told[0].recipient, reasons, decided_at)
    if decision is None:
        return SubjectsInformed(Communication.UNDECIDED, None, "", "", None)
    status = Communication.PLANNED if decision.decision else Communication.NOT_INFORMED
    return SubjectsInformed(status, None, "", reasons, decided_at)


def _check_complete(incident: Incident, deadline: Deadline | None, report_type: ReportType,
                    earlier_reference: str | None) -> None:
    problems: list[Problem] = []
    if deadline is not None and deadline.needs_delay_reasons and not incident.delay_reasons.strip():
        problems.append(Problem(f"the {AUTHORITY_REGIME} deadline is {deadline.status.value}: the report must give "
                                "the reasons for the delay (Art. 33(1))", Location(incident.id, field="delay_reasons")))
    if report_type != "initial" and earlier_reference is None:
        problems.append(Problem("a follow-up report needs the authority's reference of the earlier notification",
                                Location(incident.id, field="earlier_reference")))
    if problems:
        raise InputError(problems[0].message if len(problems) == 1 else "the authority report is incomplete",
                         path=incident.id, field=problems[0].location.field,
                         problems=problems if len(problems) > 1 else None,
                         hint=f"set delay_reasons with `breachkit incident update {incident.id}`; record the "
                              "authority's reference with the earlier filing (or pass it)")


def _most_first(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def authority_context(incident: Incident, *, config: NoticesConfig, now: datetime, deadlines: Sequence[Deadline],
                      numbers: SubjectNumbers | None, filings: Sequence[Filing], decisions: Sequence[Decision],
                      assessment: Assessment | None, report_type: ReportType = "initial",
                      earlier_reference: str | None = None, zone: str = "UTC",
                      regimes: Mapping[str, Regime] | None = None, locale: str = "en",
                      source_locale: str = "en") -> AuthorityContext:
    """The authority report's context, in `locale` (en, de, fr: category labels; the incident's translatable text
    from `Incident.translations`, else as written in `source_locale` — such fields are listed in
    `ReportInfo.untranslated`). Raises InputError naming the missing field(s) when the report cannot be
    complete: ``delay_reasons`` when the gdpr-33 deadline is overdue or was missed, ``earlier_reference`` for a
    follow-up or final report without a reference (given, or from the latest gdpr-33 filing that has one)."""
    deadline = next((d for d in deadlines if d.regime == AUTHORITY_REGIME), None)
    if report_type != "initial" and earlier_reference is None:
        earlier = sorted((f for f in filings if f.regime == AUTHORITY_REGIME and f.reference), key=lambda f: f.filed_at)
        earlier_reference = earlier[-1].reference if earlier else None
    _check_complete(incident, deadline, report_type, earlier_reference)
    per_country = numbers.per_country if numbers else {}
    per_category = numbers.per_category if numbers else {}
    countries = sorted(set(incident.countries) | {c for c in per_country if c})
    exact = numbers is not None and numbers.exact
    found = numbers.found_categories if numbers is not None else None
    listed = [c for c in DATA_CATEGORIES if c in set(incident.data_categories) | set(found or ())]
    language = base_language(locale) or "en"
    data_labels = DATA_CATEGORY_LABELS.get(language, DATA_CATEGORY_LABELS["en"])
    subject_labels = SUBJECT_CATEGORY_LABELS.get(language, SUBJECT_CATEGORY_LABELS["en"])
    text, untranslated = _text(incident, language, source_locale)
    rows = tuple(CategoryRow(Label(c, data_labels[c]), c in incident.data_categories,
                             None if found is None else c in found, per_category.get(c)) for c in listed)
    gdpr = (regimes or {}).get(AUTHORITY_REGIME)
    eea = set(gdpr.countries) if gdpr is not None else set()
    others = tuple(RegimeInfo(r.id, r.name, r.authority, tuple(r.countries),
                              sum(per_country.get(c, 0) for c in r.countries) if per_country else None)
                   for r in ((regimes or {}).get(i) for i in incident.regimes)
                   if r is not None and r.id not in (AUTHORITY_REGIME, SUBJECTS_REGIME))
    return AuthorityContext(
        report=ReportInfo(report_type, earlier_reference, incident.id, incident.title, now, tuple(incident.regimes),
                          language, untranslated),
        parties=Parties(
            controller=Contact(config.controller_name, address=config.controller_address),
            role=incident.role.value,
            reporter=Contact(config.reporter_name or config.dpo_name, config.reporter_email or config.dpo_email),
            dpo=Contact(config.dpo_name, config.dpo_email, config.dpo_phone, config.dpo_address)),
        timing=Timing(
            occurred_at=incident.occurred_at, occurred_until=incident.occurred_until, ongoing=incident.ongoing,
            detected_at=incident.detected_at, aware_at=incident.aware_at,
            aware_justification=incident.aware_justification,
            processor_notified_at=incident.processor_notified_at, how_discovered=incident.how_discovered,
            due_at=deadline.due_at if deadline else None,
            deadline_status=deadline.status.value if deadline else None,
            late=deadline is not None and deadline.needs_delay_reasons,
            delay_reasons=incident.delay_reasons, elapsed=now - incident.aware_at,
            containment=incident.containment),
        nature=Nature(text["description"], incident.cause, incident.malicious, incident.impact.confidentiality,
                      incident.impact.integrity, incident.impact.availability, tuple(incident.systems)),
        data=DataConcerned(
            categories=_labels(listed, data_labels),
            special_categories=_labels([c for c in listed if c in SPECIAL_DATA_CATEGORIES], data_labels),
            per_category=tuple(CategoryCount(Label(c, data_labels.get(c, c)), n)
                               for c, n in _most_first(per_category)),
            rows=rows, found_in=numbers.found_in if numbers else None,
            agree=found is None or set(found) == set(incident.data_categories)),
        subjects=SubjectsConcerned(
            categories=_labels(incident.subject_categories, subject_labels),
            children=incident.children or bool(numbers and numbers.minors),
            vulnerable="vulnerable" in incident.subject_categories,
            people=_count(numbers.people if numbers else None, incident.approx_subjects, exact),
            records=_count(numbers.records if numbers else None, incident.approx_records, exact),
            minors=numbers.minors if numbers else None,
            compromised_accounts=numbers.compromised_accounts if numbers else None,
            compromised_requests=numbers.compromised_requests if numbers else None),
        consequences=text["consequences"],
        severity=None if assessment is None else SeverityInfo(
            "ENISA (2013): SE = DPC × EI + CB", assessment.score, assessment.severity.value, assessment.dpc,
            assessment.dpc_basis, assessment.ei, assessment.cb_confidentiality, assessment.cb_integrity,
            assessment.cb_availability, assessment.cb_malicious, assessment.notes, assessment.assessed_by,
            assessment.assessed_at),
        measures=Measures(text["measures_taken"], text["measures_proposed"]),
        informed=_informed(filings, decisions, deadlines),
        cross_border=CrossBorder(
            cross_border=len([c for c in countries if c in eea]) > 1 if eea else len(countries) > 1,
            lead_authority=incident.lead_authority, countries=tuple(countries),
            per_country=tuple(CountryCount(c, n) for c, n in _most_first(per_country))),
        other_bodies=tuple(OtherBody(f.recipient or f.regime, f.regime, f.stage, f.filed_at, f.reference)
                           for f in sorted(filings, key=lambda f: f.filed_at)
                           if f.regime not in (AUTHORITY_REGIME, SUBJECTS_REGIME)),
        zone=zone, locale=language, other_regimes=others,
    )


_REPORT_TEXT = ("description", "consequences", "measures_taken", "measures_proposed")
_FREE_TEXT = ("cause", "aware_justification", "how_discovered", "delay_reasons")  # never translated


def _text(incident: Incident, language: str, source_locale: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The translatable report fields in `language` (a missing translation: the source text), and the names of
    the free-text fields the report then shows in the source language."""
    translated = incident.text_in(language, source_locale)
    text = {f: getattr(translated, f) or getattr(incident, f) for f in _REPORT_TEXT}
    if language == (base_language(source_locale) or "en"):
        return text, ()
    names = FIELD_NAMES.get(language, FIELD_NAMES["en"])
    left = [f for f in _REPORT_TEXT if getattr(incident, f).strip() and not getattr(translated, f).strip()]
    left += [f for f in _FREE_TEXT if getattr(incident, f).strip()]
    return text, tuple(names[f] for f in left)


# The subject emails' contexts live in `notices.subject_context`; re-exported here for existing imports.
from breachkit.notices.subject_context import (  # noqa: E402
    URGENCY,
    Compromise,
    IncidentNoticeContext,
    LocaleStrings,
    Narrative,
    SubjectContext,
    incident_notice_context,
    subject_context,
)

__all__ = ["URGENCY", "AuthorityContext", "Compromise", "Contact", "Count", "IncidentNoticeContext", "Label",
           "LocaleStrings", "Narrative", "Precision", "SubjectContext", "SubjectNumbers", "authority_context",
           "incident_notice_context", "subject_context"]
