"""`breachkit scan`: for cron — detect since the last run, link to open incidents, alert the on-call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from breachkit.cli.common import AppContext, echo_json, local, out_console, parse_time, pass_app, progress_bar, safe
from breachkit.cli.detect import LEVELS, not_repeated, warn_not_run, warn_notes
from breachkit.logs.names import ENGINES
from breachkit.wording import counted

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from breachkit.scan import ScanResult


@click.command("scan")
@click.option("-e", "--engine", type=click.Choice(ENGINES),
              help="Where the events are (default: ingest.default_engine).")
@click.option("--since", help="Scan from this time instead of the checkpoint (a backfill; ISO 8601).")
@click.option("-l", "--level", type=click.Choice(LEVELS), help="Minimum rule level (default: scan.min_level).")
@click.option("--dry-run", is_flag=True, help="Report only: link nothing, alert nobody, keep the checkpoint.")
@click.option("--status", "show_status", is_flag=True, help="Show the checkpoint and exit.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def scan_cmd(app: AppContext, engine: str | None, since: str | None, level: str | None, dry_run: bool,
             show_status: bool, output: str) -> None:
    """Run the rules over what arrived since the last scan. Detections of an open incident's actors are linked
    to it; new ones are emailed to scan.alert_to, and so, once, is a rule that stops running or breaks. Never
    opens an incident: awareness is a human decision. Exit 1 (checkpoint kept) if no rule could run, 4 if
    some rules were broken."""
    from breachkit.scan import ScanDocument, run_scan, scan_status

    session, zone = app.session, app.session.zone
    if show_status:
        status = scan_status(session, engine)
        text = ("never run" if status.checkpoint is None else
                f"scanned until {local(status.checkpoint[0], zone)} (run at {local(status.checkpoint[1], zone)})")
        out_console().print(f"{status.engine}: {text}")
        return
    with progress_bar() as bar:
        task = bar.add_task("rules", total=None)
        result = run_scan(session, engine=engine, since=parse_time(since, "--since"), level=level, dry_run=dry_run,
                          on_start=lambda total: bar.update(task, total=total),
                          on_rule=lambda meta: bar.advance(task))
    assert result.run is not None
    warn_not_run(result.run.not_run)
    warn_notes(result.run.notes)
    if output == "json":
        echo_json(ScanDocument.of(result, dry_run=dry_run))
    else:
        _print(result, level or session.config.scan.min_level, dry_run, zone)
    if result.run.incomplete is not None:
        raise not_repeated(result.run.incomplete, result.run.not_run)


def _print(result: ScanResult, level: str, dry_run: bool, zone: ZoneInfo) -> None:
    from rich.table import Table

    console = out_console()
    console.print(f"{counted(result.detections, 'detection')} at level ≥ {level}: "
                  f"{len(result.new)} new, {sum(map(len, result.linked.values()))} linked to open incidents, "
                  f"{len(result.ongoing)} ongoing"
                  + (" (dry run: nothing linked, alerted or remembered)" if dry_run else ""))
    if result.new:
        table = Table(title="new", title_justify="left")
        for col in ("level", "rule", "key", "events", f"first ({zone.key})"):
            table.add_column(col)
        for d in result.new:
            table.add_row(d.level or "", d.title, safe(" ".join(f"{k}={v}" for k, v in d.key)), str(d.count),
                          f"{d.first_seen.astimezone(zone):%Y-%m-%d %H:%M:%S}")
        console.print(table)
    if result.late_from is not None:
        console.print(f"late data: events stored since the last run reach back to "
                      f"{result.late_from.astimezone(zone):%Y-%m-%d %H:%M:%S} ({zone.key}): scanned from there")
    if result.alerts is not None and (result.alerts.sent or result.alerts.retrying or result.alerts.given_up):
        console.print(f"alerts: {len(result.alerts.sent)} sent, {len(result.alerts.retrying)} to retry, "
                      f"{len(result.alerts.given_up)} given up")
    if not dry_run and not result.checkpoint_moved:
        console.print("checkpoint kept: the next scan covers this window again (alerts pending, or nothing ran)")
