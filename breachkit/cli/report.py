"""`breachkit report register | timeline | authority`: what leaves the incident as documents."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import click

from breachkit.cli.common import AppContext, err_console, out_console, output_option, pass_app, safe
from breachkit.wording import counted


@click.group("report")
def report() -> None:
    """Documents: the breach register, the timeline picture, the authority report, the disclosure record."""


def _stdout(data: bytes) -> None:
    click.echo(data.decode("utf-8"), nl=False)


@report.command("register")
@click.option("-f", "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (0600); default stdout.")
@click.option("--reason", default="breach register (Art. 33(5))", help="Why it is exported (audit log).")
@pass_app
def register_cmd(app: AppContext, fmt: str, out: Path | None, reason: str) -> None:
    """Every incident, notified or not: facts, effects, remedial action, decisions and reasons (Art. 33(5))."""
    from breachkit.incidents.reports_api import export_register

    result = export_register(app.session, cast(Literal["csv", "json"], fmt), out, reason=reason)
    if out is None:
        _stdout(result.data)
    else:
        out_console().print(f"{counted(result.items, 'incident')} → {out}")


@report.command("timeline")
@click.argument("incident_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A .png or .svg file (written 0600).")
@click.option("--window", type=click.Choice(["legal", "all"]), default="legal", show_default=True,
              help="Time axis: awareness to the last deadline (as on the board), or everything up to now.")
@pass_app
def timeline_cmd(app: AppContext, incident_id: str, out: Path, window: str) -> None:
    """A picture of occurred/detected/aware, tasks, filings and every deadline."""
    from breachkit.incidents.api import normalize_id
    from breachkit.incidents.reports_api import export_timeline

    export_timeline(app.session, incident_id, out, window=cast(Literal["legal", "all"], window))
    out_console().print(f"{normalize_id(incident_id)} timeline → {out}")


@report.command("authority")
@click.argument("incident_id")
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "html", "json", "pdf"]), default="md",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (0600); default stdout (not pdf).")
@click.option("--report-type", type=click.Choice(["initial", "follow_up", "final"]), default="initial",
              show_default=True)
@click.option("--reference", help="The authority's reference of the first report (follow-ups).")
@click.option("--override-check", is_flag=True, help="Write it although the pre-filing check finds errors "
                                                      "(needs --reason).")
@click.option("--reason", help="Why the check's errors are overridden (recorded in the timeline and audit log).")
@click.option("--locale", help="The report's language (en, de, fr); default: the lead authority's "
                               "(notices.authority_languages), else notices.authority_locale, else en.")
@pass_app
def authority_cmd(app: AppContext, incident_id: str, fmt: str, out: Path | None, report_type: str,
                  reference: str | None, override_check: bool, reason: str | None, locale: str | None) -> None:
    """The report to the supervisory authority (Art. 33(3)), in the EDPB template's structure; the pre-filing
    check runs first (`report check` shows it on its own)."""
    from breachkit.cli.common import override_reason
    from breachkit.incidents.api import normalize_id
    from breachkit.notices.api import authority_report

    result = authority_report(app.session, incident_id, cast(Literal["md", "html", "json", "pdf"], fmt), out,
                              report_type=cast(Literal["initial", "follow_up", "final"], report_type),
                              reference=reference, override_reason=override_reason(override_check, reason),
                              locale=locale)
    language = result.language
    if language is not None and language.fallback:  # another language than the authority's: never silent
        err_console().print(safe(language.describe()), style="yellow")
    elif language is not None and out is not None:  # (on stdout the report itself is the output)
        out_console().print(safe(language.describe()))
    if out is None:
        _stdout(result.data)
    else:
        out_console().print(f"{normalize_id(incident_id)} authority report → {out}")


@report.command("check")
@click.argument("incident_id")
@click.option("--report-type", type=click.Choice(["initial", "follow_up", "final"]), default="initial",
              show_default=True, help="Blanks are \"to follow\" (warnings) only in an initial report (Art. 33(4)).")
@click.option("--reference", help="The authority's reference of the first report (follow-ups).")
@output_option()
@pass_app
def check_cmd(app: AppContext, incident_id: str, report_type: str, reference: str | None, output: str) -> None:
    """The pre-filing check: contradictions, blanks the authority form asks for, categories and numbers that do not
    agree, countries whose law has its own duty — each with the field to fix. Errors (exit 1) block `report
    authority`, `incident file` and `notices send` unless overridden with --override-check --reason."""
    from rich.table import Table

    from breachkit.cli.common import echo_json
    from breachkit.errors import InputError
    from breachkit.incidents.check_api import check_case

    doc = check_case(app.session, incident_id, report_type=report_type, reference=reference)
    if output == "json":
        echo_json(doc)
    else:
        title = (f"{doc.incident}: pre-filing check ({doc.report_type} report, subject list "
                 f"{'v' + str(doc.subject_list) if doc.subject_list else 'none'})")
        if doc.findings:
            table = Table(title=title, title_justify="left")
            for col in ("", "field", "finding", "to fix"):
                table.add_column(col)
            for f in doc.findings:
                table.add_row(f.severity, safe(f.field), safe(f.message), safe(f.hint),
                              style="red" if f.severity == "error" else "yellow")
            out_console().print(table)
        else:
            out_console().print(f"{title}: no findings")
        out_console().print(f"{counted(doc.errors, 'error')}, {counted(doc.warnings, 'warning')}: "
                            + ("ready to file" if doc.passed else "not ready (errors block filing and sending)"))
    if not doc.passed:
        verb = "blocks" if doc.errors == 1 else "block"
        raise InputError(f"{counted(doc.errors, 'error')} {verb} filing and sending",
                         path=doc.incident, hint="fix the fields listed, or override with --override-check --reason")


def _register_subcommands() -> None:
    from breachkit.cli.disclosures import disclosures_cmd

    report.add_command(disclosures_cmd)


_register_subcommands()
