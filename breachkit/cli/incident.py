"""`breachkit incident …`: open, list, show, update, note, status, close, link detections, file, clock."""

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
from breachkit.incidents.model import FilingKind, Status

STATUSES = [s.value for s in Status]
FILING_KINDS = [k.value for k in FilingKind]


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
    from breachkit.incidents.api import open_incident, read_detections
    from breachkit.incidents.documents import DeadlineItem

    zone = app.session.zone
    found = read_detections(detections_file) if detections_file else []
    opened = open_incident(app.session, title=title, aware_at=parse_time(aware_at, "--aware-at", zone) or aware_at,
                           justification=justification, occurred_at=parse_time(occurred_at, "--occurred-at", zone),
                           detected_at=parse_time(detected_at, "--detected-at", zone), description=description,
                           playbook=playbook, regimes=regimes, commander=commander, detections=found,
                           detections_source=f"from {detections_file}" if detections_file else "",
                           fields=parse_assignments(assignments))
    if output == "json":
        echo_json({"id": opened.incident.id, "tasks": len(opened.tasks), "detections": opened.detections})
        return
    out_console().print(f"opened [bold]{opened.incident.id}[/]: {safe(opened.incident.title)} · {len(opened.tasks)} "
                        f"tasks · {opened.detections} detections")
    rows = [DeadlineItem.of(opened.incident, d) for d in opened.deadlines]
    out_console().print(deadline_table(rows, app.session.zone, "deadlines"))


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
    table = Table(title=f"{len(found)} incidents", title_justify="left")
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
    parts: list[Any] = [facts, deadline_table(doc.deadlines, zone, "deadlines")]
    if doc.tasks:
        parts.append(task_table([Task.model_validate(t) for t in doc.tasks], zone, doc.at))
    for d in (Decision.model_validate(x) for x in doc.decisions):
        parts.append(safe(f"decision {d.kind.value}: {'yes' if d.decision else 'no'} — {d.reasons} "
                          f"({d.decided_by}, {local(d.decided_at, zone)})"))
    for f in (Filing.model_validate(x) for x in doc.filings):
        parts.append(safe(f"filed {f.regime}.{f.stage} ({f.kind.value}) {local(f.filed_at, zone)} "
                          f"ref {f.reference or '—'}"))
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
@pass_app
def update_cmd(app: AppContext, incident_id: str, assignments: tuple[str, ...], reference: str | None, reason: str,
               if_version: int | None) -> None:
    """Change incident fields; a concurrent change by someone else is a conflict (exit 5), never lost."""
    from breachkit.errors import UsageError
    from breachkit.incidents.api import update_incident

    if not assignments and reference is None:
        raise UsageError("nothing to change: give --set field=value or --reference")
    changes = parse_assignments(assignments) | ({"authority_reference": reference} if reference is not None else {})
    new = update_incident(app.session, incident_id, changes, reason=reason, if_version=if_version)
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


@incident.command("status")
@click.argument("incident_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--reason", required=True)
@pass_app
def status_cmd(app: AppContext, incident_id: str, status: str, reason: str) -> None:
    """Move the incident along its lifecycle (closing needs the authority decision on record)."""
    from breachkit.incidents.api import set_status

    new = set_status(app.session, incident_id, status, reason=reason)
    out_console().print(f"{new.id} is {new.status.value}")


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


@incident.command("file")
@click.argument("incident_id")
@click.option("--regime", required=True, help="e.g. gdpr-33")
@click.option("--stage", required=True, help="e.g. authority")
@click.option("--kind", type=click.Choice(FILING_KINDS), default="initial", show_default=True)
@click.option("--at", "filed_at", help="When it was filed (default: now).")
@click.option("--reference", help="The authority's case number (needed for follow-ups).")
@click.option("--recipient", default="", help="The authority or channel.")
@click.option("--note", default="")
@click.option("--override-check", is_flag=True, help="File despite errors of the pre-filing check (needs --reason).")
@click.option("--reason", help="Why the check's errors are overridden (recorded in the timeline and audit log).")
@pass_app
def file_cmd(app: AppContext, incident_id: str, regime: str, stage: str, kind: str, filed_at: str | None,
             reference: str | None, recipient: str, note: str, override_check: bool, reason: str | None) -> None:
    """Record a report filed with an authority (stops that stage's clock); the pre-filing check runs first."""
    from breachkit.cli.common import override_reason
    from breachkit.incidents.api import file_report

    filed = parse_time(filed_at, "--at", app.session.zone)
    filing = file_report(app.session, incident_id, regime=regime, stage=stage, kind=kind, filed_at=filed,
                         reference=reference, recipient=recipient, note=note,
                         override_reason=override_reason(override_check, reason))
    when = local(filing.filed_at, app.session.zone)
    out_console().print(f"{filing.incident_id}: {regime}.{stage} {kind} filed {when}")


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
        return deadline_table(doc.deadlines, zone, f"clock at {local(doc.at, zone)}{suffix}")

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


@incident.command("close")
@click.argument("incident_id")
@click.option("--reason", required=True, help="Why it can be closed (recorded).")
@pass_app
def close_cmd(app: AppContext, incident_id: str, reason: str) -> None:
    """Close the incident (needs the decision on notifying the authority on record, Art. 33(5))."""
    from breachkit.incidents.api import close_incident

    out_console().print(f"{close_incident(app.session, incident_id, reason=reason).id} is closed")


def _register_subgroups() -> None:
    from breachkit.cli.assess import assess_cmd, decide_cmd
    from breachkit.cli.tasks import task

    incident.add_command(task)
    incident.add_command(assess_cmd)
    incident.add_command(decide_cmd)


_register_subgroups()
