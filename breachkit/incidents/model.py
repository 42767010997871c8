"""The incident as a typed value: what the store keeps and what later stages (subjects, notices,
reports) receive. Pure data — no I/O. The store (`store.py`) maps these to tables.

Times are timezone-aware UTC. `aware_at` starts every legal clock and needs its justification
(EDPB Guidelines 9/2022: "a reasonable degree of certainty that a security incident has occurred
that has led to personal data being compromised"); `occurred_at` and `detected_at` are kept apart.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from breachkit.incidents.facts import CaseFacts
from breachkit.locales import canonical_locale

ID_PATTERN = re.compile(r"^BK-(\d{4})-(\d{4,})$")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware (give an offset, e.g. 2026-03-28T14:05:00+01:00)")
    return value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Status(enum.StrEnum):
    """Lifecycle: triage → investigating → contained → recovered → closed (reopen goes back to investigating)."""

    TRIAGE = "triage"
    INVESTIGATING = "investigating"
    CONTAINED = "contained"
    RECOVERED = "recovered"
    CLOSED = "closed"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.TRIAGE: frozenset({Status.INVESTIGATING, Status.CONTAINED, Status.CLOSED}),
    Status.INVESTIGATING: frozenset({Status.CONTAINED, Status.RECOVERED, Status.CLOSED}),
    Status.CONTAINED: frozenset({Status.INVESTIGATING, Status.RECOVERED, Status.CLOSED}),
    Status.RECOVERED: frozenset({Status.INVESTIGATING, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.INVESTIGATING}),
}


class Severity(enum.StrEnum):
    """The ENISA severity bands (SE < 2 low, < 3 medium, < 4 high, else very high)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class Role(enum.StrEnum):
    CONTROLLER = "controller"
    JOINT_CONTROLLER = "joint_controller"
    PROCESSOR = "processor"


# Controlled vocabularies: reports and counts group by these. Free text goes into the narratives.
DATA_CATEGORIES: dict[str, str] = {
    "identity": "Identity data (name, date of birth, account id)",
    "contact": "Contact data (email address, phone number, postal address)",
    "credentials": "Credentials (passwords, password hashes, tokens, security answers)",
    "online_identifiers": "Online identifiers (IP addresses, cookies, session ids)",
    "device_identifiers": "Device identifiers (device id, IMEI, serial number)",
    "location": "Location data",
    "usage": "Usage and consumption data (energy, telemetry, activity)",
    "financial": "Financial data (bank account, payment card, billing)",
    "official_id": "Official identification documents and numbers",
    "communications": "Content of communications",
    "orders": "Orders and purchases (items, prices, delivery details)",
    "contracts": "Contracts (terms, tariffs, contract numbers)",
    "insurance": "Insurance and policy data (policy numbers, cover, premiums)",
    "special": "Special categories (Art. 9: health, biometric, political, religious, sex life…)",
    "criminal": "Criminal convictions and offences (Art. 10)",
}
SPECIAL_DATA_CATEGORIES = frozenset({"special", "criminal"})
SUBJECT_CATEGORIES: dict[str, str] = {
    "customers": "Customers and end users",
    "installers": "Installers and business partners",
    "employees": "Employees",
    "children": "Children (under 18)",
    "vulnerable": "Vulnerable persons",
    "prospects": "Prospects and visitors",
}


def _vocabulary(allowed: dict[str, str], what: str) -> Any:
    def check(values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))} (known: {', '.join(allowed)})")
        return sorted(set(values))
    return AfterValidator(check)


DataCategories = Annotated[list[str], _vocabulary(DATA_CATEGORIES, "data category")]
SubjectCategories = Annotated[list[str], _vocabulary(SUBJECT_CATEGORIES, "subject category")]


