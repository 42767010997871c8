"""The subject emails' typed, frozen contexts — built from the incident and one recipient row, never from raw log
hits: `IncidentNoticeContext` holds the facts every email of an incident shares; `subject_context` adds one
recipient's details — the notice kind (their data exposed, their account used by someone else, or both in one
message), the data categories found for them, consequences and advice in their language (`LocaleStrings`), and
for a compromised account what was done with it. Templates receive the fields of `SubjectContext` as top-level
variables (notices/README.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from breachkit.config import NoticesConfig
from breachkit.incidents.model import DATA_CATEGORIES, Filing, Incident, Status
from breachkit.locales import base_language, canonical_locale
from breachkit.notices.recipients import LocaleChoice, Recipient

AUTHORITY_REGIME = "gdpr-33"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str = ""
    phone: str = ""
    address: str = ""


@dataclass(frozen=True)
class Label:
    code: str
    label: str


@dataclass(frozen=True)
class Narrative:
    """Incident-specific prose for the subject emails in one language (optional: templates have generic text)."""

    what_happened: str = ""
    consequences: str = ""
    measures: str = ""
    advice: str = ""  # what to do, specific to this incident


# Narrative field → the incident field it comes from (what to set: `--set description.de=…`).
NARRATIVE_FIELDS = {"what_happened": "description", "consequences": "consequences", "measures": "measures_taken",
                    "advice": "advice"}


@dataclass(frozen=True)
class IncidentNoticeContext:
    """The facts every subject email of one incident shares."""

    id: str
    title: str
    controller: Contact
    dpo: Contact
    zone: str
    occurred_at: datetime | None
    occurred_until: datetime | None
    ongoing: bool
    detected_at: datetime | None
    aware_at: datetime
    confidentiality: bool
    integrity: bool
    availability: bool
    malicious: bool | None
    contained: bool  # status contained, recovered or closed
    authority_notified: bool  # a gdpr-33 filing exists
    lead_authority: str | None
    data_categories: tuple[str, ...]  # the incident's, for recipients whose row names none
    narratives: Mapping[str, Narrative]  # lower-cased language tag → prose
    containment: str = "ended"  # Incident.containment: ongoing | contained | ended (the report says the same)
    source_locale: str = "en"  # the language of the incident's own fields (the others are translations)

    @property
    def source_narrative(self) -> Narrative:
        return self.narratives.get(self.source_locale.lower(), Narrative())

    def narrative(self, requested: str, template_locale: str) -> Narrative | None:
        """The prose for a reader who asked for `requested` and reads the `template_locale` templates, field by
        field: the requested tag's (when it is the template's language), the template locale's, then its base
        language's. None when there is none in that language."""
        language = base_language(template_locale) or template_locale.lower()
        wanted = canonical_locale(requested) or ""
        tags = [t.lower() for t in (wanted if base_language(wanted) == language else "", template_locale, language)
                if t]
        layers = [self.narratives[t] for t in dict.fromkeys(tags) if t in self.narratives]
        if not layers:
            return None
        return Narrative(**{f: next((getattr(x, f) for x in layers if getattr(x, f).strip()), "")
                            for f in NARRATIVE_FIELDS})


def incident_notice_context(incident: Incident, *, config: NoticesConfig, zone: str = "UTC",
                            filings: Sequence[Filing] = (), narratives: Mapping[str, Narrative] | None = None,
                            source_locale: str | None = None) -> IncidentNoticeContext:
    """The shared facts of the subject emails. The incident's own prose (description, consequences, measures
    taken, advice) is the narrative of `source_locale` (default: NoticesConfig.default_locale); its translations
    (`Incident.translations`) are the narratives of their languages; `narratives` adds or replaces any. A
    language with none gets only the templates' general wording (`notices.coverage` reports who)."""
    source = canonical_locale(source_locale or config.default_locale) or "en"
    merged: dict[str, Narrative] = {}
    for tag in dict.fromkeys((source, *incident.translations)):
        text = incident.text_in(tag, source)
        narrative = Narrative(text.description, text.consequences, text.measures_taken, text.advice)
        if any(vars(narrative).values()):
            merged[tag.lower()] = narrative
    merged.update({k.lower(): v for k, v in (narratives or {}).items()})
    return IncidentNoticeContext(
        id=incident.id, title=incident.title, controller=Contact(config.controller_name,
                                                                 address=config.controller_address),
        dpo=Contact(config.dpo_name, config.dpo_email, config.dpo_phone, config.dpo_address), zone=zone,
        occurred_at=incident.occurred_at, occurred_until=incident.occurred_until, ongoing=incident.ongoing,
        detected_at=incident.detected_at, aware_at=incident.aware_at,
        confidentiality=incident.impact.confidentiality, integrity=incident.impact.integrity,
        availability=incident.impact.availability, malicious=incident.malicious,
        contained=incident.status in (Status.CONTAINED, Status.RECOVERED, Status.CLOSED),
        authority_notified=any(f.regime == AUTHORITY_REGIME for f in filings),
        lead_authority=incident.lead_authority, data_categories=tuple(incident.data_categories),
        narratives=merged, containment=incident.containment, source_locale=source)


