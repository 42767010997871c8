"""`breachkit subjects build | show | export`: the people affected, from the logs and the user directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from breachkit.cli.common import (
    AppContext,
    echo_json,
    err_console,
    local,
    out_console,
    output_option,
    pass_app,
    progress_bar,
    safe,
)
from breachkit.logs.names import ENGINES

if TYPE_CHECKING:
    from rich.table import Table


@click.group("subjects")
def subjects() -> None:
    """Who was affected: identifiers the actors touched, joined with the user directory, with counts."""


def _counts_table(counts: dict[str, dict[str, int]], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("", "people", "records"):
        table.add_column(col)
    for key, value in counts.items():
        table.add_row(safe(key), str(value["people"]), str(value["records"]))
    return table


@subjects.command("build")
@click.argument("incident_id")
@click.option("-e", "--engine", type=click.Choice(ENGINES),
              help="Where the events are (default: ingest.default_engine).")
@click.option("--compromised", "compromised", multiple=True, metavar="ID",
              help="Declare this account compromised (used by someone else): recorded on the incident (repeatable).")
@click.option("--progress/--no-progress", default=True)
@output_option()
@pass_app
def build_cmd(app: AppContext, incident_id: str, engine: str | None, compromised: tuple[str, ...], progress: bool,
              output: str) -> None:
    """Build a new version of the incident's subject list (the previous ones are kept): each person with their
    role — data subject (whose data was exposed), compromised account (used by someone else), actor."""
    from breachkit.subjects.api import build_subjects
    from breachkit.subjects.document import SubjectsDocument
    from breachkit.subjects.store import without_ids

    with progress_bar(progress) as bar:
        task = bar.add_task("identifiers", total=None)

        def advance(phase: str, done: int, total: int | None) -> None:
            bar.update(task, description=phase, completed=done, total=total)

        outcome = build_subjects(app.session, incident_id, engine=engine, compromised=compromised, progress=advance)
    counts = outcome.counts.to_dict()
    if output == "json":
        echo_json(SubjectsDocument.of(outcome))
        return
    console = out_console()
    changed = without_ids(outcome.changes)
    console.print(f"[bold]{outcome.record.incident_id} subject list v{outcome.record.version}[/]: "
                  f"{outcome.counts.people} people whose data was exposed, ~{outcome.counts.records} records · "
                  f"{outcome.counts.compromised_accounts} accounts compromised "
                  f"({outcome.counts.compromised_requests} requests made with them) · {outcome.counts.actors} "
                  f"actor accounts · from {outcome.identifiers} identifiers ({outcome.record.engine}) · "
                  f"changes {changed}")
    console.print(_counts_table(counts["by_category"], "per data category"))
    console.print(_counts_table(counts["by_country"], "per country"))
    if outcome.counts.minors:
        console.print(f"[bold red]{outcome.counts.minors} minors among the people affected[/] "
                      f"(subject ids: {safe(', '.join(outcome.counts.minor_ids[:20]))})")
    if outcome.roles is not None and outcome.roles.undetermined:
        err_console().print(f"[yellow]accounts that acted but are neither declared compromised nor the actor's own: "
                            f"{safe(', '.join(outcome.roles.undetermined))}[/] (listed as actors, not told; "
                            f"declare with `subjects build --compromised ID` or `incident update --set "
                            f"actor_accounts=[…]`)")
    if len(outcome.unmatched):
        err_console().print(f"[yellow]{len(outcome.unmatched)} identifiers have no person in the directory[/] "
                            "(see `subjects show --unmatched`)")
    if outcome.rejected:
        err_console().print(f"[yellow]{len(outcome.rejected)} directory rows left out:[/]")
        for problem in outcome.rejected[:20]:
            err_console().print(f"  {safe(problem)}", markup=False, highlight=False)


@subjects.command("show")
@click.argument("incident_id")
@click.option("--version", "version", type=int, help="A stored version (default: the latest).")
@click.option("--people", is_flag=True, help="List the people too (personal data on screen).")
@output_option()
@pass_app
def show_cmd(app: AppContext, incident_id: str, version: int | None, people: bool, output: str) -> None:
    """The subject list's versions and counts (identities only with --people)."""
    from rich.table import Table

    from breachkit.subjects.api import show_subjects
    from breachkit.subjects.store import without_ids

    zone = app.session.zone
    view = show_subjects(app.session, incident_id, version=version, people=people,
                         reason="subjects show --people (terminal)")
    if output == "json":
        echo_json({"versions": view.versions,
                   "people": json.loads(view.people.to_json(orient="records", date_format="iso"))
                   if view.people is not None else None})
        return
    table = Table(title=f"{view.incident_id}: subject list versions", title_justify="left")
    for col in ("version", f"built ({zone.key})", "by", "engine", "rows", "changes"):
        table.add_column(col)
    for b in view.versions:
        changed = without_ids(b["summary"].get("changes", {}))
        table.add_row(str(b["version"]), local(b["built_at"], zone), safe(b["built_by"]), b["engine"], str(b["rows"]),
                      json.dumps(changed))
    out_console().print(table)
    if view.record is not None:
        counts = view.record.summary.get("counts", {})
        out_console().print(f"v{view.record.version}: {counts.get('people')} people whose data was exposed, "
                            f"{counts.get('compromised_accounts', 0)} accounts compromised, "
                            f"{counts.get('actors', 0)} actor accounts · people per country "
                            f"{counts.get('people_per_country')}, per category {counts.get('people_per_category')}, "
                            f"minors {counts.get('minors')}")
        for account in view.record.summary.get("accounts", []):
            out_console().print(safe(f"  account {account['subject_id']}: {account['requests']} requests, "
                                     f"{account['used_by_actor']} from the actor's means — {account['basis']}"))
        if view.people is not None:
            out_console().print(safe(view.people.to_string(max_rows=200)), markup=False, highlight=False)


@subjects.command("export")
@click.argument("incident_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl"]),
              help="Default: from the file name.")
@click.option("--version", "version", type=int, help="A stored version (default: the latest).")
@click.option("--reason", required=True, help="Why the list leaves breachkit (recorded in the audit log).")
@pass_app
def export_cmd(app: AppContext, incident_id: str, out: Path, fmt: str | None, version: int | None,
               reason: str) -> None:
    """Export the subject list (file 0600; CSV formula-safe) — this is the recipient table for notices."""
    from breachkit.subjects.api import export_build
    from breachkit.subjects.export import ExportFormat

    chosen = fmt or {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}.get(out.suffix.lower())
    if chosen is None:
        raise click.UsageError("give --format or name the file .csv, .parquet or .jsonl")
    result = export_build(app.session, incident_id, out, cast(ExportFormat, chosen), version=version, reason=reason)
    out_console().print(f"{result.rows} people → {result.path} (sha256 {result.sha256[:16]}…)")