class Scope(_Model):
    """What the breach touched: the time window and the identifiers involved (actors and systems).

    The subject-list builder queries the logs for everything these identifiers touched in the window.
    """

    since: UTCDateTime | None = None
    until: UTCDateTime | None = None
    systems: list[str] = Field(default_factory=list)  # service.name / host.name values
    source_ips: list[str] = Field(default_factory=list)  # addresses or CIDR ranges
    user_ids: list[str] = Field(default_factory=list)  # actor accounts (user.id)
    user_names: list[str] = Field(default_factory=list)
    device_ids: list[str] = Field(default_factory=list)
    imeis: list[str] = Field(default_factory=list)
    session_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window(self) -> Scope:
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValueError("scope: `until` is before `since`")
        return self

    @property
    def empty(self) -> bool:
        return not any((self.source_ips, self.user_ids, self.user_names, self.device_ids, self.imeis,
                        self.session_ids))

    def covers(self, key: Sequence[tuple[str, str]]) -> bool:
        """True when a value of a detection key is one of this scope's actors (an address may fall in a range)."""
        for field, value in key:
            target = KEY_FIELD_SCOPE.get(field)
            if target is None:
                continue
            if field == "source.ip":
                try:
                    address = ipaddress.ip_address(value)
                except ValueError:
                    continue
                if any(address in ipaddress.ip_network(n, strict=False) for n in self.source_ips
                       if ipaddress.ip_network(n, strict=False).version == address.version):
                    return True
            elif value in getattr(self, target):
                return True
        return False

    def merged(self, other: Scope) -> Scope:
        """The union of two scopes (the window widens to cover both)."""
        def lo(a: datetime | None, b: datetime | None) -> datetime | None:
            return min(a, b) if a is not None and b is not None else None

        def hi(a: datetime | None, b: datetime | None) -> datetime | None:
            return max(a, b) if a is not None and b is not None else None

        def union(a: list[str], b: list[str]) -> list[str]:
            return sorted(set(a) | set(b))

        return Scope(since=lo(self.since, other.since), until=hi(self.until, other.until),
                     systems=union(self.systems, other.systems), source_ips=union(self.source_ips, other.source_ips),
                     user_ids=union(self.user_ids, other.user_ids), user_names=union(self.user_names, other.user_names),
                     device_ids=union(self.device_ids, other.device_ids), imeis=union(self.imeis, other.imeis),
                     session_ids=union(self.session_ids, other.session_ids))


# Which scope list a detection key field feeds.
KEY_FIELD_SCOPE = {"source.ip": "source_ips", "user.id": "user_ids", "user.name": "user_names",
                   "device.id": "device_ids", "device.imei": "imeis", "session.id": "session_ids"}


class LinkedDetection(_Model):
    """A detection attached to an incident (a copy: the incident must not change when rules do)."""

    rule_id: str
    title: str
    level: str | None = None
    kind: str = "event"
    engine: str = "local"
    key: list[tuple[str, str]] = Field(default_factory=list)
    event_count: int = 0
    event_ids: list[str] = Field(default_factory=list)
    first_seen: UTCDateTime
    last_seen: UTCDateTime

    def scope(self) -> Scope:
        lists: dict[str, list[str]] = {}
        for field_name, value in self.key:
            target = KEY_FIELD_SCOPE.get(field_name)
            if target:
                lists.setdefault(target, []).append(value)
        return Scope(since=self.first_seen, until=self.last_seen, **lists)


class Impact(_Model):
    """Confidentiality / integrity / availability (Art. 4(12) classification)."""

    confidentiality: bool = False
    integrity: bool = False
    availability: bool = False


# The incident's own text that can be given per language: the subject emails show description, consequences,
# measures_taken and advice; the authority report description, consequences, measures_taken and measures_proposed.
TRANSLATABLE_FIELDS = ("description", "consequences", "measures_taken", "measures_proposed", "advice")


class NoticeText(_Model):
    """The incident's own text in one language (`Incident.translations`): an empty field is not translated."""

    description: str = ""
    consequences: str = ""
    measures_taken: str = ""
    measures_proposed: str = ""
    advice: str = ""

    def given(self) -> tuple[str, ...]:
        return tuple(f for f in TRANSLATABLE_FIELDS if getattr(self, f).strip())


