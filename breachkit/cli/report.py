"""`breachkit report register | timeline | authority`: what leaves the incident as documents."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from breachkit.cli.common import AppContext, out_console, pass_app
from breachkit.errors import UsageError
from breachkit.incidents.api import actor_name, deadlines_of, open_store, regimes_from_config
from breachkit.incidents.register import COLUMNS, register
from breachkit.safecsv import csv_text
from breachkit.workspace import write_private_bytes


@click.group("report")
def report() -> None:
    """Documents: the breach register, the timeline picture, the authority report."""


def _write(path: Path | None, data: bytes) -> str:
    """To a 0600 file (atomically), or stdout when no path is given; returns the sha256."""
    if path is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        write_private_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


@report.command("register")
@click.option("-f", "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (0600); default stdout.")
@click.option("--reason", default="breach register (Art. 33(5))", help="Why it is exported (audit log).")
@pass_app
def register_cmd(app: AppContext, fmt: str, out: Path | None, reason: str) -> None:
    """Every incident, notified or not: facts, effects, remedial action, decisions and reasons (Art. 33(5))."""
    now = datetime.now(UTC)
    with open_store(app.config, app.workspace()) as store:
        rows = register(store, regimes_from_config(app.config), now)
        data = (csv_text(rows, COLUMNS) if fmt == "csv"
                else json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        digest = _write(out, data)
        store.audit("export", str(out) if out else "stdout", actor=actor_name(), at=now, reason=reason,
                    sha256=digest, detail={"what": "register", "format": fmt, "incidents": len(rows)})
    if out is not None:
        out_console().print(f"{len(rows)} incidents → {out}")


@report.command("timeline")
@click.argument("incident_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="A .png or .svg file (written 0600).")
@pass_app
def timeline_cmd(app: AppContext, incident_id: str, out: Path) -> None:
    """A picture of occurred/detected/aware, tasks, filings and every deadline."""
    from breachkit.incidents.timeline_plot import plot_timeline, save_timeline

    if out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"unsupported picture format {out.suffix!r}", path=out, hint="name the file .png or .svg")
    now, regimes = datetime.now(UTC), regimes_from_config(app.config)
    with open_store(app.config, app.workspace()) as store:
        incident = store.get(incident_id.upper())
        figure = plot_timeline(incident, deadlines=deadlines_of(store, incident, regimes, now),
                               tasks=store.tasks(incident.id), filings=store.filings(incident.id), now=now,
                               zone=app.config.display_zone, regime_names={k: r.name for k, r in regimes.items()})
        save_timeline(figure, out)
        store.audit("export", str(out), actor=actor_name(), at=now, incident_id=incident.id,
                    reason="timeline picture", sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
                    detail={"what": "timeline"})
    out_console().print(f"{incident.id} timeline → {out}")


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
    from typing import cast

    from breachkit.notices.api import authority_report_context
    from breachkit.notices.context import ReportType
    from breachkit.notices.render import AuthorityFormat, render_authority
    from breachkit.notices.templates import environment_from_config

    if fmt == "pdf" and out is None:
        raise UsageError("a PDF needs --out FILE")
    now = datetime.now(UTC)
    with open_store(app.config, app.workspace()) as store:
        incident = store.get(incident_id.upper())
        ctx = authority_report_context(store, app.config, incident, now, report_type=cast(ReportType, report_type),
                                       earlier_reference=reference)
        content = render_authority(ctx, environment_from_config(app.config), cast(AuthorityFormat, fmt))
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        digest = _write(out, data)
        store.audit("export", str(out) if out else "stdout", actor=actor_name(), at=now, incident_id=incident.id,
                    sha256=digest, reason=f"authority report ({report_type})", detail={"format": fmt})
    if out is not None:
        out_console().print(f"{incident.id} authority report → {out}")
