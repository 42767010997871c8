"""`breachkit incident status | file | close | reopen`: move an incident along its lifecycle and record what was
filed (registered on the `incident` group by `cli.incident`)."""

from __future__ import annotations

from pathlib import Path

import click

from breachkit.cli.common import AppContext, local, out_console, parse_time, pass_app
from breachkit.incidents.model import FilingKind, Status

STATUSES = [s.value for s in Status]
FILING_KINDS = [k.value for k in FilingKind]


@click.command("status")
@click.argument("incident_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--reason", required=True)
@pass_app
def status_cmd(app: AppContext, incident_id: str, status: str, reason: str) -> None:
    """Move the incident along its lifecycle (closing needs the authority decision on record)."""
    from breachkit.incidents.api import set_status

    new = set_status(app.session, incident_id, status, reason=reason)
    out_console().print(f"{new.id} is {new.status.value}")


@click.command("file")
@click.argument("incident_id")
@click.option("--regime", required=True, help="e.g. gdpr-33")
@click.option("--stage", required=True, help="e.g. authority")
@click.option("--kind", type=click.Choice(FILING_KINDS), default="initial", show_default=True)
@click.option("--at", "filed_at", help="When it was filed (default: now).")
@click.option("--reference", help="The authority's case number (needed for follow-ups).")
@click.option("--recipient", default="", help="The authority or channel.")
@click.option("--document", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The document filed (any format): kept in the store with its SHA-256 for the disclosure record.")
@click.option("--note", default="")
@click.option("--override-check", is_flag=True, help="File despite errors of the pre-filing check (needs --reason).")
@click.option("--reason", help="Why the check's errors are overridden (recorded in the timeline and audit log).")
@pass_app
def file_cmd(app: AppContext, incident_id: str, regime: str, stage: str, kind: str, filed_at: str | None,
             reference: str | None, recipient: str, document: Path | None, note: str, override_check: bool,
             reason: str | None) -> None:
    """Record a report filed with an authority, or a public communication (--kind public_communication), which
    stops that stage's clock; --document keeps the exact document filed. The pre-filing check runs first."""
    from breachkit.cli.common import err_console, override_reason
    from breachkit.incidents.api import file_report

    filed = parse_time(filed_at, "--at", app.session.zone)
    filing = file_report(app.session, incident_id, regime=regime, stage=stage, kind=kind, filed_at=filed,
                         reference=reference, recipient=recipient, note=note, document=document,
                         override_reason=override_reason(override_check, reason))
    when = local(filing.filed_at, app.session.zone)
    out_console().print(f"{filing.incident_id}: {regime}.{stage} {kind} filed {when}"
                        + (f" · document sha256 {filing.content_sha256}" if filing.content_sha256 else ""))
    if filing.content_sha256 is None:
        err_console().print("[yellow]warning:[/] no document kept: the disclosure record will say what was filed "
                            "cannot be shown (give --document)")
    elif filing.approval_id is None and kind != "public_communication":
        err_console().print("[yellow]warning:[/] the document is not an approved authority report "
                            "(breachkit notices approve --kind authority)")


@click.command("close")
@click.argument("incident_id")
@click.option("--reason", required=True, help="Why it can be closed (recorded).")
@pass_app
def close_cmd(app: AppContext, incident_id: str, reason: str) -> None:
    """Close the incident (needs the decision on notifying the authority on record, Art. 33(5))."""
    from breachkit.incidents.api import close_incident

    out_console().print(f"{close_incident(app.session, incident_id, reason=reason).id} is closed")


@click.command("reopen")
@click.argument("incident_id")
@click.option("--reason", required=True, help="Why it is reopened (recorded).")
@pass_app
def reopen_cmd(app: AppContext, incident_id: str, reason: str) -> None:
    """Reopen a closed incident (back to investigating): the only way to change a closed case."""
    from breachkit.incidents.api import reopen_incident

    out_console().print(f"{reopen_incident(app.session, incident_id, reason=reason).id} is reopened")