def _translations(value: dict[str, NoticeText]) -> dict[str, NoticeText]:
    out: dict[str, NoticeText] = {}
    for tag, text in value.items():
        canonical = canonical_locale(tag)
        if canonical is None or canonical.startswith("x-"):
            raise ValueError(f"translations: {tag!r} is not a language tag (BCP 47, e.g. de, fr, de-AT)")
        if canonical in out:
            raise ValueError(f"translations: {tag!r} is given twice (as {canonical})")
        if text.given():
            out[canonical] = text
    return dict(sorted(out.items()))


class Incident(_Model):
    id: str
    title: str
    description: str = ""
    status: Status = Status.TRIAGE
    severity: Severity | None = None
    # The three moments, kept apart; `aware_at` starts the clocks.
    occurred_at: UTCDateTime | None = None
    occurred_until: UTCDateTime | None = None  # end of the period (None with ongoing=False: a single moment)
    ongoing: bool = False
    detected_at: UTCDateTime | None = None
    aware_at: UTCDateTime
    aware_justification: str = Field(min_length=1)
    processor_notified_at: UTCDateTime | None = None  # when a processor told us (Art. 33(2))
    how_discovered: str = ""
    role: Role = Role.CONTROLLER
    commander: str | None = None  # email of the incident commander
    regimes: list[str] = Field(default_factory=lambda: ["gdpr-33", "gdpr-34"])
    playbook: str | None = None
    lead_authority: str | None = None
    authority_reference: str | None = None  # the lead authority's case number (follow-up reports cite it)
    countries: list[str] = Field(default_factory=list)  # ISO 3166-1 alpha-2 where affected people live
    impact: Impact = Field(default_factory=Impact)
    cause: str = ""  # nature and cause, e.g. "credential stuffing by an external attacker"
    malicious: bool | None = None
    systems: list[str] = Field(default_factory=list)
    data_categories: DataCategories = Field(default_factory=list)
    subject_categories: SubjectCategories = Field(default_factory=list)
    approx_subjects: int | None = Field(default=None, ge=0)
    approx_records: int | None = Field(default=None, ge=0)
    consequences: str = ""
    measures_taken: str = ""
    measures_proposed: str = ""
    advice: str = ""  # what the people affected should do, specific to this incident (the subject emails)
    # The translatable fields above in other languages: language tag → text. The fields themselves are in the
    # source language, `notices.default_locale` (incidents stored before translations existed keep their strings).
    translations: Annotated[dict[str, NoticeText], AfterValidator(_translations)] = Field(default_factory=dict)
    delay_reasons: str = ""
    scope: Scope = Field(default_factory=Scope)
    # Roles of accounts in the scope (breachkit.subjects.roles): accounts declared used by someone else, and
    # accounts declared the actor's own (never told); an account in neither is inferred or flagged.
    compromised_accounts: list[str] = Field(default_factory=list)
    actor_accounts: list[str] = Field(default_factory=list)
    facts: CaseFacts = Field(default_factory=CaseFacts)  # what the Art. 33/34 suggestion rests on
    created_at: UTCDateTime
    updated_at: UTCDateTime
    version: int = 1

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError("an incident id looks like BK-2026-0007")
        return value

    @field_validator("countries")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not re.fullmatch(r"[A-Z]{2}", v)]
        if bad:
            raise ValueError(f"countries are ISO 3166-1 alpha-2 codes (e.g. DE), not {', '.join(map(repr, bad))}")
        return sorted(set(values))

    @field_validator("compromised_accounts", "actor_accounts")
    @classmethod
    def _accounts(cls, values: list[str]) -> list[str]:
        return sorted({v.strip() for v in values if v.strip()})

    @model_validator(mode="after")
    def _account_roles(self) -> Incident:
        both = sorted(set(self.compromised_accounts) & set(self.actor_accounts))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both compromised and the actor's own account")
        return self

    def text_in(self, locale: str, source_locale: str) -> NoticeText:
        """The translatable fields in `locale`: its translation (exact tag, then the base language's) field by field;
        the incident's own fields when `locale` is the source language's. Missing fields stay empty."""
        own = NoticeText(**{f: getattr(self, f) for f in TRANSLATABLE_FIELDS})
        tag = canonical_locale(locale) or locale
        language, source = tag.split("-")[0], (canonical_locale(source_locale) or source_locale).split("-")[0]
        layers = [self.translations.get(t) for t in dict.fromkeys((tag, language))]
        if language == source:
            layers.append(own)
        return NoticeText(**{f: next((getattr(x, f) for x in layers if x is not None and getattr(x, f).strip()), "")
                             for f in TRANSLATABLE_FIELDS})

    @property
    def special_categories(self) -> list[str]:
        return [c for c in self.data_categories if c in SPECIAL_DATA_CATEGORIES]

    @property
    def children(self) -> bool:
        return "children" in self.subject_categories

    @property
    def containment(self) -> str:
        """What the report and every notice say about the breach's state, from the same two fields: "ongoing"
        (still happening), "contained" (status contained, recovered or closed), or "ended" (not ongoing, while
        the incident is still being handled)."""
        if self.ongoing:
            return "ongoing"
        return "contained" if self.status in (Status.CONTAINED, Status.RECOVERED, Status.CLOSED) else "ended"


