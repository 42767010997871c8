"""`breachkit notices render | send | status | resolve`: review, deliver and account for every message."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import click
from rich.table import Table

from breachkit.cli.common import AppContext, echo_json, err_console, out_console, output_option, pass_app, progress_bar
from breachkit.errors import PartialFailure, Problem
from breachkit.incidents.api import actor_name, open_store
from breachkit.notices.api import (
    authority_report_context,
    chunks,
    load_recipients,
    notice_context,
    outgoing,
    require_subject_decision,
    write_eml,
)
from breachkit.notices.context import ReportType
from breachkit.notices.delivery import DeliveryOptions, deliver, transport_from_config
from breachkit.notices.outbox import Outbox, State
from breachkit.notices.render import AuthorityFormat, render_all, write_authority
from breachkit.notices.templates import environment_from_config

REPORT_TYPES = click.Choice(["initial", "follow_up", "final"])


@click.group("notices")
def notices() -> None:
    """Subject emails and authority reports: render for review, send through the outbox, account for them."""


def _problems_table(problems: list[Problem], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("row", "field", "problem"):
        table.add_column(col)
    for p in problems:
        table.add_row(str(p.location.line or ""), p.location.field or "", p.message)
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
    config, now, actor = app.config, datetime.now(UTC), actor_name()
    env = environment_from_config(config)
    with open_store(config, app.workspace()) as store:
        incident = store.get(incident_id.upper())
        if kind == "authority":
            ctx = authority_report_context(store, config, incident, now, report_type=cast(ReportType, report_type),
                                           earlier_reference=reference)
            chosen = cast(tuple[AuthorityFormat, ...], tuple(formats) or ("md", "html", "json", "pdf"))
            paths = write_authority(ctx, env, out, chosen, overwrite=overwrite)
            digest = hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()
            store.audit("render", str(out), actor=actor, at=now, incident_id=incident.id, sha256=digest,
                        reason=f"authority report ({report_type}) for review",
                        detail={"files": [p.name for p in paths]})
            out_console().print("\n".join(str(p) for p in paths))
            return
        people = load_recipients(store, incident, env, recipients)
        summary = render_all(notice_context(store, config, incident), people, out, env, overwrite=overwrite)
        store.audit("render", str(out), actor=actor, at=now, incident_id=incident.id,
                    sha256=hashlib.sha256((out / "summary.json").read_bytes()).hexdigest(),
                    reason="subject notices for review", detail={"rendered": summary.rendered,
                                                                 "rejected": len(summary.rejected)})
    console = out_console()
    console.print(f"{summary.rendered} emails rendered into {out} · per locale {summary.per_locale} · "
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
@pass_app
def send_cmd(app: AppContext, incident_id: str, kind: str, recipients: Path | None, version: int, dry_run: bool,
             out: Path | None, queue_only: bool, progress: bool) -> None:
    """Queue every person's email in the outbox and deliver it over SMTP, exactly once (or visibly `unknown`)."""
    config, now, actor = app.config, datetime.now(UTC), actor_name()
    env = environment_from_config(config)
    if dry_run and out is None:
        raise click.UsageError("--dry-run needs --out DIR")
    with open_store(config, app.workspace()) as store:
        incident = store.get(incident_id.upper())
        reason = require_subject_decision(store, incident)
        people = load_recipients(store, incident, env, recipients)
        messages = outgoing(incident, people, notice_context(store, config, incident), env, config,
                            version=version, reason=reason, now=now)
        if people.rejected:
            err_console().print(_problems_table(people.rejected, "rows rejected (not sent)"))
        if dry_run:
            assert out is not None
            paths = write_eml(messages, out)
            store.audit("render", str(out), actor=actor, at=now, incident_id=incident.id, reason="dry run (.eml)",
                        detail={"messages": len(paths)})
            out_console().print(f"{len(paths)} .eml files in {out} (nothing queued or sent)")
            return
        outbox = Outbox(store)
        added = already = 0
        changed: list[str] = []
        for batch in chunks(messages):
            queued = outbox.enqueue(batch, actor=actor, now=now)
            added, already, changed = added + queued.added, already + queued.already, changed + queued.changed
        out_console().print(f"queued {added} new, {already} already in the outbox")
        if changed:
            err_console().print(f"[yellow]{len(changed)} people already have version {version} queued with "
                                f"different content: not queued again (use --version {version + 1} to send a "
                                "corrected notice)[/]")
        if queue_only:
            return
        pending = outbox.counts(incident.id, kind)[State.QUEUED.value]
        with progress_bar(progress) as bar:
            task = bar.add_task("sending", total=pending)
            report = deliver(outbox, incident.id, kind, transport_from_config(config),
                             DeliveryOptions.from_config(config.notices.smtp), actor=actor,
                             on_message=lambda row, state: bar.advance(task) if state != State.QUEUED else None)
        counts = outbox.counts(incident.id, kind)
    out_console().print(f"sent {report.sent} · retried {report.retried} · failed {len(report.failed)} · "
                        f"unknown {len(report.unknown) + len(report.interrupted)} · totals {counts}")
    problems = [Problem(f"failed: {r}: {e}") for r, e in report.failed]
    problems += [Problem(f"unknown: {r}: {e}") for r, e in report.unknown]
    problems += [Problem(f"unknown: {r}: interrupted by an earlier run") for r in report.interrupted]
    if problems:
        raise PartialFailure(f"{len(problems)} messages not delivered for sure", problems=problems,
                             hint=f"breachkit notices status {incident.id}; decide on unknown ones with "
                                  f"`breachkit notices resolve {incident.id} --action resend|sent`")


@notices.command("status")
@click.argument("incident_id")
@output_option()
@pass_app
def status_cmd(app: AppContext, incident_id: str, output: str) -> None:
    """Messages by state; failed and unknown ones listed with the reason."""
    with open_store(app.config, app.workspace()) as store:
        outbox = Outbox(store)
        iid = incident_id.upper()
        store.get(iid)
        counts = outbox.counts(iid)
        trouble = outbox.rows(iid, states=[State.FAILED, State.UNKNOWN])
    if output == "json":
        echo_json({"counts": counts, "problems": [{"recipient": r.recipient, "state": r.state.value,
                                                   "attempts": r.attempts, "error": r.last_error} for r in trouble]})
        return
    out_console().print(" · ".join(f"{k} {v}" for k, v in counts.items()))
    if trouble:
        table = Table(title="not delivered for sure", title_justify="left")
        for col in ("recipient", "state", "attempts", "error"):
            table.add_column(col)
        for r in trouble:
            table.add_row(r.recipient, r.state.value, str(r.attempts), r.last_error)
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
    states = [State.UNKNOWN, State.FAILED] if include_failed else [State.UNKNOWN]
    with open_store(app.config, app.workspace()) as store:
        changed = Outbox(store).resolve(incident_id.upper(), "subject", action=action, recipients=recipients or None,
                                        states=states, actor=actor_name(), now=datetime.now(UTC), reason=reason)
    out_console().print(f"{changed} messages: {action}")
