"""`breachkit remind` as a use case (for cron): email task owners, the commander and the DPO as due times
approach or pass, each reminder once (claimed in the store before it is sent; the claim is withdrawn when the
server refuses it, so the next run tries again)."""

from __future__ import annotations

from breachkit.errors import ServiceError
from breachkit.incidents.api import OPEN_STATUSES, incident_state
from breachkit.incidents.model import Incident
from breachkit.incidents.remind import Reminder, RemindReport, due_reminders, message_id, send_reminders
from breachkit.session import Session


def run_reminders(session: Session, *, dry_run: bool = False) -> tuple[RemindReport, list[Reminder]]:
    """Send what is due now (nothing with `dry_run`). Returns the report and what was planned."""
    from breachkit.notices.delivery import (
        PermanentFailure,
        TemporaryFailure,
        UncertainFailure,
        send_plain,
        transport_from_config,
    )

    config, store, now, zone = session.config, session.store, session.now(), session.zone
    report = RemindReport()
    smtp = config.notices.smtp
    transport = None if dry_run else transport_from_config(config)
    planned: list[Reminder] = []
    try:
        for incident in store.list_incidents(status=OPEN_STATUSES):
            if not incident.commander:
                report.no_recipient.append(incident.id)
            state = incident_state(session, incident.id)  # tasks and stages as what was done left them
            found = due_reminders(incident, state.tasks, state.deadlines, config.incidents.remind_before_hours, now,
                                  dpo=config.notices.dpo_email)
            sent = store.reminders.claimed(incident.id)
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

            send_reminders(store, fresh, send, now, report, actor=session.actor)
    finally:
        if transport is not None:
            transport.close()
    return report, planned
