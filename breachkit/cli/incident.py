"""`breachkit incident …`: open, list, show, update, facts, note, link detections, clock (status, file, close and
reopen are in `cli.lifecycle`, tasks in `cli.tasks`, assess and decide in `cli.assess`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from breachkit.cli.common import (
    AppContext,
    echo_json,
    local,
    out_console,
    output_option,
    parse_assignments,
    parse_time,
    pass_app,
    safe,
)
from breachkit.cli.views import deadline_table, task_table
from breachkit.incidents.model import Status
from breachkit.wording import counted

STATUSES = [s.value for s in Status]


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
@click.option("--allow-order", is_flag=True,
              help="Accept moments out of order (occurred ≤ detected ≤ aware); needs --reason (recorded).")
@click.option("--reason", default="", help="Why moments out of order are right (with --allow-order).")
@output_option()
@pass_app
def open_cmd(app: AppContext, title: str, aware_at: str, justification: str, occurred_at: str | None,
             detected_at: str | None, description: str, playbook: str | None, regimes: tuple[str, ...],
             commander: str | None, detections_file: Path | None, assignments: tuple[str, ...], allow_order: bool,
             reason: str, output: str) -> None:
    """Open an incident; its clocks start at --aware-at (never in the future)."""
    from breachkit.incidents.api import open_incident, read_detections
    from breachkit.incidents.documents import DeadlineItem

    zone = app.session.zone
    found = read_detections(detections_file) if detections_file else []
    opened = open_incident(app.session, title=title, aware_at=parse_time(aware_at, "--aware-at", zone) or aware_at,
                           justification=justification, occurred_at=parse_time(occurred_at, "--occurred-at", zone),
                           detected_at=parse_time(detected_at, "--detected-at", zone), description=description,
                           playbook=playbook, regimes=regimes, commander=commander, detections=found,
                           detections_source=f"from {detections_file}" if detections_file else "",
                           fields=parse_assignments(assignments), allow_order=_order_reason(allow_order, reason))
    if output == "json":
        echo_json({"id": opened.incident.id, "tasks": len(opened.tasks), "detections": opened.detections})
        return
    said = f"{counted(len(opened.tasks), 'task')} · {counted(opened.detections, 'detection')}"
    out_console().print(f"opened [bold]{opened.incident.id}[/]: {safe(opened.incident.title)} · {said}")
    rows = [DeadlineItem.of(opened.incident, d) for d in opened.deadlines]
    out_console().print(deadline_table(rows, app.session.zone, "deadlines", app.session.due_soon))


def _order_reason(allow_order: bool, reason: str) -> str | None:
    from breachkit.errors import UsageError

    if allow_order and not reason.strip():
        raise UsageError("--allow-order needs --reason: why these moments are right (it is recorded)")
    return reason if allow_order else None


@incident.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES))
@output_option()
@pass_app
def list_cmd(app: AppContext, statuses: tuple[str, ...], output: str) -> None:
    """List incidents."""
    from rich.table import Table

    from breachkit.incidents.api import list_incidents

    zone = app.session.zone
    found = list_incidents(app.session, statuses)
    if output == "json":
        echo_json([i.model_dump(mode="json") for i in found])
        return
    table = Table(title=counted(len(found), "incident"), title_justify="left")
    for col in ("id", "status", "severity", "title", f"aware ({zone.key})"):
        table.add_column(col)
    for i in found:
        table.add_row(i.id, i.status.value, i.severity.value if i.severity else "", safe(i.title),
                      local(i.aware_at, zone))
    out_console().print(table)


@incident.command("show")
@click.argument("incident_id")
@click.option("--timeline/--no-timeline", default=True, help="Show the timeline (every change: who, when, why).")
@output_option()
@pass_app
def show_cmd(app: AppContext, incident_id: str, timeline: bool, output: str) -> None:
    """Everything about one incident: facts, deadlines, tasks, decisions, filings, timeline."""
    from rich.console import Group
    from rich.table import Table

    from breachkit.incidents.api import show_incident
    from breachkit.incidents.model import Decision, Filing, Incident, Task, TimelineEntry

    zone = app.session.zone
    doc = show_incident(app.session, incident_id, timeline=timeline)
    if output == "json":
        echo_json(doc)
        return
    inc = Incident.model_validate(doc.incident)
    facts = Table.grid(padding=(0, 2))
    for name, value in (("id", inc.id), ("title", inc.title), ("status", inc.status.value),
                        ("severity", inc.severity.value if inc.severity else "not assessed"),
                        ("occurred", local(inc.occurred_at, zone)), ("detected", local(inc.detected_at, zone)),
                        ("aware", f"{local(inc.aware_at, zone)} — {inc.aware_justification}"),
                        ("regimes", ", ".join(inc.regimes)),
                        ("data (declared)", ", ".join(inc.data_categories) or "none"),
                        ("people (declared)", ", ".join(inc.subject_categories) or "none"),
                        ("compromised accounts", ", ".join(inc.compromised_accounts) or "none declared"),
                        ("actor accounts", ", ".join(inc.actor_accounts) or "none declared"),
                        ("version", str(inc.version))):
        facts.add_row(f"[bold]{name}[/]", safe(value))
    for name, value in inc.facts.model_dump(mode="json").items():
        if value not in ("", None) or name in ("unintended_recipients", "restore_hours"):
            facts.add_row(f"[bold]facts.{name}[/]", safe("unknown" if value is None else str(value)))
    parts: list[Any] = [facts, deadline_table(doc.deadlines, zone, "deadlines", app.session.due_soon)]
    if doc.tasks:
        parts.append(task_table([Task.model_validate({k: v for k, v in t.items() if k in Task.model_fields})
                                 for t in doc.tasks], zone, doc.at, app.session.due_soon))
    for d in (Decision.model_validate(x) for x in doc.decisions):
        parts.append(safe(f"decision {d.kind.value}: {'yes' if d.decision else 'no'} — {d.reasons} "
                          f"({d.decided_by}, {local(d.decided_at, zone)})"))
    for f in (Filing.model_validate(x) for x in doc.filings):
        kept = f"document {f.document_name} sha256 {f.content_sha256}" if f.content_sha256 else "no document kept"
        parts.append(safe(f"filed {f.regime}.{f.stage} ({f.kind.value}) {local(f.filed_at, zone)} "
                          f"ref {f.reference or '—'} · {kept}"))
    if timeline:
        table = Table(title="timeline", title_justify="left")
        for col in ("#", f"when ({zone.key})", "who", "what", "why", "changes"):
            table.add_column(col)
        for e in (TimelineEntry.model_validate(x) for x in doc.timeline):
            table.add_row(str(e.seq), local(e.at, zone), safe(e.actor), e.action, safe(e.reason),
                          safe(json.dumps(e.changes, ensure_ascii=False)[:160]))
        parts.append(table)
    out_console().print(Group(*parts))


@incident.command("update")
@click.argument("incident_id")
@click.option("--set", "assignments", multiple=True,
              help="field=value (repeatable; JSON values: lists, numbers, true/false; nested: impact.integrity=true).")
@click.option("--reference", help="The authority's case number (follow-up reports cite it).")
@click.option("--reason", required=True, help="Why (recorded in the timeline).")
@click.option("--if-version", type=int, help="Only if the incident is still at this version (for scripts).")
@click.option("--allow-order", is_flag=True, help="Accept moments out of order; --reason says why (recorded).")
@pass_app
def update_cmd(app: AppContext, incident_id: str, assignments: tuple[str, ...], reference: str | None, reason: str,
               if_version: int | None, allow_order: bool) -> None:
    """Change incident fields; a concurrent change by someone else is a conflict (exit 5), never lost. Moments in
    the future are refused, moments out of order too unless --allow-order. A closed incident refuses changes."""
    from breachkit.errors import UsageError
    from breachkit.incidents.api import update_incident

    if not assignments and reference is None:
        raise UsageError("nothing to change: give --set field=value or --reference")
    changes = parse_assignments(assignments) | ({"authority_reference": reference} if reference is not None else {})
    new = update_incident(app.session, incident_id, changes, reason=reason, if_version=if_version,
                          allow_order=allow_order)
    out_console().print(f"{new.id} is at version {new.version}")


@incident.command("facts")
@output_option()
def facts_cmd(output: str) -> None:
    """The decision facts an incident records (set with `incident update --set facts.<name>=<value>`)."""
    from rich.table import Table

    from breachkit.incidents.facts import describe_facts

    rows = describe_facts()
    if output == "json":
        echo_json(rows)
        return
    table = Table(title="decision facts (incident update --set facts.<name>=<value>)", title_justify="left")
    for col in ("fact", "values", "meaning"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], ", ".join(row["values"]), row["help"])
    out_console().print(table)


@incident.command("note")
@click.argument("incident_id")
@click.argument("text")
@pass_app
def note_cmd(app: AppContext, incident_id: str, text: str) -> None:
    """Add a note to the timeline."""
    from breachkit.incidents.api import add_note

    out_console().print(f"timeline #{add_note(app.session, incident_id, text).seq}")


@incident.command("link")
@click.argument("incident_id")
@click.argument("detections_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", default="")
@pass_app
def link_cmd(app: AppContext, incident_id: str, detections_file: Path, reason: str) -> None:
    """Link detections (breachkit detect -o json|ndjson) and widen the incident's scope to their actors."""
    from breachkit.incidents.api import link_detections, read_detections

    result = link_detections(app.session, incident_id, read_detections(detections_file),
                             reason=reason or f"from {detections_file.name}")
    out_console().print(f"{result.added} new detections linked ({result.already} already there)")


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
    from breachkit.incidents.api import clock

    session, zone = app.session, app.session.zone
    if output == "json":
        echo_json(clock(session, incident_id))
        return

    def table(suffix: str = "") -> Any:
        doc = clock(session, incident_id)
        return deadline_table(doc.deadlines, zone, f"clock at {local(doc.at, zone)}{suffix}", session.due_soon)

    if not watch:
        out_console().print(table())
        return
    from rich.live import Live

    with Live(console=out_console(), auto_refresh=False) as live:
        shown = 0
        while count is None or shown < count:
            live.update(table(" (Ctrl-C to stop)"), refresh=True)
            shown += 1
            if count is not None and shown >= count:
                break
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                break


def _register_subgroups() -> None:
    from breachkit.cli.assess import assess_cmd, decide_cmd
    from breachkit.cli.lifecycle import close_cmd, file_cmd, reopen_cmd, status_cmd
    from breachkit.cli.tasks import task

    for command in (task, assess_cmd, decide_cmd, status_cmd, file_cmd, close_cmd, reopen_cmd):
        incident.add_command(command)


_register_subgroups()
