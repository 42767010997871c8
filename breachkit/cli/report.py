"""`breachkit report register | timeline | authority`: what leaves the incident as documents."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import click

from breachkit.cli.common import AppContext, out_console, pass_app


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
        out_console().print(f"{result.items} incidents → {out}")


@report.command("timeline")
@click.argument("incident_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A .png or .svg file (written 0600).")
@pass_app
def timeline_cmd(app: AppContext, incident_id: str, out: Path) -> None:
    """A picture of occurred/detected/aware, tasks, filings and every deadline."""
    from breachkit.incidents.api import normalize_id
    from breachkit.incidents.reports_api import export_timeline

    export_timeline(app.session, incident_id, out)
    out_console().print(f"{normalize_id(incident_id)} timeline → {out}")


@report.command("authority")
@click.argument("incident_id")
@click.option("-f", "--format", "fmt", type=click.Choice(["md", "html", "json", "pdf"]), default="md",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (0600); default stdout (not pdf).")
@click.option("--report-type", type=click.Choice(["initial", "follow_up", "final"]), default="initial",
              show_default=True)
@click.option("--reference", help="The authority's reference of the first report (follow-ups).")
@pass_app
def authority_cmd(app: AppContext, incident_id: str, fmt: str, out: Path | None, report_type: str,
                  reference: str | None) -> None:
    """The report to the supervisory authority (Art. 33(3)), in the EDPB template's structure."""
    from breachkit.incidents.api import normalize_id
    from breachkit.notices.api import authority_report

    result = authority_report(app.session, incident_id, cast(Literal["md", "html", "json", "pdf"], fmt), out,
                              report_type=cast(Literal["initial", "follow_up", "final"], report_type),
                              reference=reference)
    if out is None:
        _stdout(result.data)
    else:
        out_console().print(f"{normalize_id(incident_id)} authority report → {out}")


def _register_subcommands() -> None:
    from breachkit.cli.disclosures import disclosures_cmd

    report.add_command(disclosures_cmd)


_register_subcommands()
