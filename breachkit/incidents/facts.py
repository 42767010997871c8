"""The decision facts of a case: what the Art. 33/34 suggestion rests on, kept on the incident (`Incident.facts`)
with a controlled vocabulary, set with `incident update --set facts.<name>=<value>` and shown by `incident show`.

Every fact starts `unknown`, and the decision helper never reads unknown as the safe value: it states what it
assumed instead (`incidents.resolve`). `parse_fact_changes` checks names and values and lists the valid ones;
`CaseFacts` refuses impossible combinations, naming the field (deletion by a recipient needs a recipient).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from breachkit.errors import Location, Problem, UsageError


class Reach(enum.StrEnum):
    """How far the data went (confidentiality)."""

    UNKNOWN = "unknown"
    WIDE = "wide"  # an attacker or thief, unknown or very many recipients, the internet
    LIMITED = "limited"  # a known, limited number of recipients who are not bound to confidentiality
    TRUSTED = "trusted"  # a known recipient bound to confidentiality (a professional, a partner under contract)


class Deletion(enum.StrEnum):
    """Whether the recipient deleted or returned the data."""

    UNKNOWN = "unknown"
    CONFIRMED = "confirmed"  # deleted or returned, and confirmed (in writing)
    REQUESTED = "requested"  # asked to delete or return, not confirmed
    NO = "no"


class Exfiltration(enum.StrEnum):
    UNKNOWN = "unknown"
    RULED_OUT = "ruled_out"  # with evidence (outbound logs, forensics)
    CONFIRMED = "confirmed"


class Encryption(enum.StrEnum):
    UNKNOWN = "unknown"
    NONE = "none"
    KEY_SAFE = "key_safe"  # state-of-the-art algorithm, key neither compromised nor derivable
    KEY_COMPROMISED = "key_compromised"


class Hashing(enum.StrEnum):
    """How passwords were stored (matters only when credentials are among the data)."""

    UNKNOWN = "unknown"
    NONE = "none"  # plain text or reversible
    WEAK = "weak"  # fast or unsalted hashes (MD5, SHA-1…)
    STRONG_SALTED = "strong_salted"  # a slow, salted, state-of-the-art hash, salt not compromised


class Backup(enum.StrEnum):
    UNKNOWN = "unknown"
    NONE = "none"
    AVAILABLE = "available"


class DeviceProtection(enum.StrEnum):
    """A lost or stolen device's protection besides encryption."""

    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"  # no device was lost or stolen
    NONE = "none"
    PASSWORD = "password"  # noqa: S105 - a password or screen lock only (no encryption: the disk stays readable)
    REMOTE_WIPED = "remote_wiped"


class Answer(enum.StrEnum):
    UNKNOWN = "unknown"
    YES = "yes"
    NO = "no"


