"""The incident stage's result documents: one incident with everything recorded about it
(`breachkit.incident/1`), the legal clock (`breachkit.clock/1`) and the notification suggestion and decisions
(`breachkit.decision/1`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from breachkit.document import Document
from breachkit.incidents.clock import Deadline
from breachkit.incidents.model import Decision, Filing, Incident, Task, TimelineEntry
from breachkit.incidents.timing import task_timing


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DeadlineItem(_Item):
    incident: str
    regime: str
    stage: str
    title: str
    due_at: datetime | None  # None: "without undue delay"
    status: str  # running | overdue | met | late | open | not_required
    filed_at: datetime | None = None
    provisional: bool = False  # counted from an earlier stage that is not filed yet
    remaining_seconds: float | None = None  # negative when overdue
    elapsed_seconds: float
    needs_delay_reasons: bool  # past the deadline and the incident records no reasons yet
    met_at: datetime | None = None  # when it was met, or found not required (the clock stopped)
    met_by: str | None = None  # filing | notices_delivered | public_communication | decision
    detail: str = ""  # what met it (or why it is not required), in words

    @classmethod
    def of(cls, incident: Incident, d: Deadline) -> DeadlineItem:
        return cls(incident=incident.id, regime=d.regime, stage=d.stage, title=d.title, due_at=d.due_at,
                   status=d.status.value, filed_at=d.filed_at, provisional=d.provisional,
                   remaining_seconds=None if d.remaining is None else d.remaining.total_seconds(),
                   elapsed_seconds=d.elapsed.total_seconds(),
                   needs_delay_reasons=d.needs_delay_reasons and not incident.delay_reasons,
                   met_at=d.met_at, met_by=d.met_by, detail=d.detail)


class ClockDocument(Document):
    SCHEMA = "breachkit.clock/1"

    at: datetime
    zone: str  # the display zone (times in the document are UTC)
    deadlines: list[DeadlineItem]

    @classmethod
    def of(cls, rows: Sequence[tuple[Incident, Deadline]], at: datetime, zone: str) -> ClockDocument:
        return cls.create(at=at, zone=zone, deadlines=[DeadlineItem.of(i, d) for i, d in rows])


class IncidentDocument(Document):
    SCHEMA = "breachkit.incident/1"

    at: datetime
    incident: dict[str, Any]
    deadlines: list[DeadlineItem]
    tasks: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    filings: list[dict[str, Any]]
    timeline: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, incident: Incident, deadlines: Sequence[Deadline], tasks: Sequence[Task],
           decisions: Sequence[Decision], filings: Sequence[Filing], timeline: Sequence[TimelineEntry],
           at: datetime, soon: timedelta = timedelta(hours=12)) -> IncidentDocument:
        return cls.create(at=at, incident=incident.model_dump(mode="json"),
                          deadlines=[DeadlineItem.of(incident, d) for d in deadlines],
                          tasks=[task_data(t, at, soon) for t in tasks],
                          decisions=[d.model_dump(mode="json") for d in decisions],
                          filings=[f.model_dump(mode="json") for f in filings],
                          timeline=[e.model_dump(mode="json") for e in timeline])


def task_data(task: Task, at: datetime, soon: timedelta) -> dict[str, Any]:
    """A task as data, with where it stands at `at` in words: due_state (done | skipped | overdue | due_soon | open |
    no_deadline), due_text ("overdue by 2 d 3 h"), remaining_seconds."""
    timing = task_timing(task, at, soon)
    return task.model_dump(mode="json") | {
        "due_state": timing.state.value, "due_text": timing.text,
        "remaining_seconds": None if timing.remaining is None else timing.remaining.total_seconds()}


class SuggestionItem(_Item):
    kind: str  # notify_authority | notify_subjects
    suggested: bool
    risk: str
    explanation: list[str]
    exemptions: list[str] = Field(default_factory=list)
    alternative: str | None = None


class CategoriesItem(_Item):
    declared: list[str]  # on the incident (what the responders believe)
    found: list[str] | None  # in the latest subject list (None: no list yet)
    used: list[str]  # the union the suggestion argues from
    found_in: int | None = None  # the subject list version


class AssumptionItem(_Item):
    fact: str  # the field to set, e.g. facts.exfiltration
    text: str  # what was assumed for it


class MissingItem(_Item):
    fact: str
    changes: list[str]  # the known values that would change the suggestion, and how


class DecisionDocument(Document):
    SCHEMA = "breachkit.decision/1"

    incident: str
    at: datetime
    facts: dict[str, Any]  # the resolved facts the suggestion was computed from (decide.BreachFacts)
    authority: SuggestionItem
    subjects: SuggestionItem
    recorded: list[dict[str, Any]] = Field(default_factory=list)  # decisions recorded by this call
    case_facts: dict[str, Any] = Field(default_factory=dict)  # the incident's decision facts as used
    overrides: dict[str, Any] = Field(default_factory=dict)  # one-off --fact values of this call
    categories: CategoriesItem | None = None
    assumptions: list[AssumptionItem] = Field(default_factory=list)  # every unknown fact and what was assumed
    missing: list[MissingItem] = Field(default_factory=list)  # what known values would change the suggestion
    notes: list[str] = Field(default_factory=list)  # facts stated that do not change the grade


class FindingItem(_Item):
    severity: str  # error | warning
    code: str
    field: str  # the field to fix
    message: str
    hint: str = ""


class CheckDocument(Document):
    """`breachkit.check/1`: the pre-filing check of one incident — errors block filing and sending."""

    SCHEMA = "breachkit.check/1"

    incident: str
    at: datetime
    report_type: str  # initial | follow_up | final
    subject_list: int | None  # the subject list version checked against (None: none yet)
    passed: bool  # no errors
    errors: int
    warnings: int
    findings: list[FindingItem]
