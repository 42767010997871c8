"""`breachkit detect`: run the rules over the stored events."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from breachkit.cli.common import AppContext, out_console, parse_time, pass_app, progress_bar
from breachkit.detect.api import open_engine, ruleset_from_config, runnable_on
from breachkit.detect.engines import TimeWindow
from breachkit.detect.rules import RuleMeta
from breachkit.detect.run import Detection, DetectionRun, run
from breachkit.errors import InputError
from breachkit.logs.stores import ENGINES

LEVELS = ("informational", "low", "medium", "high", "critical")


def detection_dict(d: Detection) -> dict[str, Any]:
    data = dataclasses.asdict(d)
    data["key"] = dict(d.key)
    data["count"] = d.count
    data["first_seen"] = d.first_seen.isoformat().replace("+00:00", "Z")
    data["last_seen"] = d.last_seen.isoformat().replace("+00:00", "Z")
    return data


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
    """Run the Sigma rules (single-event and correlations) and print the detections."""
    window = TimeWindow(parse_time(since, "--since"), parse_time(until, "--until"))
    ruleset = ruleset_from_config(app.config, rule_paths)
    if ruleset.problems:
        raise InputError(f"{len(ruleset.problems)} broken rules; nothing was run", problems=list(ruleset.problems),
                         hint="breachkit rules check")
    minimum = LEVELS.index(level) if level else 0

    def selected(meta: RuleMeta) -> bool:
        return ((not rule_ids or meta.id in rule_ids) and (not tags or bool(set(tags) & set(meta.tags)))
                and LEVELS.index(meta.level or "informational") >= minimum)

    with open_engine(app.config, app.workspace(), engine) as eng, progress_bar(progress) as bar:
        ruleset, skipped = runnable_on(ruleset, eng)
        for item in skipped:
            if not rule_ids or item.rule_id in rule_ids:
                click.echo(f"warning: rule {item.title} [{item.rule_id}] cannot run on {eng.name}: "
                           f"{'; '.join(item.problems)}", err=True)
        total = sum(1 for r in ruleset.rules if r.generate and selected(r.meta)) + sum(
            1 for c in ruleset.correlations if selected(c.meta))
        task = bar.add_task("rules", total=total)
        result = run(ruleset, eng, window, select=selected, on_rule=lambda meta: bar.advance(task))
    emit(result, output, app)


def emit(result: DetectionRun, output: str, app: AppContext) -> None:
    if output == "ndjson":
        for d in result.detections:
            click.echo(json.dumps(detection_dict(d), ensure_ascii=False))
        return
    if output == "json":
        click.echo(json.dumps({
            "engine": result.engine,
            "detections": [detection_dict(d) for d in result.detections],
            "timings": [dataclasses.asdict(t) for t in result.timings],
        }, indent=2, ensure_ascii=False))
        return
    zone = app.config.display_zone
    table = Table(title=f"{len(result.detections)} detections ({result.engine})", title_justify="left")
    for col in ("level", "rule", "kind", "key", "events", f"first ({zone.key})", "last"):
        table.add_column(col, justify="right" if col == "events" else "left")
    for d in sorted(result.detections, key=lambda d: (-LEVELS.index(d.level or "informational"), d.first_seen)):
        key = " ".join(f"{k}={v}" for k, v in d.key)
        table.add_row(d.level or "", d.title, d.kind, key, str(d.count),
                      f"{d.first_seen.astimezone(zone):%Y-%m-%d %H:%M:%S}", f"{d.last_seen.astimezone(zone):%H:%M:%S}")
    console = out_console()
    console.print(table)
    slow = sorted(result.timings, key=lambda t: -t.seconds)[:5]
    if slow:
        console.print("slowest rules: " + ", ".join(f"{t.title} {t.seconds:.2f}s" for t in slow), highlight=False)