# Fields a user may change with `incident update` (everything but identity, bookkeeping and status).
EDITABLE_FIELDS = frozenset(Incident.model_fields) - {"id", "created_at", "updated_at", "version", "status"}


def format_id(year: int, number: int) -> str:
    return f"BK-{year:04d}-{number:04d}"


class TaskState(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"


class ActionKind(enum.StrEnum):
    """What was done on an incident that can complete a playbook task (playbooks/README.md, `completed_by`)."""

    FILING = "filing"  # a report filed for a regime stage (of a filing kind, if given)
    NOTICES_DELIVERED = "notices_delivered"  # every approved subject notice of a version delivered
    PUBLIC_COMMUNICATION = "public_communication"  # a public communication recorded (Art. 34(3)(c))
    DECISION = "decision"  # the notification decision(s) of the given kind(s) recorded
    APPROVAL = "approval"  # a version of the notices (subject) or of the authority report approved
    NOT_REQUIRED = "not_required"  # the regime stage is not required (a recorded decision): the task is skipped


class TaskAction(_Model):
    """One action that completes a task (or, `not_required`, makes it not apply)."""

    action: ActionKind
    regime: str | None = None  # filing, public_communication, not_required
    stage: str | None = None
    kind: list[str] = Field(default_factory=list)  # filing kind(s); decision kind(s) (all of them); approval kind

    @field_validator("kind", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _complete(self) -> TaskAction:
        needs_stage = {ActionKind.FILING, ActionKind.NOT_REQUIRED}
        if self.action in needs_stage and (self.regime is None or self.stage is None):
            raise ValueError(f"`{self.action.value}` needs a regime and a stage")
        if (self.regime is None) != (self.stage is None):
            raise ValueError("give both regime and stage, or neither")
        if self.action is ActionKind.DECISION:
            unknown = [k for k in self.kind if k not in {d.value for d in DecisionKind}]
            if not self.kind or unknown:
                raise ValueError(f"`decision` needs kind: one or more of {', '.join(d.value for d in DecisionKind)}")
        if self.action is ActionKind.FILING:
            unknown = [k for k in self.kind if k not in {f.value for f in FilingKind}]
            if unknown:
                raise ValueError(f"unknown filing kind {', '.join(unknown)} (known: "
                                 f"{', '.join(f.value for f in FilingKind)})")
        if self.action is ActionKind.APPROVAL and not set(self.kind) <= {"subject", "authority"}:
            raise ValueError("`approval` takes kind subject or authority")
        return self

    def describe(self) -> str:
        where = f" {self.regime}.{self.stage}" if self.regime else ""
        kinds = f" ({', '.join(self.kind)})" if self.kind else ""
        return f"{self.action.value}{where}{kinds}"


class Task(_Model):
    """A playbook task of one incident. `due_at` = aware_at + the playbook's offset."""

    incident_id: str
    key: str  # the playbook's task id, unique within the incident
    title: str
    role: str  # owner role (commander, dpo, security, legal, communications…)
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)  # keys of tasks to finish first
    assignee: str | None = None  # email
    due_at: UTCDateTime | None = None
    checklist: list[str] = Field(default_factory=list)
    checked: list[int] = Field(default_factory=list)  # indexes of checked items
    state: TaskState = TaskState.OPEN
    completed_at: UTCDateTime | None = None
    completed_by: str | None = None
    note: str = ""
    # The actions that complete the task by themselves (any one of them; from the playbook's `completed_by`).
    done_when: list[TaskAction] = Field(default_factory=list)
    # Set on the task as shown (never stored): the action that completed (or skipped) it.
    done_by_action: str | None = None
    version: int = 1  # of the task's row in the store (optimistic locking: a change names the version it read)


class DecisionKind(enum.StrEnum):
    NOTIFY_AUTHORITY = "notify_authority"
    NOTIFY_SUBJECTS = "notify_subjects"


class Decision(_Model):
    """A human decision, with the helper's suggestion it was taken against and the reasons (Art. 33(5)), and the
    facts the suggestion was computed from (one-off `--fact` overrides among them)."""

    incident_id: str
    kind: DecisionKind
    decision: bool
    reasons: str = Field(min_length=1)
    suggested: bool | None = None
    suggestion_explanation: str = ""
    decided_by: str
    decided_at: UTCDateTime
    facts: dict[str, Any] = Field(default_factory=dict)  # the incident's facts as used (overrides applied)
    overrides: dict[str, Any] = Field(default_factory=dict)  # one-off overrides given with this decision
    assumptions: list[str] = Field(default_factory=list)  # what the suggestion assumed for unknown facts


class Assessment(_Model):
    """An ENISA severity assessment (SE = DPC × EI + CB), kept with every input and the assessor's notes."""

    incident_id: str
    dpc: float = Field(ge=1, le=4)  # data processing context, after adjustments
    dpc_basis: str = ""  # the base category and the adjustments applied
    ei: float  # ease of identification: 0.25, 0.5, 0.75, 1
    cb_confidentiality: float = 0
    cb_integrity: float = 0
    cb_availability: float = 0
    cb_malicious: float = 0
    score: float
    severity: Severity
    notes: str = ""
    assessed_by: str
    assessed_at: UTCDateTime


class FilingKind(enum.StrEnum):
    INITIAL = "initial"
    FOLLOW_UP = "follow_up"
    FINAL = "final"
    PUBLIC_COMMUNICATION = "public_communication"  # Art. 34(3)(c): a public communication instead of messages


class Filing(_Model):
    """A report filed with an authority (or a communication made), which stops a regime stage's clock."""

    incident_id: str
    regime: str
    stage: str
    kind: FilingKind = FilingKind.INITIAL
    filed_at: UTCDateTime
    reference: str | None = None  # the authority's case number, for follow-ups
    recipient: str = ""  # the authority or channel
    content_sha256: str | None = None  # of the document filed (kept in the store), None: no document kept
    document_name: str | None = None  # the file name it was filed from
    document_size: int | None = Field(default=None, ge=0)
    approval_id: int | None = None  # the approved authority report whose bytes the document is
    filed_by: str
    note: str = ""


class Approval(_Model):
    """A rendered set approved by a person (four eyes): the hash of every message (subject notices) or of every
    format (authority report), exactly as they are sent or filed. Stored with the hashes (`manifest`)."""

    id: int
    incident_id: str
    kind: str  # subject | authority
    version: int
    approved_at: UTCDateTime  # also the messages' Date header (RFC 5322 origination date)
    approved_by: str
    reason: str
    messages: int  # messages (or report formats) approved
    sha256: str  # of the manifest: one line per message, "<key>\t<sha256 of its bytes>"
    summary: dict[str, Any] = Field(default_factory=dict)  # per_locale, rejected, report_type, formats…


class TimelineEntry(_Model):
    """One append-only line of the incident's history: who changed what, when, and why."""

    incident_id: str
    seq: int
    at: UTCDateTime
    actor: str
    action: str  # opened, updated, status, note, task, assessment, decision, filing, detection, subjects, notice…
    reason: str = ""
    changes: dict[str, Any] = Field(default_factory=dict)  # field → [old, new] (or a payload summary)
