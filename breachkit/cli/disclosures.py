"""`breachkit report disclosures`: the disclosure record — what was disclosed to whom, when, why — and the exact
bytes of one disclosure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from breachkit.cli.common import AppContext, local, out_console, parse_time, pass_app, safe


@click.command("disclosures")
@click.argument("incident_id", required=False)
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "csv", "json", "md", "pdf"]), default="table",
              show_default=True)
@click.option("--since", help="Disclosures at or after this time (all incidents when no ID is given).")
@click.option("--until", help="Disclosures before this time.")
@click.option("--content", "content", metavar="DISCLOSURE",
              help="The exact bytes of one disclosure (its id, e.g. A123): the email as sent, the document filed.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (0600); default stdout (not pdf).")
@click.option("--reason", default="disclosure record", show_default=True, help="Why it is produced (audit log).")
@pass_app
def disclosures_cmd(app: AppContext, incident_id: str | None, fmt: str, since: str | None, until: str | None,
                    content: str | None, out: Path | None, reason: str) -> None:
    """The disclosure record: every notice sent, report filed, export and list view of personal data — to whom,
    when, why, by whom, with the SHA-256 of the exact bytes (verify one with --content ID | sha256sum)."""
    from breachkit.notices.disclosures import RecordFormat, disclosure_content, disclosure_record

    session, zone = app.session, app.session.zone
    if content is not None:
        found = disclosure_content(session, content, out=out, reason=reason)
        if out is None:
            sys.stdout.buffer.write(found.data)
            sys.stdout.flush()
        else:
            out_console().print(f"{found.id} ({safe(found.name)}) → {out} · sha256 {found.sha256}")
        return
    start, end = parse_time(since, "--since", zone), parse_time(until, "--until", zone)
    if fmt != "table":
        result = disclosure_record(session, incident_id, fmt=cast(RecordFormat, fmt), out=out, reason=reason,
                                   since=start, until=end)
        if out is None:
            sys.stdout.buffer.write(result.data)
            sys.stdout.flush()
        else:
            out_console().print(f"{len(result.document.disclosures)} disclosures → {out} · sha256 {result.sha256}")
        return
    from rich.table import Table

    doc = disclosure_record(session, incident_id, reason=reason, since=start, until=end).document
    table = Table(title=f"{len(doc.disclosures)} disclosures · {doc.counts}", title_justify="left")
    for col in ("id", f"when ({zone.key})", "kind", "to", "by", "reason", "sha256", "notes"):
        table.add_column(col)
    for i in doc.disclosures:
        notes = "; ".join([*([i.approval] if i.approval else []), *i.flags])
        table.add_row(i.id, local(i.at, zone), i.kind, safe(i.to + (f" ({i.recipient_id})" if i.recipient_id else "")),
                      safe(i.by), safe(i.reason), (i.sha256 or "")[:16], safe(notes))
    out_console().print(table)
    out_console().print(safe(doc.verify))
