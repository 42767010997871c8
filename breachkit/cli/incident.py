"""`breachkit incident …`: open, list, show, update, note, status, close, link detections, file, clock."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, local, out_console, output_option, parse_time, pass_app
from breachkit.errors import UsageError
from breachkit.incidents.api import actor_name, deadlines_of, open_store, read_detections, regimes_from_config
from breachkit.incidents.clock import Deadline, Status, format_duration, format_remaining
from breachkit.incidents.model import Filing, FilingKind, Incident
from breachkit.incidents.model import Status as IncidentStatus
from breachkit.incidents.store import IncidentStore

STATUS_STYLE = {Status.RUNNING: "cyan", Status.OVERDUE: "bold red", Status.MET: "green", Status.LATE: "yellow",
                Status.OPEN: "dim", Status.DONE: "green"}


def parse_assignment(item: str) -> tuple[str, Any]:
    """`field=value`: the value is JSON when it parses (lists, numbers, true/false, null), else a string."""
    if "=" not in item:
        raise UsageError(f"--set takes field=value, not {item!r}")
    name, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def nested_changes(current: dict[str, Any], items: Sequence[str]) -> dict[str, Any]:
    """`impact.confidentiality=true` updates one key of a nested value, the rest kept."""
    changes: dict[str, Any] = {}
    for item in items:
        name, value = parse_assignment(item)
        head, _, rest = name.partition(".")
        if rest:
            base = changes.get(head, current.get(head)) or {}
            if not isinstance(base, dict):
                raise UsageError(f"--set {name}: {head} has no sub-fields")
            changes[head] = {**base, rest: value}
        else:
            changes[head] = value
    return changes


def deadline_table(rows: Sequence[tuple[Incident, Deadline]], zone: ZoneInfo, title: str) -> Table:
    several = len({i.id for i, _ in rows}) > 1
    table = Table(title=title, title_justify="left")
    for col in (("incident",) if several else ()) + ("regime", "stage", f"due ({zone.key})", "time", "status"):
        table.add_column(col)
    for incident, d in rows:
        style = STATUS_STYLE[d.status]
        left = format_remaining(d.remaining) if d.remaining is not None and d.filed_at is None else (
            f"filed {local(d.filed_at, zone)}" if d.filed_at else f"{format_duration(d.elapsed)} elapsed")
        status = d.status.value + (" · reasons for the delay required" if d.needs_delay_reasons
                                   and not incident.delay_reasons else "")
        cells = [d.regime, d.title, local(d.due_at, zone) or "without undue delay", left, status]
        table.add_row(*([incident.id] if several else []), *cells, style=style)
    return table


def _incident(store: IncidentStore, incident_id: str) -> Incident:
    return store.get(incident_id.upper())


@click.group("incident")
def incident() -> None:
    """Incidents: the legal clock, tasks, decisions, filings and the timeline."""


@incident.command("open")
@click.option("--title", required=True)
@click.option("--aware-at", required=True, help="When the organisation became aware (starts every clock).")
@click.option("--justification", required=True,
              help="Why that is the moment of awareness (EDPB 9/2022: a reasonable degree of certainty).")
@click.option("--occurred-at", help="When the breach happened (start).")
@click.option("--detected-at", help="When it was first detected.")
@click.option("--description", default="")
@click.option("--playbook", help="Playbook id or file: creates its tasks, due from aware-at.")
@click.option("--regime", "regimes", multiple=True, help="Regime id (repeatable; default incidents.default_regimes).")
@click.option("--commander", help="Email of the incident commander (receives reminders).")
@click.option("--detections", "detections_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Link the detections in this file (breachkit detect -o json|ndjson).")
@click.option("--set", "assignments", multiple=True, help="Any other field: field=value (repeatable).")
@output_option()
@pass_app
def open_cmd(app: AppContext, title: str, aware_at: str, justification: str, occurred_at: str | None,
             detected_at: str | None, description: str, playbook: str | None, regimes: tuple[str, ...],
             commander: str | None, detections_file: Path | None, assignments: tuple[str, ...], output: str) -> None:
    """Open an incident; its clocks start at --aware-at."""
    from breachkit.incidents.playbooks import find_playbook, tasks_for

    zone, config, now, actor = app.config.display_zone, app.config, datetime.now(UTC), actor_name()
    fields: dict[str, Any] = nested_changes({}, assignments)
    fields |= {"title": title, "description": description, "aware_justification": justification,
               "aware_at": parse_time(aware_at, "--aware-at", zone),
               "occurred_at": parse_time(occurred_at, "--occurred-at", zone),
               "detected_at": parse_time(detected_at, "--detected-at", zone),
               "regimes": list(regimes) or list(config.incidents.default_regimes), "commander": commander}
    known = regimes_from_config(config)
    unknown = [r for r in fields["regimes"] if r not in known]
    if unknown:
        raise UsageError(f"unknown regime {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    linked = read_detections(detections_file) if detections_file else []
    book = find_playbook(playbook, [config.resolve(p) for p in config.incidents.playbooks]) if playbook else None
    if book is not None:
        fields["playbook"] = book.id
    with open_store(config, app.workspace()) as store:
        tasks = tasks_for(book, "BK-0000-0000", fields["aware_at"]) if book else []
        opened = store.open_incident({k: v for k, v in fields.items() if v is not None}, actor=actor, now=now,
                                     tasks=tasks, reason="opened")
        if linked:
            store.link_detections(opened.id, linked, actor=actor, now=now, reason=f"from {detections_file}")
        if output == "json":
            echo_json({"id": opened.id, "tasks": len(tasks), "detections": len(linked)})
            return
        out_console().print(f"opened [bold]{opened.id}[/]: {opened.title} · {len(tasks)} tasks · "
                            f"{len(linked)} detections")
        rows = [(opened, d) for d in deadlines_of(store, opened, known, now)]
        out_console().print(deadline_table(rows, zone, "deadlines"))


@incident.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in IncidentStatus]))
@output_option()
@pass_app
def list_cmd(app: AppContext, statuses: tuple[str, ...], output: str) -> None:
    """List incidents."""
    zone = app.config.display_zone
    with open_store(app.config, app.workspace()) as store:
        found = store.list_incidents(status=[IncidentStatus(s) for s in statuses])
    if output == "json":
        echo_json([i.model_dump(mode="json") for i in found])
        return
    table = Table(title=f"{len(found)} incidents", title_justify="left")
    for col in ("id", "status", "severity", "title", f"aware ({zone.key})"):
        table.add_column(col)
    for i in found:
        table.add_row(i.id, i.status.value, i.severity.value if i.severity else "", i.title, local(i.aware_at, zone))
    out_console().print(table)


@incident.command("show")
@click.argument("incident_id")
@click.option("--timeline/--no-timeline", default=True, help="Show the timeline (every change: who, when, why).")
@output_option()
@pass_app
def show_cmd(app: AppContext, incident_id: str, timeline: bool, output: str) -> None:
    """Everything about one incident: facts, deadlines, tasks, decisions, filings, timeline."""
    zone, now = app.config.display_zone, datetime.now(UTC)
    with open_store(app.config, app.workspace()) as store:
        inc = _incident(store, incident_id)
        deadlines = deadlines_of(store, inc, regimes_from_config(app.config), now)
        tasks, decisions, filings = store.tasks(inc.id), store.decisions(inc.id), store.filings(inc.id)
        history = store.timeline(inc.id)
    if output == "json":
        echo_json({"incident": inc.model_dump(mode="json"),
                   "deadlines": [{"regime": d.regime, "stage": d.stage, "due_at": d.due_at, "status": d.status.value,
                                  "filed_at": d.filed_at} for d in deadlines],
                   "tasks": [t.model_dump(mode="json") for t in tasks],
                   "decisions": [d.model_dump(mode="json") for d in decisions],
                   "filings": [f.model_dump(mode="json") for f in filings],
                   "timeline": [e.model_dump(mode="json") for e in history]})
        return
    facts = Table.grid(padding=(0, 2))
    for name, value in (("id", inc.id), ("title", inc.title), ("status", inc.status.value),
                        ("severity", inc.severity.value if inc.severity else "not assessed"),
                        ("occurred", local(inc.occurred_at, zone)), ("detected", local(inc.detected_at, zone)),
                        ("aware", f"{local(inc.aware_at, zone)} — {inc.aware_justification}"),
                        ("regimes", ", ".join(inc.regimes)), ("data", ", ".join(inc.data_categories)),
                        ("version", str(inc.version))):
        facts.add_row(f"[bold]{name}[/]", value)
    parts: list[Any] = [facts, deadline_table([(inc, d) for d in deadlines], zone, "deadlines")]
    if tasks:
        parts.append(task_table(tasks, zone, now))
    for d in decisions:
        parts.append(f"decision {d.kind.value}: {'yes' if d.decision else 'no'} — {d.reasons} "
                     f"({d.decided_by}, {local(d.decided_at, zone)})")
    for f in filings:
        parts.append(f"filed {f.regime}.{f.stage} ({f.kind.value}) {local(f.filed_at, zone)} ref {f.reference or '—'}")
    if timeline:
        table = Table(title="timeline", title_justify="left")
        for col in ("#", f"when ({zone.key})", "who", "what", "why", "changes"):
            table.add_column(col)
        for e in history:
            table.add_row(str(e.seq), local(e.at, zone), e.actor, e.action, e.reason,
                          json.dumps(e.changes, ensure_ascii=False)[:160])
        parts.append(table)
    out_console().print(Group(*parts))


def task_table(tasks: Sequence[Any], zone: ZoneInfo, now: datetime) -> Table:
    table = Table(title="tasks", title_justify="left")
    for col in ("task", "title", "role", "assignee", f"due ({zone.key})", "state", "checklist"):
        table.add_column(col)
    for t in tasks:
        late = t.state.value == "open" and t.due_at is not None and t.due_at < now
        table.add_row(t.key, t.title, t.role, t.assignee or "", local(t.due_at, zone), t.state.value,
                      f"{len(t.checked)}/{len(t.checklist)}", style="bold red" if late else None)
    return table


@incident.command("update")
@click.argument("incident_id")
@click.option("--set", "assignments", multiple=True,
              help="field=value (repeatable; JSON values: lists, numbers, true/false; nested: impact.integrity=true).")
@click.option("--reference", help="The authority's case number (follow-up reports cite it).")
@click.option("--reason", required=True, help="Why (recorded in the timeline).")
@click.option("--if-version", type=int, help="Only if the incident is still at this version (for scripts).")
@pass_app
def update_cmd(app: AppContext, incident_id: str, assignments: tuple[str, ...], reference: str | None, reason: str,
               if_version: int | None) -> None:
    """Change incident fields; a concurrent change by someone else is a conflict (exit 5), never lost."""
    if not assignments and reference is None:
        raise UsageError("nothing to change: give --set field=value or --reference")
    with open_store(app.config, app.workspace()) as store:
        inc = _incident(store, incident_id)
        changes = nested_changes(inc.model_dump(mode="json"), assignments)
        if reference is not None:
            changes["authority_reference"] = reference
        if "aware_at" in changes and isinstance(changes["aware_at"], str):
            changes["aware_at"] = parse_time(changes["aware_at"], "aware_at", app.config.display_zone)
        new = store.update(inc.id, changes, expected_version=if_version or inc.version, actor=actor_name(),
                           now=datetime.now(UTC), reason=reason)
    out_console().print(f"{new.id} is at version {new.version}")


@incident.command("note")
@click.argument("incident_id")
@click.argument("text")
@pass_app
def note_cmd(app: AppContext, incident_id: str, text: str) -> None:
    """Add a note to the timeline."""
    with open_store(app.config, app.workspace()) as store:
        entry = store.note(incident_id.upper(), text, actor=actor_name(), now=datetime.now(UTC))
    out_console().print(f"timeline #{entry.seq}")


@incident.command("status")
@click.argument("incident_id")
@click.argument("status", type=click.Choice([s.value for s in IncidentStatus]))
@click.option("--reason", required=True)
@pass_app
def status_cmd(app: AppContext, incident_id: str, status: str, reason: str) -> None:
    """Move the incident along its lifecycle (closing needs the authority decision on record)."""
    with open_store(app.config, app.workspace()) as store:
        inc = _incident(store, incident_id)
        new = store.set_status(inc.id, IncidentStatus(status), expected_version=inc.version, actor=actor_name(),
                               now=datetime.now(UTC), reason=reason)
    out_console().print(f"{new.id} is {new.status.value}")


@incident.command("link")
@click.argument("incident_id")
@click.argument("detections_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", default="")
@pass_app
def link_cmd(app: AppContext, incident_id: str, detections_file: Path, reason: str) -> None:
    """Link detections (breachkit detect -o json|ndjson) and widen the incident's scope to their actors."""
    found = read_detections(detections_file)
    with open_store(app.config, app.workspace()) as store:
        added = store.link_detections(incident_id.upper(), found, actor=actor_name(), now=datetime.now(UTC),
                                      reason=reason or f"from {detections_file.name}")
    out_console().print(f"{added} new detections linked ({len(found) - added} already there)")


