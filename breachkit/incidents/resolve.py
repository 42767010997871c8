"""From the case file to the decision helper's facts: the incident's decision facts (`Incident.facts`), its
declared data categories and those the subject list found, one-off overrides — resolved into a definite
`decide.BreachFacts`, with every assumption made for an unknown fact listed, and what a known value would change.

Unknown is never read as the safe value. Where a fact is unknown and matters to the case, the resolver takes the
less favourable reading and says so ("exfiltration not ruled out: treated as a loss of confidentiality"); facts
that do not matter to the case (password hashing without credentials among the data, a backup without an outage)
are not consulted and not listed. `advise` adds, for each unknown fact it consulted, which known values would
change the suggestion (`Missing`), by running the helper again with each value — so the list is never stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from breachkit.errors import UsageError
from breachkit.incidents.decide import (
    FEW,
    LARGE_SCALE,
    QUICK_RESTORE_HOURS,
    Advice,
    BreachFacts,
    Encryption,
    Exposure,
    Misuse,
    Suggestion,
    suggest,
)
from breachkit.incidents.facts import (
    FACT_VALUES,
    Answer,
    Backup,
    CaseFacts,
    Deletion,
    DeviceProtection,
    Exfiltration,
    Hashing,
    Reach,
    combination_problems,
    parse_fact_changes,
)
from breachkit.incidents.facts import Encryption as EncryptionFact
from breachkit.incidents.model import DATA_CATEGORIES, Incident
from breachkit.incidents.risk import SeverityResult


@dataclass(frozen=True)
class Found:
    """What the latest subject list found (its build summary), for the categories and counts to compare."""

    version: int
    categories: tuple[str, ...] = ()
    subject_categories: tuple[str, ...] = ()
    people: int | None = None

    @classmethod
    def of_summary(cls, version: int, summary: Mapping[str, Any]) -> Found:
        counts = summary.get("counts", {})
        categories = summary.get("found_categories")
        if categories is None:  # a build from before found categories were kept
            categories = [c for c in counts.get("people_per_category", {}) if c in DATA_CATEGORIES]
        return cls(version, tuple(sorted(categories)), tuple(summary.get("found_subject_categories", ())),
                   counts.get("people"))


@dataclass(frozen=True)
class Assumption:
    fact: str  # the field to set, e.g. "facts.exfiltration"
    text: str  # what was assumed, and why


@dataclass(frozen=True)
class CategoriesUsed:
    declared: tuple[str, ...]
    found: tuple[str, ...] | None  # None: no subject list
    used: tuple[str, ...]
    found_in: int | None = None  # the subject list version

    def line(self) -> str:
        """"Data categories considered: …" with where each came from."""
        if not self.used:
            return "Data categories considered: none declared or found."
        parts = []
        for code in self.used:
            declared, found = code in self.declared, self.found is not None and code in self.found
            where = ("declared and found" if declared and found else "declared" if declared else "found")
            parts.append(f"{code} ({where})")
        source = f" (subject list v{self.found_in})" if self.found_in is not None else " (no subject list yet)"
        line = "Data categories considered, the union of those declared and those found" + source + ": "
        line += ", ".join(parts) + "."
        missing = [c for c in self.declared if self.found is not None and c not in self.found]
        if missing:
            line += f" Declared but not found in the logs: {', '.join(missing)}."
        return line


@dataclass(frozen=True)
class Resolution:
    breach: BreachFacts
    facts: CaseFacts  # the incident's facts with the overrides applied
    overrides: dict[str, Any]
    assumptions: tuple[Assumption, ...]
    categories: CategoriesUsed
    notes: tuple[str, ...] = ()  # facts stated that do not change the grade, and why


def _categories(incident: Incident, found: Found | None) -> CategoriesUsed:
    declared = tuple(incident.data_categories)
    found_codes = None if found is None else found.categories
    used = tuple(c for c in DATA_CATEGORIES if c in set(declared) | set(found_codes or ()))
    return CategoriesUsed(declared, found_codes, used, found.version if found else None)


def resolve(incident: Incident, *, found: Found | None = None, overrides: Mapping[str, Any] | None = None,
            severity: SeverityResult | None = None) -> Resolution:
    """The definite facts for `decide.suggest`, with every assumption listed (see the module docstring)."""
    given = parse_fact_changes(overrides or {}, prefix="--fact ")
    values = {**incident.facts.model_dump(), **given}
    problems = combination_problems(CaseFacts.model_construct(**values))
    if problems:
        raise UsageError(problems[0].message, field=problems[0].location.field,
                         hint="set the facts it depends on on the incident (incident update --set facts.…)")
    facts = CaseFacts.model_validate(values)
    return _resolve(incident, facts, given, found, severity)


def _resolve(incident: Incident, facts: CaseFacts, given: dict[str, Any], found: Found | None,
             severity: SeverityResult | None) -> Resolution:
    assumed: list[Assumption] = []
    notes: list[str] = []

    def assume(name: str, text: str) -> None:
        assumed.append(Assumption(f"facts.{name}", text))

    used = _categories(incident, found)
    categories = set(used.used)
    impact, malicious = incident.impact, bool(incident.malicious)
    is_breach = impact.confidentiality or impact.integrity or impact.availability or (
        malicious and facts.exfiltration is not Exfiltration.RULED_OUT)
    if not categories:
        categories = {"identity"}
        if is_breach:
            assumed.append(Assumption("data_categories", "no data categories declared or found: graded as identity "
                                                         "data (what the data reveal decides the risk)"))
    subject_categories = set(incident.subject_categories) | set(found.subject_categories if found else ())
    people = incident.approx_subjects if incident.approx_subjects is not None else (found.people if found else None)
    if people is None and is_breach:
        assumed.append(Assumption("approx_subjects", f"number of people unknown: neither treated as large scale "
                                                     f"(≥ {LARGE_SCALE:,}) nor as a few (≤ {FEW})"))
    if not impact.confidentiality and facts.confidentiality_reach is not Reach.UNKNOWN:
        notes.append(f"A confidentiality reach ({facts.confidentiality_reach.value}) is recorded, but no loss of "
                     "confidentiality (impact.confidentiality): the reach is not used.")
    if incident.malicious is None and (impact.confidentiality or impact.integrity or impact.availability):
        assumed.append(Assumption("malicious", "whether the breach was malicious is not recorded: treated as not "
                                               "malicious"))
    exposure = Exposure.NONE
    trusted = False
    if impact.confidentiality:
        reach = facts.confidentiality_reach
        if reach is Reach.UNKNOWN:
            assume("confidentiality_reach", "confidentiality reach unknown: treated as wide (an attacker or unknown "
                                            "recipients)")
        exposure = Exposure.LIMITED if reach in (Reach.LIMITED, Reach.TRUSTED) else Exposure.WIDE
        trusted = reach is Reach.TRUSTED
        if facts.exfiltration is Exfiltration.CONFIRMED and exposure is Exposure.LIMITED:
            notes.append("Exfiltration is confirmed while the reach is recorded as limited to known recipients: the "
                         "reach governs; if the data went further, set confidentiality_reach=wide.")
    elif malicious or impact.integrity or impact.availability:
        if facts.exfiltration is Exfiltration.UNKNOWN:
            assume("exfiltration", "exfiltration not ruled out: treated as a loss of confidentiality (data in an "
                                   "attacker's hands)")
            exposure = Exposure.WIDE
        elif facts.exfiltration is Exfiltration.CONFIRMED:
            exposure = Exposure.WIDE
    encryption = Encryption.NONE
    strong_hash = False
    retrieved = requested = False
    misuse = Misuse.NO
    already_public = False
    if exposure is not Exposure.NONE:
        if facts.encryption is EncryptionFact.UNKNOWN:
            assume("encryption", "encryption unknown: treated as unencrypted (readable)")
        elif facts.encryption is EncryptionFact.KEY_SAFE:
            encryption = Encryption.KEY_SAFE
        elif facts.encryption is EncryptionFact.KEY_COMPROMISED:
            encryption = Encryption.KEY_COMPROMISED
    if exposure is not Exposure.NONE and encryption is not Encryption.KEY_SAFE:  # readable data left control
        if "credentials" in categories:
            if facts.password_hashing is Hashing.UNKNOWN:
                assume("password_hashing", "hash strength unknown: passwords treated as readable")
            strong_hash = facts.password_hashing is Hashing.STRONG_SALTED
        if exposure is Exposure.LIMITED:
            if facts.recipient_deletion is Deletion.UNKNOWN:
                assume("recipient_deletion", "deletion by the recipient unknown: treated as not deleted")
            retrieved = facts.recipient_deletion is Deletion.CONFIRMED
            requested = facts.recipient_deletion is Deletion.REQUESTED
            if facts.unintended_recipients is None:
                assume("unintended_recipients", "number of unintended recipients unknown: not treated as a few")
        if facts.misuse_observed is Answer.UNKNOWN:
            assume("misuse_observed", "misuse of the data unknown: not ruled out")
        misuse = {Answer.YES: Misuse.OBSERVED, Answer.NO: Misuse.NO}.get(facts.misuse_observed, Misuse.POSSIBLE)
        if facts.already_public is Answer.UNKNOWN:
            assume("already_public", "whether the data were public before the breach unknown: treated as not public")
        already_public = facts.already_public is Answer.YES
        device = facts.device_protection
        if device is DeviceProtection.PASSWORD:
            notes.append("Device protection: a password or screen lock only — without encryption the storage can "
                         "be read directly, so it does not make the data unintelligible (EDPB Guidelines 01/2021, "
                         "case 11).")
        elif device is DeviceProtection.REMOTE_WIPED:
            notes.append("Device protection: the device was wiped remotely — it cannot show the data were not read "
                         "before, so it does not lower the risk by itself.")
    quick = backup = False
    if impact.availability or impact.integrity:
        if facts.backup is Backup.UNKNOWN:
            assume("backup", "backup unknown: treated as no usable backup")
        backup = facts.backup is Backup.AVAILABLE
        if backup:
            if facts.restore_hours is None:
                assume("restore_hours", "time to restore unknown: not treated as restored quickly")
            if facts.outage_affected_people is Answer.UNKNOWN:
                assume("outage_affected_people", "effect of the outage on people unknown: treated as affecting them")
        quick = (backup and facts.restore_hours is not None and facts.restore_hours <= QUICK_RESTORE_HOURS
                 and facts.outage_affected_people is Answer.NO)
    breach = BreachFacts(
        data_categories=frozenset(categories), children="children" in subject_categories,
        vulnerable="vulnerable" in subject_categories, subjects=people, confidentiality=exposure,
        integrity=impact.integrity, availability=impact.availability, backup_available=backup,
        restored_quickly=quick, restore_hours=facts.restore_hours if backup else None, malicious=malicious,
        encryption=encryption, strong_password_hash=strong_hash,
        already_public=already_public, trusted_recipient=trusted, data_retrieved=retrieved,
        deletion_requested=requested, recipients=facts.unintended_recipients, misuse=misuse,
        mitigated=bool(facts.high_risk_removed_by.strip()), mitigation=facts.high_risk_removed_by,
        disproportionate_effort=bool(facts.disproportionate_effort.strip()),
        public_communication=facts.public_communication, severity=severity)
    return Resolution(breach, facts, dict(given), tuple(assumed), used, tuple(notes))


# --- what a known value would change ----------------------------------------------------------------------------

_NUMBER_PROBES: dict[str, tuple[Any, ...]] = {"unintended_recipients": (1, FEW + 1),
                                              "restore_hours": (4, QUICK_RESTORE_HOURS * 3)}


@dataclass(frozen=True)
class Missing:
    fact: str
    changes: tuple[str, ...]  # "if ruled_out: authority: do not notify; people: do not tell (risk none)"


def _verdict(advice: Advice) -> tuple[bool, bool, str]:
    return advice.authority.suggested, advice.subjects.suggested, advice.authority.risk.value


def _describe(value: Any, advice: Advice) -> str:
    authority = "notify" if advice.authority.suggested else "do not notify"
    people = "tell" if advice.subjects.suggested else "do not tell"
    return f"if {value}: authority: {authority}; people: {people} (risk {advice.authority.risk.value})"


def missing_facts(incident: Incident, resolution: Resolution, *, found: Found | None = None,
                  severity: SeverityResult | None = None) -> list[Missing]:
    """For each unknown fact the resolution assumed, the known values that would change the suggestion."""
    current = _verdict(suggest(resolution.breach))
    out: list[Missing] = []
    for assumption in resolution.assumptions:
        facts = resolution.facts
        probes: list[tuple[Any, Incident, CaseFacts]] = []
        if assumption.fact.startswith("facts."):
            name = assumption.fact.removeprefix("facts.")
            values = _NUMBER_PROBES.get(name) or tuple(v for v in FACT_VALUES[name] if v != "unknown")
            for value in values:
                try:
                    probes.append((value, incident, CaseFacts.model_validate({**facts.model_dump(), name: value})))
                except ValidationError:  # an impossible combination (deletion without a recipient)
                    continue
        elif assumption.fact == "approx_subjects":
            probes = [(f"{n:,} people", incident.model_copy(update={"approx_subjects": n}), facts)
                      for n in (2, LARGE_SCALE)]
        elif assumption.fact == "data_categories":
            probes = [(f"data {c}", incident.model_copy(update={"data_categories": [c]}), facts)
                      for c in ("contact", "financial", "special")]
        elif assumption.fact == "malicious":
            probes = [("malicious", incident.model_copy(update={"malicious": True}), facts)]
        changes = []
        for value, probe, probe_facts in probes:
            advice = suggest(_resolve(probe, probe_facts, resolution.overrides, found, severity).breach)
            if _verdict(advice) != current:
                changes.append(_describe(value, advice))
        if changes:
            out.append(Missing(assumption.fact, tuple(changes)))
    return out


@dataclass(frozen=True)
class Advised:
    """The suggestion with its explanation completed: the categories used, the assumptions, what would change it."""

    authority: Suggestion
    subjects: Suggestion
    resolution: Resolution
    missing: tuple[Missing, ...] = field(default_factory=tuple)


def advise(incident: Incident, *, found: Found | None = None, overrides: Mapping[str, Any] | None = None,
           severity: SeverityResult | None = None) -> Advised:
    """`decide.suggest` over the resolved case, each explanation opening with the categories considered and
    closing with the notes, every assumption and what a known value of each unknown fact would change."""
    resolution = resolve(incident, found=found, overrides=overrides, severity=severity)
    advice = suggest(resolution.breach)
    missing = missing_facts(incident, resolution, found=found, severity=severity)
    head = [resolution.categories.line()]
    if resolution.overrides:
        head.append("One-off facts given with this run (not on the incident): "
                    + ", ".join(f"{k}={v}" for k, v in resolution.overrides.items()) + ".")
    tail = [*resolution.notes, *(f"Assumed: {a.text} (set {a.fact})." for a in resolution.assumptions)]
    tail += [f"Would change the suggestion — {m.fact}: " + "; ".join(m.changes) + "." for m in missing]
    if not resolution.assumptions:
        tail.append("No assumptions: every fact the suggestion rests on is recorded.")

    def complete(s: Suggestion) -> Suggestion:
        return Suggestion(s.kind, s.suggested, s.risk, (*head, *s.explanation, *tail), s.exemptions, s.alternative)

    return Advised(complete(advice.authority), complete(advice.subjects), resolution, tuple(missing))

