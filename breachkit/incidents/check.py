"""The pre-filing check: does the case file agree with itself before anything is filed or sent?

Pure: `check(case)` reads a `CaseFile` snapshot (the incident, its latest subject list's summary, the notices
configuration, regimes, deadlines, decisions, filings, the people the outbox already holds) and returns findings,
each an *error* (blocks `report authority`, `incident file` and `notices send` unless overridden with a reason)
or a *warning* (listed), with the field to fix and how.

What it looks for:

* contradictions — cross-border without a lead authority; still ongoing vs contained (the report and every
  notice take their wording from `Incident.containment`); an end time while ongoing; children found but not
  declared; confirmed exfiltration with a reach limited to known recipients;
* blanks an authority form asks for — the DPO's or contact point's name, email, phone and postal address and the
  controller's address (never "to follow"); the description, likely consequences, measures, data and subject
  categories and the number of people, which an *initial* report may leave "to follow" (Art. 33(4)) — listed as
  warnings — but a follow-up or final report may not; reasons for a late report; the earlier reference;
* categories declared but not found, found but not declared (data and subject categories);
* numbers that do not add up — the incident's counts against its subject list, the subject list against the
  scope and declarations it was built from, the people the outbox holds against the people to write to;
* affected people in countries whose law has its own duty (`Regime.countries`: Switzerland's revFADP, the UK
  GDPR, …) when the incident does not follow that regime; countries no regime covers;
* decision facts still unknown that the Art. 33/34 suggestion had to assume (`incidents.resolve`);
* before sending the notices (`CaseFile.languages`, filled in by the notices stage from the people to write
  to): people who would read a language other than the one they asked for (no templates in theirs), and people
  whose language lacks the incident's own text (description, consequences, measures, advice) — errors, which
  ``--accept-fallback --reason`` accepts on their own (recorded); people with no language at all — a warning.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breachkit.config import NoticesConfig
from breachkit.incidents.clock import Deadline
from breachkit.incidents.facts import Exfiltration, Reach
from breachkit.incidents.model import SUBJECT_CATEGORIES, Decision, DecisionKind, Filing, Incident, Status
from breachkit.incidents.regimes import Regime
from breachkit.incidents.resolve import Found, resolve
from breachkit.wording import counted

AUTHORITY_REGIME = "gdpr-33"
REPORT_TYPES = ("initial", "follow_up", "final")


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str  # stable, for scripts and tests
    field: str  # the field to fix: an incident field, facts.<name>, or a config key (notices.dpo_phone)
    message: str
    hint: str = ""


@dataclass(frozen=True)
class SubjectList:
    """The latest subject list as the check needs it (its stored summary)."""

    version: int
    summary: Mapping[str, Any]

    @property
    def counts(self) -> Mapping[str, Any]:
        counts: Mapping[str, Any] = self.summary.get("counts", {})
        return counts


LANGUAGE_CODES = ("language_fallback", "notice_text_missing")  # what --accept-fallback accepts


@dataclass(frozen=True)
class LanguageGroup:
    """People who would get their notice in another language, or without some of the incident's own text."""

    kind: str  # fallback (another language) | missing_text (their language lacks fields) | no_locale
    requested: str  # the language asked for ("" none)
    locale: str  # the template language they would read
    fields: tuple[str, ...]  # incident fields missing in that language (missing_text)
    people: int


@dataclass(frozen=True)
class NoticeLanguages:
    """The languages the people to write to would read the notices in (`notices.coverage`)."""

    groups: tuple[LanguageGroup, ...] = ()
    source_locale: str = "en"  # the language of the incident's own text


@dataclass(frozen=True)
class CaseFile:
    incident: Incident
    notices: NoticesConfig
    regimes: Mapping[str, Regime]
    deadlines: Sequence[Deadline] = ()
    decisions: Sequence[Decision] = ()
    filings: Sequence[Filing] = ()
    subject_list: SubjectList | None = None
    outbox_recipients: int = 0  # distinct people the outbox holds subject messages for (cancelled ones aside)
    report_type: str = "initial"
    earlier_reference: str | None = None
    languages: NoticeLanguages | None = None  # only when notices are about to go out