@incident.command("file")
@click.argument("incident_id")
@click.option("--regime", required=True, help="e.g. gdpr-33")
@click.option("--stage", required=True, help="e.g. authority")
@click.option("--kind", type=click.Choice([k.value for k in FilingKind]), default="initial", show_default=True)
@click.option("--at", "filed_at", help="When it was filed (default: now).")
@click.option("--reference", help="The authority's case number (needed for follow-ups).")
@click.option("--recipient", default="", help="The authority or channel.")
@click.option("--note", default="")
@pass_app
def file_cmd(app: AppContext, incident_id: str, regime: str, stage: str, kind: str, filed_at: str | None,
             reference: str | None, recipient: str, note: str) -> None:
    """Record a report filed with an authority (stops that stage's clock)."""
    zone, now, actor = app.config.display_zone, datetime.now(UTC), actor_name()
    regimes = regimes_from_config(app.config)
    if regime not in regimes or stage not in [s.id for s in regimes[regime].stages]:
        stages = ", ".join(f"{r.id}.{s.id}" for r in regimes.values() for s in r.stages)
        raise UsageError(f"unknown regime stage {regime}.{stage} (known: {stages})")
    with open_store(app.config, app.workspace()) as store:
        inc = _incident(store, incident_id)
        earlier = [f for f in store.filings(inc.id) if f.regime == regime and f.stage == stage]
        reference = reference or next((f.reference for f in earlier if f.reference), None) or (
            inc.authority_reference if regime == "gdpr-33" else None)
        if kind == "follow_up" and not reference:
            raise UsageError("a follow-up report refers to the authority's reference of the first report",
                             hint="give --reference, or record it on the initial filing")
        filing = Filing(incident_id=inc.id, regime=regime, stage=stage, kind=FilingKind(kind),
                        filed_at=parse_time(filed_at, "--at", zone) or now,
                        reference=reference,
                        recipient=recipient, filed_by=actor, note=note)
        store.add_record(filing, actor=actor, now=now, reason=note or f"{kind} report filed")
        store.audit("filing", recipient or regime, actor=actor, at=now, incident_id=inc.id,
                    reason=f"{regime}.{stage} {kind}", detail={"reference": filing.reference})
    out_console().print(f"{inc.id}: {regime}.{stage} {kind} filed {local(filing.filed_at, zone)}")