@dataclass(frozen=True)
class LocaleStrings:
    """The plain-language vocabulary of one locale (notices/subject/<locale>/strings.toml)."""

    locale: str
    data_categories: Mapping[str, str]  # category → what it means for a person ("your password")
    consequences: Mapping[str, str]  # category → what could happen
    advice: Mapping[str, tuple[str, ...]]  # category → what the person should do
    general_advice: tuple[str, ...]  # given to every person whose data was exposed (phishing…)
    compromise_advice: tuple[str, ...] = ()  # given to the holder of a compromised account (what to rotate…)


@dataclass(frozen=True)
class Compromise:
    """What happened to a compromised account (never the actor's addresses: they are not the holder's data)."""

    requests: int | None  # requests made with it in the breach's window
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class SubjectContext:
    name: str
    locale: str  # the template locale
    choice: LocaleChoice
    reference: str  # the incident id, to quote in questions
    incident: IncidentNoticeContext
    categories: tuple[Label, ...]  # in the recipient's language: what was found for them (empty if only compromised)
    consequences: tuple[str, ...]
    advice: tuple[str, ...]
    narrative: Narrative | None
    controller: Contact
    dpo: Contact
    minor: bool
    first_seen: datetime | None
    last_seen: datetime | None
    zone: str
    kind: str = "breach"  # breach | compromise | breach_and_compromise (Recipient.notice_kind)
    data_subject: bool = True  # their data was exposed
    compromise: Compromise | None = None  # their account was used by someone else
    categories_found: bool = True  # False: the list named no categories for them; the incident's are shown


# Consequences and advice come most urgent first (what a person must act on before what they should know).
URGENCY = ("credentials", "financial", "official_id", "special", "criminal", "identity", "device_identifiers",
           "online_identifiers", "location", "communications", "contact", "usage")


def subject_context(recipient: Recipient, incident: IncidentNoticeContext, *, choice: LocaleChoice,
                    strings: LocaleStrings) -> SubjectContext:
    """One recipient's context: for a data subject, the data categories found for them (else the incident's,
    flagged) in vocabulary order, consequences and advice most urgent first; for a compromised account, what was
    done with it and what to rotate; the narrative of the template locale (if any)."""
    subject, compromised = recipient.data_subject, recipient.compromised
    found = bool(recipient.categories)
    given = set(recipient.categories) if found else set(incident.data_categories) if subject else set()
    codes = [c for c in DATA_CATEGORIES if c in given]
    urgent = sorted(codes, key=lambda c: URGENCY.index(c) if c in URGENCY else len(URGENCY))
    advice: list[str] = list(strings.compromise_advice) if compromised else []
    for code in urgent:
        advice += [a for a in strings.advice.get(code, ()) if a not in advice]
    if subject:
        advice += [a for a in strings.general_advice if a not in advice]
    narrative = incident.narrative(recipient.locale, choice.locale)
    compromise = Compromise(recipient.requests, recipient.first_seen, recipient.last_seen) if compromised else None
    return SubjectContext(
        name=recipient.name, locale=choice.locale, choice=choice, reference=incident.id, incident=incident,
        categories=tuple(Label(c, strings.data_categories.get(c, DATA_CATEGORIES.get(c, c))) for c in codes),
        consequences=tuple(dict.fromkeys(strings.consequences[c] for c in urgent if strings.consequences.get(c))),
        advice=tuple(advice), narrative=narrative, controller=incident.controller, dpo=incident.dpo,
        minor=recipient.minor, first_seen=recipient.first_seen, last_seen=recipient.last_seen, zone=incident.zone,
        kind=recipient.notice_kind, data_subject=subject, compromise=compromise,
        categories_found=found or not subject)