@dataclass(frozen=True)
class CheckResult:
    incident_id: str
    report_type: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def passed(self) -> bool:
        return not self.errors


def _update(incident: Incident, assignment: str) -> str:
    return f"breachkit incident update {incident.id} --set {assignment} --reason …"


def _assign(name: str, values: Sequence[str]) -> str:
    return f"'{name}={json.dumps(list(values))}'"


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []

    def error(self, code: str, fld: str, message: str, hint: str = "") -> None:
        self.items.append(Finding(Severity.ERROR, code, fld, message, hint))

    def warning(self, code: str, fld: str, message: str, hint: str = "") -> None:
        self.items.append(Finding(Severity.WARNING, code, fld, message, hint))

    def blank(self, code: str, fld: str, what: str, hint: str, *, phased: bool) -> None:
        """A blank the form asks for: "to follow" in an initial report (Art. 33(4)), an error in a later one."""
        if phased:
            self.warning(code, fld, f"not given yet — {what}: the initial report says \"to follow\" (Art. 33(4)) "
                                    f"and lists it; the follow-up must give it", hint)
        else:
            self.error(code, fld, f"not given — {what}: a follow-up or final report must give it", hint)


def _countries(case: CaseFile) -> dict[str, int]:
    """People affected per country: the subject list's counts, else the incident's countries (count unknown: 0)."""
    per = dict(case.subject_list.counts.get("people_per_country", {})) if case.subject_list else {}
    known = {c: int(n) for c, n in per.items() if len(c) == 2 and c.isalpha() and c.isupper()}
    return known | {c: known.get(c, 0) for c in case.incident.countries}


def _contradictions(case: CaseFile, out: _Findings) -> None:
    incident = case.incident
    eea = {c for r in case.regimes.values() if r.id == AUTHORITY_REGIME for c in r.countries}
    in_eea = sorted(c for c in _countries(case) if c in eea)
    if len(in_eea) > 1 and not (incident.lead_authority or "").strip():
        out.error("cross_border_lead", "lead_authority",
                  f"people affected live in {len(in_eea)} EEA countries ({', '.join(in_eea)}): cross-border "
                  "processing needs the lead supervisory authority of the main establishment (Art. 56)",
                  _update(incident, "'lead_authority=…'"))
    if incident.ongoing and incident.status in (Status.CONTAINED, Status.RECOVERED, Status.CLOSED):
        out.error("ongoing_contained", "ongoing",
                  f"the breach is recorded as still ongoing while the incident is {incident.status.value}: the "
                  "report would say ongoing and the notices that it is under control",
                  _update(incident, "ongoing=false") + " (or move the status back)")
    if incident.ongoing and incident.occurred_until is not None:
        out.error("ongoing_ended", "occurred_until", "the breach is recorded as still ongoing but has an end time "
                  "(occurred_until)", _update(incident, "ongoing=false") + " (or clear occurred_until)")
    if not incident.ongoing and incident.status in (Status.TRIAGE, Status.INVESTIGATING):
        out.warning("ended_not_contained", "status",
                    f"the breach is recorded as no longer ongoing while the incident is {incident.status.value}: "
                    "the report says \"not ongoing\" and the notices that it has ended and is being investigated; "
                    "if it is contained, say so",
                    f"breachkit incident status {incident.id} contained --reason … (or set ongoing=true)")
    facts = incident.facts
    if facts.exfiltration is Exfiltration.CONFIRMED and facts.confidentiality_reach in (Reach.LIMITED, Reach.TRUSTED):
        out.warning("exfiltration_reach", "facts.confidentiality_reach",
                    "exfiltration is confirmed but the reach is limited to known recipients: the data may have "
                    "gone further", _update(incident, "facts.confidentiality_reach=wide"))
    if facts.confidentiality_reach is not Reach.UNKNOWN and not incident.impact.confidentiality:
        out.warning("reach_without_disclosure", "impact.confidentiality",
                    "a confidentiality reach is recorded but no loss of confidentiality",
                    _update(incident, "impact.confidentiality=true"))


