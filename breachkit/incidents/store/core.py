"""The incident store: SQLAlchemy 2 over SQLite (the default, a WAL file in the workspace) or PostgreSQL.

Every change goes through one transaction that (1) locks the incident row, (2) checks the version the
caller read (optimistic locking: a stale version raises ConflictError and writes nothing), (3) writes
the change and (4) appends a timeline entry saying who, when, what and why. The timeline and the audit
log are append-only: the database refuses UPDATE and DELETE on them (triggers from the migration).

A closed incident refuses every change (`load(..., change=…)` says which) except notes, the documentation of
what happened to messages already sent (`notices resolve --action sent|cancel`) and reopening it
(`reopen`, with a reason): a closed case is a record, changed only in the open.

SQLite transactions start with BEGIN IMMEDIATE (one writer at a time, waiting up to `busy_timeout`),
so two processes never both read a version and both write; PostgreSQL gets the same from
``SELECT … FOR UPDATE`` on the incident row plus the version check in the UPDATE itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Text, bindparam, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from breachkit.errors import ConflictError, InputError, NotFoundError, ServiceError, UsageError
from breachkit.incidents import tables as t
from breachkit.incidents.model import (
    EDITABLE_FIELDS,
    TRANSITIONS,
    Approval,
    Assessment,
    Decision,
    Filing,
    Incident,
    LinkedDetection,
    Status,
    Task,
    TaskState,
    TimelineEntry,
    format_id,
)
from breachkit.incidents.store.approvals import Approvals
from breachkit.incidents.store.engine import READ_ONLY, create_store_engine, migrate
from breachkit.incidents.store.outbox import Outbox
from breachkit.incidents.store.reminders import Reminders
from breachkit.incidents.store.scans import ScanState
from breachkit.incidents.store.subjects import SubjectLists
from breachkit.incidents.store.users import Users
from breachkit.incidents.store.values import as_utc, jsonable, no_incident, validation_problems

# The next timeline line in one statement (its seq: one more than the incident's last), built once.
_INCIDENT = bindparam("b_incident", type_=t.timeline.c.incident_id.type)
_APPEND = (insert(t.timeline)
           .values(incident_id=_INCIDENT,
                   seq=select(func.coalesce(func.max(t.timeline.c.seq), 0) + 1)
                   .where(t.timeline.c.incident_id == _INCIDENT).scalar_subquery(),
                   at=bindparam("b_at", type_=t.timeline.c.at.type), actor=bindparam("b_actor", type_=Text()),
                   action=bindparam("b_action", type_=Text()), reason=bindparam("b_reason", type_=Text()),
                   changes=bindparam("b_changes", type_=t.timeline.c.changes.type))
           .returning(t.timeline.c.seq))


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """Bound parameter lists stay well under SQLite's limit."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


_RECORD_MODELS: dict[str, type[Assessment] | type[Decision] | type[Filing]] = {
    "assessment": Assessment, "decision": Decision, "filing": Filing}


