"""The detections document (`breachkit.detections/1`): what `breachkit detect -o json` prints and
`incident open --detections` / `incident link` read back; `-o ndjson` prints one detection per line."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from breachkit.document import Document

if TYPE_CHECKING:
    from breachkit.detect.model import NotRun
    from breachkit.detect.run import Detection, DetectionRun


class DetectionItem(BaseModel):
    """One detection: a rule (or correlation) firing for one actor or group key."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    rule_id: str
    title: str
    level: str | None = None
    tags: list[str] = Field(default_factory=list)
    kind: str = "event"  # "event" or the correlation type
    engine: str = "local"
    key: dict[str, str]  # the actor or group: field → value, in the rule's order
    count: int  # events
    event_ids: list[str] = Field(default_factory=list)
    first_seen: datetime
    last_seen: datetime

    @model_validator(mode="before")
    @classmethod
    def _count(cls, data: Any) -> Any:
        if isinstance(data, dict) and "count" not in data:  # hand-written or older files: the events listed
            return {**data, "count": len(data.get("event_ids") or [])}
        return data

    @field_validator("key", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, list):  # [[field, value], …] as older files wrote it
            return {str(k): str(v) for k, v in value}
        return value

    @classmethod
    def of(cls, d: Detection) -> DetectionItem:
        return cls(rule_id=d.rule_id, title=d.title, level=d.level, tags=list(d.tags), kind=d.kind, engine=d.engine,
                   key=dict(d.key), count=d.count, event_ids=list(d.event_ids), first_seen=d.first_seen,
                   last_seen=d.last_seen)


class RuleTimingItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    rule_id: str
    title: str
    seconds: float
    detections: int


class NotRunItem(BaseModel):
    """A rule that did not run, and why: `skipped` (cannot run here, e.g. its logsource maps to no data),
    `broken` (the file or rule is invalid) or `failed` (the engine rejected its query)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: Literal["skipped", "broken", "failed"]
    reason: str
    path: str | None = None
    line: int | None = None
    rule_id: str | None = None  # None: the file did not parse far enough to tell which rule
    title: str | None = None

    @classmethod
    def of(cls, n: NotRun) -> NotRunItem:
        return cls(kind=n.kind, reason=n.reason, path=n.location.path, line=n.location.line,
                   rule_id=n.meta.id if n.meta else None, title=n.meta.title if n.meta else None)


class DetectionsDocument(Document):
    SCHEMA = "breachkit.detections/1"

    engine: str
    since: datetime | None = None
    until: datetime | None = None
    detections: list[DetectionItem]
    timings: list[RuleTimingItem] = Field(default_factory=list)
    rules_run: int | None = None  # rules and correlations that ran to the end (None: not recorded)
    not_run: list[NotRunItem] = Field(default_factory=list)  # selected rules that did not run, with the reason
    notes: list[str] = Field(default_factory=list)  # about the events searched (e.g. unfinished ingests left out)

    @classmethod
    def of(cls, run: DetectionRun) -> DetectionsDocument:
        return cls.create(engine=run.engine, since=run.window.since, until=run.window.until,
                          detections=[DetectionItem.of(d) for d in run.detections],
                          timings=[RuleTimingItem(rule_id=t.rule_id, title=t.title, seconds=round(t.seconds, 4),
                                                  detections=t.detections) for t in run.timings],
                          rules_run=run.ran, not_run=[NotRunItem.of(n) for n in run.not_run],
                          notes=list(run.notes))