def _blanks(case: CaseFile, out: _Findings) -> None:
    incident, notices = case.incident, case.notices
    config_hint = "set it in breachkit.toml under [notices]"
    for key, value, what in (("notices.dpo_name", notices.dpo_name, "the DPO's or contact point's name"),
                             ("notices.dpo_email", notices.dpo_email, "the DPO's or contact point's email"),
                             ("notices.dpo_phone", notices.dpo_phone, "the DPO's or contact point's phone"),
                             ("notices.dpo_address", notices.dpo_address, "the DPO's or contact point's postal "
                                                                          "address"),
                             ("notices.controller_name", notices.controller_name, "the controller's name"),
                             ("notices.controller_address", notices.controller_address, "the controller's address")):
        if not value.strip():
            out.error("contact_blank", key, f"{what} is blank: the authority form asks for it (Art. 33(3)(b))",
                      config_hint)
    phased = case.report_type == "initial"
    if not (incident.description.strip() or incident.cause.strip()):
        out.blank("description_blank", "description", "the nature of the breach (description and cause)",
                  _update(incident, "'description=…'"), phased=phased)
    if not incident.consequences.strip():
        out.blank("consequences_blank", "consequences", "the likely consequences (Art. 33(3)(c))",
                  _update(incident, "'consequences=…'"), phased=phased)
    if not incident.measures_taken.strip():
        out.blank("measures_blank", "measures_taken", "the measures taken (Art. 33(3)(d))",
                  _update(incident, "'measures_taken=…'"), phased=phased)
    if not incident.data_categories:
        out.blank("data_categories_blank", "data_categories", "the categories of personal data",
                  _update(incident, "'data_categories=[…]'"), phased=phased)
    if not incident.subject_categories:
        out.blank("subject_categories_blank", "subject_categories", "the categories of data subjects",
                  _update(incident, "'subject_categories=[…]'"), phased=phased)
    if case.subject_list is None and incident.approx_subjects is None:
        out.blank("people_unknown", "approx_subjects", "the number of people affected",
                  f"breachkit subjects build {incident.id}, or " + _update(incident, "approx_subjects=…"),
                  phased=phased)
    deadline = next((d for d in case.deadlines if d.regime == AUTHORITY_REGIME), None)
    if deadline is not None and deadline.needs_delay_reasons and not incident.delay_reasons.strip():
        out.error("delay_reasons", "delay_reasons",
                  f"the {AUTHORITY_REGIME} deadline is {deadline.status.value}: the report must give the reasons "
                  "for the delay (Art. 33(1))", _update(incident, "'delay_reasons=…'"))
    if case.report_type != "initial" and not (case.earlier_reference or incident.authority_reference or any(
            f.reference for f in case.filings if f.regime == AUTHORITY_REGIME)):
        out.error("earlier_reference", "authority_reference", "a follow-up or final report cites the authority's "
                  "reference of the first notification", f"breachkit incident update {incident.id} --reference …")