@incident.command("clock")
@click.argument("incident_id", required=False)
@click.option("-w", "--watch", is_flag=True, help="Keep the table on screen, updated every second.")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--count", type=int, hidden=True, help="Stop watching after this many refreshes (tests).")
@output_option()
@pass_app
def clock_cmd(app: AppContext, incident_id: str | None, watch: bool, interval: float, count: int | None,
              output: str) -> None:
    """Every deadline of one incident (or of all open ones) with the time left; overdue ones in red."""
    zone, regimes = app.config.display_zone, regimes_from_config(app.config)
    with open_store(app.config, app.workspace()) as store:
        def rows() -> list[tuple[Incident, Deadline]]:
            now = datetime.now(UTC)
            chosen = [_incident(store, incident_id)] if incident_id else store.list_incidents(
                status=[s for s in IncidentStatus if s != IncidentStatus.CLOSED])
            return [(i, d) for i in chosen for d in deadlines_of(store, i, regimes, now)]

        if output == "json":
            echo_json([{"incident": i.id, "regime": d.regime, "stage": d.stage, "due_at": d.due_at,
                        "status": d.status.value, "remaining_seconds": None if d.remaining is None
                        else d.remaining.total_seconds(), "needs_delay_reasons": d.needs_delay_reasons}
                       for i, d in rows()])
            return
        if not watch:
            out_console().print(deadline_table(rows(), zone, f"clock at {local(datetime.now(UTC), zone)}"))
            return
        with Live(console=out_console(), auto_refresh=False) as live:
            shown = 0
            while count is None or shown < count:
                live.update(deadline_table(rows(), zone, f"clock at {local(datetime.now(UTC), zone)} "
                                                         "(Ctrl-C to stop)"), refresh=True)
                shown += 1
                if count is not None and shown >= count:
                    break
                try:
                    time.sleep(interval)
                except KeyboardInterrupt:
                    break


@incident.command("close")
@click.argument("incident_id")
@click.option("--reason", required=True, help="Why it can be closed (recorded).")
@pass_app
def close_cmd(app: AppContext, incident_id: str, reason: str) -> None:
    """Close the incident (needs the decision on notifying the authority on record, Art. 33(5))."""
    with open_store(app.config, app.workspace()) as store:
        inc = _incident(store, incident_id)
        new = store.set_status(inc.id, IncidentStatus.CLOSED, expected_version=inc.version, actor=actor_name(),
                               now=datetime.now(UTC), reason=reason)
    out_console().print(f"{new.id} is closed")
