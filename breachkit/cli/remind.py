"""`breachkit remind`: for cron — email task owners and the commander as due times approach or pass."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, out_console, output_option, pass_app
from breachkit.errors import PartialFailure, Problem, ServiceError
from breachkit.incidents.api import deadlines_of, open_store, regimes_from_config
from breachkit.incidents.model import Incident, Status
from breachkit.incidents.remind import Reminder, RemindReport, already_sent, due_reminders, message_id, send_reminders
from breachkit.notices.delivery import (
    PermanentFailure,
    TemporaryFailure,
    UncertainFailure,
    send_plain,
    transport_from_config,
)


@click.command("remind")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send and record nothing.")
@output_option()
@pass_app
def remind_cmd(app: AppContext, dry_run: bool, output: str) -> None:
    """Email reminders at the configured thresholds before each task's and deadline's due time, and when
    overdue; each one once. Meant for cron (exit 4 when some could not be sent)."""
    config, now, zone = app.config, datetime.now(UTC), app.config.display_zone
    thresholds = config.incidents.remind_before_hours
    regimes = regimes_from_config(config)
    report = RemindReport()
    smtp = config.notices.smtp
    transport = None if dry_run else transport_from_config(config)
    with open_store(config, app.workspace()) as store:
        planned: list[Reminder] = []
        for incident in store.list_incidents(status=[s for s in Status if s != Status.CLOSED]):
            if not incident.commander:
                report.no_recipient.append(incident.id)
            found = due_reminders(incident, store.tasks(incident.id), deadlines_of(store, incident, regimes, now),
                                  thresholds, now, dpo=config.notices.dpo_email)
            sent = already_sent(store, incident.id)
            fresh = [r for r in found if (r.subject, r.threshold, r.recipient) not in sent]
            report.already += len(found) - len(fresh)
            planned += fresh
            if dry_run or not fresh:
                continue

            def send(reminder: Reminder, incident: Incident = incident) -> None:
                assert transport is not None
                subject, body = reminder.text(incident, zone)
                try:
                    send_plain(transport, smtp, to=reminder.recipient, subject=subject, text=body,
                               message_id=message_id(reminder), date=now)
                except (TemporaryFailure, PermanentFailure) as exc:
                    raise ServiceError(str(exc)) from None
                except UncertainFailure:
                    pass  # it may have arrived: keep it recorded rather than risk a second copy

            send_reminders(store, fresh, send, now, report)
        if transport is not None:
            transport.close()
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