def _categories(case: CaseFile, out: _Findings) -> None:
    incident, listed = case.incident, case.subject_list
    if listed is None:
        return
    found = set(listed.summary.get("found_categories", ()))
    declared = set(incident.data_categories)
    counts = listed.counts.get("people_per_category", {})
    extra = sorted(found - declared)
    if extra:
        shown = ", ".join(f"{c} ({counts.get(c, '?')} people)" for c in extra)
        out.error("categories_not_declared", "data_categories",
                  f"subject list v{listed.version} found data categories the incident does not declare: {shown}: "
                  "the report would understate what was exposed",
                  _update(incident, _assign("data_categories", sorted(declared | found))))
    unfound = sorted(declared - found)
    if unfound:
        out.warning("categories_not_found", "data_categories",
                    f"declared data categories the logs did not show for anyone in subject list v{listed.version}: "
                    f"{', '.join(unfound)} (the report shows both; keep them if the responders know more than "
                    "the logs, else remove them)")
    found_people = set(listed.summary.get("found_subject_categories", ()))
    minors = int(listed.counts.get("minors", 0))
    if minors and not incident.children:
        out.error("children_not_declared", "subject_categories",
                  f"subject list v{listed.version} holds {minors} people under 18, but children are not declared "
                  "among the data subjects", _update(incident, "'subject_categories=[…, \"children\"]'"))
    other = sorted(found_people - set(incident.subject_categories) - {"children"})
    if other:
        labels = ", ".join(f"{c} ({SUBJECT_CATEGORIES.get(c, c)})" for c in other)
        out.warning("subject_categories_not_declared", "subject_categories",
                    f"subject list v{listed.version} holds people of categories not declared: {labels}")


def _numbers(case: CaseFile, out: _Findings) -> None:
    incident, listed = case.incident, case.subject_list
    if listed is None:
        if incident.impact.confidentiality and not incident.scope.empty:
            out.warning("no_subject_list", "approx_subjects", "no subject list yet: the numbers are estimates",
                        f"breachkit subjects build {incident.id}")
        return
    counts = listed.counts
    people, records = counts.get("people"), counts.get("records")
    if people is not None and incident.approx_subjects != people:
        out.error("people_mismatch", "approx_subjects",
                  f"the incident says {incident.approx_subjects} people, subject list v{listed.version} counts "
                  f"{people}: the register and the report would disagree",
                  f"breachkit subjects build {incident.id} (or set approx_subjects={people})")
    if records is not None and incident.approx_records != records:
        out.error("records_mismatch", "approx_records",
                  f"the incident says {incident.approx_records} records, subject list v{listed.version} counts "
                  f"{records}", f"breachkit subjects build {incident.id} (or set approx_records={records})")
    scope = listed.summary.get("scope")
    if scope is not None and scope != incident.scope.model_dump(mode="json"):
        out.warning("list_stale_scope", "scope", f"the scope changed after subject list v{listed.version} was "
                    "built: its people and counts may be out of date", f"breachkit subjects build {incident.id}")
    declared = listed.summary.get("declared")
    now = {"compromised_accounts": incident.compromised_accounts, "actor_accounts": incident.actor_accounts}
    if declared is not None and declared != now:
        out.error("list_stale_roles", "compromised_accounts",
                  f"accounts were declared compromised or the actor's own after subject list v{listed.version} "
                  "was built: its roles (who is told what) are out of date", f"breachkit subjects build {incident.id}")
    undetermined = list(listed.summary.get("undetermined_accounts", ()))
    if undetermined:
        out.warning("undetermined_accounts", "compromised_accounts",
                    f"accounts that made requests in the scope are neither declared compromised nor the actor's "
                    f"own: {', '.join(undetermined)} — listed as actors and not told",
                    f"breachkit subjects build {incident.id} --compromised ID, or "
                    + _update(incident, "'actor_accounts=[…]'"))
    missing = list(listed.summary.get("declared_missing", ()))
    if missing:
        out.warning("declared_not_found", "compromised_accounts",
                    f"declared accounts not found in the directory: {', '.join(missing)} (nobody to tell)")
    recipients = counts.get("recipients", counts.get("people"))
    without = int(counts.get("without_email", 0))
    if without:
        out.warning("without_email", "subjects", f"{without} people to tell have no email address: they need "
                    "another channel (letter, phone, public communication)")
    if case.outbox_recipients and recipients is not None and case.outbox_recipients != int(recipients) - without:
        out.error("emails_mismatch", "subjects",
                  f"the outbox holds messages for {case.outbox_recipients} people, subject list v{listed.version} "
                  f"has {int(recipients) - without} people to write to", "resend from the current list with a new "
                  "--version, or rebuild the list and check why it changed")


