"""`breachkit scan`: for cron — detect since the last run, link to open incidents, alert the on-call."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import click
from rich.table import Table

from breachkit.cli.common import AppContext, local, out_console, parse_time, pass_app, progress_bar
from breachkit.cli.detect import LEVELS, detection_dict
from breachkit.detect.api import open_engine, ruleset_from_config, runnable_on
from breachkit.errors import InputError, ServiceError
from breachkit.incidents.api import actor_name, open_store
from breachkit.logs.stores import ENGINES
from breachkit.notices.delivery import (
    PermanentFailure,
    TemporaryFailure,
    UncertainFailure,
    send_plain,
    transport_from_config,
)
from breachkit.scan import ScanResult, alert_text, checkpoint, commit, scan, window_for


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
    to it; new ones are emailed to scan.alert_to. Never opens an incident: awareness is a human decision."""
    config, now, zone = app.config, datetime.now(UTC), app.config.display_zone
    engine_name = engine or config.ingest.default_engine
    with open_store(config, app.workspace()) as store:
        last = checkpoint(store, engine_name)
        if show_status:
            text = ("never run" if last is None else
                    f"scanned until {local(last[0], zone)} (run at {local(last[1], zone)})")
            out_console().print(f"{engine_name}: {text}")
            return
        ruleset = ruleset_from_config(config)
        if ruleset.problems:
            raise InputError(f"{len(ruleset.problems)} broken rules; nothing was scanned",
                             problems=list(ruleset.problems), hint="breachkit rules check")
        window = window_for(store, engine_name, ruleset, now, first_lookback=timedelta(
            hours=config.scan.first_lookback_hours), overlap_minutes=config.scan.overlap_minutes,
            since=parse_time(since, "--since"))
        with open_engine(config, app.workspace(), engine_name) as eng, progress_bar() as bar:
            ruleset, skipped = runnable_on(ruleset, eng)
            for item in skipped:  # over existing indices lacking fields: said, never silently empty
                click.echo(f"warning: rule {item.title} [{item.rule_id}] cannot run on {eng.name}: "
                           f"{'; '.join(item.problems)}", err=True)
            task = bar.add_task("rules", total=len(ruleset.rules) + len(ruleset.correlations))
            result = scan(store, ruleset, eng, now=now, window=window, min_level=level or config.scan.min_level,
                          actor=actor_name(), dry_run=dry_run, on_rule=lambda meta: bar.advance(task))
        if not dry_run:
            if result.new and config.scan.alert_to:
                _alert(app, result)
            commit(store, result, now)
    if output == "json":
        click.echo(json.dumps({"engine": result.engine, "since": result.window.since, "until": result.window.until,
                               "detections": result.detections, "ongoing": len(result.ongoing),
                               "linked": {k: [detection_dict(d) for d in v] for k, v in result.linked.items()},
                               "new": [detection_dict(d) for d in result.new], "dry_run": dry_run},
                              indent=2, default=str, ensure_ascii=False))
        return
    console = out_console()
    console.print(f"{result.detections} detections at level ≥ {level or config.scan.min_level}: "
                  f"{len(result.new)} new, {sum(map(len, result.linked.values()))} linked to open incidents, "
                  f"{len(result.ongoing)} ongoing"
                  + (" (dry run: nothing linked, alerted or remembered)" if dry_run else ""))
    if result.new:
        table = Table(title="new", title_justify="left")
        for col in ("level", "rule", "key", "events", f"first ({zone.key})"):
            table.add_column(col)
        for d in result.new:
            table.add_row(d.level or "", d.title, " ".join(f"{k}={v}" for k, v in d.key), str(d.count),
                          f"{d.first_seen.astimezone(zone):%Y-%m-%d %H:%M:%S}")
        console.print(table)


def _alert(app: AppContext, result: ScanResult) -> None:
    """Email the on-call; a failure stops the run before the checkpoint moves (the next run alerts again)."""
    config, zone = app.config, app.config.display_zone
    smtp = config.notices.smtp
    subject, body = alert_text(result, zone.key, lambda t: f"{t.astimezone(zone):%Y-%m-%d %H:%M:%S}")
    transport = transport_from_config(config)
    try:
        for recipient in config.scan.alert_to:
            digest = hashlib.sha256(f"{result.window.until}|{recipient}".encode()).hexdigest()[:20]
            send_plain(transport, smtp, to=recipient, subject=subject, text=body,
                       message_id=f"<scan.{digest}@breachkit>", date=datetime.now(UTC))
    except (TemporaryFailure, PermanentFailure, UncertainFailure) as exc:
        raise ServiceError(f"the scan alert could not be sent: {exc}",
                           hint="nothing was marked as reported; the next run alerts again") from None
    finally:
        transport.close()