class IncidentStore:
    """Incidents, their timeline, tasks, records (assessments, decisions, filings), detections and audit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.display_url = make_url(url).render_as_string(hide_password=True)
        try:
            self.engine = create_store_engine(url)
            migrate(self.engine)
        except OperationalError as exc:
            raise ServiceError(f"cannot open the incident store {self.display_url}: {exc.orig}",
                               hint="check incidents.store.url and that the database server runs") from None
        # The other tables' repositories: every write to the store goes through this package, and each one
        # that changes an incident appends its timeline entry (and audit row) in the same transaction.
        self.outbox = Outbox(self)
        self.approvals = Approvals(self)
        self.subject_lists = SubjectLists(self)
        self.reminders = Reminders(self)
        self.scans = ScanState(self)
        self.users = Users(self)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> IncidentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise ServiceError(f"incident store {self.display_url}: {exc.orig}") from None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite a deferred one on the WAL snapshot, so readers (the board's
        pages, dozens at once) neither wait for nor block the one writer."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(**{READ_ONLY: True})
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise ServiceError(f"incident store {self.display_url}: {exc.orig}") from None

    # --- incidents ---------------------------------------------------------------------------------

    def open_incident(self, fields: Mapping[str, Any], *, actor: str, now: datetime, reason: str = "",
                      tasks: Sequence[Task] = (), detections: Sequence[LinkedDetection] = (),
                      detections_reason: str = "") -> Incident:
        """Create an incident (id BK-<year>-<n>, numbered per year of `aware_at`), its playbook tasks and its
        first linked detections, in one transaction."""
        unknown = sorted(set(fields) - EDITABLE_FIELDS)
        if unknown:
            raise UsageError(f"unknown incident fields: {', '.join(unknown)}")
        for _attempt in range(5):  # two processes may pick the same number; the unique key decides
            with self.transaction() as conn:
                draft = self._validate({**fields, "id": "BK-0000-0000", "created_at": now, "updated_at": now,
                                        "version": 1}, "incident")
                year = draft.aware_at.year
                number = (conn.execute(select(func.max(t.incidents.c.number)).where(t.incidents.c.year == year))
                          .scalar() or 0) + 1
                incident = draft.model_copy(update={"id": format_id(year, number)})
                try:
                    conn.execute(insert(t.incidents).values(self._row(incident) | {"year": year, "number": number}))
                except IntegrityError:
                    continue
                self.append_entry(conn, incident.id, now, actor, "opened", reason,
                             {"title": incident.title, "aware_at": incident.aware_at.isoformat(),
                              "playbook": incident.playbook, "tasks": len(tasks)})
                for position, task in enumerate(tasks):
                    task = task.model_copy(update={"incident_id": incident.id})
                    conn.execute(insert(t.tasks).values(
                        incident_id=incident.id, key=task.key, position=position, state=task.state.value,
                        due_at=task.due_at, version=1, data=jsonable(task.model_dump(mode="json",
                                                                                      exclude={"version"}))))
                if detections:
                    incident = self._link(conn, incident, detections, actor=actor, now=now,
                                          reason=detections_reason)[0]
                return incident
        raise ConflictError("could not allocate an incident number (too many concurrent openings); retry")

    @staticmethod
    def _row(incident: Incident) -> dict[str, Any]:
        return {"id": incident.id, "title": incident.title, "status": incident.status.value,
                "aware_at": incident.aware_at, "created_at": incident.created_at,
                "updated_at": incident.updated_at, "version": incident.version,
                "data": incident.model_dump(mode="json")}

    def _save(self, conn: Connection, current: Incident, changes: Mapping[str, Any], now: datetime) -> Incident:
        """Write `current` with `changes` as its next version; the row must still be at `current.version`."""
        updated = current.model_copy(update={**changes, "version": current.version + 1, "updated_at": now})
        result = conn.execute(update(t.incidents)
                              .where(t.incidents.c.id == current.id, t.incidents.c.version == current.version)
                              .values(self._row(updated)))
        if result.rowcount != 1:
            raise ConflictError(f"{current.id} was changed by someone else; nothing was written")
        return updated

    @staticmethod
    def _validate(data: Mapping[str, Any], where: str) -> Incident:
        try:
            return Incident.model_validate(dict(data))
        except ValidationError as exc:
            problems = validation_problems(exc, where)
            raise InputError(f"invalid {where} ({len(problems)} problems)", problems=problems) from None

    def load(self, conn: Connection, incident_id: str, *, lock: bool = False, change: str | None = None) -> Incident:
        """The incident (locked for the transaction with `lock`). `change` names a change about to be made: a
        closed incident refuses it."""
        query = select(t.incidents.c.data).where(t.incidents.c.id == incident_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise no_incident(incident_id)
        incident = Incident.model_validate(row[0])
        if change is not None and incident.status is Status.CLOSED:
            raise UsageError(f"{incident_id} is closed: {change} is refused (a closed case only takes notes)",
                             hint=f"reopen it first: breachkit incident reopen {incident_id} --reason …")
        return incident

    def get(self, incident_id: str) -> Incident:
        with self.read() as conn:
            return self.load(conn, incident_id)

    def list_incidents(self, *, status: Sequence[Status] = ()) -> list[Incident]:
        query = select(t.incidents.c.data).order_by(t.incidents.c.year, t.incidents.c.number)
        if status:
            query = query.where(t.incidents.c.status.in_([s.value for s in status]))
        with self.read() as conn:
            return [Incident.model_validate(r[0]) for r in conn.execute(query)]

    def update(self, incident_id: str, changes: Mapping[str, Any], *, expected_version: int, actor: str,
               now: datetime, reason: str = "", action: str = "updated", allow: frozenset[str] = EDITABLE_FIELDS,
               annotations: Mapping[str, Any] | None = None) -> Incident:
        """Apply `changes` if the incident is still at `expected_version`; record the change in the timeline
        (with `annotations`, e.g. an order check overridden and why)."""
        unknown = sorted(set(changes) - allow)
        if unknown:
            raise UsageError(f"these incident fields cannot be changed here: {', '.join(unknown)}")
        with self.transaction() as conn:
            current = self.load(conn, incident_id, lock=True,
                                change=None if action == "reopened" else "changing it")
            if current.version != expected_version:
                raise ConflictError(
                    f"{incident_id} was changed by someone else (now version {current.version}, "
                    f"you read version {expected_version}); nothing was written",
                    hint=f"see `breachkit incident show {incident_id}` and apply your change again")
            before = current.model_dump(mode="json")
            candidate = self._validate({**before, **jsonable(dict(changes))}, "incident update")
            after = candidate.model_dump(mode="json")
            diff = {k: [before[k], after[k]] for k in after if after[k] != before[k]}
            if not diff:
                return current
            updated = self._save(conn, candidate, {}, now)
            self.append_entry(conn, incident_id, now, actor, action, reason, {**diff, **(annotations or {})})
            return updated

    def set_status(self, incident_id: str, status: Status, *, expected_version: int, actor: str, now: datetime,
                   reason: str, reopen: bool = False) -> Incident:
        """Move along the lifecycle. A closed incident moves only when reopened (`reopen`, with a reason)."""
        current = self.get(incident_id)
        if current.status is Status.CLOSED and not reopen:
            raise UsageError(f"{incident_id} is closed: it changes only when reopened",
                             hint=f"breachkit incident reopen {incident_id} --reason …")
        if reopen and current.status is not Status.CLOSED:
            raise UsageError(f"{incident_id} is {current.status.value}, not closed: there is nothing to reopen")
        if reopen and not reason.strip():
            raise UsageError("reopening needs a reason", field="reason")
        if status != current.status and status not in TRANSITIONS[current.status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current.status]))
            raise UsageError(f"{incident_id} is {current.status.value}: it can move to {allowed}, not {status.value}")
        if status == Status.CLOSED and not any(d.kind.value == "notify_authority" for d in self.decisions(incident_id)):
            raise UsageError(f"{incident_id} cannot be closed before the decision on notifying the authority is "
                             "recorded (Art. 33(5): document every breach, notified or not)",
                             hint=f"breachkit incident decide {incident_id} --authority yes|no --reason …")
        return self.update(incident_id, {"status": status.value}, expected_version=expected_version, actor=actor,
                           now=now, reason=reason, action="reopened" if reopen else "status",
                           allow=frozenset({"status"}))

    def record_override(self, incident_id: str, action: str, errors: Sequence[Mapping[str, Any]], *, reason: str,
                        actor: str, now: datetime) -> TimelineEntry:
        """Record that someone went ahead with `action` (a filing, a report, sending notices) although the
        pre-filing check found `errors`: a timeline entry and an audit row, in one transaction."""
        if not reason.strip():
            raise UsageError("overriding the pre-filing check needs a reason (it is recorded)", field="reason")
        with self.transaction() as conn:
            self.load(conn, incident_id, lock=True)
            entry = self.append_entry(conn, incident_id, now, actor, "override", reason,
                                      {"action": action, "errors": list(errors)})
            self.audit("override", action, actor=actor, at=now, incident_id=incident_id, reason=reason,
                       detail={"errors": [e.get("code") for e in errors]}, conn=conn)
            return entry

    def note(self, incident_id: str, text_: str, *, actor: str, now: datetime) -> TimelineEntry:
        with self.transaction() as conn:
            self.load(conn, incident_id, lock=True)
            return self.append_entry(conn, incident_id, now, actor, "note", text_, {})

    def change_marker(self, incident_id: str | None = None) -> str:
        """A cheap value that changes whenever the store (or one incident) changes: every change appends a timeline
        entry (append-only, so the count only grows) and every export or view an audit row. For live views."""
        timeline = select(func.count()).select_from(t.timeline)
        audit = select(func.count()).select_from(t.audit)
        if incident_id is not None:
            timeline = timeline.where(t.timeline.c.incident_id == incident_id)
            audit = audit.where(t.audit.c.incident_id == incident_id)
        with self.read() as conn:
            return f"{conn.execute(timeline).scalar() or 0}.{conn.execute(audit).scalar() or 0}"

    # --- timeline ----------------------------------------------------------------------------------

    def append_entry(self, conn: Connection, incident_id: str, at: datetime, actor: str, action: str, reason: str,
                changes: Mapping[str, Any]) -> TimelineEntry:
        """Append a timeline entry; the caller holds the incident row (lock) so `seq` cannot collide."""
        values = jsonable(dict(changes))
        seq = conn.execute(_APPEND, {"b_incident": incident_id, "b_at": at, "b_actor": actor, "b_action": action,
                                     "b_reason": reason, "b_changes": values}).scalar_one()
        return TimelineEntry(incident_id=incident_id, seq=seq, at=at, actor=actor, action=action, reason=reason,
                             changes=values)

    def timeline(self, incident_id: str) -> list[TimelineEntry]:
        with self.read() as conn:
            self.load(conn, incident_id)
            rows = conn.execute(select(t.timeline).where(t.timeline.c.incident_id == incident_id)
                                .order_by(t.timeline.c.seq)).mappings()
            return [TimelineEntry(incident_id=r["incident_id"], seq=r["seq"], at=as_utc(r["at"]), actor=r["actor"],
                                  action=r["action"], reason=r["reason"], changes=r["changes"]) for r in rows]

    # --- detections --------------------------------------------------------------------------------

    def link_detections(self, incident_id: str, found: Sequence[LinkedDetection], *, actor: str,
                        now: datetime, reason: str = "") -> int:
        """Attach detections (once each) and widen the incident's scope to their actors and window."""
        with self.transaction() as conn:
            incident = self.load(conn, incident_id, lock=True, change="linking detections")
            return self._link(conn, incident, found, actor=actor, now=now, reason=reason)[1]

    def _link(self, conn: Connection, incident: Incident, found: Sequence[LinkedDetection], *, actor: str,
              now: datetime, reason: str) -> tuple[Incident, int]:
        known = set(conn.execute(select(t.detections.c.fingerprint)
                                 .where(t.detections.c.incident_id == incident.id)).scalars())
        fresh: list[LinkedDetection] = []
        for detection in found:
            fingerprint = hashlib.sha256(json.dumps(
                [detection.rule_id, detection.key, detection.first_seen.isoformat()]).encode()).hexdigest()
            if fingerprint in known:
                continue
            known.add(fingerprint)
            fresh.append(detection)
            conn.execute(insert(t.detections).values(incident_id=incident.id, fingerprint=fingerprint,
                                                     linked_at=now, data=detection.model_dump(mode="json")))
        if not fresh:
            return incident, 0
        scope = incident.scope if not incident.scope.empty else None
        for detection in fresh:
            scope = detection.scope() if scope is None else scope.merged(detection.scope())
        assert scope is not None
        updated = self._save(conn, incident, {"scope": scope}, now)
        self.append_entry(conn, incident.id, now, actor, "detection", reason,
                          {"linked": [f"{d.rule_id} {dict(d.key)}" for d in fresh],
                           "scope": [incident.scope.model_dump(mode="json"), scope.model_dump(mode="json")]})
        return updated, len(fresh)

    def detections(self, incident_id: str) -> list[LinkedDetection]:
        with self.read() as conn:
            rows = conn.execute(select(t.detections.c.data).where(t.detections.c.incident_id == incident_id)
                                .order_by(t.detections.c.linked_at, t.detections.c.fingerprint)).scalars()
            return [LinkedDetection.model_validate(r) for r in rows]

    # --- tasks -------------------------------------------------------------------------------------

    def tasks(self, incident_id: str) -> list[Task]:
        """The incident's tasks in playbook order, each with the version its row is at (optimistic locking)."""
        with self.read() as conn:
            self.load(conn, incident_id)
            rows = conn.execute(select(t.tasks.c.data, t.tasks.c.version).where(t.tasks.c.incident_id == incident_id)
                                .order_by(t.tasks.c.position))
            return [Task.model_validate({**data, "version": version}) for data, version in rows]

    def tasks_of(self, incident_ids: Sequence[str], *, open_only: bool = False) -> dict[str, list[Task]]:
        """The tasks of several incidents in one read (the board), each in playbook order; `open_only`: those still
        open in the store (what was done may yet complete some of them)."""
        out: dict[str, list[Task]] = {i: [] for i in incident_ids}
        with self.read() as conn:
            for chunk in _chunks(list(out)):
                query = (select(t.tasks.c.incident_id, t.tasks.c.data, t.tasks.c.version)
                         .where(t.tasks.c.incident_id.in_(chunk))
                         .order_by(t.tasks.c.incident_id, t.tasks.c.position))
                if open_only:
                    query = query.where(t.tasks.c.state == TaskState.OPEN.value)
                for incident_id, data, version in conn.execute(query):
                    out[incident_id].append(Task.model_validate({**data, "version": version}))
        return out

    def update_task(self, incident_id: str, key: str, changes: Mapping[str, Any], *, actor: str, now: datetime,
                    reason: str = "", expected_version: int | None = None) -> Task:
        """Assign, check items, complete or reopen a task; recorded in the incident's timeline. With
        `expected_version`, only if the task is still at that version (else ConflictError, nothing written)."""
        allowed = {"assignee", "state", "checked", "note"}
        if set(changes) - allowed:
            raise UsageError(f"task fields that can change: {', '.join(sorted(allowed))}")
        with self.transaction() as conn:
            self.load(conn, incident_id, lock=True, change="changing its tasks")
            row = conn.execute(select(t.tasks.c.data, t.tasks.c.version)
                               .where(t.tasks.c.incident_id == incident_id, t.tasks.c.key == key)).first()
            if row is None:
                raise NotFoundError(f"{incident_id} has no task {key!r}",
                                    hint=f"`breachkit incident task list {incident_id}` shows them")
            if expected_version is not None and row[1] != expected_version:
                raise ConflictError(
                    f"task {key!r} of {incident_id} was changed by someone else (now version {row[1]}, you read "
                    f"version {expected_version}); nothing was written",
                    hint=f"see `breachkit incident task list {incident_id}` and apply your change again")
            task = Task.model_validate({**row[0], "version": row[1]})
            data = task.model_dump(mode="json") | jsonable(dict(changes))
            if "state" in changes:
                done = changes["state"] in (TaskState.DONE.value, TaskState.SKIPPED.value)
                data |= {"completed_at": now.isoformat() if done else None, "completed_by": actor if done else None}
            bad = [i for i in data.get("checked", []) if not 0 <= i < len(task.checklist)]
            if bad:
                raise UsageError(f"task {key!r} has checklist items 1–{len(task.checklist)}, not "
                                 f"{', '.join(str(i + 1) for i in bad)}")
            new = Task.model_validate(data | {"version": row[1] + 1})
            before, after = task.model_dump(mode="json", exclude={"version"}), new.model_dump(mode="json",
                                                                                            exclude={"version"})
            diff = {f"task.{key}.{k}": [before[k], after[k]] for k in after if after[k] != before[k]}
            if not diff:
                return task
            conn.execute(update(t.tasks).where(t.tasks.c.incident_id == incident_id, t.tasks.c.key == key)
                         .values(state=new.state.value, version=row[1] + 1, data=after))
            self.append_entry(conn, incident_id, now, actor, "task", reason, diff)
            return new

    # --- records: assessments, decisions, filings --------------------------------------------------

    def add_record(self, record: Assessment | Decision | Filing, *, actor: str, now: datetime,
                   reason: str = "", audit: Mapping[str, Any] | None = None,
                   document: tuple[str, bytes] | None = None) -> int:
        """Store an assessment, decision or filing with its timeline entry; `audit` (the keyword arguments of
        `audit()`) records what left breachkit with it, and `document` (name, bytes) the exact document filed,
        in the same transaction. Returns the record's id."""
        kind = next(k for k, m in _RECORD_MODELS.items() if isinstance(record, m))
        with self.transaction() as conn:
            incident = self.load(conn, record.incident_id, lock=True, change=f"recording a new {kind}")
            data = record.model_dump(mode="json")
            inserted = conn.execute(insert(t.records).values(incident_id=record.incident_id, kind=kind, at=now,
                                                             data=data)).inserted_primary_key
            assert inserted is not None
            record_id = int(inserted[0])
            if document is not None:
                name, content = document
                conn.execute(insert(t.filed_documents).values(
                    incident_id=record.incident_id, record_id=record_id, name=name, size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(), content=content, stored_at=now))
            if isinstance(record, Assessment) and incident.severity != record.severity:
                self._save(conn, incident, {"severity": record.severity}, now)
            self.append_entry(conn, record.incident_id, now, actor, kind, reason, data)
            if audit is not None:
                detail = {**dict(audit.get("detail") or {}), "record_id": record_id}
                self.audit(**{**audit, "detail": detail}, actor=actor, at=now, incident_id=record.incident_id,
                           conn=conn)
        return record_id

    def _records(self, incident_id: str, kind: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            return list(conn.execute(select(t.records.c.data).where(t.records.c.incident_id == incident_id,
                                                                     t.records.c.kind == kind)
                                     .order_by(t.records.c.id)).scalars())

    def assessments(self, incident_id: str) -> list[Assessment]:
        return [Assessment.model_validate(r) for r in self._records(incident_id, "assessment")]

    def decisions(self, incident_id: str) -> list[Decision]:
        return [Decision.model_validate(r) for r in self._records(incident_id, "decision")]

    def filings(self, incident_id: str) -> list[Filing]:
        return [Filing.model_validate(r) for r in self._records(incident_id, "filing")]

    # the rest of `CaseReader` (sqlite_reader.py): what the deadlines need from the other repositories

    def approval_list(self, incident_id: str) -> list[Approval]:
        return self.approvals.list(incident_id)

    def version_counts(self, incident_id: str, kind: str) -> dict[int, tuple[int, int, datetime | None]]:
        return self.outbox.version_counts(incident_id, kind)

    def filing_records(self, incident_id: str | None = None) -> list[tuple[int, Filing]]:
        """Filings with their record ids (of one incident, or of all), in the order recorded."""
        query = select(t.records.c.id, t.records.c.data).where(t.records.c.kind == "filing").order_by(t.records.c.id)
        if incident_id is not None:
            query = query.where(t.records.c.incident_id == incident_id)
        with self.read() as conn:
            return [(int(r.id), Filing.model_validate(r.data)) for r in conn.execute(query)]

    def filed_document(self, record_id: int) -> tuple[str, bytes, str] | None:
        """The document kept with a filing record: (file name, exact bytes, SHA-256 recorded when filed)."""
        with self.read() as conn:
            row = conn.execute(select(t.filed_documents.c.name, t.filed_documents.c.content,
                                      t.filed_documents.c.sha256)
                               .where(t.filed_documents.c.record_id == record_id)).first()
        return None if row is None else (row.name, bytes(row.content), row.sha256)

    def filings_of(self, incident_ids: Sequence[str]) -> dict[str, list[Filing]]:
        """The filings of several incidents in one read (the board)."""
        return {i: [Filing.model_validate(d) for d in rows]
                for i, rows in self._records_of(incident_ids, "filing").items()}

    def decisions_of(self, incident_ids: Sequence[str]) -> dict[str, list[Decision]]:
        """The decisions of several incidents in one read (the board)."""
        return {i: [Decision.model_validate(d) for d in rows]
                for i, rows in self._records_of(incident_ids, "decision").items()}

    def _records_of(self, incident_ids: Sequence[str], kind: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in incident_ids}
        with self.read() as conn:
            for chunk in _chunks(list(out)):
                rows = conn.execute(select(t.records.c.incident_id, t.records.c.data)
                                    .where(t.records.c.kind == kind, t.records.c.incident_id.in_(chunk))
                                    .order_by(t.records.c.id))
                for incident_id, data in rows:
                    out[incident_id].append(data)
        return out

    # --- audit ---------------------------------------------------------------------------------------

    def audit(self, action: str, target: str, *, actor: str, at: datetime, reason: str = "",
              incident_id: str | None = None, sha256: str | None = None,
              detail: Mapping[str, Any] | None = None, conn: Connection | None = None) -> None:
        """Record something that left breachkit (an export, a rendered set, a sent message, a filing)."""
        values = {"at": at, "actor": actor, "action": action, "incident_id": incident_id, "target": target,
                  "sha256": sha256, "reason": reason, "detail": jsonable(dict(detail or {}))}
        if conn is not None:
            conn.execute(insert(t.audit), values)
            return
        with self.transaction() as own:
            own.execute(insert(t.audit), values)

    def audit_row(self, row_id: int) -> dict[str, Any] | None:
        with self.transaction() as conn:
            row = conn.execute(select(t.audit).where(t.audit.c.id == row_id)).mappings().first()
        return None if row is None else dict(row) | {"at": as_utc(row["at"])}

    def audit_log(self, incident_id: str | None = None, *, since: datetime | None = None,
                  until: datetime | None = None) -> list[dict[str, Any]]:
        """Audit rows in the order written, of one incident (or all), within [since, until)."""
        query = select(t.audit).order_by(t.audit.c.id)
        if incident_id is not None:
            query = query.where(t.audit.c.incident_id == incident_id)
        if since is not None:
            query = query.where(t.audit.c.at >= since)
        if until is not None:
            query = query.where(t.audit.c.at < until)
        with self.read() as conn:
            return [dict(r) | {"at": as_utc(r["at"])} for r in conn.execute(query).mappings()]