class CaseFacts(BaseModel):
    """The decision facts of one incident. Every value but the free texts is from a controlled vocabulary."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    confidentiality_reach: Reach = Reach.UNKNOWN
    recipient_deletion: Deletion = Deletion.UNKNOWN
    unintended_recipients: int | None = Field(default=None, ge=0)  # how many received the data by mistake
    exfiltration: Exfiltration = Exfiltration.UNKNOWN
    encryption: Encryption = Encryption.UNKNOWN
    password_hashing: Hashing = Hashing.UNKNOWN
    backup: Backup = Backup.UNKNOWN
    restore_hours: float | None = Field(default=None, ge=0)  # how long restoring took (or will take)
    outage_affected_people: Answer = Answer.UNKNOWN  # did the outage affect people (care, payments, deliveries)?
    device_protection: DeviceProtection = DeviceProtection.UNKNOWN
    misuse_observed: Answer = Answer.UNKNOWN  # were the data used against the people (phishing, fraud)?
    already_public: Answer = Answer.UNKNOWN  # were the data public before the breach?
    high_risk_removed_by: str = ""  # Art. 34(3)(b): the measures taken since that remove the high risk
    disproportionate_effort: str = ""  # Art. 34(3)(c): why telling each person is disproportionate
    public_communication: str = ""  # Art. 34(3)(c): the public communication made instead (where, when)

    @model_validator(mode="after")
    def _combinations(self) -> CaseFacts:
        for problem in combination_problems(self):
            raise ValueError(f"{problem.location.field}: {problem.message}")
        return self

    def unknown(self) -> list[str]:
        """The facts still unknown (free texts aside)."""
        return [name for name in FACT_VALUES if getattr(self, name) in (None, "unknown")]


# name → what it means and its values (a number for restore_hours / unintended_recipients, text for the rest)
FACT_HELP: dict[str, str] = {
    "confidentiality_reach": "how far the data went: wide (attacker, thief, unknown recipients), limited (known "
                             "recipients), trusted (a recipient bound to confidentiality)",
    "recipient_deletion": "whether the recipient deleted or returned the data",
    "unintended_recipients": "how many people received the data by mistake (a number)",
    "exfiltration": "whether data were copied out (ruled_out needs evidence)",
    "encryption": "encryption of the data: key_safe = state-of-the-art algorithm, key not compromised",
    "password_hashing": "how passwords were stored (only matters when credentials are among the data)",
    "backup": "whether a usable backup existed",
    "restore_hours": "hours until the data were available again (a number)",
    "outage_affected_people": "whether the outage affected people (delayed care, payments, deliveries)",
    "device_protection": "a lost or stolen device's protection besides encryption",
    "misuse_observed": "whether the data were seen used against the people (phishing, fraud, contact)",
    "already_public": "whether the data were public before the breach",
    "high_risk_removed_by": "Art. 34(3)(b): measures taken since that remove the high risk (text)",
    "disproportionate_effort": "Art. 34(3)(c): why telling each person would be disproportionate (text)",
    "public_communication": "Art. 34(3)(c): the public communication made instead (text)",
}
_ENUMS: dict[str, type[enum.StrEnum]] = {
    "confidentiality_reach": Reach, "recipient_deletion": Deletion, "exfiltration": Exfiltration,
    "encryption": Encryption, "password_hashing": Hashing, "backup": Backup,
    "outage_affected_people": Answer, "device_protection": DeviceProtection, "misuse_observed": Answer,
    "already_public": Answer}
FACT_VALUES: dict[str, tuple[str, ...]] = {
    **{name: tuple(v.value for v in kind) for name, kind in _ENUMS.items()},
    "unintended_recipients": ("a number", "unknown"), "restore_hours": ("a number", "unknown")}
_NUMBERS = {"unintended_recipients": int, "restore_hours": float}
_TEXTS = ("high_risk_removed_by", "disproportionate_effort", "public_communication")


def combination_problems(facts: CaseFacts) -> list[Problem]:
    """Combinations that cannot be true together, each naming the field to fix (`facts` may be built with
    `model_construct` from plain values, before validation)."""
    problems: list[Problem] = []
    deletion, reach = Deletion(facts.recipient_deletion), Reach(facts.confidentiality_reach)
    if deletion in (Deletion.CONFIRMED, Deletion.REQUESTED):
        if reach is Reach.UNKNOWN:
            problems.append(Problem(
                f"deletion {deletion.value} needs a recipient: say who received the data first "
                "(confidentiality_reach limited, trusted or wide)", Location(field="facts.recipient_deletion")))
        elif facts.unintended_recipients == 0:
            problems.append(Problem(f"deletion {deletion.value} needs a recipient: unintended_recipients is 0",
                                    Location(field="facts.recipient_deletion")))
    if facts.public_communication.strip() and not facts.disproportionate_effort.strip():
        problems.append(Problem("a public communication replaces individual ones only when telling each person "
                                "would be disproportionate: give the reason too",
                                Location(field="facts.disproportionate_effort")))
    return problems


def _value(name: str, raw: Any) -> tuple[Any, str | None]:
    """The value of fact `name` from user input, or an error message listing the valid values."""
    if name in _TEXTS:
        return ("" if raw is None else str(raw)), None
    if name in _NUMBERS:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "unknown")):
            return None, None
        try:
            number = _NUMBERS[name](raw)
        except (TypeError, ValueError):
            return None, f"{raw!r} is not a number (or unknown)"
        if isinstance(raw, bool) or number < 0:
            return None, f"{raw!r} is not a number of 0 or more (or unknown)"
        return number, None
    text = ("yes" if raw else "no") if isinstance(raw, bool) else str(raw).strip().lower()
    allowed = FACT_VALUES[name]
    if text not in allowed:
        return None, f"{raw!r} is not one of: {', '.join(allowed)}"
    return text, None


def parse_fact_changes(changes: Mapping[str, Any], *, prefix: str = "facts.") -> dict[str, Any]:
    """Validate fact names and values (names without `prefix`), every problem at once: an unknown name lists the
    known ones, a bad value lists the valid values. Raises UsageError naming each field."""
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, raw in changes.items():
        if name not in FACT_HELP:
            problems.append(Problem(f"unknown fact {name!r} (known: {', '.join(FACT_HELP)})",
                                    Location(field=prefix + name)))
            continue
        value, error = _value(name, raw)
        if error:
            problems.append(Problem(error, Location(field=prefix + name)))
        else:
            out[name] = value
    if problems:
        raise UsageError(problems[0].message if len(problems) == 1 else f"{len(problems)} invalid facts",
                         field=problems[0].location.field, problems=problems if len(problems) > 1 else None,
                         hint="`breachkit incident facts` lists every fact with its values")
    return out


def merged_facts(current: CaseFacts, changes: Mapping[str, Any], *, prefix: str = "facts.") -> CaseFacts:
    """`current` with validated `changes`; an impossible combination is refused with the field to fix."""
    values = {**current.model_dump(), **parse_fact_changes(changes, prefix=prefix)}
    problems = combination_problems(CaseFacts.model_construct(**values))
    if problems:
        raise UsageError(problems[0].message, field=problems[0].location.field,
                         problems=problems if len(problems) > 1 else None,
                         hint="set the facts it depends on in the same update")
    try:
        return CaseFacts.model_validate(values)
    except ValidationError as exc:  # pragma: no cover - every value was checked above
        raise UsageError(f"invalid facts: {exc.errors()[0]['msg']}", field="facts") from None


def describe_facts() -> list[dict[str, Any]]:
    """Every fact with its meaning and values (for `incident facts` and the web board)."""
    return [{"name": name, "help": FACT_HELP[name], "values": list(FACT_VALUES.get(name, ("text",))),
             "default": "" if name in _TEXTS else "unknown"} for name in FACT_HELP]
