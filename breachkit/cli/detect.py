"""`breachkit detect`: run the rules over the stored events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from breachkit.cli.common import AppContext, err_console, out_console, parse_time, pass_app, progress_bar, safe
from breachkit.logs.names import ENGINES
from breachkit.wording import counted

if TYPE_CHECKING:
    from collections.abc import Sequence
    from zoneinfo import ZoneInfo

    from rich.console import Console

    from breachkit.detect.model import NotRun
    from breachkit.detect.run import DetectionRun
    from breachkit.errors import BreachkitError

LEVELS = ("informational", "low", "medium", "high", "critical")


@click.command("detect")
@click.option("--since", help="Only events at or after this time (ISO 8601; UTC unless an offset is given).")
@click.option("--until", help="Only events before this time.")
@click.option("-r", "--rule", "rule_ids", multiple=True, help="Only this rule id (repeatable).")
@click.option("-t", "--tag", "tags", multiple=True, help="Only rules with this tag (repeatable; any matches).")
@click.option("-l", "--level", type=click.Choice(LEVELS), help="Only rules of at least this level.")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Rule files or folders to add to the configured ones.")
@click.option("-e", "--engine", type=click.Choice(ENGINES), default=None,
              help="Where the events are (default: ingest.default_engine).")
@click.option("-o", "--output", type=click.Choice(["table", "json", "ndjson"]), default="table", show_default=True)
@click.option("--progress/--no-progress", default=True)
@pass_app
def detect_cmd(app: AppContext, since: str | None, until: str | None, rule_ids: tuple[str, ...],
               tags: tuple[str, ...], level: str | None, rule_paths: tuple[Path, ...], engine: str | None,
               output: str, progress: bool) -> None:
    """Run the Sigma rules (single-event and correlations) and print the detections. Rules that do not run are
    listed on stderr and in the JSON output (not_run), and so are events left out (notes: those of an ingest
    into Elasticsearch/OpenSearch that has not finished). Exit 1 if no selected rule could run, 4 if some were
    broken, rejected by the engine, or given explicitly (--rules, --rule) and could not run."""
    from breachkit.detect.api import run_detection

    with progress_bar(progress) as bar:
        task = bar.add_task("rules", total=None)
        result = run_detection(app.session, since=parse_time(since, "--since"), until=parse_time(until, "--until"),
                               rule_ids=rule_ids, tags=tags, level=level,
                               extra_rules=rule_paths, engine=engine,
                               on_start=lambda total: bar.update(task, total=total),
                               on_rule=lambda meta: bar.advance(task))
    emit(result, output, app.session.zone)
    warn_not_run(result.not_run)
    warn_notes(result.notes)
    if result.incomplete is not None:
        raise not_repeated(result.incomplete, result.not_run)


def warn_not_run(not_run: Sequence[NotRun]) -> None:
    """Every rule that did not run, on stderr (the JSON output lists them too): nothing silently missing."""
    if not not_run:
        return
    kinds: dict[str, int] = {}
    for n in not_run:
        kinds[n.kind] = kinds.get(n.kind, 0) + 1
    console = err_console()
    console.print(f"[yellow]warning:[/] {counted(len(not_run), 'rule')} did not run ("
                  + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) + "):", highlight=False)
    for n in not_run:
        console.print(f"  {safe(n)}", markup=False, highlight=False)


def warn_notes(notes: Sequence[str]) -> None:
    """What the engine said about the events it searched, on stderr (the JSON output lists it too)."""
    console = err_console()
    for note in notes:
        console.print(f"[yellow]note:[/] {safe(note)}", highlight=False)


def not_repeated(error: BreachkitError, listed: Sequence[NotRun]) -> BreachkitError:
    """`error` without the problems `warn_not_run` has just listed (each rule that did not run is said once)."""
    said = {n.problem() for n in listed}
    error.problems = [p for p in error.problems if p not in said]
    return error


def emit(result: DetectionRun, output: str, zone: ZoneInfo, console: Console | None = None) -> None:
    """Print a detection run: a table for people, the breachkit.detections/1 document, or one detection per line."""
    from rich.table import Table

    from breachkit.detect.document import DetectionItem, DetectionsDocument

    if output == "ndjson":
        for d in result.detections:
            click.echo(DetectionItem.of(d).model_dump_json())
        return
    if output == "json":
        click.echo(DetectionsDocument.of(result).to_json())
        return
    missing = f"; {len(result.not_run)} did not run (see stderr)" if result.not_run else ""
    table = Table(title=f"{counted(len(result.detections), 'detection')} ({result.engine}) from "
                  f"{result.found_by} of {counted(result.ran, 'rule')}{missing}",
                  title_justify="left")
    for col in ("level", "rule", "kind", "key", "events", f"first ({zone.key})", "last"):
        table.add_column(col, justify="right" if col == "events" else "left")
    for d in sorted(result.detections, key=lambda d: (-LEVELS.index(d.level or "informational"), d.first_seen)):
        key = " ".join(f"{k}={v}" for k, v in d.key)
        table.add_row(d.level or "", d.title, d.kind, safe(key), str(d.count),
                      f"{d.first_seen.astimezone(zone):%Y-%m-%d %H:%M:%S}", f"{d.last_seen.astimezone(zone):%H:%M:%S}")
    console = console or out_console()
    console.print(table)
    slow = sorted(result.timings, key=lambda t: -t.seconds)[:5]
    if slow:
        console.print("slowest rules: " + ", ".join(f"{t.title} {t.seconds:.2f}s" for t in slow), highlight=False)