def _regimes(case: CaseFile, out: _Findings) -> None:
    incident = case.incident
    followed = set(incident.regimes)
    for country, people in sorted(_countries(case).items()):
        covering = [r for r in case.regimes.values() if country in r.countries]
        if not covering:
            out.warning("no_regime", "regimes",
                        f"{_people(people)} live in {country}: no regime breachkit knows covers it — check local law")
            continue
        if followed & {r.id for r in covering}:
            continue
        for regime in covering:
            applies = f" It applies to {regime.applies}." if regime.applies else ""
            to = f" to the {regime.authority}" if regime.authority and regime.authority != "the people affected" \
                else ""
            out.error("regime_missing", "regimes",
                      f"{_people(people)} live in {country}, where {regime.name} has its own duty to report{to}."
                      f"{applies} The incident does not follow it.",
                      _update(incident, _assign("regimes", sorted(followed | {regime.id})))
                      + " — or override with the reason it does not apply")


def _people(n: int) -> str:
    return "people affected" if n == 0 else f"{n} person affected" if n == 1 else f"{n} people affected"


def _decisions(case: CaseFile, out: _Findings) -> None:
    incident = case.incident
    if not any(d.kind is DecisionKind.NOTIFY_AUTHORITY for d in case.decisions):
        out.warning("no_authority_decision", "decisions", "no decision on notifying the authority is recorded "
                    "(Art. 33(5): document it, notified or not)",
                    f"breachkit incident decide {incident.id} --authority yes|no --reason …")
    found = None
    if case.subject_list is not None:
        found = Found.of_summary(case.subject_list.version, case.subject_list.summary)
    for assumption in resolve(incident, found=found).assumptions:
        out.warning("fact_assumed", assumption.fact, f"the Art. 33/34 suggestion assumed: {assumption.text}",
                    _update(incident, f"{assumption.fact}=…"))


def _languages(case: CaseFile, out: _Findings) -> None:
    if case.languages is None:
        return
    incident, source = case.incident, case.languages.source_locale
    accept = "or accept it: breachkit notices send … --accept-fallback --reason \"why\" (recorded)"
    for g in case.languages.groups:
        asked, people = g.requested or "no language", counted(g.people, "person", "people")
        if g.kind == "fallback":
            out.error("language_fallback", "notices.templates",
                      f"{people} asked for {asked} but would get the notice in {g.locale}: there are no "
                      f"templates in their language", f"add notices/subject/{g.requested}/ (notices/README.md), "
                      + accept)
        elif g.kind == "missing_text":
            shown = ", ".join(g.fields)
            out.error("notice_text_missing", "translations",
                      f"{people} reading {g.locale} would not get the incident's own {shown}: it is "
                      f"written in {source} only", _update(incident, f"'{g.fields[0]}.{g.locale}=…'") + ", "
                      + accept)
        else:
            out.warning("no_locale", "subjects", f"{people} have no language in the directory: they get "
                        f"the notice in {g.locale}")


def check(case: CaseFile) -> CheckResult:
    """Every finding about `case`, errors first (see the module docstring)."""
    if case.report_type not in REPORT_TYPES:
        raise ValueError(f"report type {case.report_type!r} is not one of {', '.join(REPORT_TYPES)}")
    out = _Findings()
    for part in (_contradictions, _blanks, _categories, _numbers, _regimes, _decisions, _languages):
        part(case, out)
    ordered = sorted(out.items, key=lambda f: f.severity is not Severity.ERROR)
    return CheckResult(case.incident.id, case.report_type, tuple(ordered))
