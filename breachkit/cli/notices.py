"""`breachkit notices render | send | status | resolve`: review, deliver and account for every message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import click

from breachkit.cli.common import AppContext, echo_json, err_console, out_console, output_option, pass_app, progress_bar
from breachkit.cli.common import safe as _safe

if TYPE_CHECKING:
    from rich.table import Table

    from breachkit.errors import Problem

REPORT_TYPES = click.Choice(["initial", "follow_up", "final"])


@click.group("notices")
def notices() -> None:
    """Subject emails and authority reports: render for review, send through the outbox, account for them."""


def _problems_table(problems: list[Problem], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("row", "field", "problem"):
        table.add_column(col)
    for p in problems:
        table.add_row(str(p.location.line or ""), _safe(p.location.field or ""), _safe(p.message))
    return table


@notices.command("render")
@click.argument("incident_id")
@click.option("--kind", type=click.Choice(["subject", "authority"]), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new folder for the review copy (files 0600).")
@click.option("--recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Subject table (CSV, Parquet, JSON lines); default: the incident's latest subject list.")
@click.option("--format", "formats", multiple=True, type=click.Choice(["md", "html", "json", "pdf"]),
              help="Authority report formats (default: all).")
@click.option("--report-type", type=REPORT_TYPES, default="initial", show_default=True)
@click.option("--reference", help="The authority's reference of the first report (follow-ups).")
@click.option("--overwrite", is_flag=True, help="Replace an existing review folder.")
@pass_app
def render_cmd(app: AppContext, incident_id: str, kind: str, out: Path, recipients: Path | None,
               formats: tuple[str, ...], report_type: str, reference: str | None, overwrite: bool) -> None:
    """Write what would be sent, for review: one file set per person plus a summary, or the authority report."""
    from breachkit.notices.api import render_authority_reports, render_subject_notices
    from breachkit.notices.render import AUTHORITY_FORMATS, AuthorityFormat

    if kind == "authority":
        paths = render_authority_reports(
            app.session, incident_id, out, formats=cast(tuple[AuthorityFormat, ...], formats) or AUTHORITY_FORMATS,
            report_type=cast(Literal["initial", "follow_up", "final"], report_type), reference=reference,
            overwrite=overwrite)
        out_console().print("\n".join(str(p) for p in paths))
        return
    summary = render_subject_notices(app.session, incident_id, out, recipients=recipients, overwrite=overwrite)
    console = out_console()
    console.print(f"{summary.rendered} emails rendered into {out} · per kind {summary.per_kind} · "
                  f"{summary.skipped} actor accounts not written to · per locale {summary.per_locale} · "
                  f"per country {summary.per_country}")
    if summary.rejected:
        console.print(_problems_table(summary.rejected, f"{len({p.location.line for p in summary.rejected})} "
                                                        "rows rejected (not rendered)"))


@notices.command("send")
@click.argument("incident_id")
@click.option("--kind", type=click.Choice(["subject"]), default="subject", show_default=True,
              help="Subject emails (authority reports are filed through the authority's portal: "
                   "`report authority`, then `incident file`).")
@click.option("--recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Subject table; default: the incident's latest subject list.")
@click.option("--version", "version", type=int, default=1, show_default=True,
              help="Notice version: a corrected notice to the same people is a new version.")
@click.option("--dry-run", is_flag=True, help="Write .eml files into --out instead of queuing and sending.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for --dry-run.")
@click.option("--queue-only", is_flag=True, help="Queue the messages, send later (another run).")
@click.option("--progress/--no-progress", default=True)
@click.option("--override-check", is_flag=True, help="Send despite errors of the pre-filing check (needs --reason).")
@click.option("--reason", help="Why the check's errors are overridden (recorded in the timeline and audit log).")
@pass_app
def send_cmd(app: AppContext, incident_id: str, kind: str, recipients: Path | None, version: int, dry_run: bool,
             out: Path | None, queue_only: bool, progress: bool, override_check: bool, reason: str | None) -> None:
    """Queue every person's email in the outbox and deliver it over SMTP, exactly once (or visibly `unknown`);
    the pre-filing check runs first (not for --dry-run)."""
    from breachkit.cli.common import override_reason
    from breachkit.notices.api import send_notices
    from breachkit.notices.outbox import State

    if dry_run and out is None:
        raise click.UsageError("--dry-run needs --out DIR")
    with progress_bar(progress) as bar:
        task = bar.add_task("sending", total=None)
        result = send_notices(app.session, incident_id, recipients=recipients, version=version,
                              dry_run_to=out if dry_run else None, queue_only=queue_only,
                              on_start=lambda total: bar.update(task, total=total),
                              on_message=lambda row, state: bar.advance(task) if state != State.QUEUED else None,
                              override_reason=override_reason(override_check, reason))
    if result.rejected:
        err_console().print(_problems_table(result.rejected, "rows rejected (not sent)"))
    if dry_run:
        out_console().print(f"{len(result.dry_run)} .eml files in {out} (nothing queued or sent)")
        return
    out_console().print(f"queued {result.queued} new, {result.already} already in the outbox")
    if result.changed:
        err_console().print(f"[yellow]{len(result.changed)} people already have version {version} queued with "
                            f"different content: not queued again (use --version {version + 1} to send a "
                            "corrected notice)[/]")
    if not result.delivered:
        return
    out_console().print(f"sent {result.sent} · retried {result.retried} · failed {len(result.failed)} · "
                        f"unknown {len(result.unknown) + len(result.interrupted)} · totals {result.counts}")
    failure = result.failure()
    if failure is not None:
        raise failure


@notices.command("status")
@click.argument("incident_id")
@output_option()
@pass_app
def status_cmd(app: AppContext, incident_id: str, output: str) -> None:
    """Messages by state; failed and unknown ones listed with the reason."""
    from rich.table import Table

    from breachkit.notices.api import notice_status

    doc = notice_status(app.session, incident_id)
    if output == "json":
        echo_json(doc)
        return
    out_console().print(" · ".join(f"{k} {v}" for k, v in doc.counts.items()))
    if doc.problems:
        table = Table(title="not delivered for sure", title_justify="left")
        for col in ("recipient", "state", "attempts", "error"):
            table.add_column(col)
        for p in doc.problems:
            table.add_row(_safe(p["recipient"]), str(p["state"]), str(p["attempts"]), _safe(p["error"]))
        out_console().print(table)


@notices.command("resolve")
@click.argument("incident_id")
@click.option("--action", type=click.Choice(["resend", "sent", "cancel"]), required=True,
              help="resend: queue again · sent: it did arrive (e.g. found in the server log) · cancel: give up.")
@click.option("--recipient", "recipients", multiple=True, help="Only these subject ids (default: all).")
@click.option("--failed", "include_failed", is_flag=True, help="Also act on failed messages (e.g. resend).")
@click.option("--reason", required=True)
@pass_app
def resolve_cmd(app: AppContext, incident_id: str, action: str, recipients: tuple[str, ...], include_failed: bool,
                reason: str) -> None:
    """Decide explicitly about messages in state `unknown` (and, with --failed, `failed`)."""
    from breachkit.notices.api import resolve_notices

    changed = resolve_notices(app.session, incident_id, action=cast(Literal["resend", "sent", "cancel"], action),
                              reason=reason, recipients=recipients or None, include_failed=include_failed)
    out_console().print(f"{changed} messages: {action}")
