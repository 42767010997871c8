"""`breachkit notices render | send | status | resolve`: review, deliver and account for every message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import click

from breachkit.cli.common import AppContext, echo_json, err_console, out_console, output_option, pass_app, progress_bar
from breachkit.cli.common import safe as _safe
from breachkit.wording import counted

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.table import Table

    from breachkit.errors import Problem
    from breachkit.notices.approvals import SendPlanDocument
    from breachkit.notices.coverage import LanguageReport

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
@click.option("--locale", help="The authority report's language (en, de, fr); default: the lead authority's.")
@pass_app
def render_cmd(app: AppContext, incident_id: str, kind: str, out: Path, recipients: Path | None,
               formats: tuple[str, ...], report_type: str, reference: str | None, overwrite: bool,
               locale: str | None) -> None:
    """Write what would be sent, for review: one file set per person plus a summary, or the authority report."""
    from breachkit.notices.api import authority_report_language, render_authority_reports, render_subject_notices
    from breachkit.notices.render import AUTHORITY_FORMATS, AuthorityFormat

    if kind == "authority":
        paths = render_authority_reports(
            app.session, incident_id, out, formats=cast(tuple[AuthorityFormat, ...], formats) or AUTHORITY_FORMATS,
            report_type=cast(Literal["initial", "follow_up", "final"], report_type), reference=reference,
            overwrite=overwrite, locale=locale)
        language = authority_report_language(app.session, incident_id, locale)
        out_console().print("\n".join(str(p) for p in paths))
        (err_console() if language.fallback else out_console()).print(
            _safe(language.describe()), style="yellow" if language.fallback else None)
        return
    if locale:
        raise click.UsageError("--locale sets the authority report's language (--kind authority); each person's "
                               "email is in their own language")
    summary = render_subject_notices(app.session, incident_id, out, recipients=recipients, overwrite=overwrite)
    console = out_console()
    console.print(f"{summary.rendered} emails rendered into {out} · per kind {summary.per_kind} · "
                  f"{summary.skipped} actor accounts not written to · per locale {summary.per_locale} · "
                  f"per country {summary.per_country}")
    if summary.rejected:
        console.print(_problems_table(summary.rejected, f"{len({p.location.line for p in summary.rejected})} "
                                                        "rows rejected (not rendered)"))
    _language_warnings(summary.languages, "summary.json lists every person (languages)")


def _language_warnings(languages: LanguageReport | None, where: str) -> None:
    """Who would read another language or miss the incident's own text — never silent."""
    lines = languages.lines() if languages is not None else []
    for line in lines:
        err_console().print(f"[yellow]language: {_safe(line)}[/]")
    if lines:
        err_console().print(f"[yellow]language: {where}[/]")


@notices.command("approve")
@click.argument("incident_id")
@click.option("--version", "version", type=int, required=True, help="The version approved (a corrected one is new).")
@click.option("--kind", type=click.Choice(["subject", "authority"]), default="subject", show_default=True)
@click.option("--reason", required=True, help="Why it may go out as it is (recorded).")
@click.option("--recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Subject table; default: the incident's latest subject list (send must use the same).")
@click.option("--report-type", type=REPORT_TYPES, default="initial", show_default=True, help="Authority report.")
@click.option("--reference", help="The authority's reference of the first report (follow-ups).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Authority: a new folder for the approved copies (report.<fmt>, 0600) to file.")
@output_option()
@pass_app
def approve_cmd(app: AppContext, incident_id: str, version: int, kind: str, reason: str, recipients: Path | None,
                report_type: str, reference: str | None, out: Path | None, output: str) -> None:
    """Four eyes: approve the exact messages of a version (or the authority report) — the SHA-256 of every message
    as it will be sent is recorded with who approved it and why; `send` sends only bytes that still match."""
    from breachkit.notices.approvals import approve_notices

    doc = approve_notices(app.session, incident_id, version=version, kind=cast(Literal["subject", "authority"], kind),
                          reason=reason, recipients=recipients, out=out,
                          report_type=cast(Literal["initial", "follow_up", "final"], report_type), reference=reference)
    if output == "json":
        echo_json(doc)
        return
    what = (f"{doc.messages} messages · per kind {doc.per_kind} · per locale {doc.per_locale}" if kind == "subject"
            else f"formats {', '.join(doc.formats)}")
    out_console().print(f"{doc.incident} {kind} version {doc.version} approved by {_safe(doc.approved_by)} "
                        f"(approval {doc.approval_id}, manifest sha256 {doc.sha256}): {what}")
    for path in doc.files:
        out_console().print(f"  approved copy: {_safe(path)}")
    for warning in doc.warnings:
        err_console().print(f"[yellow]warning:[/] {_safe(warning)}")


