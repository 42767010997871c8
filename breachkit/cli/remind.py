"""`breachkit remind`: for cron — email task owners and the commander as due times approach or pass."""

from __future__ import annotations

import click

from breachkit.cli.common import AppContext, echo_json, out_console, output_option, pass_app


@click.command("remind")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send and record nothing.")
@output_option()
@pass_app
def remind_cmd(app: AppContext, dry_run: bool, output: str) -> None:
    """Email reminders at the configured thresholds before each task's and deadline's due time, and when
    overdue; each one once. Meant for cron (exit 4 when some could not be sent)."""
    from rich.table import Table

    from breachkit.errors import PartialFailure, Problem
    from breachkit.remind import run_reminders

    report, planned = run_reminders(app.session, dry_run=dry_run)
    if output == "json":
        echo_json({"planned" if dry_run else "sent": [vars(r) for r in (planned if dry_run else report.sent)],
                   "already_sent": report.already, "failed": [(vars(r), e) for r, e in report.failed],
                   "incidents_without_commander": report.no_recipient})
    else:
        table = Table(title=("would send" if dry_run else "sent") + f" ({report.already} sent before)",
                      title_justify="left")
        for col in ("incident", "what", "threshold", "to"):
            table.add_column(col)
        for r in planned if dry_run else report.sent:
            table.add_row(r.incident_id, r.title, r.threshold, r.recipient)
        out_console().print(table)
        for incident_id in report.no_recipient:
            out_console().print(f"[yellow]{incident_id} has no commander: deadline reminders go nowhere "
                                f"(breachkit incident update {incident_id} --set commander=…)[/]")
    if report.failed:
        raise PartialFailure(f"{len(report.failed)} reminders could not be sent (they will be retried)",
                             problems=[Problem(f"{r.incident_id} {r.title} → {r.recipient}: {e}")
                                       for r, e in report.failed])
