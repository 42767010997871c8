"""The decision helper: should the authority be notified (Art. 33) and the data subjects told (Art. 34)?

Advice, not a decision: the helper grades the risk to people from the breach's facts (none / risk / high),
explains every step with the article and the EDPB reasoning it rests on (Guidelines 01/2021 on examples
regarding personal data breach notification, and 9/2022), and the human decides and records why
(`decision_record`). Deterministic: the same facts always give the same suggestion and the same words.

`BreachFacts` is the *resolved* form: every value definite. `incidents.resolve` builds it from the incident's
decision facts, where unknown values are replaced by the less favourable reading and each replacement is listed
as an assumption; callers that construct BreachFacts directly state every fact themselves.

Thresholds (GDPR): the authority unless the breach is *unlikely to result in a risk* (Art. 33(1)); the
people only when it is *likely to result in a high risk* (Art. 34(1)), unless an Art. 34(3) exemption
applies — and an exemption is listed only where the risk would otherwise be high: (a) the data are
unintelligible to others (state-of-the-art encryption, key safe), (b) measures taken since make the high risk no
longer likely, (c) telling each person would take disproportionate effort, in which case a public communication
replaces it.

How the risk is graded, per kind of breach (the highest wins):
- confidentiality, by what the data reveal: special (Art. 9) or criminal (Art. 10) data are a high risk;
  data open to fraud or identity theft (financial, identification numbers, credentials, communications,
  location) a high risk unless a known recipient got them by mistake (then a risk, case 16); ordinary data
  (identity, contact, usage, devices, orders, contracts, insurance) a high risk in an attacker's or thief's hands
  with malicious intent, at scale (`LARGE_SCALE` people) or about vulnerable people (cases 05, 11), else a
  risk — also when a few known recipients got them by mistake: a few known recipients do not by themselves make
  a risk unlikely (case 16). Neutralised by encryption with the key safe (cases 01, 10), strong salted password
  hashes (case 06); lowered to "unlikely" by a trusted recipient who deleted the data and confirmed it (case 09),
  or — for data revealing little (names, addresses, an order) of a few people sent to a few recipients who were
  asked to delete them — case 13; lowered a step when the data were already public. Misuse that was observed, or
  is not ruled out, keeps a readable disclosure at "risk" at least (case 08: no reassurance about the intentions);
  observed misuse raises nothing further by itself, so an unknown answer is never graded lower than a "yes".
- availability (and integrity together with it: ransomware makes data unusable, not wrong): none when a backup
  restored everything within `QUICK_RESTORE_HOURS` without effect on people (case 01); high for special-category
  data or vulnerable people (delayed care, case 03); a risk otherwise (case 02).
- integrity alone: decisions taken on wrong data — high for special-category data or vulnerable people.
- the ENISA severity, when given, can raise the grade (low → none, medium → risk, high/very high → high), never
  lower it, and never overrides encryption or hashing found to keep the data unintelligible.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from breachkit.errors import UsageError
from breachkit.incidents.model import DATA_CATEGORIES, SPECIAL_DATA_CATEGORIES, Decision, DecisionKind, Severity
from breachkit.incidents.risk import SeverityResult

LARGE_SCALE = 10_000  # people: from here the number affected alone raises the risk
FEW = 10  # people or recipients: "only two individuals are concerned" (case 13) — a handful, not a list
QUICK_RESTORE_HOURS = 24.0  # "restored a few hours after the attack" (case 01); days are not quick (case 03)
DAMAGING_CATEGORIES = frozenset({"financial", "official_id", "credentials", "communications", "location"})
LITTLE_REVEALING = frozenset({"identity", "contact", "orders", "online_identifiers"})  # a packing slip (case 13)
_G = "EDPB Guidelines 01/2021"


class Risk(enum.StrEnum):
    NONE = "none"  # unlikely to result in a risk
    RISK = "risk"  # likely to result in a risk
    HIGH = "high"  # likely to result in a high risk

    @property
    def rank(self) -> int:
        return list(Risk).index(self)


class Exposure(enum.StrEnum):
    """How far the data went (the confidentiality side of the breach)."""

    NONE = "none"  # no unauthorised disclosure or access
    LIMITED = "limited"  # a known, small number of recipients (e.g. one wrong addressee, an ex-employee)
    WIDE = "wide"  # an attacker or thief, an unknown number of recipients, or very many recipients


class Encryption(enum.StrEnum):
    NONE = "none"
    KEY_SAFE = "key_safe"  # state-of-the-art encryption, key neither compromised nor derivable
    KEY_COMPROMISED = "key_compromised"


class Misuse(enum.StrEnum):
    NO = "no"  # ruled out (none observed, the recipient reassured)
    POSSIBLE = "possible"  # not ruled out
    OBSERVED = "observed"  # the data were used against the people


class BreachFacts(BaseModel):
    """What the helper needs to know about one breach, every value definite (see `incidents.resolve`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_categories: frozenset[str] = frozenset()  # keys of model.DATA_CATEGORIES
    children: bool = False
    vulnerable: bool = False  # patients, people in a dependent position…
    subjects: int | None = Field(default=None, ge=0)  # approximate number of people affected
    confidentiality: Exposure = Exposure.NONE
    integrity: bool = False  # data altered
    availability: bool = False  # data unavailable or lost
    backup_available: bool = False
    restored_quickly: bool = False  # restored within QUICK_RESTORE_HOURS, no effect on people
    restore_hours: float | None = Field(default=None, ge=0)  # how long restoring took, when known (for the wording)
    malicious: bool = False
    encryption: Encryption = Encryption.NONE
    strong_password_hash: bool = False  # credentials only as salted hashes of a state-of-the-art algorithm
    already_public: bool = False  # the data were public before the breach
    trusted_recipient: bool = False  # the recipient is trusted and bound to confidentiality
    data_retrieved: bool = False  # the recipient returned or deleted the data, and confirmed it
    deletion_requested: bool = False  # the recipient was asked to delete or return the data
    recipients: int | None = Field(default=None, ge=0)  # unintended recipients, when known
    misuse: Misuse = Misuse.NO
    mitigated: bool = False  # later measures make a high risk no longer likely (Art. 34(3)(b))
    mitigation: str = ""  # those measures, as recorded
    disproportionate_effort: bool = False  # telling each person individually is disproportionate (Art. 34(3)(c))
    public_communication: str = ""  # the public communication made instead, as recorded
    severity: SeverityResult | None = None

    @field_validator("data_categories")
    @classmethod
    def _categories(cls, values: frozenset[str]) -> frozenset[str]:
        unknown = sorted(values - DATA_CATEGORIES.keys())
        if unknown:
            known = ", ".join(DATA_CATEGORIES)
            raise ValueError(f"unknown data category {', '.join(map(repr, unknown))} (known: {known})")
        return values

    @field_serializer("data_categories")
    def _sorted(self, values: frozenset[str]) -> list[str]:
        return [c for c in DATA_CATEGORIES if c in values]  # a stable order (sets have none)


@dataclass(frozen=True)
class Finding:
    """One graded part of the breach with its reasons."""

    level: Risk
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RiskGrade:
    level: Risk
    reasons: tuple[str, ...]
    unprotected_confidentiality: Risk  # what the disclosure would have been without encryption
    protected_by_encryption: bool


def _highest(levels: Iterable[Risk]) -> Risk:
    return max(levels, key=lambda r: r.rank, default=Risk.NONE)


def _lower(level: Risk) -> Risk:
    return list(Risk)[max(0, level.rank - 1)]


def _names(categories: Iterable[str]) -> str:
    return ", ".join(sorted(categories))


def _disclosure(facts: BreachFacts, categories: frozenset[str]) -> Finding:
    """The confidentiality risk of readable data, before protections and recoveries."""
    wide = facts.confidentiality is Exposure.WIDE
    large = facts.subjects is not None and facts.subjects >= LARGE_SCALE
    fragile = facts.children or facts.vulnerable
    where = ("an attacker or an unknown or large number of recipients" if wide
             else "a known, limited number of recipients")
    if categories & SPECIAL_DATA_CATEGORIES:
        return Finding(Risk.HIGH, (
            f"Special-category (Art. 9) or criminal (Art. 10) data were disclosed to {where}: discrimination, "
            f"damage to reputation and distress are likely, a high risk ({_G}, case 12, case 14).",))
    if categories & DAMAGING_CATEGORIES:
        kinds = _names(categories & DAMAGING_CATEGORIES)
        if wide or facts.malicious or large or fragile:
            why = ("with malicious intent" if facts.malicious else f"to {where}" if wide
                   else "about vulnerable people" if fragile else "at scale")
            return Finding(Risk.HIGH, (
                f"Data open to fraud or identity theft ({kinds}) were disclosed {why}: a high risk of financial "
                f"loss, fraud and identity theft ({_G}, case 04, case 07, case 14, case 17).",))
        return Finding(Risk.RISK, (
            f"Data such as {kinds} went by mistake to {where}, without malicious intent: a risk, but not a high "
            f"one ({_G}, case 16).",))
    kinds = _names(categories)
    harm = _harm(categories)
    if wide and (facts.malicious or large or fragile):
        why = ("with malicious intent" if facts.malicious else "about vulnerable people" if fragile
               else "at scale")
        return Finding(Risk.HIGH, (
            f"Personal data ({kinds}) are in the hands of {where} {why}: {harm} — likely, and serious enough for a "
            f"high risk ({_G}, case 05, case 11).",))
    if wide:
        return Finding(Risk.RISK, (f"Ordinary personal data ({kinds}) were exposed to {where}: {harm}; a risk "
                                   f"({_G}).",))
    if facts.malicious or large or fragile:
        why = "with malicious intent" if facts.malicious else "about vulnerable people" if fragile else "at scale"
        return Finding(Risk.RISK, (
            f"Ordinary personal data ({kinds}) went to {where} {why}: the controller cannot rule out misuse "
            f"({harm}), a risk, though not a high one ({_G}, case 08).",))
    return Finding(Risk.RISK, (
        f"Ordinary personal data ({kinds}) went by mistake to {where}: a few known recipients who are not bound to "
        f"confidentiality do not by themselves make a risk unlikely; what the data reveal decides ({harm}), and the "
        f"controller has no assurance about what the recipients do with them: a risk, not a high one "
        f"({_G}, case 16).",))


# What ordinary data let others do to the people (the explanation names the harms of the data at hand).
_HARMS = {
    "identity": "identity theft and impersonation with their name, date of birth or customer number",
    "contact": "phishing and fraud through their real contact details",
    "online_identifiers": "tracking of their online activity",
    "device_identifiers": "recognising or impersonating their devices",
    "usage": "reading their daily routine — when they are at home or away — from their usage",
    "orders": "learning what they bought and where it was delivered",
    "contracts": "learning their contract terms, which helps impostors",
    "insurance": "learning their insurance cover and premiums, which reveals their situation",
}


def _harm(categories: frozenset[str]) -> str:
    harms = list(dict.fromkeys(_HARMS[c] for c in DATA_CATEGORIES if c in categories and c in _HARMS))
    if not harms:
        return "misuse of the data"
    return "; ".join(harms)


def _recovered(facts: BreachFacts, categories: frozenset[str], level: Risk) -> tuple[Risk, list[str]]:
    """A limited disclosure made good by the recipients: case 09 (trusted, deletion confirmed) or case 13 (little
    revealed about a few people, the recipients asked to delete)."""
    if facts.confidentiality is not Exposure.LIMITED or level is Risk.NONE:
        return level, []
    special = bool(categories & SPECIAL_DATA_CATEGORIES)
    if facts.misuse is not Misuse.NO:
        if facts.trusted_recipient and facts.data_retrieved:
            return level, ["The recipient is trusted and confirmed deleting the data, but misuse is not ruled out: "
                           f"the risk cannot be lowered on that ground ({_G}, case 09)."]
        return level, []
    if facts.trusted_recipient and facts.data_retrieved:
        if special:
            return _lower(level), ["The recipient is trusted and deleted or returned the data, which lowers the "
                                   "risk; with special-category data it cannot be ruled out."]
        return Risk.NONE, [f"The recipient is trusted, bound to confidentiality, and deleted or returned the data and "
                           f"confirmed it: unlikely to result in a risk ({_G}, case 09)."]
    few_people = facts.subjects is not None and facts.subjects <= FEW
    few_recipients = facts.recipients is not None and 0 < facts.recipients <= FEW
    asked = facts.data_retrieved or facts.deletion_requested
    if (categories <= LITTLE_REVEALING and few_people and few_recipients and asked and not facts.malicious
            and not facts.children and not facts.vulnerable):
        return Risk.NONE, [
            f"Only data revealing little about a person ({_names(categories)}) of {facts.subjects} people went by "
            f"mistake to {facts.recipients} known recipients, who were asked to delete or return them, and no misuse "
            f"is known: no special categories or data whose abuse would weigh heavily, and only a few people "
            f"concerned — unlikely to result in a risk ({_G}, case 13). Their cooperation is needed to recover the "
            f"data, so telling them is advisable all the same."]
    return level, []


def _confidentiality(facts: BreachFacts) -> tuple[Finding, Risk]:
    """The confidentiality finding after protections, and the level it would have had without encryption."""
    if facts.confidentiality is Exposure.NONE:
        return Finding(Risk.NONE, ()), Risk.NONE
    reasons: list[str] = []
    categories = facts.data_categories
    if facts.strong_password_hash and "credentials" in categories:
        categories = categories - {"credentials"}
        reasons.append(f"Passwords were kept only as salted hashes of a state-of-the-art algorithm and the salt "
                       f"was not compromised: they cannot be recovered in practice ({_G}, case 06).")
    if not categories:
        reasons.append("No readable personal data beyond that left the controller's control: unlikely to result "
                       "in a risk.")
        return Finding(Risk.NONE, tuple(reasons)), Risk.NONE
    plain = _disclosure(facts, categories)
    if facts.encryption is Encryption.KEY_SAFE:
        reasons.append(
            f"The data were encrypted with a state-of-the-art algorithm and the key was neither compromised nor "
            f"derivable: they are unintelligible to anyone not authorised, the protection Art. 34(3)(a) names, and "
            f"the confidentiality risk is reduced to a minimum ({_G}, case 01, case 10).")
        return Finding(Risk.NONE, tuple(reasons)), plain.level
    if facts.encryption is Encryption.KEY_COMPROMISED:
        reasons.append("The data were encrypted but the key was compromised: the encryption gives no protection "
                       "and the data count as readable.")
    level = plain.level
    reasons.extend(plain.reasons)
    level, why = _recovered(facts, categories, level)
    reasons += why
    if facts.already_public and level is not Risk.NONE:
        level = _lower(level)
        reasons.append("The data were already public before the breach, which lowers the risk (ENISA: the data "
                       "processing context goes down).")
    if facts.misuse is Misuse.OBSERVED:
        level = _highest((level, Risk.RISK))
        reasons.append(f"The data were seen used against the people: the controller cannot consider the risk low "
                       f"({_G}, case 08); how high it is follows from what the data allow and how far they went. "
                       f"Record what was done with them (consequences) and reassess if the harm grows.")
    elif facts.misuse is Misuse.POSSIBLE and level is Risk.NONE:
        level = Risk.RISK
        reasons.append(f"Misuse of the data is not ruled out: without assurance about what the recipients do with "
                       f"them, the risk cannot be considered unlikely ({_G}, case 08).")
    return Finding(level, tuple(reasons)), plain.level


def _loss(facts: BreachFacts, what: str) -> Finding:
    """Integrity (`what` = "altered") or availability (`what` = "unavailable") of the data."""
    fragile = bool(facts.data_categories & SPECIAL_DATA_CATEGORIES) or facts.children or facts.vulnerable
    side = "integrity" if what == "altered" else "availability"
    if facts.restored_quickly:
        backup = "from a backup " if facts.backup_available else ""
        hours = facts.restore_hours if facts.restore_hours is not None else QUICK_RESTORE_HOURS
        return Finding(Risk.NONE, (
            f"The {what} data were restored {backup}within {hours:g} hours, without consequences for the people: "
            f"the {side} risk is minimal ({_G}, case 01).",))
    backup = "" if facts.backup_available else " and no usable backup existed"
    if side == "integrity":
        if fragile:
            return Finding(Risk.HIGH, (
                f"Special-category data or data about vulnerable people were altered and not restored{backup}: "
                f"decisions taken on wrong data, e.g. medical care, can seriously harm them, a high risk.",))
        return Finding(Risk.RISK, (
            f"The data were altered and not restored{backup}: decisions or services based on wrong data can "
            f"harm the people, a risk (ENISA: loss of integrity).",))
    slow = "restoring them takes longer or affects people" if facts.backup_available else "they were lost"
    if fragile:
        return Finding(Risk.HIGH, (
            f"Special-category data or data about vulnerable people were unavailable{backup} and {slow}: people "
            f"can be harmed, e.g. by delayed medical care, a high risk ({_G}, case 03).",))
    return Finding(Risk.RISK, (
        f"The data were unavailable{backup} and {slow}: a risk for the people, e.g. delays in services they rely "
        f"on ({_G}, case 02).",))


_ENISA = {Severity.LOW: Risk.NONE, Severity.MEDIUM: Risk.RISK, Severity.HIGH: Risk.HIGH, Severity.VERY_HIGH: Risk.HIGH}


def grade(facts: BreachFacts) -> RiskGrade:
    """The risk to people's rights and freedoms, with the reasons for it."""
    if facts.confidentiality is Exposure.NONE and not facts.integrity and not facts.availability:
        return RiskGrade(Risk.NONE, (
            "No loss of confidentiality, integrity or availability is recorded: without one it is not a personal "
            "data breach (Art. 4(12)); record the facts if they are still being established.",), Risk.NONE, False)
    conf, unprotected = _confidentiality(facts)
    findings = [conf]
    if facts.availability:
        findings.append(_loss(facts, "unavailable"))
        if facts.integrity:
            findings.append(Finding(Risk.NONE, (
                "Data encrypted or corrupted by the attack are unusable rather than wrong: the loss is graded as one "
                "of availability.",)))
    elif facts.integrity:
        findings.append(_loss(facts, "altered"))
    level = _highest(f.level for f in findings)
    reasons = [r for f in findings for r in f.reasons]
    protected = facts.confidentiality is not Exposure.NONE and (
        facts.encryption is Encryption.KEY_SAFE
        or (facts.strong_password_hash and facts.data_categories == frozenset({"credentials"})))
    if facts.severity is not None:
        enisa = _ENISA[facts.severity.severity]
        note = (f"ENISA severity {facts.severity.score:.2f} ({facts.severity.severity.value}) suggests "
                f"'{enisa.value}'")
        if enisa.rank > level.rank and protected:
            reasons.append(note + ", but its score does not reflect that the data were unintelligible to anyone not "
                                  "authorised: the grade from the facts stands.")
        elif enisa.rank > level.rank:
            level = enisa
            reasons.append(note + ", which raises the grade from the facts alone.")
        else:
            reasons.append(note + ".")
    return RiskGrade(level, tuple(reasons), unprotected,
                     facts.encryption is Encryption.KEY_SAFE and facts.confidentiality is not Exposure.NONE)


@dataclass(frozen=True)
class Suggestion:
    kind: DecisionKind
    suggested: bool
    risk: Risk
    explanation: tuple[str, ...]  # one reason per line, citing the article and the EDPB reasoning
    exemptions: tuple[str, ...] = ()  # e.g. "Art. 34(3)(a)"
    alternative: str | None = None  # e.g. a public communication instead (Art. 34(3)(c))

    def text(self) -> str:
        lines = list(self.explanation)
        if self.exemptions:
            lines.append("Exemptions applied: " + ", ".join(self.exemptions) + ".")
        if self.alternative:
            lines.append("Instead: " + self.alternative + ".")
        return "\n".join(lines)


@dataclass(frozen=True)
class Advice:
    authority: Suggestion
    subjects: Suggestion


_DOCUMENT = ("Document the breach, its effects, the remedial action and this reasoning in the breach register "
             "whatever the decision (Art. 33(5); " + _G + ", para. 15).")


def suggest_authority(facts: BreachFacts, grade_: RiskGrade | None = None) -> Suggestion:
    """Art. 33(1): notify the supervisory authority unless the breach is unlikely to result in a risk."""
    g = grade_ or grade(facts)
    lines = [f"Risk to people: {g.level.value}.", *g.reasons]
    if g.level is Risk.NONE:
        lines.append("Art. 33(1): no notification is due when the breach is unlikely to result in a risk to the "
                     "rights and freedoms of natural persons. If the risk later materialises, the authority can use "
                     f"its corrective powers ({_G}, para. 10): reassess when new facts emerge.")
    else:
        lines.append("Art. 33(1): the breach is likely to result in a risk, so notify the competent supervisory "
                     "authority without undue delay and, where feasible, within 72 hours of becoming aware; details "
                     "may follow in phases (Art. 33(4)). Art. 34(3) exemptions do not remove this duty.")
    lines.append(_DOCUMENT)
    return Suggestion(DecisionKind.NOTIFY_AUTHORITY, g.level is not Risk.NONE, g.level, tuple(lines))


def suggest_subjects(facts: BreachFacts, grade_: RiskGrade | None = None) -> Suggestion:
    """Art. 34: communicate to the data subjects when the breach is likely to result in a high risk."""
    g = grade_ or grade(facts)
    lines = [f"Risk to people: {g.level.value}.", *g.reasons]
    kind = DecisionKind.NOTIFY_SUBJECTS
    if g.level is not Risk.HIGH:
        exemptions: tuple[str, ...] = ()
        if g.protected_by_encryption and g.unprotected_confidentiality is Risk.HIGH:
            exemptions = ("Art. 34(3)(a)",)
            lines.append("Without the encryption the disclosure would be a high risk; Art. 34(3)(a) exempts the "
                         "controller from telling the people because the data are unintelligible to others.")
        if facts.mitigated or facts.disproportionate_effort:
            lines.append("Art. 34(3)(b)/(c) recorded, but not needed: they matter only where the risk would "
                         "otherwise be high.")
        lines.append(f"Art. 34(1): the people must be told only when the breach is likely to result in a high risk; "
                     f"here it is '{g.level.value}'. Telling them anyway can still help them protect themselves "
                     f"({_G}, case 06).")
        return Suggestion(kind, False, g.level, tuple(lines), exemptions)
    if facts.mitigated:
        measures = f" ({facts.mitigation.strip()})" if facts.mitigation.strip() else ""
        lines.append(f"Art. 34(3)(b): the controller has taken subsequent measures{measures} which ensure that the "
                     f"high risk is no longer likely to materialise, so no communication is required; record the "
                     f"measures and why they remove the risk. The authority may still require it (Art. 34(4)).")
        return Suggestion(kind, False, g.level, tuple(lines), ("Art. 34(3)(b)",))
    if facts.disproportionate_effort:
        made = (f" Recorded: {facts.public_communication.strip()}." if facts.public_communication.strip()
                else " None is recorded yet.")
        lines.append("Art. 34(3)(c): telling each person individually would involve disproportionate effort, so a "
                     "public communication or similar measure must inform them in an equally effective manner."
                     + made)
        return Suggestion(kind, True, g.level, tuple(lines), ("Art. 34(3)(c)",),
                          "a public communication or similar measure informing the people as effectively "
                          "(Art. 34(3)(c))")
    lines.append("Art. 34(1)-(2): tell the people without undue delay, in clear and plain language: the nature of "
                 "the breach, a contact point, the likely consequences and the measures taken or proposed "
                 "(Art. 33(3)(b)-(d)), with advice on how they can protect themselves.")
    return Suggestion(kind, True, g.level, tuple(lines))


def suggest(facts: BreachFacts) -> Advice:
    """Both suggestions from one grading."""
    g = grade(facts)
    return Advice(suggest_authority(facts, g), suggest_subjects(facts, g))


def decision_record(suggestion: Suggestion, decision: bool, reasons: str, decided_by: str, decided_at: datetime,
                    incident_id: str) -> Decision:
    """The human decision as the store keeps it, with the suggestion it was taken against.

    Refuses empty reasons (Art. 33(5): the controller documents why it notified or not). `decided_at` must be
    timezone-aware. A decision that departs from the suggestion is allowed; see `departs_from_suggestion`.
    """
    problems = [name for name, value in (("reasons", reasons), ("decided_by", decided_by)) if not value.strip()]
    if problems:
        raise UsageError(f"a decision needs {' and '.join(problems)}", field=problems[0],
                         hint="give the reasons for the decision; they are kept for the authority (Art. 33(5))")
    return Decision(incident_id=incident_id, kind=suggestion.kind, decision=decision, reasons=reasons.strip(),
                    suggested=suggestion.suggested, suggestion_explanation=suggestion.text(),
                    decided_by=decided_by.strip(), decided_at=decided_at)


def departs_from_suggestion(decision: Decision) -> bool:
    return decision.suggested is not None and decision.decision != decision.suggested


def departure_note(decision: Decision) -> str | None:
    """A warning to show (and to keep in the timeline) when the human decided against the helper."""
    if not departs_from_suggestion(decision):
        return None
    what = {DecisionKind.NOTIFY_AUTHORITY: "notify the authority", DecisionKind.NOTIFY_SUBJECTS: "tell the people"}
    yes = "to" if decision.decision else "not to"
    was = "to" if decision.suggested else "not to"
    return (f"The decision {yes} {what[decision.kind]} departs from the helper's suggestion {was}: make sure the "
            f"reasons explain why (Art. 33(5)).")