def _confirmation(yes: bool) -> Callable[[SendPlanDocument], bool] | None:
    """None when --yes; else a question on the terminal (refused, with the reason, when there is none)."""
    import sys

    from breachkit.errors import UsageError

    if yes:
        return None
    interactive = sys.stdin.isatty()

    def ask(plan: SendPlanDocument) -> bool:
        # refused only when asked, i.e. after the pre-filing check and the approval were checked: those errors
        # come first, as they need fixing before any confirmation could help
        if not interactive:
            raise UsageError("notices send asks for confirmation, and there is no terminal to ask on",
                             hint="check the plan, then run it again with --yes")
        console = err_console()
        console.print(f"About to send {plan.incident} subject notices version {plan.version} from {_safe(plan.sender)}:"
                      f" {plan.to_send} of {plan.messages} messages to go · per kind {plan.per_kind} · per locale "
                      f"{plan.per_locale} · approved "
                      f"by {_safe(plan.approved_by)} at {plan.approved_at.isoformat()} ({_safe(plan.approval_reason)})")
        for warning in plan.warnings:
            console.print(f"[yellow]warning:[/] {_safe(warning)}")
        return click.confirm("Send them?", default=False, err=True)

    return ask


@notices.command("send")
@click.argument("incident_id")
@click.option("--kind", type=click.Choice(["subject"]), default="subject", show_default=True,
              help="Subject emails (authority reports are filed through the authority's portal: "
                   "`report authority`, then `incident file --document`).")
@click.option("--recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Subject table; default: the incident's latest subject list.")
@click.option("--version", "version", type=int, default=1, show_default=True,
              help="The approved notice version to send (a corrected notice to the same people is a new version).")
@click.option("--dry-run", is_flag=True, help="Write .eml files into --out instead of queuing and sending.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for --dry-run.")
@click.option("--queue-only", is_flag=True, help="Queue the messages, send later (another run).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--progress/--no-progress", default=True)
@click.option("--override-check", is_flag=True, help="Send despite errors of the pre-filing check (needs --reason).")
@click.option("--accept-fallback", is_flag=True,
              help="Send although some people would read another language or miss the incident's own text in "
                   "theirs (needs --reason; only these errors of the check).")
@click.option("--reason", help="Why the check's errors are overridden or the fallback accepted (recorded in the "
                               "timeline and audit log).")
@pass_app
def send_cmd(app: AppContext, incident_id: str, kind: str, recipients: Path | None, version: int, dry_run: bool,
             out: Path | None, queue_only: bool, yes: bool, progress: bool, override_check: bool,
             accept_fallback: bool, reason: str | None) -> None:
    """Send an approved version: the pre-filing check runs first (not for --dry-run), then every message is
    checked against its approved bytes and delivered over SMTP exactly once (or visibly `unknown`). Asks for
    confirmation (counts per locale and kind) unless --yes."""
    from breachkit.cli.common import override_reason
    from breachkit.notices.api import send_notices
    from breachkit.notices.outbox import State

    if dry_run and out is None:
        raise click.UsageError("--dry-run needs --out DIR")
    if accept_fallback and not (reason or "").strip():
        raise click.UsageError("--accept-fallback needs --reason: why send in another language (it is recorded)")
    given = override_reason(override_check or accept_fallback, reason)  # --reason goes with either flag
    confirm = None if dry_run else _confirmation(yes)
    with progress_bar(progress) as bar:
        task = bar.add_task("sending", total=None)
        result = send_notices(app.session, incident_id, recipients=recipients, version=version,
                              dry_run_to=out if dry_run else None, queue_only=queue_only, confirm=confirm,
                              on_start=lambda total: bar.update(task, total=total),
                              on_message=lambda row, state: bar.advance(task) if state != State.QUEUED else None,
                              override_reason=given if override_check else None,
                              accept_fallback=given if accept_fallback else None)
    _language_warnings(result.languages, "breachkit notices render … --kind subject lists every person")
    for warning in result.warnings:
        err_console().print(f"[yellow]warning:[/] {_safe(warning)}")
    if result.rejected:
        err_console().print(_problems_table(result.rejected, "rows rejected (not sent)"))
    if dry_run:
        out_console().print(f"{len(result.dry_run)} .eml files in {out} (nothing queued or sent)")
        return
    if result.cancelled:
        out_console().print("not sent: nothing was queued")
        return
    out_console().print(f"queued {result.queued} new, {result.already} already in the outbox")
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
    out_console().print(f"{counted(changed, 'message')}: {action}")
